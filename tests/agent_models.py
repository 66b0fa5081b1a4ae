"""A scripted agent model for tests: replies in order (the last repeats), records prompts and bound tools."""

from __future__ import annotations

import itertools
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

_ids = itertools.count()


def tool_call(name: str, **args: Any) -> AIMessage:
    """A model turn that calls one tool."""
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{next(_ids)}"}])


class AgentModel(BaseChatModel):
    script: list[Any]
    """Replies: strings or AIMessages (tool calls), functions of the prompt returning either, or exceptions to raise."""
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    bound: list[list[str]] = Field(default_factory=list)
    """The tool names bound for each call that had tools."""

    @property
    def _llm_type(self) -> str:
        return "agent-test"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **_: Any) -> ChatResult:
        self.prompts.append(list(messages))
        reply = self.script[min(len(self.prompts) - 1, len(self.script) - 1)]
        if isinstance(reply, Exception):
            raise reply
        reply = reply(messages) if callable(reply) else reply
        message = reply.model_copy() if isinstance(reply, AIMessage) else AIMessage(reply)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def bind_tools(self, tools: Any, **kwargs: Any) -> AgentModel:
        self.bound.append(sorted(t["name"] if isinstance(t, dict) else t.name for t in tools))
        return self


def clarifying_agent() -> Any:
    """``agent:agent_models:clarifying_agent``: the offline drafting model behind ClarifyMiddleware."""
    from langchain.agents import create_agent

    from langgraph_clarify import ClarifyMiddleware
    from langgraph_clarify.studio import OfflineAgentModel

    return create_agent(OfflineAgentModel(), tools=[], middleware=[ClarifyMiddleware()])


def not_an_agent() -> str:
    return "not an agent"
