"""Thin script over ``langgraph_clarify.evaluation``: the same flags as ``clarify eval``.

    python evals/run_eval.py --tasks ../shared/data/dolomites/dolomites_dev_examples.jsonl \
        --policy direct offline --turn-budgets 0,1,3,5 --out runs/dolomites
"""

from __future__ import annotations

import sys

from langgraph_clarify.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
