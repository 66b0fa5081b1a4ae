"""Oracle throughput on 2 cores: questions per second, lexical vs embedding (hidden embeddings cached).

Uses the real DOLOMITES file when ../shared/data is present, else the bundled tasks. Each task is
asked every heuristic facet question; the embedding oracle's per-task cache is warmed first, so
the figure is the per-question cost (one encode + a dot product). Sequential calls encode one
question at a time; concurrent calls (as the eval runner makes them, 32 episodes in flight) are
micro-batched into one encode per event-loop tick. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from langgraph_clarify.asker import FACETS
from langgraph_clarify.episodes import episode_input
from langgraph_clarify.oracle import EmbeddingOracle, LexicalOracle
from langgraph_clarify.tasks import load_bundled, load_tasks

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dolomites" / "dolomites_dev_examples.jsonl"


def main() -> None:
    tasks = load_tasks(DATA).tasks[:120] if DATA.exists() else load_bundled()
    inputs = [episode_input(t) for t in tasks]
    # distinct questions per task, so the encoder's text cache cannot answer them
    work = [(f"{q} (about {t.id})", i["explicit"], i["hidden"]) for t, i in zip(tasks, inputs, strict=True)
            for _f, _w, q in FACETS]
    out = {"tasks": len(tasks), "questions": len(work)}
    lexical = LexicalOracle()
    started = time.perf_counter()
    for q, e, h in work:
        lexical.run(q, e, h)
    out["lexical_qps"] = round(len(work) / (time.perf_counter() - started), 1)
    embedding = EmbeddingOracle()
    started = time.perf_counter()
    for i in inputs:
        embedding.hidden_matrix(i["hidden"])
    out["embedding_cache_warmup_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    for q, e, h in work:
        embedding.run(q, e, h)
    out["embedding_qps_sequential"] = round(len(work) / (time.perf_counter() - started), 1)
    embedding.encoder.clear_cache()  # the concurrent pass must encode every question again

    async def concurrent(k: int) -> float:
        gate = asyncio.Semaphore(k)

        async def ask(q: str, e: Any, h: Any) -> None:
            async with gate:
                await embedding.arun(q, e, h)

        started = time.perf_counter()
        await asyncio.gather(*(ask(*w) for w in work))
        return len(work) / (time.perf_counter() - started)

    out["embedding_qps_concurrent_32"] = round(asyncio.run(concurrent(32)), 1)
    out["embedding_target_qps"] = 200
    print(json.dumps(out))


if __name__ == "__main__":
    main()
