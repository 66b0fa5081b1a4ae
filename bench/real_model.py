"""The real-model benchmark's report: trained askers against the untrained one on unseen templates.

Reads the ``clarify eval`` directories of the benchmark (training/README.md) and the training runs'
``metrics.jsonl``, and writes ``OUT/report.md`` and ``OUT/learning_curve.png``:

- per policy (labels ``NAME-sK`` are the K-th sample of ``NAME`` and are pooled): question share
  (questions / decisions), format failures, questions per episode, evidence per question as the
  default oracle recorded it and re-scored by the lexical oracle plain (every word of the question) and
  strict (words of the explicit part ignored), the information part of the default reward per episode
  (what the answers reveal, before penalties), coverage, draft score, distinct questions per 100, and
  the template check: the policy's ten most frequent questions asked on every task, their mean reward
  as a share of what a question aimed at one hidden sentence earns (the validity suite's measure);
- per training run: steps, wall time, first and last reward and question share.

    python bench/real_model.py --tasks runs/bench/heldout.jsonl \\
        --eval runs/bench/eval-before runs/bench/eval-after \\
        --train ppo=runs/bench/ppo grpo=runs/bench/grpo --out runs/bench/report
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from langgraph_clarify.episodes import episode_input
from langgraph_clarify.evaluation.validity import TemplateQuestion, targeted_figures, template_figures
from langgraph_clarify.oracle import LexicalOracle, make_oracle
from langgraph_clarify.rewards import RewardConfig, normalize_question
from langgraph_clarify.rl.rollouts import load_task_files
from langgraph_clarify.runs import read_rows
from langgraph_clarify.tasks import MaskedTask

_SAMPLE = re.compile(r"-s\d+$")


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def _cites(oracle: LexicalOracle, question: str, task: MaskedTask) -> bool:
    inp = episode_input(task)
    reply, _ = oracle.run(question, inp["explicit"], inp.get("hidden", []))
    return bool(reply.evidence)


def policy_figures(rows: list[dict[str, Any]], tasks: dict[str, MaskedTask]) -> dict[str, Any]:
    """The benchmark's figures for one policy's episodes."""
    plain, strict = LexicalOracle(strict=False), LexicalOracle(strict=True)
    ok = [r for r in rows if not r.get("error")]
    questions = [(t["question"], r["task_id"], t) for r in ok for t in r.get("turns") or []]
    decisions = sum(len(r.get("turns") or []) + (1 if r.get("ending") else 0) for r in ok)
    invalid = sum(1 for r in ok if (r.get("ending") or {}).get("kind") == "invalid")
    judged = [r["judge"]["score"] for r in ok if (r.get("judge") or {}).get("score") is not None]
    distinct = len({normalize_question(q) for q, _, _ in questions})
    return {
        "episodes": len(ok),
        "failed": len(rows) - len(ok),
        "question_share": len(questions) / decisions if decisions else None,
        "format_failures": invalid / len(ok) if ok else None,
        "questions_per_episode": len(questions) / len(ok) if ok else None,
        "evidence_default": _mean(float(t.get("evidence_reward") or 0.0) for _, _, t in questions),
        "evidence_plain": _mean(float(_cites(plain, q, tasks[tid])) for q, tid, _ in questions),
        "evidence_strict": _mean(float(_cites(strict, q, tasks[tid])) for q, tid, _ in questions),
        "information": _mean(
            sum(float((t.get("rewards") or {}).get("information") or 0.0) for t in r.get("turns") or []) for r in ok
        ),
        "coverage": _mean(float(r.get("coverage") or 0.0) for r in ok),
        "draft_score": _mean(judged),
        "distinct_per_100": 100.0 * distinct / len(questions) if questions else None,
        "top_questions": Counter(normalize_question(q) for q, _, _ in questions).most_common(10),
        "_questions": [q for q, _, _ in questions],
    }


def template_check(questions: list[str], tasks: list[MaskedTask], targeted_mean: float) -> dict[str, Any]:
    """The policy's ten most frequent questions as task-agnostic templates on every task."""
    common = [q for q, _ in Counter(questions).most_common(10)]
    if not common or not targeted_mean:
        return {"templates": len(common), "max_ratio": None, "mean_ratio": None}
    figures = template_figures(tasks, [TemplateQuestion(q) for q in common], make_oracle("offline"), RewardConfig())
    ratios = [float(f["mean_reward"] or 0.0) / targeted_mean for f in figures]
    return {"templates": len(common), "max_ratio": max(ratios), "mean_ratio": sum(ratios) / len(ratios)}


