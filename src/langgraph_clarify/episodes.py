"""Run one task through the graph and keep everything it produced as an :class:`EpisodeResult`."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from .llm import ModelCall
from .state import ClarifyInput, Hidden, Turn
from .tasks import MaskedTask


def episode_input(task: MaskedTask, max_turns: int | None = None) -> ClarifyInput:
    """The graph input for a task: explicit part for everyone, hidden sentences for the oracle."""
    hidden = [Hidden(index=h.index, text=h.text, region=h.region) for h in task.hidden]
    data = ClarifyInput(task_id=task.id, explicit=task.explicit, hidden=hidden)
    if max_turns is not None:
        data["max_turns"] = max_turns
    return data


class EpisodeResult(BaseModel):
    """One finished (or failed) episode: the transcript, rewards, draft and every model call."""

    task_id: str
    field: str = ""
    source: str = ""
    n_hidden: int = 0
    max_turns: int | None = None
    turns: list[Turn] = Field(default_factory=list)
    draft: str | None = None
    stop_reason: str | None = None
    error: str | None = None
    calls: list[ModelCall] = Field(default_factory=list)

    @classmethod
    def from_state(cls, task: MaskedTask, state: dict[str, Any], max_turns: int | None = None) -> EpisodeResult:
        return cls(
            task_id=task.id,
            field=task.field,
            source=task.source,
            n_hidden=len(task.hidden),
            max_turns=max_turns,
            turns=state.get("turns", []),
            draft=state.get("draft"),
            stop_reason=state.get("stop_reason"),
            error=state.get("error"),
            calls=state.get("calls", []),
        )

    @classmethod
    def failed(cls, task: MaskedTask, exc: BaseException, max_turns: int | None = None) -> EpisodeResult:
        """An episode that raised outside the nodes' own error handling (which keeps partial traces)."""
        return cls.from_state(task, {"stop_reason": "error", "error": f"{type(exc).__name__}: {exc}"}, max_turns)

    def _mean(self, key: str) -> float | None:
        values = [t[key] for t in self.turns if t[key] is not None]  # type: ignore[literal-required]
        return sum(values) / len(values) if values else None

    @property
    def evidence_mean(self) -> float | None:
        return self._mean("evidence_reward")

    @property
    def novelty_mean(self) -> float | None:
        return self._mean("novelty_reward")

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
    graph: Any, task: MaskedTask, *, max_turns: int | None = None, config: RunnableConfig | None = None
) -> EpisodeResult:
    """Run one oracle-answered episode; an unexpected failure becomes the result's ``error``."""
    try:
        state = graph.invoke(episode_input(task, max_turns), config)
    except Exception as exc:
        return EpisodeResult.failed(task, exc, max_turns)
    return EpisodeResult.from_state(task, state, max_turns)


async def arun_episode(
    graph: Any, task: MaskedTask, *, max_turns: int | None = None, config: RunnableConfig | None = None
) -> EpisodeResult:
    try:
        state = await graph.ainvoke(episode_input(task, max_turns), config)
    except Exception as exc:
        return EpisodeResult.failed(task, exc, max_turns)
    return EpisodeResult.from_state(task, state, max_turns)
