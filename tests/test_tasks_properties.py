"""Property tests (hypothesis) of the loaders and splitters: located errors only, and simple invariants."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import langgraph_clarify.tasks.askbench as askbench
from langgraph_clarify.tasks import (
    FORMATS,
    MaskedTask,
    TaskFileError,
    clean,
    hide,
    load_tasks,
    parse_answer,
    parse_row,
    split_items,
    split_options,
    split_sentences,
)

_FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Fragments the splitters treat specially, mixed with arbitrary text.
_PIECES = [
    " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "•", "* ", "*", "**", "- ", "-", "1. ", "2) ", "12.", "123.",
    ". ", "! ", "? ", ";", ": ", "A", "B.", "(A) ", "A. ", "B) ", "(C) ", "Z. ", "Input Sections", "Options:", '"', "'",
    "“", "[", "(", ")", "_", "__", "`", "x", "word", "Title", "Best practices:", "٣",
]  # fmt: skip
_TEXT = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=4)), max_size=40).map("".join)


def _tokens_come_from(pieces: list[str], text: str) -> None:
    """Every word of every piece occurs in the cleaned input (list joins add at most a trailing ';')."""
    flat = clean(text)
    for piece in pieces:
        assert piece and piece == piece.strip() and len(piece) > 1 and re.search(r"\w", piece), piece
        for token in piece.split():
            assert token.rstrip(";") in flat, (token, flat)


@_FAST
@given(_TEXT)
def test_split_sentences_invariants(text: str) -> None:
    _tokens_come_from(split_sentences(text), text)


@_FAST
@given(_TEXT)
def test_split_items_invariants(text: str) -> None:
    items = split_items(text)
    _tokens_come_from(items, text)
    assert (items == []) == (split_sentences(text) == [])


@_FAST
@given(st.lists(st.tuples(st.sampled_from(["procedure", "output", "notes"]), _TEXT), max_size=4))
def test_hide_indices_run_from_zero_in_region_order(regions: list[tuple[Any, str]]) -> None:
    hidden = hide(regions)
    assert [h.index for h in hidden] == list(range(len(hidden)))
    assert [h.text for h in hidden] == [s for _, text in regions for s in split_sentences(text)]


_OPTION_PIECES = ["A. ", "B. ", "C) ", "(A) ", "(B) ", "(C) ", "D.", " ", "\n", "x", "yy", '"', "Options:"]
_OPTION_TEXT = st.lists(st.one_of(st.sampled_from(_OPTION_PIECES), st.text(max_size=3)), max_size=30).map("".join)


@_FAST
@given(_OPTION_TEXT)
def test_split_options_invariants(question: str) -> None:
    stem, options = split_options(question)
    if not options:
        assert stem == question
        return
    assert list(options) == [chr(ord("A") + k) for k in range(len(options))] and 2 <= len(options) <= 26
    assert all(v and "\n" not in v and v in question for v in options.values())
    assert question.startswith(stem)


@_FAST
@given(st.text(max_size=30))
def test_parse_answer_is_a_letter_or_the_stripped_text(expected: str) -> None:
    gold = parse_answer(expected)
    assert gold == expected.strip() or re.fullmatch(r"[A-Z]", gold)


@_FAST
@given(st.lists(st.text(max_size=12), max_size=8), st.text(max_size=60))
def test_absent_filter_agrees_with_plain_search(needles: list[str], text: str) -> None:
    """The indexed path AskBench takes for large inputs gives exactly ``needle not in text``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(askbench, "_DIRECT_SEARCH_BUDGET", -1)
        needles += [text[k : k + 9] for k in range(0, len(text), 7)]  # some that do occur
        assert askbench._absent(needles, text) == [n not in text for n in needles]


# --------------------------------------------------------------------------------------------
# Loaders: random rows, random JSON values, random bytes
# --------------------------------------------------------------------------------------------

_KEYS = {
    "native": ["id", "field", "objective", "input", "procedure", "output_spec", "notes", "options", "checklist",
               "gold_answer", "source"],
    "dolomites": ["example_id", "id", "example_input", "field", "task", "task_objective", "task_procedure",
                  "task_input", "task_output", "task_notes"],
    "mediq": ["id", "question", "context", "options", "answer_idx"],
    "askbench": ["degraded_question", "ori_question", "degraded_info", "expected_answer"],
}  # fmt: skip
_ANY_CHAR = st.sampled_from(["\ud800", "\udc80"]) | st.characters(exclude_categories=())  # lone surrogates too
_STRINGS = st.one_of(_TEXT, st.text(_ANY_CHAR, max_size=6))
_HUGE = "<an integer of 4400 digits>"  # drawn as this marker: hypothesis cannot print such an integer
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _STRINGS, st.just(_HUGE))
_JSON = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_STRINGS, inner, max_size=3), max_leaves=8
)


