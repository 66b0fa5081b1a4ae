"""The validity suite on the bundled tasks and the shared data, one table set per data set (the figures
in evals/README.md). Same code as ``clarify validity``.

    python evals/validity.py [--data ../shared/data] [--limit N] [--reward default|evidence]
        [--out runs/validity.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from langgraph_clarify.evaluation.validity import OFFLINE_JUDGES, format_report, load_labelled, run_validity
from langgraph_clarify.judge import make_judge
from langgraph_clarify.oracle import make_oracle
from langgraph_clarify.rewards import RewardConfig
from langgraph_clarify.tasks import load_bundled, load_tasks

FILES = {
    "dolomites": "dolomites/dolomites_dev_examples.jsonl",
    "mediq": "mediq/all_dev_good.jsonl",
    "askbench": "askbench/ask_mind_test.jsonl",
}
LABELLED = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "mediq_labelled.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--limit", type=int, help="at most N tasks per file")
    ap.add_argument("--oracle", default="offline")
    ap.add_argument("--reward", choices=("default", "evidence"), default="default")
    ap.add_argument("--out", type=Path, default=Path("runs/validity.json"))
    args = ap.parse_args()
    cfg = RewardConfig.paper() if args.reward == "evidence" else RewardConfig()
    oracle, judges = make_oracle(args.oracle), {name: make_judge(name) for name in OFFLINE_JUDGES}
    report = {}
    for name, tasks in [("bundled", load_bundled())] + [
        (n, load_tasks(args.data / rel).tasks) for n, rel in FILES.items()
    ]:
        tasks = tasks[: args.limit] if args.limit else tasks
        labelled = load_labelled(LABELLED) if name == "mediq" else None
        report[name] = run_validity(tasks, oracle=oracle, judges=judges, cfg=cfg, labelled=labelled)
        print(f"\n## {name}\n")
        print("\n".join(format_report(report[name])), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
