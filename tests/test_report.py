"""The evaluation report reads well to someone who has not read the code: judges named, columns explained, the
paper's analyses cited as the paper's, plots whose curves and bars stay visible and whose titles say what they show."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from langgraph_clarify.evaluation import report
from langgraph_clarify.evaluation.report import PLOTS, render_markdown, report_files, summarize, write_report


def _turn(cited: list[int]) -> dict[str, Any]:
    return {
        "index": 0,
        "question": "q",
        "answer": "a",
        "cited": cited,
        "new_cited": cited,
        "repeated": False,
        "evidence_reward": 1.0 if cited else 0.0,
        "novelty_reward": 1.0 if cited else 0.0,
        "coverage": None,
    }


def _row(policy: str, budget: int, task: str, method: str, score: float | None, turns: int) -> dict[str, Any]:
    return {
        "key": f"{policy}|{budget}|d|{task}",
        "policy": policy,
        "dataset": "d",
        "task_id": task,
        "field": "law",
        "max_turns": budget,
        "turns": [_turn([k % 3]) for k in range(turns)],
        "draft": "draft",
        "error": None,
        "regions": ["procedure", "output", "notes"],
        "evidence_mean": 1.0 if turns else None,
        "novelty_mean": 1.0 if turns else None,
        "coverage": min(turns, 3) / 3,
        "repeated": 0,
        "llm_calls": 0,
        "tokens": 0,
        "judge": {"method": method, "score": score},
    }


# the same policy at three budgets asks the same first questions: its per-turn curves coincide
ROWS = [
    *(_row("offline", b, t, "offline-lexical-judge", 0.5, b) for b in (1, 3, 5) for t in ("t1", "t2")),
    *(_row("direct", 0, t, "answer-judge", 0.0, 0) for t in ("t1", "t2")),
]
PAIRWISE = [
    {
        "a": "offline",
        "b": "direct",
        "max_turns": [5, 0],
        "judge": "openai:gpt-4o",
        "questions": {"win": 2, "tie": 0, "lose": 0},
        "draft": {"win": 1, "tie": 0, "lose": 0, "missing": 1},
        "llm_calls": 9,
        "tokens": 1234,
    }
]


@pytest.fixture
def summary() -> dict[str, Any]:
    return {**summarize(ROWS), "pairwise": PAIRWISE}


def test_the_report_names_the_judges_and_what_their_scores_mean(summary: dict[str, Any]) -> None:
    text = render_markdown(summary, [])
    assert summary["groups"][0]["judges"] == {"answer-judge": 2}
    assert "`offline-lexical-judge` (6 episodes): checklist coverage without an LLM" in text
    assert "`answer-judge` (2 episodes): exact match" in text
    assert "| offline | direct | 5 vs 0 | openai:gpt-4o | 2/0/0 | 1/0/0 (1 unjudged) | 9 | 1234 |" in text


def test_every_column_is_explained(summary: dict[str, Any]) -> None:
    text = render_markdown(summary, [])
    header = next(line for line in text.splitlines() if line.startswith("| dataset | policy | turns"))
    columns = [c.strip() for c in header.strip("|").split("|")][2:]  # dataset and policy need no words
    explained = set(re.findall(r"^- \*\*(.+?)\*\*: ", text, re.M))
    assert set(columns) <= explained, set(columns) - explained
    for word in ("unjudged", "both orders", "W/T/L"):
        assert word in text  # the pairwise table is explained too


def test_the_papers_analyses_are_cited_as_the_papers(summary: dict[str, Any]) -> None:
    text = render_markdown(summary, [])
    assert "## Score per field (Table 1 of the paper, Huang et al. 2025, arXiv 2507.21389)" in text
    assert "## Where cited evidence falls (Figure 5 of the paper, Huang et al. 2025, arXiv 2507.21389)" in text


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch, summary: dict[str, Any]) -> dict[str, Any]:
    """Each plot's figure, drawn (so sizes are known) instead of saved."""
    import matplotlib

    matplotlib.use("Agg")
    drawn: dict[str, Any] = {}

    def keep(fig: Any, path: Path) -> None:
        fig.tight_layout()
        fig.canvas.draw()
        drawn[path.name] = fig

    monkeypatch.setattr(report, "_save", keep)
    for name, plot in PLOTS.items():
        plot(summary, Path(name))
    return drawn


def test_curves_that_coincide_stay_visible(figures: dict[str, Any]) -> None:
    for ax in figures["reward_per_turn.png"].axes:
        lines = ax.get_lines()
        assert len(lines) == 3  # offline at budgets 1, 3 and 5; direct never asks
        assert len({(line.get_linestyle(), line.get_marker()) for line in lines}) == 3
        first_turn = [line.get_xdata()[0] for line in lines]
        assert len(set(first_turn)) == 3 and max(first_turn) - min(first_turn) < 0.5  # side by side, same turn


def test_the_regions_legend_does_not_cover_the_bars(figures: dict[str, Any]) -> None:
    for ax in figures["evidence_regions.png"].axes:
        legend = ax.get_legend()
        assert legend is not None
        assert legend.get_window_extent().x0 >= ax.get_window_extent().x1  # right of the plotting area


def test_plot_titles_say_what_they_show(figures: dict[str, Any]) -> None:
    for name, fig in figures.items():
        titles = [ax.get_title() for ax in fig.axes]
        assert all(len(t.split()) >= 4 and t != "d" for t in titles), (name, titles)


def test_the_plots_in_the_directory_are_the_reports(
    summary: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = write_report(summary, tmp_path)
    assert [p.name for p in written] == [*PLOTS, "report.md"]
    assert [p.name for p in report_files(tmp_path)] == ["results.jsonl", "summary.json", "report.md", *PLOTS]
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # matplotlib gone: no plots, and none left over
    assert write_report(summary, tmp_path) == [tmp_path / "report.md"]
    assert not any((tmp_path / name).exists() for name in PLOTS)
    assert "## Plots" in (tmp_path / "report.md").read_text(encoding="utf-8")
