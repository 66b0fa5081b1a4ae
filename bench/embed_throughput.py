"""Embedding throughput: sentences/s for 2,000 distinct sentences, cold (no cache) and warm.

Why: the embedding oracle encodes every hidden sentence and every asked question; this tells
whether a run is bound by the encoder. Sentences are generated deterministically from templates
(no network, no data files). Prints one JSON line.

Usage: .venv/bin/python bench/embed_throughput.py [--n 2000] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

from langgraph_clarify.embeddings import Encoder

SUBJECTS = [
    "The report",
    "The summary",
    "Each section",
    "The final draft",
    "The cover letter",
    "The abstract",
    "The lesson plan",
    "The grant proposal",
    "The patient note",
    "The code review",
    "The budget table",
    "The press release",
    "The literature review",
    "The project plan",
    "The user guide",
    "The memo",
]
VERBS = [
    "must not exceed",
    "should include",
    "needs to cite",
    "has to explain",
    "may omit",
    "should avoid",
    "must begin with",
    "ought to compare",
    "should end with",
    "must list",
    "can summarise",
    "should rank",
]
OBJECTS = [
    "two pages",
    "the key findings",
    "every data source",
    "the main risks",
    "technical jargon",
    "a one-line overview",
    "three alternatives",
    "the prior results",
    "a clear recommendation",
    "all known side effects",
    "the intended audience",
    "the quarterly figures",
    "open questions",
    "the methodology",
    "a glossary of terms",
    "the next steps",
    "the total cost",
    "safety limits",
]
TAILS = [
    "",
    " for a general audience",
    " before the deadline",
    " in plain language",
    " using a table",
    " in under 300 words",
    " with page numbers",
    " as bullet points",
    " for the board meeting",
    " according to the style guide",
    " unless the client objects",
    " in the appendix",
]
QUESTIONS = [
    "How long should {o} be?",
    "Who is the audience for {o}?",
    "Should {o} be included?",
    "What format do you want for {o}?",
    "Is there a deadline for {o}?",
    "Which sources cover {o}?",
]


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """n distinct statements and questions of varied length, deterministic for a given seed."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        if rng.random() < 0.25:
            text = rng.choice(QUESTIONS).format(o=rng.choice(OBJECTS))
            text = f"{text} ({len(seen)})" if text in seen else text
        else:
            parts = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}"]
            for _ in range(rng.choice([0, 0, 1, 2])):
                parts.append(f"{rng.choice(SUBJECTS).lower()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}")
            text = ", and ".join(parts) + "."
        seen.setdefault(text, None)
    return list(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    sentences = make_sentences(args.n)
    t0 = time.perf_counter()
    encoder = Encoder(intra_op_threads=args.threads)
    load_s = time.perf_counter() - t0
    encoder.encode(["warm-up so one-off session allocation is not timed"])
    encoder.clear_cache()

    t0 = time.perf_counter()
    cold = encoder.encode(sentences, batch_size=args.batch_size)
    cold_s = time.perf_counter() - t0
    misses = encoder.cache_info()["misses"]

    t0 = time.perf_counter()
    warm = encoder.encode(sentences, batch_size=args.batch_size)
    warm_s = time.perf_counter() - t0
    assert (cold == warm).all() and misses == len(sentences)

    tokens = [len(e.ids) for e in encoder._tokenizer.encode_batch(sentences)]
    print(
        json.dumps(
            {
                "n": len(sentences),
                "batch_size": args.batch_size,
                "intra_op_threads": args.threads,
                "cpu_count": os.cpu_count(),
                "mean_tokens": round(sum(tokens) / len(tokens), 1),
                "max_tokens": max(tokens),
                "load_s": round(load_s, 3),
                "cold_s": round(cold_s, 3),
                "cold_sentences_per_s": round(len(sentences) / cold_s, 1),
                "warm_s": round(warm_s, 4),
                "warm_sentences_per_s": round(len(sentences) / warm_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
