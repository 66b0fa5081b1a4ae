"""The validity targets on slices of the shared data (full figures: evals/README.md, `python evals/validity.py`)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest

from langgraph_clarify.cli import main
from langgraph_clarify.evaluation.validity import (
    CEILINGS,
    QUESTION_BANK,
    episode_figures,
    judge_figures,
    load_labelled,
    oracle_figures,
    targeted_figures,
    targeted_question,
    template_figures,
)
from langgraph_clarify.judge import make_judge
from langgraph_clarify.oracle import make_oracle
from langgraph_clarify.rewards import RewardConfig
from langgraph_clarify.tasks import MaskedTask, load_tasks
from shared_data import DOLOMITES, MEDIQ, need

LABELLED = Path(__file__).parent / "fixtures" / "mediq_labelled.jsonl"


@pytest.fixture(scope="module")
def dolomites() -> list[MaskedTask]:
    return load_tasks(need(DOLOMITES)).tasks


@pytest.fixture(scope="module")
def slice_(dolomites: list[MaskedTask]) -> list[MaskedTask]:
    """Every third example: 103 tasks from most of the 117 templates."""
    return dolomites[::3]


@pytest.fixture(scope="module")
def oracle():  # type: ignore[no-untyped-def]
    return make_oracle("offline")


@pytest.fixture(scope="module")
def figures(slice_: list[MaskedTask], oracle) -> tuple[dict, list[dict]]:  # type: ignore[no-untyped-def]
    cfg = RewardConfig()
    return targeted_figures(slice_, oracle, cfg), template_figures(slice_, QUESTION_BANK, oracle, cfg)


def test_targeted_questions_are_paid_and_find_their_sentence(figures) -> None:  # type: ignore[no-untyped-def]
    targeted, _ = figures
    assert targeted["tasks"] >= 100
    assert targeted["rewarded_share"] >= 0.85
    assert targeted["source_cited_share"] >= 0.8


def test_templates_earn_a_small_share_of_targeted(figures) -> None:  # type: ignore[no-untyped-def]
    targeted, templates = figures
    for row in templates:
        ceiling = CEILINGS[row["kind"]] * targeted["mean_reward"]
        assert row["mean_reward"] <= ceiling, (row["question"], row["mean_reward"], ceiling)
    # the oracle still answers generic questions as a user would: the reward, not the oracle, tells them apart
    fmt = next(r for r in templates if r["question"].startswith("What format should it take"))
    assert fmt["rewarded_share"] > 0.5


def test_the_paper_reward_is_gamed_where_the_default_is_not(slice_: list[MaskedTask], oracle) -> None:  # type: ignore[no-untyped-def]
    """Why the default exists: the evidence reward pays the format template about as often as a targeted question."""
    paper = RewardConfig.paper()
    targeted = targeted_figures(slice_, oracle, paper)
    (fmt,) = template_figures(slice_, [q for q in QUESTION_BANK if "format" in q.question[:12]], oracle, paper)
    assert fmt["mean_reward"] > 0.5 * targeted["mean_reward"]


def test_targeted_question_builder(dolomites: list[MaskedTask]) -> None:
    task = dolomites[0]
    index, question = targeted_question(task)  # type: ignore[misc]
    assert question.startswith("Could you tell me more about ") and question.endswith("?")
    assert targeted_question(task) == (index, question)  # stable
    words = question.removeprefix("Could you tell me more about ").rstrip("?").replace(" and", ",").split(", ")
    assert len(words) == 3 and all(w in task.hidden[index].text.lower() for w in words)
    assert not any(w in task.explicit_text.lower().split() for w in words)


def test_oracle_on_labelled_clinical_questions() -> None:
    mediq = load_tasks(need(MEDIQ)).tasks
    rows = load_labelled(LABELLED)
    assert len(rows) >= 60 and sum(not r["gold"] for r in rows) >= 15
    got = oracle_figures(rows, mediq, make_oracle("offline"))
    assert got["questions"] == len(rows)
    assert got["precision"] >= 0.8 and got["abstain"] >= 0.9
    assert got["hit"] >= 0.78  # measured 0.80; the target is 0.90 (see the xfail below)
    # the named alternatives are worse on one side each
    lexical, embedding = (oracle_figures(rows, mediq, make_oracle(name)) for name in ("lexical", "embedding"))
    assert lexical["hit"] < got["hit"] and embedding["precision"] < got["precision"]


@pytest.mark.xfail(
    strict=True,
    reason="hit is 0.80 on the labelled set: MiniLM + BM25 rank a gold sentence first "
    "for only 86% of these paraphrased questions (evals/README.md)",
)
def test_oracle_hit_target() -> None:
    got = oracle_figures(load_labelled(LABELLED), load_tasks(need(MEDIQ)).tasks, make_oracle("offline"))
    assert got["hit"] >= 0.9


@pytest.mark.parametrize("judge", ["lexical", "embedding"])
def test_judges_tell_full_from_direct_and_are_not_fooled(dolomites: list[MaskedTask], judge: str) -> None:
    got = judge_figures(dolomites[::10], make_judge(judge))
    assert got["auc_full_vs_direct"] >= 0.95
    assert got["mean_direct"] <= 0.15
    assert got["mean_negated"] <= 0.2
    assert got["mean_off_topic"] <= 0.2


def test_episodes_offline_between_direct_and_targeted(slice_: list[MaskedTask], oracle) -> None:  # type: ignore[no-untyped-def]
    got = episode_figures(slice_[::2], oracle, RewardConfig())
    assert got["direct"] == 0.0
    assert got["offline"] >= 0.1  # clearly above direct
    assert got["targeted"] > 5 * got["offline"]


def test_cli_validity_json_shape(tmp_path: Path) -> None:
    """`clarify validity --json` on a small MediQ slice (the labelled cases) plus the bundled tasks."""
    ids = {r["task_id"].removeprefix("mediq-") for r in load_labelled(LABELLED)}
    lines = [
        line for line in need(MEDIQ).read_text(encoding="utf-8").splitlines() if str(json.loads(line)["id"]) in ids
    ]
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bank = tmp_path / "bank.jsonl"
    bank.write_text('{"question": "What does the {objective} need?"}\n', encoding="utf-8")
    out = StringIO()
    from langgraph_clarify.tasks import bundled_tasks_path

    argv = ["validity", "--tasks", str(bundled_tasks_path()), str(cases), "--questions", str(bank)]
    argv += ["--labelled", str(LABELLED), "--judge", "lexical", "--no-episodes", "--json"]
    assert main(argv, out) == 0
    got = json.loads(out.getvalue())
    assert set(got) >= {"templates", "targeted", "oracle", "judges"}
    assert got["templates"][-1]["question"] == "What does the {objective} need?"  # as written, before filling
    assert all({"question", "rewarded_share", "mean_reward"} <= set(row) for row in got["templates"])
    assert {"rewarded_share", "source_cited_share", "mean_reward"} <= set(got["targeted"])
    assert {"hit", "precision", "abstain"} <= set(got["oracle"]) and got["oracle"]["questions"] == 65
    assert set(got["judges"]) == {"lexical"} and got["judges"]["lexical"]["tasks"] == 16  # MediQ: no checklist
    assert {"auc_full_vs_direct", "mean_full", "mean_direct", "mean_negated", "mean_off_topic"} <= set(
        got["judges"]["lexical"]
    )
    evidence = StringIO()
    assert main([*argv[:-1], "--reward", "evidence", "--json"], evidence) == 0
    paper = json.loads(evidence.getvalue())
    assert all(0 <= row["mean_reward"] <= 1 for row in paper["templates"])  # the paper's reward is 0 or 1
    table = StringIO()
    assert main(argv[:-1], table) == 0
    assert "| targeted" in table.getvalue() and "oracle on 65 labelled questions" in table.getvalue()


def test_bad_labelled_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"task_id": "x", "question": "q?", "gold": [0]}\n{"task_id": "x", "question": "q?"}\n')
    with pytest.raises(ValueError, match=r"q\.jsonl:2: expected"):
        load_labelled(bad)


@pytest.mark.parametrize("data", ["bundled", "dolomites"])
def test_clarify_eval_offline_beats_direct_at_budget_5(tmp_path: Path, data: str) -> None:
    """With the default oracle and judge (embedding), the offline asker's drafts still beat `direct`'s."""
    from langgraph_clarify.evaluation.report import summarize
    from langgraph_clarify.evaluation.runner import RESULTS, EvalConfig, read_results, run_episodes
    from langgraph_clarify.tasks import bundled_tasks_path

    path = bundled_tasks_path() if data == "bundled" else need(DOLOMITES)
    cfg = EvalConfig(tasks=[path], turn_budgets=[5], limit=16, out=tmp_path / data, progress=False)
    run_episodes(cfg)
    groups = {(g["policy"], g["max_turns"]): g for g in summarize(read_results(cfg.out / RESULTS))["groups"]}
    direct, offline = groups[("direct", 0)], groups[("offline", 5)]
    assert direct["score"] <= 0.15  # restating the input earns nothing
    assert offline["score"] > direct["score"] + 0.15 and offline["score_ci"][0] > direct["score"]
