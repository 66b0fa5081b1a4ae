"""Task loading: the real shared data, the bundled task set, and every bad-input case."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from langgraph_clarify.tasks import (
    MaskedTask,
    TaskFileError,
    TaskSet,
    bundled_tasks_path,
    clean,
    detect_format,
    load_askbench,
    load_bundled,
    load_dolomites,
    load_mediq,
    load_native,
    load_tasks,
    parse_answer,
    parse_row,
    split_items,
    split_options,
    split_sentences,
)
from shared_data import ASKBENCH, DATA, DOLOMITES, MEDIQ, need


def raw_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def check_indices(tasks: list[MaskedTask]) -> None:
    for task in tasks:
        assert [h.index for h in task.hidden] == list(range(len(task.hidden))), task.id


def write_lines(tmp_path: Path, lines: list[str | dict[str, Any]], name: str = "tasks.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines), encoding="utf-8")
    return path


def native_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "t1",
        "field": "testing",
        "objective": "Write a release note.",
        "input": "Version 2.0 adds dark mode.",
        "procedure": "Group changes by user impact. Link every change to its ticket.",
        "output_spec": "- Highlights: three bullets.\n- Breaking changes: a table.\n- Upgrade steps: numbered.",
        "notes": "Audience is end users.",
    }
    row.update(overrides)
    return row


# --------------------------------------------------------------------------------------------
# Real shared data
# --------------------------------------------------------------------------------------------


def test_dolomites_real_file_loads_every_row() -> None:
    raw = raw_rows(need(DOLOMITES))
    ts = load_tasks(DOLOMITES)
    assert ts.format == "dolomites"
    assert len(ts.tasks) == len(raw) == 309
    assert ts.skipped == []
    assert [t.id for t in ts] == [f"dolomites-{r['example_id']}" for r in raw]
    check_indices(ts.tasks)
    for task, row in zip(ts.tasks, raw, strict=True):
        assert task.source == "dolomites"
        assert task.field == ""  # the shared file carries no field
        assert task.objective == row["task"]["task_objective"].strip()
        heading = re.compile(r'^"?\**Input Sections\**"?\n', re.M)  # template scaffolding, dropped
        assert task.input == heading.sub("", row["example_input"].strip()).strip()
        assert task.hidden, task.id
        regions = [h.region for h in task.hidden]
        assert set(regions) <= {"procedure", "output", "notes"}
        assert regions == sorted(regions, key=["procedure", "output", "notes"].index)  # region order kept
        assert task.checklist, task.id


def test_dolomites_spot_checks() -> None:
    ts = load_dolomites(need(DOLOMITES))
    by_id = {t.id: t for t in ts}
    book = by_id["dolomites-696"]
    assert book.objective == "Writing an academic book proposal"
    assert book.input.startswith("* **Book title:** The Gaelic Lordship")  # template heading dropped
    assert [item.split(":")[0] for item in book.checklist] == ["Project details", "Context"]
    assert book.hidden[0].region == "procedure" and book.hidden[0].text.startswith("This is done to submit")
    output = [h.text for h in book.hidden if h.region == "output"]
    assert output[0].startswith("Project details:")
    # "*Advised approach:" (no space after the star) is a bullet of its own.
    assert [i.split(":")[0] for i in by_id["dolomites-1543"].checklist] == ["The government policy", "Advised approach"]
    assert len(by_id["dolomites-776"].checklist) == 11


def test_dolomites_checklist_items_equal_bullets() -> None:
    """Where a spec is a plain one-line '* A: ... * B: ...' list, the checklist is exactly its bullets."""
    raw = raw_rows(need(DOLOMITES))
    ts = load_dolomites(DOLOMITES)
    compared = 0
    for task, row in zip(ts.tasks, raw, strict=True):
        out = row["task"]["task_output"]
        if any(x in out for x in ("**", "•", "\n", " - ")) or not out.lstrip().startswith("*"):
            continue
        bullets = [clean(p) for p in re.split(r"(?:^|\s)\*", out) if p.strip()]
        assert task.checklist == bullets, task.id
        compared += 1
    assert compared > 250


def test_mediq_real_file_loads_every_row() -> None:
    raw = raw_rows(need(MEDIQ))
    ts = load_tasks(MEDIQ)
    assert ts.format == "mediq"
    assert len(ts.tasks) == len(raw) == 1272
    assert ts.skipped == []
    check_indices(ts.tasks)
    for task, row in zip(ts.tasks, raw, strict=True):
        assert task.id == f"mediq-{row['id']}"
        assert task.field == "medicine" and task.source == "mediq"
        assert task.gold_answer == row["answer_idx"] and task.gold_answer in task.options
        assert {h.region for h in task.hidden} <= {"context"}


def test_mediq_spot_check_case_0() -> None:
    raw = raw_rows(need(MEDIQ))[0]
    task = load_mediq(MEDIQ).tasks[0]
    assert task.id == "mediq-0"
    assert task.gold_answer == "C"
    assert task.options == {"A": "Gentamicin", "B": "Ciprofloxacin", "C": "Ceftriaxone", "D": "Trimethoprim"}
    assert task.objective == raw["question"]
    assert task.input == f"Patient: {raw['context'][0]}"
    assert raw["context"][0] in task.explicit_text
    assert len(task.hidden) == 2
    assert [h.text for h in task.hidden] == raw["context"][1:]
    assert all(raw["context"][0] not in h.text for h in task.hidden)
    assert [h.index for h in task.hidden] == [0, 1]
    assert "Ceftriaxone" in task.explicit_text  # options are explicit


def test_mediq_case_without_context_has_no_input_and_no_hidden() -> None:
    ts = load_mediq(need(MEDIQ))
    task = next(t for t in ts if t.id == "mediq-224")
    assert task.input == "" and task.hidden == []


def test_askbench_real_file_loads_every_row() -> None:
    raw = raw_rows(need(ASKBENCH))
    ts = load_tasks(ASKBENCH)
    assert ts.format == "askbench"
    assert len(ts.tasks) == len(raw) == 400
    assert ts.skipped == []
    # Ids derive from the questions, never from line numbers (see test_tasks_ids.py).
    assert all(re.fullmatch(r"askbench-[0-9a-f]{12}", t.id) for t in ts)
    assert len({t.id for t in ts}) == 400
    check_indices(ts.tasks)
    for task, row in zip(ts.tasks, raw, strict=True):
        assert task.field == "askbench" and task.source == "askbench"
        regions = [h.region for h in task.hidden]
        assert regions and regions[0] == "removed"  # every item describes what was removed
        assert regions == sorted(regions, key=["removed", "original"].index)
        for h in task.hidden:
            if h.region == "original" and not h.text.startswith("Option "):
                assert h.text not in clean(row["degraded_question"]), task.id
        if task.options:
            assert list(task.options) == [chr(ord("A") + i) for i in range(len(task.options))]


def test_askbench_spot_check_first_item() -> None:
    task = load_askbench(need(ASKBENCH)).tasks[0]
    assert task.gold_answer == "B"
    assert task.options == {
        "A": "Total caloric intake",
        "B": "Relative protein intake",
        "C": "Relative carbohydrate intake",
        "D": "Relative fat intake",
    }
    assert "A. Total caloric intake" not in task.objective  # options split off the stem
    assert task.objective.startswith("Please answer the following multiple-choice questions")
    assert task.objective.endswith("deficiency in which of the following?")
    original = [h.text for h in task.hidden if h.region == "original"]
    assert "The mother and child are refugees from Somalia and arrived in the United States one week ago." in original
    assert "Somalia" not in task.explicit_text
    removed = [h.text for h in task.hidden if h.region == "removed"]
    assert removed[0].startswith("Critical information removed includes the child's exact age")


def test_askbench_gold_answers_and_dropped_options() -> None:
    ts = load_askbench(need(ASKBENCH))
    assert ts.tasks[1].gold_answer == "54"  # no letter pattern: kept as text
    assert ts.tasks[2].gold_answer == "False"
    # Line 36: the degraded question dropped its options; the original's options become hidden.
    lacking = [h.text for h in ts.tasks[35].hidden if h.region == "original"]
    assert lacking[:2] == ["Option A: purple ball", "Option B: black ball"]
    assert ts.tasks[35].options == {}


def test_explicit_format_override_on_real_file() -> None:
    ts = load_tasks(need(MEDIQ), "mediq")
    assert ts.format == "mediq" and len(ts) == 1272
    with pytest.raises(TaskFileError) as info:
        load_tasks(MEDIQ, "dolomites")
    assert info.value.line == 1 and info.value.field == "task_objective"
    assert "all_dev_good.jsonl:1: field 'task_objective': missing" in str(info.value)


# --------------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "gold"),
    [
        ("The answer is B.", "B"),
        ("the answer is (c)", "C"),
        ("B", "B"),
        ("(D)", "D"),
        ("  54 ", "54"),
        ("Yes", "Yes"),
        ("\\sqrt{51}", "\\sqrt{51}"),
        ("A mixture of diastereoisomers", "A mixture of diastereoisomers"),
    ],
)
def test_parse_answer(expected: str, gold: str) -> None:
    assert parse_answer(expected) == gold


def test_split_options_layouts() -> None:
    stem, opts = split_options("Which drug?\nA. One\nB. Two\nC. Three")
    assert stem == "Which drug?" and opts == {"A": "One", "B": "Two", "C": "Three"}
    stem, opts = split_options("Which artery? A. Left circumflex B. Diagonal C. Right main")
    assert stem == "Which artery?" and opts == {"A": "Left circumflex", "B": "Diagonal", "C": "Right main"}
    stem, opts = split_options("Which shape?\nOptions:\n(A) circle\n(B) square")
    assert stem == "Which shape?" and opts == {"A": "circle", "B": "square"}
    assert split_options("A man takes vitamin A. Then what?") == ("A man takes vitamin A. Then what?", {})
    assert split_options("No options here.") == ("No options here.", {})


def test_split_sentences_handles_real_list_layouts() -> None:
    # Inline numbered notes ("... papers. 2. Proper citation ...") must not yield "2." sentences.
    text = "1. Use reputable sources. 2. Cite every paper. 3. Know the terminology."
    assert split_sentences(text) == ["Use reputable sources.", "Cite every paper.", "Know the terminology."]
    text = "Best Practices: • Use clear language. • Keep it neat  • Use reliable sources"
    assert split_sentences(text) == ["Best Practices: Use clear language.", "Keep it neat", "Use reliable sources"]
    # Arithmetic is not a bullet list.
    assert split_sentences("((-3 * 6 - 0 * 6) - (-6 * 7)) =") == ["((-3 * 6 - 0 * 6) - (-6 * 7)) ="]


def test_split_items_rules() -> None:
    spec = "The report must contain:\n\n1. Summary: short.\n   - sub a\n   - sub b\n2. Details: long."
    assert split_items(spec) == ["Summary: short. sub a; sub b", "Details: long."]
    assert split_items("* A: one. * B: two. *C: three.") == ["A: one.", "B: two.", "C: three."]
    assert split_items("Write one page. Use plain English.") == ["Write one page.", "Use plain English."]


def test_detect_format() -> None:
    assert detect_format({"example_id": 1, "example_input": "x", "task": {}}) == "dolomites"
    assert detect_format({"field": "Law", "task_objective": "x"}) == "dolomites"
    assert detect_format({"question": "q", "context": [], "options": {}}) == "mediq"
    assert detect_format({"ori_question": "q", "degraded_question": "d"}) == "askbench"
    assert detect_format({"id": "a", "objective": "o"}) == "native"
    with pytest.raises(ValueError, match="cannot tell the task format"):
        detect_format({"foo": 1})


# --------------------------------------------------------------------------------------------
# Flat DOLOMITES and native files
# --------------------------------------------------------------------------------------------


def test_flat_dolomites_rows(tmp_path: Path) -> None:
    template = {
        "field": "Law",
        "task_objective": "Draft a tenancy notice",
        "task_procedure": "Check the statute. Count the notice period.",
        "task_input": "* Tenancy details: dates and parties.",
        "task_output": "* Notice: one page. * Service: how it was delivered.",
        "task_notes": "Keep a copy.",
        "example_input": "Tenant since 2019.",
        "example_output": "(reference output, not used)",
    }
    path = write_lines(
        tmp_path,
        [template, "", {**template, "example_input": "", "example_id": 7}, {**template, "field": None, "id": "x9"}],
    )
    ts = load_tasks(path)
    assert ts.format == "dolomites"
    first, second, third = ts.tasks
    assert re.fullmatch(r"dolomites-[0-9a-f]{12}", first.id)  # no example_id/id: derived from the content
    assert first.field == "Law" and first.input == "Tenant since 2019."
    assert second.id == "dolomites-7"
    assert second.input == "* Tenancy details: dates and parties."  # falls back to the input spec
    assert third.id == "dolomites-x9" and third.field == ""
    assert first.checklist == ["Notice: one page.", "Service: how it was delivered."]
    assert [(h.index, h.region) for h in first.hidden] == [
        (0, "procedure"),
        (1, "procedure"),
        (2, "output"),
        (3, "output"),
        (4, "notes"),
    ]


def test_native_file_and_checklist_override(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path,
        [native_row(), native_row(id="t2", checklist=["Has highlights"], options={"A": "x"}, gold_answer="A")],
    )
    ts = load_native(path)
    assert isinstance(ts, TaskSet) and ts.format == "native" and len(ts) == 2
    one, two = ts
    assert one.checklist == ["Highlights: three bullets.", "Breaking changes: a table.", "Upgrade steps: numbered."]
    assert [h.region for h in one.hidden] == ["procedure", "procedure", "output", "output", "output", "notes"]
    assert two.checklist == ["Has highlights"] and two.options == {"A": "x"} and two.gold_answer == "A"
    assert load_tasks(path).format == "native"


def test_parse_row_for_in_memory_rows() -> None:
    task = parse_row(native_row(), "native")
    assert task.id == "t1"
    with pytest.raises(TaskFileError, match=r"<row>:1: field 'objective': missing"):
        parse_row({"id": "x"}, "native")


# --------------------------------------------------------------------------------------------
# Bad input: every error names file, line and field
# --------------------------------------------------------------------------------------------


def load_error(path: Path, **kwargs: Any) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        load_tasks(path, **kwargs)
    return info.value


def assert_located(err: TaskFileError, line: int | None, field: str | None) -> None:
    assert err.line == line
    assert err.field == field
    text = str(err)
    assert "tasks.jsonl" in text
    if line is not None:
        assert f"tasks.jsonl:{line}:" in text
    if field is not None:
        assert f"field {field!r}" in text


def test_error_message_format() -> None:
    assert str(TaskFileError("tasks.jsonl", 12, "objective", "missing")) == "tasks.jsonl:12: field 'objective': missing"
    assert str(TaskFileError("tasks.jsonl", None, None, "no tasks")) == "tasks.jsonl: no tasks"
    assert str(TaskFileError("tasks.jsonl", 3, None, "invalid JSON")) == "tasks.jsonl:3: invalid JSON"
    assert isinstance(TaskFileError("x"), ValueError)


def test_malformed_json_line(tmp_path: Path) -> None:
    err = load_error(write_lines(tmp_path, [native_row(), '{"id": "t2", objective: "x"}']))
    assert_located(err, 2, None)
    assert "invalid JSON" in err.reason


def test_missing_field(tmp_path: Path) -> None:
    row = native_row()
    del row["objective"]
    err = load_error(write_lines(tmp_path, [row]))
    assert_located(err, 1, "objective")
    assert str(err).endswith("tasks.jsonl:1: field 'objective': missing")


def test_wrong_type(tmp_path: Path) -> None:
    err = load_error(write_lines(tmp_path, [native_row(), native_row(id="t2", objective=5)]))
    assert_located(err, 2, "objective")
    assert "string" in err.reason and "integer" in err.reason
    err = load_error(write_lines(tmp_path, [native_row(options={"A": 1})]))
    assert_located(err, 1, "options.A")
    err = load_error(write_lines(tmp_path, [native_row(checklist=["ok", 3])]))
    assert_located(err, 1, "checklist[1]")


def test_unknown_key(tmp_path: Path) -> None:
    err = load_error(write_lines(tmp_path, [native_row(objectve="typo")]))
    assert_located(err, 1, "objectve")
    assert err.reason == "unknown key"


@pytest.mark.parametrize("content", ["", "\n\n   \n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(content, encoding="utf-8")
    err = load_error(path)
    assert_located(err, None, None)
    assert err.reason == "no tasks"


def test_non_utf8_byte(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    good = json.dumps(native_row()).encode()
    bad = json.dumps(native_row(id="t2")).encode().replace(b"release", b"rel\xe9ase")
    path.write_bytes(good + b"\n" + bad + b"\n")
    err = load_error(path)
    assert_located(err, 2, None)
    assert "UTF-8" in err.reason and "0xe9" in err.reason


def test_truncated_final_line(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    full = json.dumps(native_row(id="t2"))
    path.write_text(json.dumps(native_row()) + "\n\n" + full[: len(full) // 2], encoding="utf-8")
    err = load_error(path)
    assert_located(err, 3, None)
    assert "truncated" in err.reason


def test_duplicate_id(tmp_path: Path) -> None:
    err = load_error(write_lines(tmp_path, [native_row(), native_row(id="t2"), native_row()]))
    assert_located(err, 3, "id")
    assert "first used on line 1" in err.reason


def test_empty_objective_and_no_hidden_sentences(tmp_path: Path) -> None:
    assert_located(load_error(write_lines(tmp_path, [native_row(objective="  ")])), 1, "objective")
    row = native_row(procedure="", output_spec="", notes="")
    err = load_error(write_lines(tmp_path, [row]))
    assert_located(err, 1, "procedure")
    assert "no hidden sentences" in err.reason
    nested = {"example_id": 1, "example_input": "x", "task": {"task_objective": "", "task_output": "* A: b"}}
    assert_located(load_error(write_lines(tmp_path, [nested])), 1, "task.task_objective")
    empty = {"example_id": 1, "example_input": "x", "task": {"task_objective": "Do it"}}
    assert_located(load_error(write_lines(tmp_path, [empty])), 1, "task.task_procedure")


def test_nested_dolomites_wrong_types(tmp_path: Path) -> None:
    row = {"example_id": 1, "example_input": "x", "task": {"task_objective": "Do", "task_notes": 3}}
    assert_located(load_error(write_lines(tmp_path, [row])), 1, "task.task_notes")
    row = {"example_id": 1.5, "example_input": "x", "task": {"task_objective": "Do", "task_notes": "n"}}
    assert_located(load_error(write_lines(tmp_path, [row])), 1, "example_id")
    row = {"example_id": 1, "task": ["not", "an", "object"]}
    assert_located(load_error(write_lines(tmp_path, [row])), 1, "task")


def test_mediq_and_askbench_bad_rows(tmp_path: Path) -> None:
    row = {"id": 1, "question": "Q?", "context": "not a list", "options": {}}
    assert_located(load_error(write_lines(tmp_path, [row]), format="mediq"), 1, "context")
    row = {"question": "Q?", "context": []}
    assert_located(load_error(write_lines(tmp_path, [row]), format="mediq"), 1, "id")
    row = {"ori_question": "Q?", "degraded_info": "x"}
    assert_located(load_error(write_lines(tmp_path, [row]), format="askbench"), 1, "degraded_question")


def test_non_object_row_and_undetectable_format(tmp_path: Path) -> None:
    err = load_error(write_lines(tmp_path, ["[1, 2]"]))
    assert_located(err, 1, None)
    assert "JSON object" in err.reason
    err = load_error(write_lines(tmp_path, [{"foo": 1}]))
    assert_located(err, 1, None)
    assert "format" in err.reason


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    err = load_error(tmp_path / "tasks.jsonl")
    assert_located(err, None, None)
    assert "cannot read" in err.reason
    with pytest.raises(ValueError, match="unknown task format"):
        load_tasks(tmp_path / "tasks.jsonl", "csv")


def test_skip_invalid_counts_and_records(tmp_path: Path) -> None:
    row = native_row()
    missing = {k: v for k, v in row.items() if k != "objective"}
    path = write_lines(
        tmp_path,
        [
            "{broken",  # line 1: bad JSON, before the format is known
            row,  # 2
            "",  # 3: blank, ignored
            missing,  # 4
            native_row(id="t2", extra=1),  # 5
            row,  # 6: duplicate
            native_row(id="t3"),  # 7
        ],
    )
    ts = load_tasks(path, skip_invalid=True)
    assert ts.format == "native"
    assert [t.id for t in ts] == ["t1", "t3"]
    assert [(e.line, e.field) for e in ts.skipped] == [(1, None), (4, "objective"), (5, "extra"), (6, "id")]
    assert all("tasks.jsonl" in str(e) for e in ts.skipped)
    # Without skip_invalid the first bad row raises.
    assert_located(load_error(path), 1, None)


def test_skip_invalid_with_no_valid_row_still_raises(tmp_path: Path) -> None:
    err = load_error(write_lines(tmp_path, ["{broken", "[1]"]), skip_invalid=True)
    assert_located(err, None, None)
    assert "no valid tasks" in err.reason and "2 rows skipped" in err.reason


def test_utf8_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(native_row()).encode() + b"\r\n")
    assert [t.id for t in load_tasks(path)] == ["t1"]


# --------------------------------------------------------------------------------------------
# The bundled task set
# --------------------------------------------------------------------------------------------

_STOP = set(
    "a an the and or of to in for on with by at from as is are be it its this that their your our we you they "
    "each every any no not than then so such into per one two three".split()
)


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 2}


def test_bundled_path_is_package_data() -> None:
    path = bundled_tasks_path()
    assert path.is_file() and path.name == "tasks.jsonl" and path.parent.name == "data"


def test_bundled_set_loads_and_is_rich() -> None:
    tasks = load_bundled()
    assert len(tasks) >= 14
    assert len({t.field for t in tasks}) >= 5
    assert len({t.id for t in tasks}) == len(tasks)
    for task in tasks:
        assert re.fullmatch(r"[a-z]+(?:-[a-z0-9]+)+", task.id), task.id
        assert task.source == "native" and task.field and task.objective and task.input
        assert len(task.checklist) >= 3, task.id
        assert len(task.hidden) >= 5, task.id
        check_indices([task])
        assert 3 <= len(split_sentences(task.procedure)) <= 6, task.id
        assert 3 <= len(task.checklist) <= 5, task.id
        assert 1 <= len(split_sentences(task.notes)) <= 3, task.id
        assert {h.region for h in task.hidden} == {"procedure", "output", "notes"}


def test_bundled_hidden_part_does_not_restate_explicit_part() -> None:
    for task in load_bundled():
        explicit = task.explicit_text
        flat = clean(explicit)
        for h in task.hidden:
            assert h.text not in explicit and h.text not in flat, (task.id, h.text)
        # Vocabulary check: hidden sentences add information instead of echoing the request.
        known = _content_words(explicit)
        overlaps = [len(_content_words(h.text) & known) / max(1, len(_content_words(h.text))) for h in task.hidden]
        assert sum(overlaps) / len(overlaps) < 0.25, task.id
        assert max(overlaps) < 0.6, task.id


def test_dolomites_template_heading_is_not_explicit_text() -> None:
    """The "**Input Sections**" heading is template scaffolding, not something the user said."""
    path = DATA / "dolomites" / "dolomites_dev_examples.jsonl"
    if not path.exists():
        pytest.skip(f"shared data missing: {path}")
    tasks = load_tasks(path).tasks
    assert not any("Input Sections" in t.input for t in tasks)
    assert tasks[0].input.startswith("* **Book title:**")
