"""Graph state, split into views so the asker and writer cannot see the hidden part.

The full :class:`ClarifyState` holds the hidden sentences (for the oracle). The ``ask`` and
``draft`` nodes are registered with :class:`DialogueView` as their input schema, which has no
``hidden`` key and no oracle calls: LangGraph hands them only the keys of that view, so masking
holds by construction. The TypedDicts below are the data contract between the graph, the
evaluation runner and the rollout export; every field is documented where it is declared.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import Annotated, Any, Literal, NotRequired

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from .llm import ModelCall, message_text

StopReason = Literal["asker_stop", "budget", "user_stop", "invalid_reply", "error"]
"""Why the questions ended: the asker said STOP, the budget ran out, the person said stop, the asker's
reply was neither one question nor STOP (a format failure), or a component failed."""


class Explicit(TypedDict):
    """The explicit part E of a task: what the user said up front."""

    objective: str
    """What the user asks for."""
    input: NotRequired[str]
    """The concrete facts of this instance."""
    field: NotRequired[str]
    """The domain, e.g. "software engineering" (informational)."""
    options: NotRequired[dict[str, str]]
    """Multiple-choice options, letter to text."""


class Hidden(TypedDict):
    """One hidden sentence of the implicit part I (only the oracle sees these)."""

    index: int
    """Position in the task's hidden sentences, from 0; what the oracle cites."""
    text: str
    region: str
    """Where it came from: procedure, output, notes, context, removed or original."""


class Turn(TypedDict):
    """One answered question, its evidence and its rewards (rewards are None for a human user)."""

    index: int
    """0-based position of the question in the episode."""
    question: str
    answer: str
    cited: list[int]
    """Hidden sentence indices the answer drew on, as the oracle cited them."""
    new_cited: list[int]
    """The cited indices no earlier turn had cited (empty for a repeated question)."""
    repeated: bool
    """The same question (up to case and punctuation) was asked before in this episode."""
    evidence_reward: float | None
    """The paper's reward: 1 if any hidden sentence is cited, else 0."""
    novelty_reward: float | None
    """1 if a hidden sentence no earlier turn cited is cited, else 0."""
    coverage: float | None
    """Share of the task's hidden sentences cited so far in the episode."""
    asker_call_id: NotRequired[str | None]
    """``ModelCall.call_id`` of the asker call that produced this question: the call a reward belongs to."""
    rewards: NotRequired[dict[str, float] | None]
    """Every reward component of this turn (see ``rewards.turn_components``)."""
    reward: NotRequired[float | None]
    """The components combined with the graph's ``RewardConfig``: the scalar a trainer optimises."""


class Ending(TypedDict):
    """The asker's last decision when it was not a question: STOP, or a reply that was neither."""

    kind: Literal["stop", "invalid"]
    turn: int
    """The index a question in its place would have had (= number of turns before it)."""
    reply: str
    """The asker's reply as generated."""
    reason: str | None
    """Why an invalid reply was invalid (e.g. "two questions"), else None."""
    asker_call_id: str | None
    rewards: dict[str, float] | None
    """The STOP term and the format penalty (see ``rewards.ending_components``); None for a human user."""
    reward: float | None


class Pending(TypedDict):
    """The asker's decision, waiting for the ``answer`` node (the environment step)."""

    kind: Literal["ask", "stop", "invalid"]
    text: str
    """The question, or the raw reply for STOP and invalid replies."""
    reason: str | None
    asker_call_id: str | None


class Settings(TypedDict):
    """What the episode runs with, fixed when it starts (runtime context is not persisted, so a resume
    without ``context=`` continues with these)."""

    asker: str | None
    """Model string of the asker; None means the component the graph was built with."""
    writer: str | None
    oracle: str | None
    max_turns: int
    """The question budget in force."""
    temperature: float | None
    """Sampling temperature for LLM components; None keeps each model's own."""


class ClarifyInput(TypedDict):
    """What a caller passes to start an episode: the explicit part, or chat messages to take it from."""

    explicit: NotRequired[Explicit]
    task_id: NotRequired[str]
    hidden: NotRequired[list[Hidden]]
    """The implicit part, for an oracle-answered episode; omit it when a person answers."""
    max_turns: NotRequired[int]
    """This episode's budget; wins over the runtime context and the graph's default."""
    messages: NotRequired[list[AnyMessage]]
    """Chat messages; without ``explicit``, the last human message is the request."""


