"""Per-turn rewards from the oracle's cited evidence.

- evidence reward (the paper's): 1 if the answer cites any hidden sentence, else 0;
- novelty reward: 1 if it cites a hidden sentence no earlier turn cited, else 0; a repeated
  question earns none, whatever the oracle cites;
- coverage: share of hidden sentences cited so far in the episode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from .state import Explicit, Hidden, Turn


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


# ---- reward components and their weights (paper terms; the specificity-aware default lands with issue 7) ----


@dataclass
class RewardConfig:
    """Weights of the reward terms; ``combine`` turns a turn's components into one scalar."""

    information: float = field(default=0.0, metadata={"help": "weight of the specificity-aware information reward"})
    evidence: float = field(default=1.0, metadata={"help": "weight of the paper's evidence reward"})
    novelty: float = field(default=0.0, metadata={"help": "weight of the novelty reward"})
    stop: float = field(default=0.0, metadata={"help": "weight of the STOP-aware term"})
    repeat_penalty: float = field(default=0.0, metadata={"help": "subtracted for a repeated question"})
    format_penalty: float = field(
        default=1.0, metadata={"help": "subtracted for a reply that is not one question or STOP"}
    )
    judge: float = field(default=0.0, metadata={"help": "weight of the terminal draft score"})
    max_cited: int = field(default=3, metadata={"help": "most hidden sentences credited to one question"})

    @classmethod
    def paper(cls) -> RewardConfig:
        return cls()

    @classmethod
    def from_dict(cls, data: Mapping[str, object], source: str = "reward config") -> RewardConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {', '.join(unknown)}")
        return cls(**data)  # type: ignore[arg-type]

    @classmethod
    def from_yaml(cls, path: str | Path) -> RewardConfig:
        import yaml

        return cls.from_dict(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}, str(path))


def count_questions(text: str) -> int:
    """Questions in a reply: sentences that end with a question mark."""
    return len(re.findall(r"[^?.!\n]*\?", text))


def turn_components(
    question: str, cited: Sequence[int], previous: Sequence[Turn], hidden: Sequence[Hidden], explicit: Explicit
) -> dict[str, float]:
    turn = score_turn(len(previous), question, "", cited, previous, len(hidden))
    return {
        "evidence": turn["evidence_reward"] or 0.0,
        "novelty": turn["novelty_reward"] or 0.0,
        "repeat": float(turn["repeated"]),
    }


def ending_components(
    kind: str, turns: Sequence[Turn], hidden: Sequence[Hidden], explicit: Explicit
) -> dict[str, float]:
    return {"stop": 0.0, "format": 1.0 if kind == "invalid" else 0.0}


def combine(components: Mapping[str, float], cfg: RewardConfig) -> float:
    return (
        cfg.information * components.get("information", 0.0)
        + cfg.evidence * components.get("evidence", 0.0)
        + cfg.novelty * components.get("novelty", 0.0)
        + cfg.stop * components.get("stop", 0.0)
        - cfg.repeat_penalty * components.get("repeat", 0.0)
        - cfg.format_penalty * components.get("format", 0.0)
    )
