"""Agreement of the lexical and embedding oracles on the shared data, and on MediQ whether cited
sentences hold the facts that answer the question. Prints a markdown table and writes JSON.

    python evals/oracle_agreement.py [--data ../shared/data] [--limit N] [--out runs/oracle_agreement.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from langgraph_clarify.evaluation.agreement import mediq_fact_overlap, oracle_agreement
from langgraph_clarify.oracle import EmbeddingOracle, LexicalOracle
from langgraph_clarify.tasks import load_bundled, load_tasks

FILES = {
    "dolomites": "dolomites/dolomites_dev_examples.jsonl",
    "mediq": "mediq/all_dev_good.jsonl",
    "askbench": "askbench/ask_mind_test.jsonl",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--limit", type=int, help="at most N tasks per file")
    ap.add_argument("--out", type=Path, default=Path("runs/oracle_agreement.json"))
    args = ap.parse_args()
    lexical, embedding = LexicalOracle(), EmbeddingOracle()
    report: dict[str, object] = {"bundled": oracle_agreement(load_bundled(), lexical, embedding)}
    for name, rel in FILES.items():
        tasks = load_tasks(args.data / rel).tasks
        report[name] = oracle_agreement(tasks[: args.limit] if args.limit else tasks, lexical, embedding)
    mediq = args.data / FILES["mediq"]
    report["mediq_fact_overlap"] = {
        "lexical": mediq_fact_overlap(mediq, lexical, limit=args.limit),
        "embedding": mediq_fact_overlap(mediq, embedding, limit=args.limit),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")

    def f(v: object) -> str:
        return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    print("| data | questions | lexical cites | embedding cites | cite/abstain agreement | kappa | both-cite overlap |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in ("bundled", *FILES):
        r = report[name]
        assert isinstance(r, dict)
        print(
            f"| {name} | {r['questions']} | {f(r['cite_rate_a'])} | {f(r['cite_rate_b'])} | "
            f"{f(r['cite_agreement'])} | {f(r['kappa'])} | {f(r['both_cite_overlap'])} |"
        )
    print("\n| MediQ oracle | answerable questions | cited an answering fact | citation precision |")
    print("|---|---:|---:|---:|")
    for name, r in report["mediq_fact_overlap"].items():  # type: ignore[union-attr]
        print(
            f"| {name} | {r['answerable_questions']} | {f(r['cited_an_answering_fact'])} | "
            f"{f(r['citation_precision'])} |"
        )


if __name__ == "__main__":
    main()
