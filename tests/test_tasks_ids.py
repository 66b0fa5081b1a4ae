"""Task ids derived from content: stable across runs, machines, filtering and reordering; unique on the real files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from langgraph_clarify.tasks import load_tasks
from langgraph_clarify.tasks.schema import content_id
from shared_data import ASKBENCH, DOLOMITES, need
from test_tasks import assert_located, load_error, raw_rows, write_lines

_ASKBENCH_ROW = {
    "ori_question": "Is the fever high? The child is 3 years old.",
    "degraded_question": "Is the fever high?",
    "degraded_info": "The age was removed.",
    "expected_answer": "Yes",
}


def _ids(path: Path) -> list[str]:
    return [t.id for t in load_tasks(path)]


def test_content_id_is_pinned(tmp_path: Path) -> None:
    """The rule must not drift: results, resumes and rollouts written earlier key on these ids."""
    pinned = "askbench-32b7807de218"
    assert content_id("askbench", ["Is the fever high?", "Is the fever high? The child is 3 years old."]) == pinned
    assert load_tasks(write_lines(tmp_path, [_ASKBENCH_ROW])).tasks[0].id == pinned


def test_askbench_real_ids_unique_and_pinned() -> None:
    ids = _ids(need(ASKBENCH))
    assert len(ids) == len(set(ids)) == 400
    assert all(re.fullmatch(r"askbench-[0-9a-f]{12}", i) for i in ids)
    assert ids[0] == "askbench-ad74b1809659"


def _rewrite(rows: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_askbench_ids_survive_filtering_and_reordering(tmp_path: Path) -> None:
    rows = raw_rows(need(ASKBENCH))
    full = dict(zip((r["id"] for r in rows), _ids(ASKBENCH), strict=True))  # keyed by the file's own row hash
    subset = rows[::-3]  # every third row, reversed
    again = _ids(_rewrite(subset, tmp_path / "subset.jsonl"))
    assert again == [full[r["id"]] for r in subset]


def test_dolomites_rows_without_ids_get_unique_stable_ids(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "example_id"} for r in raw_rows(need(DOLOMITES))]
    ids = _ids(_rewrite(rows, tmp_path / "no_ids.jsonl"))
    assert len(ids) == len(set(ids)) == 309
    assert all(re.fullmatch(r"dolomites-[0-9a-f]{12}", i) for i in ids)
    assert _ids(_rewrite(rows[::-1], tmp_path / "reversed.jsonl")) == ids[::-1]
    # The real file's own example ids are kept.
    assert _ids(DOLOMITES)[0] == "dolomites-696"


def test_id_ignores_answer_and_removed_info_but_not_the_questions(tmp_path: Path) -> None:
    base = load_tasks(write_lines(tmp_path, [_ASKBENCH_ROW])).tasks[0].id
    fixed = {**_ASKBENCH_ROW, "expected_answer": "No", "degraded_info": "The child's age was removed."}
    assert load_tasks(write_lines(tmp_path, [fixed])).tasks[0].id == base
    # Surrounding whitespace is not content.
    padded = {**_ASKBENCH_ROW, "degraded_question": "  Is the fever high?\n"}
    assert load_tasks(write_lines(tmp_path, [padded])).tasks[0].id == base
    other = {**_ASKBENCH_ROW, "degraded_question": "Is the fever very high?"}
    assert load_tasks(write_lines(tmp_path, [other])).tasks[0].id != base


def test_rows_with_the_same_content_are_a_duplicate_naming_both_lines(tmp_path: Path) -> None:
    other = {**_ASKBENCH_ROW, "degraded_question": "Is it high?"}
    err = load_error(write_lines(tmp_path, [_ASKBENCH_ROW, other, {**_ASKBENCH_ROW, "expected_answer": "No"}]))
    assert_located(err, 3, "id")
    assert "first used on line 1" in err.reason
    flat = {"task_objective": "Draft a notice", "task_output": "* Notice: one page.", "example_input": "Tenant."}
    err = load_error(write_lines(tmp_path, [flat, flat]))
    assert_located(err, 2, "id")
    assert "first used on line 1" in err.reason
