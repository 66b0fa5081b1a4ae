"""Bad and pathological task files: every problem is one located TaskFileError, and nothing hangs.

The pathological inputs (long blank runs, marker runs, megabyte fields) rely on the suite's hang
guard (pytest-timeout); the time they take is measured by bench/loader_scaling.py, not asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from langgraph_clarify.tasks import TaskFileError, load_tasks, parse_row, split_options
from test_tasks import assert_located, load_error, native_row, write_lines

_BIG = "9" * 5000  # more digits than Python's int-string limit (4300): json.loads raises a bare ValueError


def _raw(tmp_path: Path, text: str | bytes, name: str = "tasks.jsonl") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def _printable(err: TaskFileError) -> None:
    str(err).encode("utf-8")  # what a CLI printing the error needs


# --------------------------------------------------------------------------------------------
# Numbers Python cannot convert, lone surrogates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"id": "t1", "objective": "o", "procedure": "p.", "gold_answer": BIG}', "gold_answer"),
        ('{"id": "t1", "objective": "o", "procedure": "p.", "options": {"A": "x", "B": [1, -BIG]}}', "options.B[1]"),
        ('{"example_id": BIG, "task": {"task_objective": "o", "task_notes": "n."}}', "example_id"),
        ('{"id": 1, "question": "q", "context": [], "unused": BIG}', "unused"),
    ],
)
def test_long_integer_names_line_and_field(tmp_path: Path, line: str, field: str) -> None:
    path = _raw(tmp_path, json.dumps(native_row()) + "\n" + line.replace("BIG", _BIG) + "\n")
    err = load_error(path, skip_invalid=False)
    assert_located(err, 2, field)
    assert "5000 digits" in err.reason


def test_long_integer_in_a_broken_line_reports_the_syntax_error(tmp_path: Path) -> None:
    err = load_error(_raw(tmp_path, '{"a": ' + _BIG + ", broken\n"))
    assert_located(err, 1, None)
    assert "invalid JSON" in err.reason


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"id": "t1", "objective": "Write \\ud800 it", "procedure": "p."}', "objective"),
        ('{"id": "t1", "objective": "o", "procedure": "p.", "checklist": ["ok", "bad \\udfff"]}', "checklist[1]"),
        ('{"example_id": 1, "task": {"task_objective": "o", "task_notes": "\\udc80"}}', "task.task_notes"),
        ('{"degraded_question": "q", "degraded_info": "x", "ignored": {"deep": ["\\ud83d"]}}', "ignored.deep[0]"),
    ],
)
def test_lone_surrogate_is_rejected_at_load_time(tmp_path: Path, line: str, field: str) -> None:
    err = load_error(_raw(tmp_path, line + "\n"))
    assert_located(err, 1, field)
    assert "lone surrogate" in err.reason
    _printable(err)


def test_lone_surrogate_in_a_key_is_named_printably(tmp_path: Path) -> None:
    err = load_error(_raw(tmp_path, '{"id": "t1", "objective": "o", "procedure": "p.", "x\\ud800": 1}\n'))
    assert err.line == 1 and err.field == "x\\ud800" and "lone surrogate" in err.reason
    _printable(err)


def test_surrogate_pairs_are_ordinary_text(tmp_path: Path) -> None:
    task = load_tasks(_raw(tmp_path, '{"id": "t1", "objective": "Smile \\ud83d\\ude00", "procedure": "p."}\n')).tasks[0]
    assert task.objective == "Smile \U0001f600"


def test_in_memory_rows_get_the_same_checks() -> None:
    with pytest.raises(TaskFileError, match=r"<row>:1: field 'notes': lone surrogate"):
        parse_row(native_row(notes="a \udc00 b"), "native")
    with pytest.raises(TaskFileError, match=r"<row>:4: field 'id': integer with more than"):
        parse_row({"id": 10**5000, "question": "q", "context": []}, "mediq", line=4)


# --------------------------------------------------------------------------------------------
# Files that are not JSON Lines at all
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "guess"),
    [
        ("id,objective,procedure\nt1,Write,Do it\n", "this looks like CSV"),
        ("id\tobjective\nt1\tWrite\n", "this looks like TSV"),
        ("<tasks><task/></tasks>\n", "this looks like XML or HTML"),
        ("objective: write\n", "the line starts with 'objective: write'"),
    ],
)
def test_not_json_lines_says_so(tmp_path: Path, text: str, guess: str) -> None:
    err = load_error(_raw(tmp_path, text))
    assert_located(err, 1, None)
    assert err.reason.startswith("not JSON Lines: each line must be one JSON object")
    assert guess in err.reason and "truncated" not in err.reason


def test_pretty_printed_json_and_arrays_say_one_object_per_line(tmp_path: Path) -> None:
    err = load_error(_raw(tmp_path, json.dumps(native_row(), indent=2) + "\n"))
    assert_located(err, 1, None)
    assert "each object on one line" in err.reason
    err = load_error(_raw(tmp_path, json.dumps([native_row(), native_row(id="t2")]) + "\n"))
    assert_located(err, 1, None)
    assert "one object per line" in err.reason


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_file(tmp_path: Path, encoding: str) -> None:
    err = load_error(_raw(tmp_path, (json.dumps(native_row()) + "\n").encode(encoding)))
    assert_located(err, 1, None)
    assert "UTF-16" in err.reason


def test_skip_invalid_records_the_new_errors(tmp_path: Path) -> None:
    lines = [
        "id,objective",
        '{"id": "t0", "objective": "o", "procedure": "p.", "gold_answer": ' + _BIG + "}",
        '{"id": "t9", "objective": "\\ud800", "procedure": "p."}',
        json.dumps(native_row()),
    ]
    ts = load_tasks(write_lines(tmp_path, lines), skip_invalid=True)
    assert [t.id for t in ts] == ["t1"]
    assert [(e.line, e.field) for e in ts.skipped] == [(1, None), (2, "gold_answer"), (3, "objective")]


# --------------------------------------------------------------------------------------------
# Pathological sizes: linear-time loaders (the hang guard catches a regression)
# --------------------------------------------------------------------------------------------

_SPACES = " " * 100_000
_MB = 1_000_000


def _rows_with(text: str) -> list[dict[str, Any]]:
    """One row per format with ``text`` in its free-text fields."""
    return [
        native_row(id="n", procedure=f"Step one.{text}Step two.", output_spec=f"- A:{text}x\n- B", notes=text + "."),
        {"example_id": 1, "example_input": text, "task": {"task_objective": "o", "task_output": f"* A:{text}* B"}},
        {"id": 2, "question": f"q{text}?", "context": [f"a.{text}b", text + "c."], "options": {"A": text + "x"}},
        {"degraded_question": f"Q?{text}A.{text}x B. y", "ori_question": f"Q?{text}Z.", "degraded_info": text + "i."},
    ]


@pytest.mark.parametrize("text", [_SPACES, "\t" * 100_000, " •" * 50_000, "\n" * 100_000, ". " * 50_000])
def test_long_blank_and_marker_runs_in_every_format(tmp_path: Path, text: str) -> None:
    for k, row in enumerate(_rows_with(text)):
        task = load_tasks(write_lines(tmp_path, [row], name=f"f{k}.jsonl")).tasks[0]
        assert [h.index for h in task.hidden] == list(range(len(task.hidden)))


def test_ten_thousand_option_markers() -> None:
    stem, options = split_options("Which? " + "A. " * 10_000)
    assert options == {} and stem.startswith("Which?")
    stem, options = split_options("Which? " + "A. x " * 10_000 + "B. y")
    assert stem.startswith("Which?") and list(options) == ["A", "B"] and options["B"] == "y"
    letters = [chr(ord("A") + k) for k in range(26)]
    # 26 options and a 27th marker: letters stop at Z (the old splitter crashed compiling a pattern for "[")
    stem, options = split_options("Which? " + " ".join(f"({c}) {c.lower()}" for c in letters) + " ([) z")
    assert list(options) == letters and options["Z"] == "z ([) z"


def test_megabyte_fields(tmp_path: Path) -> None:
    sentences = " ".join(f"Fact {k} is stated." for k in range(_MB // 20))
    rows = [
        native_row(id="n", notes=sentences, output_spec="\n".join(f"- Item {k}: x" for k in range(_MB // 14))),
        {"example_id": 1, "example_input": "x" * _MB, "task": {"task_objective": "o", "task_procedure": sentences}},
        {"id": 2, "question": "q", "context": ["a" * _MB, sentences]},
        # the degraded question keeps every other sentence of a 1 MB original
        {"degraded_question": " ".join(sentences.split(". ")[::2]), "ori_question": sentences, "degraded_info": "x."},
    ]
    for k, row in enumerate(rows):
        task = load_tasks(write_lines(tmp_path, [row], name=f"f{k}.jsonl")).tasks[0]
        assert task.hidden