def curves(train: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for label, run in train.items():
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
        elapsed, points = 0.0, []
        for row in rows:
            if row.get("reward_mean") is None:
                continue
            elapsed = float(row["elapsed_s"]) if "elapsed_s" in row else elapsed + float(row.get("step_s", 0.0))
            points.append(
                {
                    "step": row["step"],
                    "minutes": elapsed / 60,
                    "reward": row["reward_mean"],
                    "question_share": row.get("question_share"),
                }
            )
        out[label] = points
    return out


def plot(series: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for label, points in series.items():
        minutes = [p["minutes"] for p in points]
        left.plot(minutes, [p["reward"] for p in points], marker="o", label=label)
        right.plot(minutes, [p["question_share"] for p in points], marker="o", label=label)
    left.set(xlabel="training wall time (min)", ylabel="mean episode return (default reward)", title="Reward")
    right.set(xlabel="training wall time (min)", ylabel="questions / decisions", title="Question share", ylim=(0, 1))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("SmolLM2-135M on DOLOMITES training templates, same wall clock")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _f(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=Path, required=True, help="the held-out task file the evals ran on")
    parser.add_argument("--eval", type=Path, nargs="+", required=True, help="clarify eval output directories")
    parser.add_argument("--train", nargs="*", default=[], help="LABEL=RUN_DIR of each training run (metrics.jsonl)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/report"), help="where report.md and the PNG go")
    args = parser.parse_args(argv)

    task_list = load_task_files([args.tasks])
    tasks = {t.id: t for t in task_list}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for directory in args.eval:
        for row in read_rows(directory / "results.jsonl"):
            groups[_SAMPLE.sub("", row["policy"])].append(row)
    used = [tasks[i] for i in sorted({r["task_id"] for rows in groups.values() for r in rows})]
    targeted = targeted_figures(used, make_oracle("offline"), RewardConfig())
    lines = [
        "# Real-model benchmark",
        "",
        f"{len(used)} held-out tasks ({args.tasks}); a question aimed at one hidden sentence earns "
        f"{_f(targeted['mean_reward'])} on them (the template check's reference).",
        "",
        "| policy | episodes | question share | format failures | questions/ep | evidence (default oracle) "
        "| evidence plain | evidence strict | information/ep | coverage | draft score | distinct/100 "
        "| template max / mean (x targeted) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    summary: dict[str, Any] = {}
    for label, rows in groups.items():
        fig = policy_figures(rows, tasks)
        fig["template"] = template_check(fig.pop("_questions"), used, float(targeted["mean_reward"] or 0.0))
        summary[label] = fig
        tpl = fig["template"]
        lines.append(
            f"| {label} | {fig['episodes']} ({fig['failed']} failed) | {_f(fig['question_share'], 2)} "
            f"| {_f(fig['format_failures'], 2)} | {_f(fig['questions_per_episode'], 2)} "
            f"| {_f(fig['evidence_default'])} | {_f(fig['evidence_plain'])} | {_f(fig['evidence_strict'])} "
            f"| {_f(fig['information'])} | {_f(fig['coverage'])} | {_f(fig['draft_score'])} "
            f"| {_f(fig['distinct_per_100'], 1)} | {_f(tpl['max_ratio'], 2)} / {_f(tpl['mean_ratio'], 2)} |"
        )
    train = dict(item.split("=", 1) for item in args.train)
    series = curves({k: Path(v) for k, v in train.items()})
    if series:
        lines += ["", "| run | steps | wall time (min) | reward first → last | question share first → last |"]
        lines.append("|---|---:|---:|---|---|")
        for label, points in series.items():
            if points:
                a, b = points[0], points[-1]
                lines.append(
                    f"| {label} | {b['step']} | {b['minutes']:.1f} | {_f(a['reward'])} → {_f(b['reward'])} "
                    f"| {_f(a['question_share'], 2)} → {_f(b['question_share'], 2)} |"
                )
        args.out.mkdir(parents=True, exist_ok=True)
        plot(series, args.out / "learning_curve.png")
        lines += ["", "![learning curve](learning_curve.png)"]
    lines += ["", "Most frequent questions per policy:"]
    for label, fig in summary.items():
        lines.append(f"- {label}: " + "; ".join(f"{q!r} x{n}" for q, n in fig["top_questions"][:3]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / "summary.json").write_text(json.dumps({"targeted": targeted, "policies": summary}, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
