"""The real-model benchmark's report (``bench/real_model.py``) on a real, fast eval: samples pool into their
policy, the figures follow the episodes, and the learning curve is drawn from the runs' metrics."""

from __future__ import annotations

import io
import json
import runpy
from pathlib import Path

from langgraph_clarify.cli import main as clarify
from langgraph_clarify.tasks import bundled_tasks_path, load_bundled

REPORT = runpy.run_path(str(Path(__file__).parents[1] / "bench" / "real_model.py"))


def test_report_pools_samples_and_measures_the_episodes(tmp_path: Path) -> None:
    tasks = bundled_tasks_path()
    n = len(load_bundled())
    out = tmp_path / "eval"
    argv = ["eval", "--tasks", str(tasks), "--policy", "a-s0=offline", "a-s1=offline", "direct"]
    assert clarify([*argv, "--out", str(out), "--no-progress", "--workers", "1"], out=io.StringIO()) == 0
    ppo = tmp_path / "ppo"
    ppo.mkdir()
    metrics = [{"step": 1, "reward_mean": -0.5, "question_share": 0.1, "step_s": 60}, {"step": 2, "reward_mean": 0.2}]
    metrics[1].update(question_share=0.8, step_s=90)
    (ppo / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics), encoding="utf-8")

    report = tmp_path / "report"
    argv = ["--tasks", str(tasks), "--eval", str(out), "--train", f"ppo={ppo}", "--out", str(report)]
    assert REPORT["main"](argv) == 0
    summary = json.loads((report / "summary.json").read_text())["policies"]
    assert set(summary) == {"a", "direct"}
    offline, direct = summary["a"], summary["direct"]
    assert offline["episodes"] == 2 * n and direct["episodes"] == n
    # the offline asker asks on every task and its answers reveal information; direct never asks
    assert offline["questions_per_episode"] > 1 and offline["information"] > 0 and offline["coverage"] > 0
    assert direct["questions_per_episode"] == 0 and direct["coverage"] == 0 and direct["evidence_plain"] is None
    # its questions are facet templates: the same few on every task (two samples of a deterministic asker)
    assert offline["distinct_per_100"] < 50
    assert offline["evidence_plain"] >= offline["evidence_strict"]
    text = (report / "report.md").read_text()
    assert "| ppo | 2 | 2.5 | -0.500 → 0.200 | 0.10 → 0.80 |" in text
    assert (report / "learning_curve.png").stat().st_size > 1000
