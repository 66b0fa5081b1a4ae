"""Oracle throughput on 2 cores: questions per second, lexical vs embedding (hidden embeddings cached).

Uses the real DOLOMITES file when ../shared/data is present, else the bundled tasks. Each task is
asked every question the offline asker would ask it; the embedding oracle's per-task cache of hidden
sentence embeddings is warmed first, so the figure is the per-question cost (encode + dot product).
Sequential calls encode one question at a time; concurrent calls (as the eval runner makes them, 32
episodes in flight) are micro-batched into one encode per event-loop tick. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from langgraph_clarify.episodes import episode_input
from langgraph_clarify.evaluation.agreement import question_sequence
from langgraph_clarify.oracle import EmbeddingOracle, LexicalOracle
from langgraph_clarify.tasks import load_bundled, load_tasks

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dolomites" / "dolomites_dev_examples.jsonl"


def _qps(embedding: EmbeddingOracle, work: list[tuple[str, Any, Any]], concurrency: int) -> float:
    """Questions per second through ``arun`` (micro-batched) with ``concurrency`` in flight, or
    through ``run`` one at a time when ``concurrency`` is 1. The question text cache starts empty."""
    embedding.encoder.clear_cache()
    started = time.perf_counter()
    if concurrency == 1:
        for w in work:
            embedding.run(*w)
    else:

        async def all_questions() -> None:
            gate = asyncio.Semaphore(concurrency)

            async def ask(q: str, e: Any, h: Any) -> None:
                async with gate:
                    await embedding.arun(q, e, h)

            await asyncio.gather(*(ask(*w) for w in work))

        asyncio.run(all_questions())
    return round(len(work) / (time.perf_counter() - started), 1)


def main() -> None:
    tasks = load_tasks(DATA).tasks[:120] if DATA.exists() else load_bundled()
    inputs = [episode_input(t) for t in tasks]
    # what the eval runner asks: the offline asker's questions on each task (repeats across tasks hit
    # the text cache, as they do in a real run) ...
    natural = [
        (q, i["explicit"], i["hidden"]) for t, i in zip(tasks, inputs, strict=True) for q in question_sequence(t)
    ]
    # ... and the worst case: every question text distinct, so every one is encoded
    distinct = [(f"{q} (task {n})", e, h) for n, (q, e, h) in enumerate(natural)]
    out: dict[str, Any] = {
        "tasks": len(tasks),
        "questions": len(natural),
        "distinct_texts_natural": len({q for q, _, _ in natural}),
    }
    lexical = LexicalOracle()
    started = time.perf_counter()
    for w in natural:
        lexical.run(*w)
    out["lexical_qps"] = round(len(natural) / (time.perf_counter() - started), 1)
    embedding = EmbeddingOracle()
    started = time.perf_counter()
    for i in inputs:
        embedding.hidden_matrix(i["hidden"])  # the per-task cache the target assumes
    out["embedding_cache_warmup_s"] = round(time.perf_counter() - started, 2)
    out["embedding_qps_natural_sequential"] = _qps(embedding, natural, 1)
    out["embedding_qps_natural_concurrent_32"] = _qps(embedding, natural, 32)
    out["embedding_qps_distinct_sequential"] = _qps(embedding, distinct, 1)
    out["embedding_qps_distinct_concurrent_32"] = _qps(embedding, distinct, 32)
    out["embedding_target_qps"] = 200
    print(json.dumps(out))


if __name__ == "__main__":
    main()