class ClarifyOutput(TypedDict):
    task_id: NotRequired[str]
    settings: NotRequired[Settings]
    turns: list[Turn]
    ending: NotRequired[Ending | None]
    draft: NotRequired[str | None]
    stop_reason: NotRequired[StopReason | None]
    error: NotRequired[str | None]
    asker_calls: list[ModelCall]
    calls: list[ModelCall]
    messages: NotRequired[list[AnyMessage]]


class DialogueView(TypedDict):
    """All the asker and the writer may read: the explicit part, the dialogue, and the asker's own calls."""

    task_id: NotRequired[str]
    explicit: NotRequired[Explicit]
    max_turns: NotRequired[int]
    settings: NotRequired[Settings]
    turns: NotRequired[list[Turn]]
    pending: NotRequired[Pending | None]
    asker_calls: NotRequired[list[ModelCall]]
    """The asker's own calls (prompts and the token ids it generated): a policy rebuilds its chat from them."""
    messages: NotRequired[list[AnyMessage]]


class ClarifyState(TypedDict):
    task_id: NotRequired[str]
    explicit: NotRequired[Explicit]
    hidden: NotRequired[list[Hidden]]
    max_turns: NotRequired[int]
    settings: NotRequired[Settings]
    turns: Annotated[list[Turn], operator.add]
    pending: NotRequired[Pending | None]
    ending: NotRequired[Ending | None]
    draft: NotRequired[str | None]
    stop_reason: NotRequired[StopReason | None]
    error: NotRequired[str | None]
    asker_calls: Annotated[list[ModelCall], operator.add]
    """Asker calls, kept apart from ``calls`` because the asker may read them."""
    calls: Annotated[list[ModelCall], operator.add]
    """Writer and oracle calls (oracle prompts hold hidden sentences: never shown to the asker)."""
    messages: Annotated[list[AnyMessage], add_messages]
    """The dialogue as chat messages (request, questions, answers, draft) for Studio's chat view and
    for agents built on ``messages``."""


def render_task(explicit: Explicit) -> str:
    """The explicit part as the asker, writer and oracle read it."""
    parts = [f"Task: {explicit['objective']}"]
    if explicit.get("input"):
        parts.append(f"Input:\n{explicit['input']}")
    if explicit.get("options"):
        parts.append("Options:\n" + "\n".join(f"{k}. {v}" for k, v in explicit["options"].items()))
    return "\n\n".join(parts)


def dialogue_text(turns: Sequence[Turn] | Sequence[dict[str, Any]]) -> str:
    """The dialogue as the writer (and the offline components) read it."""
    if not turns:
        return "(no questions asked yet)"
    return "\n".join(f"Q{t['index'] + 1}: {t['question']}\nA{t['index'] + 1}: {t['answer']}" for t in turns)


# ---- messages view ----------------------------------------------------------------------------


def to_messages(explicit: Explicit, turns: Sequence[Turn], draft: str | None = None) -> list[BaseMessage]:
    """The episode as a chat: the request, each question and answer, then the draft."""
    out: list[BaseMessage] = [HumanMessage(render_task(explicit))]
    for t in turns:
        out += [AIMessage(t["question"]), HumanMessage(t["answer"])]
    if draft is not None:
        out.append(AIMessage(draft))
    return out


def explicit_from_messages(messages: Sequence[BaseMessage]) -> Explicit:
    """The request a chat makes: its last human message (earlier human messages become the input)."""
    human = [message_text(m).strip() for m in messages if m.type == "human" and message_text(m).strip()]
    if not human:
        raise ValueError("no human message to take the task from: pass 'explicit' or a human message")
    explicit = Explicit(objective=human[-1])
    if len(human) > 1:
        explicit["input"] = "\n\n".join(human[:-1])
    return explicit


def turns_from_messages(messages: Sequence[BaseMessage]) -> list[Turn]:
    """Question/answer turns of a chat: each AI message followed by a human message is one turn."""
    turns: list[Turn] = []
    for ai, human in itertools.pairwise(messages):
        if ai.type == "ai" and human.type == "human" and message_text(ai).strip():
            turns.append(
                Turn(
                    index=len(turns),
                    question=message_text(ai).strip(),
                    answer=message_text(human).strip(),
                    cited=[],
                    new_cited=[],
                    repeated=False,
                    evidence_reward=None,
                    novelty_reward=None,
                    coverage=None,
                )
            )
    return turns
