"""Evaluation: summary statistics (streamed), the runner (files, resume, errors, workers), real-data ordering,
CLI, pairwise judging (cached, counted)."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import math
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langgraph_clarify.asker import LLMAsker
from langgraph_clarify.cli import main
from langgraph_clarify.evaluation.report import PLOTS, ExactSum, bootstrap_ci, summarize
from langgraph_clarify.evaluation.runner import (
    RESULTS,
    EvalConfig,
    Policy,
    episode_key,
    read_results,
    run_episodes,
    run_eval,
)
from langgraph_clarify.runs import fewer_collections, read_rows
from langgraph_clarify.testing import ScriptedChatModel
from shared_data import ASKBENCH, DOLOMITES, MEDIQ, need

# ---- summary statistics on hand-built rows ---------------------------------------------------------


def _turn(cited: list[int], new: list[int], *, repeated: bool = False) -> dict[str, Any]:
    return {
        "index": 0,
        "question": "q",
        "answer": "a",
        "cited": cited,
        "new_cited": new,
        "repeated": repeated,
        "evidence_reward": 1.0 if cited else 0.0,
        "novelty_reward": 1.0 if new else 0.0,
        "coverage": None,
    }


def _row(
    policy: str,
    budget: int,
    task_id: str,
    field: str,
    turns: list[dict[str, Any]],
    *,
    evidence: float | None,
    novelty: float | None,
    coverage: float,
    score: float | None,
    regions: list[str],
    repeated: int = 0,
    error: str | None = None,
    llm_calls: int = 0,
    tokens: int = 0,
) -> dict[str, Any]:
    """A results row with the keys summarize reads, as evaluation._row writes them."""
    return {
        "key": episode_key(policy, budget, "d", task_id),
        "policy": policy,
        "dataset": "d",
        "task_id": task_id,
        "field": field,
        "max_turns": budget,
        "turns": turns,
        "draft": None if error else "draft",
        "error": error,
        "regions": regions,
        "evidence_mean": evidence,
        "novelty_mean": novelty,
        "coverage": coverage,
        "repeated": repeated,
        "llm_calls": llm_calls,
        "tokens": tokens,
        "judge": {"score": score, "error": None if score is not None else "no score"},
    }


FOUR = ["procedure", "output", "output", "notes"]
ROWS = [
    # p at budget 2: two good rows, one failed episode, one the judge could not score
    _row(
        "p",
        2,
        "t1",
        "law",
        [_turn([0], [0]), _turn([3], [3])],
        evidence=1.0,
        novelty=1.0,
        coverage=0.5,
        score=0.5,
        regions=FOUR,
        llm_calls=3,
        tokens=100,
    ),
    _row(
        "p",
        2,
        "t2",
        "law",
        [_turn([1, 2], [1, 2]), _turn([], [], repeated=True)],
        evidence=0.5,
        novelty=0.5,
        coverage=0.5,
        score=1.0,
        regions=FOUR,
        repeated=1,
        llm_calls=4,
        tokens=50,
    ),
    _row(
        "p",
        2,
        "t3",
        "med",
        [],
        evidence=None,
        novelty=None,
        coverage=0.0,
        score=None,
        regions=["context", "context"],
        error="RuntimeError: boom",
        llm_calls=1,
        tokens=10,
    ),
    _row(
        "p",
        2,
        "t4",
        "",
        [_turn([0], [0])],
        evidence=1.0,
        novelty=1.0,
        coverage=1.0,
        score=None,
        regions=["notes"],
        llm_calls=2,
    ),
    # q never asks
    _row("q", 0, "t1", "law", [], evidence=None, novelty=None, coverage=0.0, score=0.0, regions=FOUR),
    _row("q", 0, "t2", "law", [], evidence=None, novelty=None, coverage=0.0, score=0.25, regions=FOUR),
]


def test_summarize_groups() -> None:
    summary = summarize(ROWS, seed=0)
    p, q = summary["groups"]
    assert (p["dataset"], p["policy"], p["max_turns"]) == ("d", "p", 2)
    assert (q["policy"], q["max_turns"]) == ("q", 0)
    assert p["n"] == 4 and p["judged"] == 2 and p["judge_missing"] == 2 and p["errors"] == 1
    assert p["score"] == pytest.approx(0.75)  # mean of the judged scores only; missing is not 0
    # episode metrics leave out the failed episode
    assert p["evidence"] == pytest.approx(2.5 / 3)
    assert p["novelty"] == pytest.approx(2.5 / 3)
    assert p["coverage"] == pytest.approx(2 / 3)
    assert p["questions"] == pytest.approx(5 / 3)
    assert p["repeated"] == 1 and p["llm_calls"] == 10 and p["tokens"] == 160
    assert p["score_ci"] == bootstrap_ci([0.5, 1.0], seed=0)
    lo, hi = p["score_ci"]
    assert 0.5 <= lo <= 0.75 <= hi <= 1.0
    assert q["n"] == 2 and q["score"] == pytest.approx(0.125) and q["judge_missing"] == 0 and q["errors"] == 0
    assert q["evidence"] is None and q["novelty"] is None  # no turns, no rewards
    assert q["coverage"] == 0.0 and q["questions"] == 0


def test_summarize_fields_turns_and_regions() -> None:
    summary = summarize(ROWS, seed=0)
    fields = {(f["policy"], f["field"]): (f["n"], f["score"]) for f in summary["fields"]}
    assert fields == {
        ("p", "(none)"): (1, None),
        ("p", "law"): (2, pytest.approx(0.75)),
        ("p", "med"): (1, None),
        ("q", "law"): (2, pytest.approx(0.125)),
    }
    per_turn = {c["policy"]: c for c in summary["per_turn"]}
    # turn 1: t1, t2, t4 all cite something new; turn 2: t1 does, t2 (a repeat) does not
    assert per_turn["p"]["evidence"] == [pytest.approx(1.0), pytest.approx(0.5)]
    assert per_turn["p"]["novelty"] == [pytest.approx(1.0), pytest.approx(0.5)]
    assert per_turn["q"]["evidence"] == [] and per_turn["q"]["novelty"] == []
    regions = {r["policy"]: r for r in summary["regions"]}
    assert regions["p"]["counts"] == {"notes": 2, "output": 2, "procedure": 1}
    # cited at relative positions 0, 0.75 (t1), 0.25, 0.5 (t2) and 0 (t4), in tenths
    assert regions["p"]["position_bins"] == [2, 0, 1, 0, 0, 1, 0, 1, 0, 0]
    assert regions["q"]["counts"] == {} and regions["q"]["position_bins"] == [0] * 10


def test_bootstrap_ci() -> None:
    values = [0.0, 0.25, 0.5, 1.0, 0.75, 0.0, 1.0, 0.5, 0.25, 0.0]
    mean = sum(values) / len(values)
    lo, hi = bootstrap_ci(values, seed=3)
    assert min(values) <= lo < mean < hi <= max(values)
    assert bootstrap_ci(values, seed=3) == [lo, hi]  # seeded
    wide = bootstrap_ci([0.0, 1.0] * 5, seed=0)
    narrow = bootstrap_ci([0.0, 1.0] * 50, seed=0)
    assert wide is not None and narrow is not None and narrow[1] - narrow[0] < wide[1] - wide[0]
    for x in (0.5, 0.7, 1.0):
        assert bootstrap_ci([x] * 7, seed=1) == [pytest.approx(x), pytest.approx(x)]
    assert bootstrap_ci([], seed=0) is None


def test_summary_does_not_depend_on_row_order() -> None:
    # regression: the bootstrap resampled scores, and region positions were listed, in file order
    scores = [0.0, 0.25, 0.5, 1.0, 0.75, 0.0, 1.0, 0.5, 0.25, 0.0]
    rows = [
        _row(
            "p",
            2,
            f"t{i}",
            "law",
            [_turn([i % 4], [i % 4])],
            evidence=1.0,
            novelty=1.0,
            coverage=0.25,
            score=s,
            regions=FOUR,
        )
        for i, s in enumerate(scores)
    ]
    assert summarize(rows, seed=0) == summarize(rows[::-1], seed=0)


# ---- the runner on a small native task file --------------------------------------------------------

# Hidden sentences use the words of the offline asker's first questions (steps/procedure, sections,
# audience), so the lexical oracle can find them and asking more uncovers more.
TASKS = [
    {
        "id": "postmortem",
        "field": "software",
        "objective": "Write a postmortem for the checkout outage.",
        "input": "Checkout returned errors for 90 minutes after a config change lowered the connection pool.",
        "procedure": "Follow these steps: rebuild a minute-by-minute timeline from deploy logs, then apply the "
        "five-whys method. Use a blameless framing and never name individuals.",
        "output_spec": "- Summary section: three sentences for an executive audience stating impact, duration and "
        "root cause.\n- Timeline section: a table of UTC timestamps with the evidence source for each event.\n"
        "- Action items section: each follow-up with an owner, priority and due date.",
        "notes": "Keep it under two pages.",
    },
    {
        "id": "grant",
        "field": "science",
        "objective": "Draft a grant proposal for our soil microbiome study.",
        "input": "We sampled 120 farms across three climate zones and sequenced bacterial communities.",
        "procedure": "The steps are: state the hypothesis before the methods, then justify the sample size with a "
        "power analysis.",
        "output_spec": "- Specific aims section: two or three aims, each with a testable hypothesis.\n"
        "- Budget section: personnel, sequencing costs and travel itemised per year.\n"
        "- Reviewer summary: one page for an audience of agronomists rather than microbiologists.",
        "notes": "The funder caps the budget at 400,000 euros.",
    },
    {
        "id": "lesson",
        "field": "education",
        "objective": "Plan a biology lesson on photosynthesis.",
        "input": "A class of 28 pupils aged 12 with one 50-minute period.",
        "procedure": "Work through three steps: a pondweed demonstration, guided questions, then a worksheet.",
        "output_spec": "- Learning objectives section: three measurable objectives.\n"
        "- Activities section: a sequence with the minutes allotted to each step.\n"
        "- Assessment: an exit ticket with two questions the intended audience of pupils can answer alone.",
        "notes": "Two pupils need large-print materials.",
    },
    {
        "id": "menu",
        "field": "hospitality",
        "objective": "Design a dinner menu for a wedding reception.",
        "input": "About 90 guests in a countryside barn in late September.",
        "procedure": "Follow the steps of our method: source vegetables from local farms in season and confirm "
        "dietary restrictions with the couple first.",
        "output_spec": "- Courses section: a starter, main and dessert with a vegetarian alternative for each.\n"
        "- Wine pairing section: one wine per course with tasting notes.\n"
        "- Cost estimate: price per head including staff, for an audience of the couple's parents who pay.",
        "notes": "The venue kitchen has no gas hob.",
    },
]
IDS = [t["id"] for t in TASKS]
BUDGETS = [0, 1, 3]


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TASKS), encoding="utf-8")
    return path


def _cfg(task_file: Path, out: Path, **kw: Any) -> EvalConfig:
    opts: dict[str, Any] = {
        "tasks": [task_file],
        "policies": ["direct", "offline"],
        "turn_budgets": BUDGETS,
        "judge": "lexical",
        "out": out,
        "progress": False,
    }
    return EvalConfig(**(opts | kw))


def _expected_keys() -> set[str]:
    keys = {episode_key("direct", 0, "small", i) for i in IDS}
    return keys | {episode_key("offline", b, "small", i) for b in BUDGETS for i in IDS}


def _groups(summary: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(g["policy"], g["max_turns"]): g for g in summary["groups"]}


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_run_eval_writes_results_summary_report_and_plots(task_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = run_eval(_cfg(task_file, out))
    rows = [json.loads(line) for line in _lines(out / RESULTS)]
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 16 and set(keys) == _expected_keys()  # direct only at budget 0
    assert all(r["error"] is None and r["judge"]["score"] is not None for r in rows)
    assert {r["judge"]["method"] for r in rows} == {"offline-lexical-judge"}
    for r in rows:
        assert len(r["turns"]) <= r["max_turns"] and r["draft"]
    assert json.loads((out / "summary.json").read_text(encoding="utf-8")) == summary
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Clarify evaluation report")
    for name in PLOTS:
        assert (out / name).stat().st_size > 1000
        assert f"![{name}]({name})" in report
    assert "| small | offline | 3 | 4 |" in report

    groups = _groups(summary)
    assert set(groups) == {("direct", 0), *(("offline", b) for b in BUDGETS)}
    assert all(g["n"] == 4 and g["errors"] == 0 and g["judge_missing"] == 0 for g in groups.values())
    assert groups[("offline", 3)]["score"] > groups[("direct", 0)]["score"]
    coverage = [groups[("offline", b)]["coverage"] for b in BUDGETS]
    assert coverage == sorted(coverage) and coverage[0] == 0.0 and coverage[-1] > coverage[0]
    assert groups[("direct", 0)]["questions"] == 0 and groups[("offline", 3)]["questions"] > 1


def test_resume_after_a_kill_mid_write(task_file: Path, tmp_path: Path) -> None:
    full = run_eval(_cfg(task_file, tmp_path / "full"))
    out = tmp_path / "crashed"
    run_eval(_cfg(task_file, out))
    results = out / RESULTS
    lines = _lines(results)
    k = 5
    # a kill: the first k rows made it to disk, the (k+1)th only halfway, no newline
    results.write_text("\n".join(lines[:k]) + "\n" + lines[k][: len(lines[k]) // 2], encoding="utf-8")
    with pytest.raises(FileExistsError):
        run_eval(_cfg(task_file, out))
    summary = run_eval(_cfg(task_file, out, resume=True))
    after = _lines(results)
    rows = [json.loads(line) for line in after]  # the torn line is gone: every line parses
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)) == 16 and set(keys) == _expected_keys()
    assert after[:k] == lines[:k]  # finished episodes were kept, not rerun
    assert summary == full  # the same summary however the run was interrupted
    # resuming a finished run runs nothing more
    run_eval(_cfg(task_file, out, resume=True))
    assert _lines(results) == after


def _canonical(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: r["key"])


def test_same_seed_same_results(task_file: Path, tmp_path: Path) -> None:
    a = run_eval(_cfg(task_file, tmp_path / "a", seed=7))
    b = run_eval(_cfg(task_file, tmp_path / "b", seed=7))
    rows_a = _canonical(read_results(tmp_path / "a" / RESULTS))
    rows_b = _canonical(read_results(tmp_path / "b" / RESULTS))
    assert [r["key"] for r in rows_a] == [r["key"] for r in rows_b]
    for ra, rb in zip(rows_a, rows_b, strict=True):
        assert (ra["turns"], ra["draft"], ra["judge"]["score"], ra["judge"]["met"]) == (
            rb["turns"],
            rb["draft"],
            rb["judge"]["score"],
            rb["judge"]["met"],
        )
    # episodes finish in a different order from run to run; the summary must not care
    assert a == b
    assert (tmp_path / "a" / "summary.json").read_bytes() == (tmp_path / "b" / "summary.json").read_bytes()


def test_summary_json_is_independent_of_finish_order(task_file: Path, tmp_path: Path) -> None:
    run_eval(_cfg(task_file, tmp_path / "run", seed=7))
    rows = _canonical(read_results(tmp_path / "run" / RESULTS))
    for name, ordered in (("forward", rows), ("backward", rows[::-1])):
        (tmp_path / name).mkdir()
        (tmp_path / name / RESULTS).write_text("".join(json.dumps(r) + "\n" for r in ordered), encoding="utf-8")
        run_eval(_cfg(task_file, tmp_path / name, seed=7, resume=True))  # nothing left to run
    forward = (tmp_path / "forward" / "summary.json").read_bytes()
    assert forward == (tmp_path / "backward" / "summary.json").read_bytes()


def test_episode_error_does_not_stop_the_run(task_file: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("langgraph_clarify.llm.RETRY_BACKOFF_S", 0.001)

    def reply(messages: list[BaseMessage]) -> str:
        if "soil microbiome" in messages[1].text:
            raise RuntimeError("upstream 503 on the grant task")
        return "Which sections must the output contain?" if len(messages) == 2 else "STOP"

    model = ScriptedChatModel(script=[reply])
    policy = Policy("scripted", LLMAsker(model))
    summary = run_eval(_cfg(task_file, tmp_path / "run", policies=["direct", policy], turn_budgets=[2]))
    rows = {r["key"]: r for r in read_results(tmp_path / "run" / RESULTS)}
    assert len(rows) == 8
    failed = rows[episode_key("scripted", 2, "small", "grant")]
    assert "upstream 503 on the grant task" in failed["error"]
    assert failed["stop_reason"] == "error" and failed["draft"] is None
    assert failed["judge"]["score"] is None and failed["judge"]["error"] == "no draft"
    assert len(failed["calls"]) == 4 and failed["calls"][-1]["error"].startswith("RuntimeError")  # retried
    for task_id in ("postmortem", "lesson", "menu"):
        ok = rows[episode_key("scripted", 2, "small", task_id)]
        assert ok["error"] is None and ok["stop_reason"] == "asker_stop"
        assert [t["question"] for t in ok["turns"]] == ["Which sections must the output contain?"]
        assert ok["judge"]["score"] is not None and ok["llm_calls"] == 2  # two asker calls
        assert rows[episode_key("direct", 0, "small", task_id)]["error"] is None
    g = _groups(summary)[("scripted", 2)]
    assert g["n"] == 4 and g["errors"] == 1 and g["judge_missing"] == 1 and g["judged"] == 3
    assert _groups(summary)[("direct", 0)]["errors"] == 0


def test_workers_give_the_same_results(task_file: Path, tmp_path: Path) -> None:
    one = run_eval(_cfg(task_file, tmp_path / "w1", workers=1))
    two = run_eval(_cfg(task_file, tmp_path / "w2", workers=2))
    rows1 = {r["key"]: r for r in read_results(tmp_path / "w1" / RESULTS)}
    rows2 = {r["key"]: r for r in read_results(tmp_path / "w2" / RESULTS)}
    assert len(_lines(tmp_path / "w2" / RESULTS)) == len(rows2) == 16
    assert set(rows1) == set(rows2) == _expected_keys()
    for key, r in rows1.items():
        assert (rows2[key]["turns"], rows2[key]["draft"], rows2[key]["judge"]["score"]) == (
            r["turns"],
            r["draft"],
            r["judge"]["score"],
        )
    assert one == two  # same summary, although the rows were written in another order
    assert (tmp_path / "w1" / "summary.json").read_bytes() == (tmp_path / "w2" / "summary.json").read_bytes()


# ---- expected ordering on real data ----------------------------------------------------------------


def test_dolomites_offline_beats_direct_and_coverage_grows(tmp_path: Path) -> None:
    cfg = EvalConfig(
        tasks=[need(DOLOMITES)],
        policies=["direct", "offline"],
        turn_budgets=[1, 3, 5],
        judge="lexical",
        limit=40,
        out=tmp_path / "dolomites",
        progress=False,
    )
    run_episodes(cfg)
    rows = read_results(cfg.out / RESULTS)
    assert len(rows) == 40 * 4
    groups = _groups(summarize(rows))
    assert all(g["errors"] == 0 and g["judge_missing"] == 0 and g["n"] == 40 for g in groups.values())
    assert groups[("offline", 5)]["score"] > groups[("direct", 0)]["score"]
    c1, c3, c5 = (groups[("offline", b)]["coverage"] for b in (1, 3, 5))
    assert c1 < c3 <= c5


def test_mediq_coverage_grows_with_budget(tmp_path: Path) -> None:
    cfg = EvalConfig(
        tasks=[need(MEDIQ)],
        policies=["offline"],
        turn_budgets=[1, 3, 5],
        judge="lexical",
        limit=40,
        out=tmp_path / "mediq",
        progress=False,
    )
    run_episodes(cfg)
    groups = _groups(summarize(read_results(cfg.out / RESULTS)))
    assert all(g["errors"] == 0 and g["judge_missing"] == 0 and g["n"] == 40 for g in groups.values())
    c1, c3, c5 = (groups[("offline", b)]["coverage"] for b in (1, 3, 5))
    assert 0 < c1 < c3 <= c5 and c5 > c1


def test_askbench_report_with_answer_judge(tmp_path: Path) -> None:
    """AskBench items carry a gold answer, no checklist: the answer judge scores them."""
    cfg = EvalConfig(
        tasks=[need(ASKBENCH)],
        policies=["direct", "offline"],
        turn_budgets=[1, 5],
        limit=30,
        out=tmp_path / "askbench",
        progress=False,
    )
    summary = run_eval(cfg)
    rows = [json.loads(line) for line in _lines(cfg.out / RESULTS)]
    assert len(rows) == 30 * 3 and all(r["judge"]["method"] == "answer-judge" for r in rows)
    assert all(r["judge"]["score"] in (0.0, 1.0) for r in rows)
    groups = _groups(summary)
    assert groups[("offline", 1)]["coverage"] < groups[("offline", 5)]["coverage"]
    assert (cfg.out / "report.md").read_text(encoding="utf-8").count("| ask_mind_test |") >= 3


# ---- command line ----------------------------------------------------------------------------------


def test_cli_eval(task_file: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "cli"
    buf = io.StringIO()
    argv = [
        "eval",
        "--tasks",
        str(task_file),
        "--policy",
        "direct",
        "offline",
        "--turn-budgets",
        "0,2",
        "--judge",
        "lexical",
        "--out",
        str(out_dir),
        "--no-progress",
    ]
    assert main(argv, out=buf) == 0
    lines = buf.getvalue().splitlines()
    assert lines[0].split()[:5] == ["dataset", "policy", "turns", "n", "score"]
    table = [line.split() for line in lines[1:4]]
    assert [(t[0], t[1], t[2], t[3]) for t in table] == [
        ("small", "direct", "0", "4"),
        ("small", "offline", "0", "4"),
        ("small", "offline", "2", "4"),
    ]
    assert lines[-1].startswith("wrote ") and str(out_dir / RESULTS) in lines[-1]
    assert all(str(out_dir / name) in lines[-1] for name in [*PLOTS, "summary.json", "report.md"])  # every file
    assert len(read_results(out_dir / RESULTS)) == 12


def test_cli_eval_bad_budgets(task_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--tasks", str(task_file), "--turn-budgets", "x", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "expected comma-separated integers" in capsys.readouterr().err


def test_cli_vanilla_needs_llm(task_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "--tasks", str(task_file), "--policy", "vanilla", "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(argv, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "vanilla" in err and "--llm" in err


def test_cli_rejected_policy_leaves_out_dir_reusable(
    task_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = str(tmp_path / "o")
    base = ["eval", "--tasks", str(task_file), "--out", out_dir, "--no-progress", "--judge", "lexical"]
    assert main([*base, "--policy", "vanilla"], out=io.StringIO()) == 1
    capsys.readouterr()
    assert main([*base, "--policy", "direct"], out=io.StringIO()) == 0, capsys.readouterr().err


def test_resume_refuses_different_scoring_settings(task_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "pinned"
    run_eval(_cfg(task_file, out, policies=["direct"]))
    with pytest.raises(ValueError, match=r"judge was 'offline-lexical-judge', now 'offline-embedding-judge'"):
        run_eval(_cfg(task_file, out, policies=["direct"], judge="embedding", resume=True))
    # more policies or budgets on the same settings are fine: only the new episodes run
    run_eval(_cfg(task_file, out, resume=True))
    keys = [json.loads(line)["key"] for line in _lines(out / RESULTS)]
    assert len(keys) == len(set(keys)) == len(_expected_keys())


# ---- the summary in one streaming pass -------------------------------------------------------------


def test_summary_streamed_from_the_file_equals_the_summary_of_the_list(tmp_path: Path) -> None:
    path = tmp_path / RESULTS
    flaky = {**ROWS[0], "error": "RuntimeError: flaky", "judge": {"score": None}}  # retried later: last row wins
    path.write_text("".join(json.dumps(r) + "\n" for r in [flaky, *ROWS[::-1]]), encoding="utf-8")
    streamed = summarize(read_rows(path), seed=0)
    assert streamed == summarize(ROWS, seed=0) == summarize(iter(ROWS[::-1]), seed=0)


def _random_rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        turns = [_turn([k % 4], [k % 4] if rng.random() < 0.5 else []) for k in range(rng.randrange(4))]
        rows.append(
            _row(
                rng.choice("pq"),
                2,
                f"t{i}",
                rng.choice(["law", "med"]),
                turns,
                evidence=rng.random() if turns else None,
                novelty=rng.random() if turns else None,
                coverage=rng.random(),
                score=rng.randrange(9) / 8 if rng.random() < 0.9 else None,
                regions=FOUR,
            )
        )
    return rows


def test_streamed_statistics_equal_the_direct_computation() -> None:
    rows = _random_rows(400, seed=1)
    groups = {g["policy"]: g for g in summarize(rows, seed=0)["groups"]}
    for policy, g in groups.items():
        mine = [r for r in rows if r["policy"] == policy]
        scores = [r["judge"]["score"] for r in mine if r["judge"]["score"] is not None]
        assert g["n"] == len(mine) and g["judged"] == len(scores)
        assert g["score"] == math.fsum(scores) / len(scores)
        assert g["score_ci"] == bootstrap_ci(scores, seed=0)
        assert g["coverage"] == math.fsum(r["coverage"] for r in mine) / len(mine)
        evidence = [r["evidence_mean"] for r in mine if r["evidence_mean"] is not None]
        assert g["evidence"] == math.fsum(evidence) / len(evidence)
        assert g["questions"] == sum(len(r["turns"]) for r in mine) / len(mine)


def test_exact_sum_does_not_depend_on_order() -> None:
    values = [0.1] * 10 + [1e16, 1.0, -1e16] + [1 / 3] * 7
    means = set()
    for order in (values, values[::-1], sorted(values), random.Random(0).sample(values, len(values))):
        acc = ExactSum()
        for v in order:
            acc.add(v)
        means.add(acc.mean())
    assert means == {math.fsum(values) / len(values)}
    assert ExactSum().mean() is None


def test_bootstrap_from_counts_equals_resampling_the_sorted_values() -> None:
    values = [0.25, 1.0, 0.0, 0.5, 0.25, 1.0, 0.75, 0.25]

    def plain(vals: list[float], seed: int, resamples: int = 1000) -> list[float]:
        rng, n = random.Random(seed), len(vals)
        means = sorted(sum(rng.choices(vals, k=n)) / n for _ in range(resamples))
        return [means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]]

    for seed in (0, 5):
        assert bootstrap_ci(values, seed=seed) == plain(sorted(values), seed)
        assert bootstrap_ci(values[::-1], seed=seed) == bootstrap_ci(values, seed=seed)


def test_summary_memory_does_not_grow_with_the_rows() -> None:
    """Rows come from a generator, as from the results file: what the summary keeps is running statistics
    (scores as a count per distinct value), so 8x the rows costs a few transient kilobytes (the bootstrap's
    resample), where a list of the rows would cost megabytes."""

    def rows(n: int) -> Any:
        for i in range(n):
            turns = [_turn([k % 4], [k % 4]) for k in range(3)]
            yield _row(
                "p", 3, f"t{i}", "law", turns, evidence=1.0, novelty=1.0, coverage=0.75, score=(i % 9) / 8, regions=FOUR
            )

    def peak(n: int) -> int:
        tracemalloc.start()
        summarize(rows(n), seed=0)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    small, large = peak(500), peak(4000)
    assert large - small < 64_000, (small, large)


# ---- pairwise judging: cached verdicts, counted calls ----------------------------------------------


def _pair_reply(messages: list[BaseMessage]) -> str:
    """Prefer the side that asked something; between two drafts prefer position A (a position bias)."""
    return '{"better": "B"}' if "A:\n(asked nothing)" in messages[-1].text else '{"better": "A"}'


def test_pairwise_llm_verdicts_are_cached_and_counted(task_file: Path, tmp_path: Path) -> None:
    model = ScriptedChatModel(script=[_pair_reply])
    opts: dict[str, Any] = {"turn_budgets": [2], "pairwise": [("offline", "direct")]}
    summary = run_eval(_cfg(task_file, tmp_path / "run", pairwise_judge=model, **opts))
    (pair,) = summary["pairwise"]
    assert pair["max_turns"] == [2, 0]
    assert pair["questions"] == {"win": 4, "tie": 0, "lose": 0}  # offline asked, direct did not
    assert pair["draft"] == {"win": 0, "tie": 4, "lose": 0}  # "A" in both orders cancels out
    assert len(model.prompts) == 16  # 4 tasks x 2 kinds x both orders
    words = sum(len(m.text.split()) for prompt in model.prompts for m in prompt) + 16 * 2
    assert pair["llm_calls"] == 16 and pair["tokens"] == words
    assert len(_lines(tmp_path / "run" / "pairwise.jsonl")) == 8

    again = ScriptedChatModel(script=['{"better": "B"}'])  # would change every verdict, if it were asked
    resumed = run_eval(_cfg(task_file, tmp_path / "run", pairwise_judge=again, resume=True, **opts))
    assert again.prompts == []
    assert resumed == summary  # the verdicts' calls still counted: the summary does not depend on resumes
    assert len(_lines(tmp_path / "run" / "pairwise.jsonl")) == 8


def test_failed_pairwise_verdicts_are_counted_and_asked_again(task_file: Path, tmp_path: Path) -> None:
    model = ScriptedChatModel(script=["not json"])
    opts: dict[str, Any] = {"turn_budgets": [2], "pairwise": [("offline", "direct")], "pairwise_judge": model}
    (pair,) = run_eval(_cfg(task_file, tmp_path / "run", **opts))["pairwise"]
    assert pair["questions"] == pair["draft"] == {"win": 0, "tie": 0, "lose": 0, "missing": 4}
    assert pair["llm_calls"] == len(model.prompts) == 4 * 2 * 2 * 3  # each order tried 3 times
    asked = len(model.prompts)
    run_eval(_cfg(task_file, tmp_path / "run", resume=True, **opts))
    assert len(model.prompts) == 2 * asked  # nothing was cached: asked again


def test_a_run_leaves_the_garbage_collector_as_it_found_it(task_file: Path, tmp_path: Path) -> None:
    """Episodes run with fewer collections (objects alive at the start frozen, a larger first generation);
    the caller's settings come back afterwards, also when the run fails."""
    before = gc.get_threshold()
    seen: list[tuple[tuple[int, int, int], int]] = []

    def reply(messages: list[BaseMessage]) -> str:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return "STOP"

    policy = Policy("scripted", LLMAsker(ScriptedChatModel(script=[reply])))
    run_episodes(_cfg(task_file, tmp_path / "run", policies=[policy], turn_budgets=[1]))
    assert seen and all(threshold[0] > before[0] and frozen > 0 for threshold, frozen in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_at_most_concurrency_episodes_are_in_flight(task_file: Path, tmp_path: Path, monkeypatch) -> None:
    from langgraph_clarify.evaluation import runner

    live = peak = 0
    real = runner.arun_episode

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        try:
            await asyncio.sleep(0.005)
            return await real(*args, **kwargs)
        finally:
            live -= 1

    monkeypatch.setattr(runner, "arun_episode", counted)
    run_episodes(_cfg(task_file, tmp_path / "run", concurrency=3))
    assert peak == 3 and len(read_results(tmp_path / "run" / RESULTS)) == 16
