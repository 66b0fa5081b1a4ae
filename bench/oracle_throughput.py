"""Oracle throughput: questions per second of the lexical, embedding and default offline oracles.

Uses the real DOLOMITES file when ../shared/data is present, else the bundled tasks. Each task is asked every
question the offline asker would ask it, sequentially (``run``, one at a time) and with 32 in flight (``arun``
under ``asyncio.gather``, as the eval runner calls it; the embedding oracle micro-batches their encodes).
``natural`` repeats question texts across tasks as a real run does (the text cache serves repeats);
``distinct`` makes every question text distinct, so every one is encoded. What an oracle caches per task
(hidden-sentence embeddings, the BM25 index, the explicit part's terms) is warmed first, so a figure is the
per-question cost; the question text cache is emptied before each measurement. ``offline`` is whatever
``make_oracle("offline")`` is in this tree. Rounds interleave the oracles; each figure is the median over
rounds with its range. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from common import load, spread

from langgraph_clarify.episodes import episode_input
from langgraph_clarify.evaluation.agreement import question_sequence
from langgraph_clarify.llm import Component
from langgraph_clarify.oracle import EmbeddingOracle, LexicalOracle, make_oracle
from langgraph_clarify.tasks import load_bundled, load_tasks

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dolomites" / "dolomites_dev_examples.jsonl"
Work = list[tuple[str, Any, Any]]


def _clear(oracle: Any) -> None:
    """Empty every question-text cache of the oracle (an encoder of its own or of a component it holds)."""
    for part in (oracle, *vars(oracle).values()):
        encoder = getattr(part, "encoder", None)
        if encoder is not None:
            encoder.clear_cache()


def _warm(oracle: Any, inputs: list[Any]) -> None:
    """Fill the per-task caches of hidden-sentence embeddings (what the figure assumes)."""
    for part in (oracle, *vars(oracle).values()):
        if isinstance(part, EmbeddingOracle):
            for i in inputs:
                part.hidden_matrix(i["hidden"])


def qps(oracle: Component, work: Work, in_flight: int) -> float:
    """Questions per second through ``run`` one at a time (``in_flight`` 1) or ``arun`` with that many in flight."""
    _clear(oracle)
    started = time.perf_counter()
    if in_flight == 1:
        for w in work:
            oracle.run(*w)
    else:

        async def all_questions() -> None:
            gate = asyncio.Semaphore(in_flight)

            async def ask(q: str, e: Any, h: Any) -> None:
                async with gate:
                    await oracle.arun(q, e, h)

            await asyncio.gather(*(ask(*w) for w in work))

        asyncio.run(all_questions())
    return len(work) / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tasks = load_tasks(DATA).tasks[: args.tasks] if DATA.exists() else load_bundled()
    inputs = [episode_input(t) for t in tasks]
    natural: Work = [
        (q, i["explicit"], i["hidden"]) for t, i in zip(tasks, inputs, strict=True) for q in question_sequence(t)
    ]
    distinct: Work = [(f"{q} (task {n})", e, h) for n, (q, e, h) in enumerate(natural)]
    oracles: dict[str, Component] = {
        "lexical": LexicalOracle(),
        "embedding": EmbeddingOracle(),
        "offline": make_oracle("offline"),
    }
    warm: dict[str, float] = {}
    for name, oracle in oracles.items():
        started = time.perf_counter()
        _warm(oracle, inputs)
        warm[name] = round(time.perf_counter() - started, 2)
        qps(oracle, natural, 1)  # untimed: fills what is cached per task (explicit terms, BM25 index)
    figures: dict[str, list[float]] = {}
    loads = []
    for _ in range(args.rounds):
        loads.append(load())
        for name, oracle in oracles.items():
            for texts, work in (("natural", natural), ("distinct", distinct)):
                for in_flight in (1, 32):
                    key = f"{name}_{texts}_{'sequential' if in_flight == 1 else '32_in_flight'}"
                    figures.setdefault(key, []).append(qps(oracle, work, in_flight))
    print(
        json.dumps(
            {
                "data": "dolomites" if DATA.exists() else "bundled",
                "tasks": len(tasks),
                "questions": len(natural),
                "distinct_texts_natural": len({q for q, _, _ in natural}),
                "offline_oracle": type(oracles["offline"]).__name__,
                "hidden_cache_warmup_s": warm,
                "rounds": args.rounds,
                "load_1min": spread(loads, 2),
                "questions_per_s": {k: spread(v, 1) for k, v in figures.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
