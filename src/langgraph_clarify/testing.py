"""Deterministic stand-in chat models for tests and benchmarks (subclassing langchain-core's fakes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

Reply = str | Exception | Callable[[list[BaseMessage]], str]


class ScriptedChatModel(FakeMessagesListChatModel):
    """Replies from a script (strings, exceptions to raise, or functions of the prompt), recording
    every prompt it receives. The last entry repeats when the script runs out."""

    script: list[Any]
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    responses: list[BaseMessage] = Field(default_factory=list)
    latency: float = 0.0
    model: str = "scripted"

    def _next(self, messages: list[BaseMessage]) -> ChatResult:
        self.prompts.append(list(messages))
        reply = self.script[min(len(self.prompts) - 1, len(self.script) - 1)]
        if isinstance(reply, Exception):
            raise reply
        text = reply(messages) if callable(reply) else reply
        usage = {"input_tokens": sum(len(m.text.split()) for m in messages), "output_tokens": len(text.split())}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text, usage_metadata=usage))])  # type: ignore[arg-type]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            time.sleep(self.latency)
        return self._next(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._next(messages)

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self