_REQUIRED = {
    "native": ["id", "objective", "procedure"],
    "dolomites": ["task_objective", "task_output"],
    "mediq": ["id", "question", "context"],
    "askbench": ["degraded_question", "ori_question"],
}
_WORD = st.text("abcxyz-019", min_size=1, max_size=8)
_SENTENCES = st.tuples(_WORD, _TEXT).map(lambda p: f"Some {p[0]}. {p[1]}")
_VALUES = st.one_of(_SENTENCES, _SENTENCES, _TEXT, _STRINGS, _JSON)  # mostly text, sometimes anything


@st.composite
def _rows(draw: st.DrawFn, fmt: str) -> dict[str, Any]:
    """A row of the format: usually with its required keys, mostly text values, sometimes any JSON."""
    keys = draw(st.lists(st.sampled_from(_KEYS[fmt]), unique=True))
    if draw(st.integers(0, 4)):
        keys = list(dict.fromkeys(_REQUIRED[fmt] + keys))
    if not draw(st.integers(0, 4)):
        keys.append("extra")
    row: dict[str, Any] = {}
    for key in keys:
        if key == "task":
            row[key] = draw(_rows("dolomites")) if draw(st.integers(0, 3)) else draw(_JSON)
        elif key in ("context", "checklist"):
            row[key] = draw(st.lists(_VALUES, max_size=3) if draw(st.integers(0, 3)) else _JSON)
        elif key == "options":
            row[key] = draw(st.dictionaries(st.sampled_from("ABCD"), _VALUES, max_size=3) | _JSON)
        elif key in ("id", "example_id"):
            row[key] = draw(st.one_of(_WORD, _WORD, st.integers(0, 10**6), _STRINGS, _JSON))
        else:
            row[key] = draw(_VALUES)
    return row


def _dump(value: Any) -> str:
    """JSON text for ``value``, the _HUGE marker written as its 4400 digits."""
    if value == _HUGE:
        return "7" * 4400
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) for v in value) + "]"
    return json.dumps(value)


def _in_memory(value: Any) -> Any:
    """``value`` as a datasets row would hold it: the _HUGE marker becomes the integer."""
    if value == _HUGE:
        return 7 * 10**4400
    if isinstance(value, dict):
        return {k: _in_memory(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_memory(v) for v in value]
    return value


def _check_tasks(tasks: list[MaskedTask]) -> None:
    assert len({t.id for t in tasks}) == len(tasks)
    for task in tasks:
        assert [h.index for h in task.hidden] == list(range(len(task.hidden)))
        assert all(h.text for h in task.hidden)
        task.model_dump_json().encode("utf-8")  # no lone surrogate got through
        task.explicit_text.encode("utf-8")


def _load_checked(data: bytes, **kwargs: Any) -> None:
    """Load ``data`` as a file: tasks that pass the invariants, or one located TaskFileError."""
    lines = data.count(b"\n") + 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tasks.jsonl"
        path.write_bytes(data)
        try:
            ts = load_tasks(path, **kwargs)
        except TaskFileError as err:
            assert err.path == str(path)
            assert err.line is None or 1 <= err.line <= lines
            str(err).encode("utf-8")
            return
        _check_tasks(ts.tasks)
        assert all(e.line is not None and 1 <= e.line <= lines for e in ts.skipped)


def _joined(lines: list[str]) -> bytes:
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_rows_load_or_fail_located(fmt: str, data: st.DataObject) -> None:
    rows = data.draw(st.lists(_rows(fmt), min_size=1, max_size=4))
    fmt_given, skip_invalid = data.draw(st.sampled_from([fmt, None])), data.draw(st.booleans())
    _load_checked(_joined([_dump(r) for r in rows]), format=fmt_given, skip_invalid=skip_invalid)
    for row in rows:
        try:
            _check_tasks([parse_row(_in_memory(row), fmt)])
        except TaskFileError as err:
            assert err.path == "<row>" and err.line == 1


@_FAST
@given(st.lists(_JSON.map(_dump) | _TEXT, min_size=1, max_size=4), st.booleans())
def test_random_json_values_and_text_lines(lines: list[str], skip_invalid: bool) -> None:
    _load_checked(_joined(lines), skip_invalid=skip_invalid)


@_FAST
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes(raw: bytes, skip_invalid: bool) -> None:
    _load_checked(raw, skip_invalid=skip_invalid)
