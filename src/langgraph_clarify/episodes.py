"""Run one task through the graph and keep everything it produced as an :class:`EpisodeResult`.

A stored episode holds each distinct prompt message once (``messages``) and its calls refer to them
by index, and the asker's token sequence once (``token_ids``) with each call's prompt as a prefix
length, so its size grows with the episode, not with turns × prompt (a 10 MB task field is stored
about twice, not once per call).
"""

from __future__ import annotations

from typing import Any, NotRequired

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from .llm import Message, ModelCall, Role
from .state import ClarifyInput, Ending, Explicit, Hidden, Settings, Turn, to_messages
from .tasks import MaskedTask


def episode_input(task: MaskedTask, max_turns: int | None = None) -> ClarifyInput:
    """The graph input for a task: explicit part for everyone, hidden sentences for the oracle."""
    hidden = [Hidden(index=h.index, text=h.text, region=h.region) for h in task.hidden]
    data = ClarifyInput(task_id=task.id, explicit=task.explicit, hidden=hidden)
    if max_turns is not None:
        data["max_turns"] = max_turns
    return data


class StoredCall(TypedDict):
    """A :class:`~langgraph_clarify.llm.ModelCall` as stored: the prompt by reference.

    Every other field is the ModelCall's, with the same meaning.
    """

    call_id: str
    role: Role
    turn: int | None
    model: str
    prompt: list[int]
    """Indices into ``EpisodeResult.messages``: the prompt, in order."""
    reply: str
    parsed: dict[str, Any] | None
    error: str | None
    attempt: int
    input_tokens: int
    output_tokens: int
    latency_s: float
    prompt_len: NotRequired[int | None]
    """The prompt ids are ``EpisodeResult.token_ids[:prompt_len]`` (token-exact asker calls)."""
    prompt_ids: NotRequired[list[int] | None]
    """The prompt ids, when they are not a prefix of the episode's token sequence."""
    completion_ids: NotRequired[list[int] | None]
    logprobs: NotRequired[list[float] | None]
    sampling: NotRequired[dict[str, Any] | None]
    finish_reason: NotRequired[str | None]


_ROLE_ORDER = {"asker": 0, "oracle": 1, "writer": 2, "judge": 3}


def _episode_order(call: ModelCall) -> tuple[int, int, int]:
    turn = call["turn"]
    return (turn if turn is not None else 1 << 30, _ROLE_ORDER.get(call["role"], 4), call["attempt"])


def _token_sequence(calls: list[ModelCall]) -> list[int] | None:
    """The asker's episode token sequence: its last token-exact call's prompt and completion."""
    for call in reversed(calls):
        if call["role"] == "asker" and call.get("prompt_ids") is not None and call.get("completion_ids") is not None:
            return [*call["prompt_ids"], *call["completion_ids"]]  # type: ignore[misc]
    return None


def compact_calls(calls: list[ModelCall]) -> tuple[list[Message], list[StoredCall], list[int] | None]:
    """Calls in episode order with their prompts stored once (see the module docstring)."""
    ordered = sorted(calls, key=_episode_order)
    pool: list[Message] = []
    index: dict[tuple[str, str], int] = {}
    tokens = _token_sequence(ordered)
    stored: list[StoredCall] = []
    for call in ordered:
        refs = []
        for m in call["messages"]:
            key = (m["role"], m["content"])
            if key not in index:
                index[key] = len(pool)
                pool.append(m)
            refs.append(index[key])
        row: dict[str, Any] = {k: v for k, v in call.items() if k != "messages"}
        row["prompt"] = refs
        ids = call.get("prompt_ids")
        if ids is not None and tokens is not None and tokens[: len(ids)] == ids:
            row["prompt_len"] = len(ids)
            row.pop("prompt_ids")
        stored.append(row)  # type: ignore[arg-type]
    return pool, stored, tokens


