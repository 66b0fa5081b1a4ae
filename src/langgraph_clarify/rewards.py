"""Per-turn rewards from the oracle's cited evidence.

- evidence reward (the paper's): 1 if the answer cites any hidden sentence, else 0;
- novelty reward: 1 if it cites a hidden sentence no earlier turn cited, else 0; a repeated
  question earns none, whatever the oracle cites;
- coverage: share of hidden sentences cited so far in the episode.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .state import Turn


def normalize_question(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def is_repeat(question: str, previous: Sequence[Turn]) -> bool:
    """Asked before, up to case and punctuation."""
    return normalize_question(question) in {normalize_question(t["question"]) for t in previous}


def score_turn(
    index: int, question: str, answer: str, cited: Sequence[int], previous: Sequence[Turn], n_hidden: int
) -> Turn:
    """Build the turn record with its rewards; ``previous`` are the earlier turns of the episode."""
    seen = {i for t in previous for i in t["cited"]}
    cited_sorted = sorted(set(cited))
    repeated = is_repeat(question, previous)
    new = [] if repeated else [i for i in cited_sorted if i not in seen]
    covered = seen | set(cited_sorted)
    return Turn(
        index=index,
        question=question,
        answer=answer,
        cited=cited_sorted,
        new_cited=new,
        repeated=repeated,
        evidence_reward=1.0 if cited_sorted else 0.0,
        novelty_reward=1.0 if new else 0.0,
        coverage=len(covered) / n_hidden if n_hidden else 0.0,
    )


def human_turn(index: int, question: str, answer: str, previous: Sequence[Turn]) -> Turn:
    """A turn answered by a person: no hidden sentences, so no rewards."""
    repeated = is_repeat(question, previous)
    return Turn(
        index=index,
        question=question,
        answer=answer,
        cited=[],
        new_cited=[],
        repeated=repeated,
        evidence_reward=None,
        novelty_reward=None,
        coverage=None,
    )
