"""Evaluate an existing agent with the oracle: the same agent a person talks to, answered from a masked task.

A policy string ``agent:package.module:factory`` names a zero-argument factory returning a compiled agent
(``create_agent(..., middleware=[ClarifyMiddleware(...)])`` or any graph over ``messages`` that asks through
:func:`~langgraph_clarify.tools.create_ask_user_tool`). Each episode sends the task's explicit part as the
user's message and puts an :class:`~langgraph_clarify.middleware.OracleUser` in the run's config, so the
questions are answered from the hidden part, scored per turn as the clarify graph scores them, and the
agent's final answer is the draft the judge scores. The result is an :class:`EpisodeResult` like any other:
its asker calls and oracle calls are its ``calls``, so agent traces feed the same reports and rollout export.
"""

from __future__ import annotations

import importlib
import uuid
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from ..episodes import EpisodeResult
from ..llm import Component, LLMError
from ..middleware import ORACLE_USER, QUESTION_NAME, OracleUser
from ..tasks import MaskedTask

PREFIX = "agent:"


def load_agent(spec: str) -> Any:
    """The agent an ``agent:package.module:factory`` string names, built by calling the factory."""
    target = spec.removeprefix(PREFIX)
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"agent spec {spec!r}: expected agent:package.module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"agent spec {spec!r}: {exc}") from exc
    agent = factory()
    if not hasattr(agent, "ainvoke"):
        raise ValueError(f"agent spec {spec!r}: {attr}() returned {type(agent).__name__}, not a compiled agent")
    return agent


def final_answer(messages: list[Any]) -> str | None:
    """The agent's last reply that is neither a question to the user nor a tool call."""
    for message in reversed(messages):
        if isinstance(message, AIMessage) and message.name != QUESTION_NAME and not message.tool_calls:
            return message.text or None
    return None


async def arun_agent_episode(agent: Any, task: MaskedTask, *, oracle: Component, max_turns: int) -> EpisodeResult:
    """Run one task through ``agent`` with ``oracle`` playing the user; failures become the result's ``error``."""
    user = OracleUser(task, oracle, max_turns=max_turns)
    config = {"configurable": {ORACLE_USER: user, "thread_id": f"eval-{task.id}-{uuid.uuid4().hex[:8]}"}}
    state: dict[str, Any] = {}
    error = None
    try:
        state = await agent.ainvoke({"messages": [HumanMessage(task.explicit_text)]}, config)
        if state.get("__interrupt__"):
            error = "the agent paused for a person (an interrupt the oracle does not answer)"
    except LLMError as exc:
        user.calls += exc.calls
        error = f"LLMError: {exc}"
    except Exception as exc:  # the agent's own failure is this episode's result, not the run's crash
        error = f"{type(exc).__name__}: {exc}"
    draft = final_answer(state.get("messages", []))
    if error is None and draft is None:
        error = "the agent gave no final answer"
    return EpisodeResult.from_state(
        task,
        {
            "settings": state.get("clarify_settings"),
            "turns": user.turns,
            "ending": state.get("clarify_ending"),
            "draft": draft,
            "stop_reason": "error" if error else state.get("clarify_stop_reason"),
            "error": error,
            "asker_calls": state.get("clarify_asker_calls", []),
            "calls": user.calls,
        },
        max_turns,
    )
