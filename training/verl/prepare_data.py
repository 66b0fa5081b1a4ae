"""Task files -> the parquet prompts verl trains on (train.parquet, val.parquet), one row per task.

Thin wrapper over :func:`langgraph_clarify.rl.verl_data.prepare`; needs only pyarrow, so it runs in either
environment. The budget is written into each prompt ("you may ask up to N questions") and into the row, so
the agent loop plays the same one.

Usage: python training/verl/prepare_data.py --tasks FILE [--tasks FILE ...] --out data/verl
           [--max-turns 5] [--val-fraction 0.1] [--seed 0] [--format native|dolomites|mediq|askbench]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from langgraph_clarify.rl.verl_data import prepare
from langgraph_clarify.tasks import FORMATS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=Path, action="append", required=True, help="task file (repeatable)")
    parser.add_argument("--out", type=Path, required=True, help="folder for train.parquet and val.parquet")
    parser.add_argument("--max-turns", type=int, default=5, help="questions per episode (the paper: 5)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of tasks held out (by id hash)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/val split")
    parser.add_argument("--format", choices=FORMATS, default=None, help="task file format (default: detected)")
    args = parser.parse_args(argv)
    counts = prepare(
        args.tasks, args.out, max_turns=args.max_turns, val_fraction=args.val_fraction, seed=args.seed, fmt=args.format
    )
    print(json.dumps({"out": str(args.out), **counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
