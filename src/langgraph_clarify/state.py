"""Graph state, split into views so the asker and writer cannot see the hidden part.

The full :class:`ClarifyState` holds the hidden sentences (for the oracle). The ``ask`` and
``draft`` nodes are registered with :class:`DialogueView` as their input schema, which has no
``hidden`` key: LangGraph hands them only the keys of that view, so masking holds by construction.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired

from typing_extensions import TypedDict

from .llm import ModelCall

StopReason = Literal["asker_stop", "budget", "user_stop", "error"]


class Explicit(TypedDict):
    """The explicit part E of a task: what the user said up front."""

    objective: str
    input: NotRequired[str]
    field: NotRequired[str]
    options: NotRequired[dict[str, str]]


class Hidden(TypedDict):
    """One hidden sentence of the implicit part I."""

    index: int
    text: str
    region: str


class Turn(TypedDict):
    """One question/answer exchange with its evidence and rewards (None for a human user)."""

    index: int
    question: str
    answer: str
    cited: list[int]
    new_cited: list[int]
    repeated: bool
    evidence_reward: float | None
    novelty_reward: float | None
    coverage: float | None


class ClarifyInput(TypedDict):
    """What a caller passes to start an episode."""

    explicit: Explicit
    task_id: NotRequired[str]
    hidden: NotRequired[list[Hidden]]
    max_turns: NotRequired[int]


class ClarifyOutput(TypedDict):
    task_id: NotRequired[str]
    turns: list[Turn]
    draft: NotRequired[str | None]
    stop_reason: NotRequired[StopReason | None]
    error: NotRequired[str | None]
    calls: list[ModelCall]


class DialogueView(TypedDict):
    """All the asker and the writer may read: the explicit part and the dialogue so far."""

    task_id: NotRequired[str]
    explicit: Explicit
    turns: NotRequired[list[Turn]]
    max_turns: NotRequired[int]
    pending_question: NotRequired[str | None]


class ClarifyState(TypedDict):
    task_id: NotRequired[str]
    explicit: Explicit
    hidden: NotRequired[list[Hidden]]
    max_turns: NotRequired[int]
    turns: Annotated[list[Turn], operator.add]
    pending_question: NotRequired[str | None]
    draft: NotRequired[str | None]
    stop_reason: NotRequired[StopReason | None]
    error: NotRequired[str | None]
    calls: Annotated[list[ModelCall], operator.add]


def render_task(explicit: Explicit) -> str:
    """The explicit part as the asker, writer and oracle read it."""
    parts = [f"Task: {explicit['objective']}"]
    if explicit.get("input"):
        parts.append(f"Input:\n{explicit['input']}")
    if explicit.get("options"):
        parts.append("Options:\n" + "\n".join(f"{k}. {v}" for k, v in explicit["options"].items()))
    return "\n\n".join(parts)


def dialogue_text(turns: list[Turn] | list[dict[str, Any]]) -> str:
    """The dialogue as the asker and writer read it."""
    if not turns:
        return "(no questions asked yet)"
    return "\n".join(f"Q{t['index'] + 1}: {t['question']}\nA{t['index'] + 1}: {t['answer']}" for t in turns)