class EpisodeResult(BaseModel):
    """One finished (or failed) episode: the transcript, rewards, draft and every model call."""

    task_id: str
    field: str = ""
    source: str = ""
    n_hidden: int = 0
    max_turns: int | None = None
    settings: Settings | None = None
    explicit: Explicit | None = None
    turns: list[Turn] = Field(default_factory=list)
    ending: Ending | None = None
    draft: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    messages: list[Message] = Field(default_factory=list)
    """Each distinct prompt message of the episode once; calls refer to them by index."""
    calls: list[StoredCall] = Field(default_factory=list)
    """Every asker, oracle and writer call (each attempt), in episode order."""
    token_ids: list[int] | None = None
    """The asker's token sequence through its last completion (token-exact backends), else None."""

    @classmethod
    def from_state(cls, task: MaskedTask, state: dict[str, Any], max_turns: int | None = None) -> EpisodeResult:
        pool, calls, tokens = compact_calls([*state.get("asker_calls", []), *state.get("calls", [])])
        settings = state.get("settings")
        return cls(
            task_id=task.id,
            field=task.field,
            source=task.source,
            n_hidden=len(task.hidden),
            max_turns=max_turns if max_turns is not None else (settings or {}).get("max_turns"),
            settings=settings,
            explicit=task.explicit,
            turns=state.get("turns", []),
            ending=state.get("ending"),
            draft=state.get("draft"),
            stop_reason=state.get("stop_reason"),
            error=state.get("error"),
            messages=pool,
            calls=calls,
            token_ids=tokens,
        )

    @classmethod
    def failed(cls, task: MaskedTask, exc: BaseException, max_turns: int | None = None) -> EpisodeResult:
        """An episode that raised outside the nodes' own error handling (which keeps partial traces)."""
        return cls.from_state(task, {"stop_reason": "error", "error": f"{type(exc).__name__}: {exc}"}, max_turns)

    # ---- reading the stored form back ---------------------------------------------------------

    def call_messages(self, call: StoredCall) -> list[Message]:
        """The prompt of a stored call, as sent."""
        return [self.messages[i] for i in call["prompt"]]

    def call_prompt_ids(self, call: StoredCall) -> list[int] | None:
        if call.get("prompt_len") is not None and self.token_ids is not None:
            return self.token_ids[: call["prompt_len"]]
        return call.get("prompt_ids")

    def to_messages(self) -> list[BaseMessage]:
        """The episode as a chat (request, questions, answers, draft)."""
        explicit = self.explicit or Explicit(objective=self.task_id)
        return to_messages(explicit, self.turns, self.draft)

    # ---- summaries ----------------------------------------------------------------------------

    def _mean(self, key: str) -> float | None:
        values: list[float] = [v for t in self.turns if isinstance(v := t.get(key), int | float)]
        return sum(values) / len(values) if values else None

    @property
    def evidence_mean(self) -> float | None:
        return self._mean("evidence_reward")

    @property
    def novelty_mean(self) -> float | None:
        return self._mean("novelty_reward")

    @property
    def reward_mean(self) -> float | None:
        return self._mean("reward")

    @property
    def coverage(self) -> float:
        cited = {i for t in self.turns for i in t["cited"]}
        return len(cited) / self.n_hidden if self.n_hidden else 0.0

    @property
    def repeated(self) -> int:
        return sum(t["repeated"] for t in self.turns)

    @property
    def llm_calls(self) -> int:
        return sum(1 for c in self.calls if not c["model"].startswith("offline"))

    @property
    def tokens(self) -> int:
        return sum(c["input_tokens"] + c["output_tokens"] for c in self.calls)


def run_episode(
    graph: Any,
    task: MaskedTask,
    *,
    max_turns: int | None = None,
    config: RunnableConfig | None = None,
    context: Any = None,
) -> EpisodeResult:
    """Run one oracle-answered episode; an unexpected failure becomes the result's ``error``."""
    try:
        state = graph.invoke(episode_input(task, max_turns), config, context=context)
    except Exception as exc:
        return EpisodeResult.failed(task, exc, max_turns)
    return EpisodeResult.from_state(task, state, max_turns)


async def arun_episode(
    graph: Any,
    task: MaskedTask,
    *,
    max_turns: int | None = None,
    config: RunnableConfig | None = None,
    context: Any = None,
) -> EpisodeResult:
    try:
        state = await graph.ainvoke(episode_input(task, max_turns), config, context=context)
    except Exception as exc:
        return EpisodeResult.failed(task, exc, max_turns)
    return EpisodeResult.from_state(task, state, max_turns)
