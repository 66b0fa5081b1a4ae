"""Eval runner throughput with a stand-in LLM that sleeps 50 ms per call.

256 episodes of 5 turns at concurrency 32; ideal throughput = concurrency / per-episode latency,
where the per-episode latency is measured by running single episodes alone. Target: ratio >= 0.8.
``ratio_vs_llm_latency`` also reports the stricter figure whose ideal counts only the 11 x 50 ms of
model calls an episode of 5 turns makes (5 asker, 5 oracle, 1 writer).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from langgraph_clarify.asker import LLMAsker
from langgraph_clarify.episodes import arun_episode
from langgraph_clarify.evaluation.runner import RESULTS, EvalConfig, Policy, read_results, run_episodes
from langgraph_clarify.graph import create_clarify_graph
from langgraph_clarify.tasks import MaskedTask, hide
from langgraph_clarify.testing import ScriptedChatModel


def _tasks(n: int) -> list[MaskedTask]:
    hidden = hide(
        [
            ("procedure", "First gather the logs. Then interview the team."),
            ("output", "* Summary: one paragraph. * Timeline: a table with UTC times."),
        ]
    )
    return [
        MaskedTask(id=f"t{i}", objective=f"Write report {i}", input="An outage happened.", hidden=hidden)
        for i in range(n)
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2, help="processes (this machine has 2 cores)")
    args = ap.parse_args()

    def model(reply: str) -> ScriptedChatModel:
        return ScriptedChatModel(script=[reply], latency=args.latency)

    asker = model('{"action": "ask", "question": "What format should it take?"}')
    oracle = model('{"answer": "A table with UTC times.", "evidence": [3]}')
    writer = model("Final report.")
    tasks = _tasks(args.episodes)

    graph = create_clarify_graph(LLMAsker(asker), writer, oracle, max_turns=args.turns)
    started = time.perf_counter()
    for task in tasks[:4]:
        asyncio.run(arun_episode(graph, task))
    single = (time.perf_counter() - started) / 4

    with tempfile.TemporaryDirectory() as out:
        jsonl = Path(out) / "tasks.jsonl"
        jsonl.write_text(
            "\n".join(
                json.dumps(
                    {
                        "id": t.id,
                        "objective": t.objective,
                        "input": t.input,
                        "procedure": "First gather the logs. Then interview the team.",
                        "output_spec": "* Summary: one paragraph. * Timeline: a table with UTC times.",
                    }
                )
                for t in tasks
            )
            + "\n"
        )
        cfg = EvalConfig(
            tasks=[jsonl],
            policies=[Policy("llm", LLMAsker(asker))],
            turn_budgets=[args.turns],
            writer=writer,
            oracle=oracle,
            judge="lexical",
            out=Path(out) / "run",
            concurrency=args.concurrency,
            workers=args.workers,
            progress=False,
        )
        started = time.perf_counter()
        run_episodes(cfg)
        elapsed = time.perf_counter() - started
        rows = read_results(cfg.out / RESULTS)
    errors = sum(1 for r in rows if r.get("error"))
    ideal = args.concurrency / single
    actual = len(rows) / elapsed
    print(
        json.dumps(
            {
                "episodes": len(rows),
                "errors": errors,
                "concurrency": args.concurrency,
                "workers": args.workers,
                "llm_latency_s": args.latency,
                "calls_per_episode": round(sum(r["llm_calls"] for r in rows) / len(rows), 2),
                "single_episode_s": round(single, 4),
                "elapsed_s": round(elapsed, 3),
                "throughput_eps": round(actual, 2),
                "ideal_eps": round(ideal, 2),
                "ratio": round(actual / ideal, 3),
                # stricter: ideal from the stand-in's sleeps alone (no framework time in the denominator)
                "ratio_vs_llm_latency": round(actual / (args.concurrency / (11 * args.latency)), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
