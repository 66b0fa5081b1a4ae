"""Chat-model plumbing: pick a model by name, call it for structured output, record every call.

Every asker, writer, oracle and judge call goes through :class:`CallRecorder`, so an episode's
result carries the exact messages sent, the reply, token counts, latency and (when the server
returns them) token logprobs. Evals and training read these records back; they are data.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Generator
from functools import lru_cache
from typing import Any, NotRequired, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError
from typing_extensions import TypedDict

T = TypeVar("T", bound=BaseModel)
Check = Callable[[Any], None]  # raises ValueError when a parsed reply is unusable

OFFLINE = "offline"


class ModelCall(TypedDict):
    """One call to a model (or to an offline component standing in for one)."""

    role: str  # asker | writer | oracle | judge
    model: str
    messages: list[dict[str, str]]
    reply: str
    parsed: dict[str, Any] | None
    error: str | None
    attempt: int
    input_tokens: int
    output_tokens: int
    latency_s: float
    logprobs: NotRequired[list[dict[str, Any]] | None]
    token_ids: NotRequired[list[int] | None]


class LLMError(RuntimeError):
    """A model call failed for good (after retries); carries the calls made so far."""

    def __init__(self, message: str, calls: list[ModelCall]):
        super().__init__(message)
        self.calls = calls


def model_name(model: Any) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def resolve_model(spec: str | BaseChatModel | None, **kwargs: Any) -> BaseChatModel | None:
    """Turn a model string into a chat model; ``offline``/None means "use the offline default".

    Accepted strings: ``offline``; ``openai:<model>`` (reads OPENAI_API_KEY / OPENAI_BASE_URL);
    ``openai:<model>@<base_url>`` for any OpenAI-compatible server such as vLLM.
    """
    if spec is None or isinstance(spec, BaseChatModel):
        return spec
    spec = spec.strip()
    if spec in ("", OFFLINE):
        return None
    if spec.startswith("openai:"):
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("openai models need: pip install 'langgraph-clarify[openai]'") from exc
        name, _, base_url = spec.removeprefix("openai:").partition("@")
        if not name:
            raise ValueError(f"model spec {spec!r}: missing model name after 'openai:'")
        opts: dict[str, Any] = {"model": name, "temperature": 0.0, "max_retries": 2, **kwargs}
        if base_url:
            opts["base_url"] = base_url
            opts.setdefault("api_key", os.environ.get("OPENAI_API_KEY", "EMPTY"))
        return ChatOpenAI(**opts)
    raise ValueError(f"unknown model spec {spec!r}: use 'offline', 'openai:<model>' or 'openai:<model>@<base_url>'")


def _to_dicts(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": m.type, "content": m.text} for m in messages]


def _reply_text(message: BaseMessage) -> str:
    return message.text if isinstance(message.text, str) else str(message.content)


_JSON_BLOCK = re.compile(r"\{.*\}", re.S)


def parse_json(text: str, schema: type[T]) -> T:
    """Parse a model reply into ``schema``, tolerating code fences and prose around the JSON."""
    match = _JSON_BLOCK.search(text)
    if match is None:
        raise ValueError("no JSON object in the reply")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} at char {exc.pos}") from exc
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise ValueError(f"field '{loc}': {first['msg']}") from exc


def schema_instruction(schema: type[BaseModel]) -> str:
    return "Reply with a single JSON object and nothing else, matching this JSON schema:\n" + json.dumps(
        schema.model_json_schema(), separators=(",", ":")
    )


@lru_cache(maxsize=64)
def _json_schema_format(schema: type[BaseModel]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": False},
    }


def _response_format(model: BaseChatModel, schema: type[BaseModel]) -> dict[str, Any] | None:
    """Constrained decoding for OpenAI-compatible servers (vLLM honours json_schema too)."""
    if type(model).__name__ not in ("ChatOpenAI", "AzureChatOpenAI"):
        return None
    return _json_schema_format(schema)


class CallRecorder:
    """Calls one chat model for one role and records each attempt as a :class:`ModelCall`."""

    def __init__(self, model: BaseChatModel, role: str, *, retries: int = 2):
        self.model = model
        self.role = role
        self.retries = retries
        self.name = model_name(model)

    def _record(
        self,
        messages: list[BaseMessage],
        reply: AIMessage | None,
        started: float,
        attempt: int,
        parsed: BaseModel | None = None,
        error: str | None = None,
    ) -> ModelCall:
        usage: dict[str, Any] = dict(reply.usage_metadata or {}) if reply is not None else {}
        meta = reply.response_metadata if reply is not None else {}
        logprobs = (meta.get("logprobs") or {}).get("content") if isinstance(meta.get("logprobs"), dict) else None
        return ModelCall(
            role=self.role,
            model=self.name,
            messages=_to_dicts(messages),
            reply=_reply_text(reply) if reply is not None else "",
            parsed=parsed.model_dump() if parsed is not None else None,
            error=error,
            attempt=attempt,
            input_tokens=int(usage.get("input_tokens", 0)),
            output_tokens=int(usage.get("output_tokens", 0)),
            latency_s=round(time.perf_counter() - started, 6),
            logprobs=logprobs,
            token_ids=meta.get("token_ids"),
        )

    def _bound(self, schema: type[BaseModel] | None) -> Any:
        fmt = _response_format(self.model, schema) if schema is not None else None
        return self.model.bind(response_format=fmt) if fmt else self.model

    def _attempts(
        self, messages: list[BaseMessage], schema: type[T] | None, check: Check | None = None
    ) -> Generator[list[BaseMessage], AIMessage | Exception, tuple[T | str, list[ModelCall]]]:
        """The retry protocol, independent of sync/async: yields requests, receives replies."""
        calls: list[ModelCall] = []
        for attempt in range(1, self.retries + 2):
            started = time.perf_counter()
            reply = yield messages
            if isinstance(reply, Exception):
                calls.append(self._record(messages, None, started, attempt, error=f"{type(reply).__name__}: {reply}"))
                raise LLMError(f"{self.role}: model call failed: {type(reply).__name__}: {reply}", calls) from reply
            if schema is None:
                calls.append(self._record(messages, reply, started, attempt))
                return _reply_text(reply), calls
            try:
                parsed = parse_json(_reply_text(reply), schema)
                if check is not None:
                    check(parsed)
            except ValueError as exc:
                calls.append(self._record(messages, reply, started, attempt, error=f"parse: {exc}"))
                if attempt > self.retries:
                    raise LLMError(f"{self.role}: unparseable reply after {attempt} attempts: {exc}", calls) from exc
                hint = f"Your reply could not be used ({exc}). " + schema_instruction(schema)
                messages = [*messages, reply, HumanMessage(hint)]
                continue
            calls.append(self._record(messages, reply, started, attempt, parsed=parsed))
            return parsed, calls
        raise AssertionError("unreachable")  # pragma: no cover

    def call(
        self, messages: list[BaseMessage], schema: type[T] | None = None, check: Check | None = None
    ) -> tuple[T | str, list[ModelCall]]:
        """Invoke the model; with a schema, parse JSON (and ``check`` it) and retry with the error on failure."""
        runnable, steps = self._bound(schema), self._attempts(messages, schema, check)
        request = next(steps)
        while True:
            try:
                reply: AIMessage | Exception = runnable.invoke(request)
            except Exception as exc:
                reply = exc
            try:
                request = steps.send(reply)
            except StopIteration as done:
                return done.value

    async def acall(
        self, messages: list[BaseMessage], schema: type[T] | None = None, check: Check | None = None
    ) -> tuple[T | str, list[ModelCall]]:
        runnable, steps = self._bound(schema), self._attempts(messages, schema, check)
        request = next(steps)
        while True:
            try:
                reply: AIMessage | Exception = await runnable.ainvoke(request)
            except Exception as exc:
                reply = exc
            try:
                request = steps.send(reply)
            except StopIteration as done:
                return done.value


def offline_call(role: str, name: str, prompt: str, reply: str, parsed: BaseModel | None = None) -> ModelCall:
    """Record an offline component's decision in the same shape as an LLM call."""
    return ModelCall(
        role=role,
        model=name,
        messages=[{"role": "human", "content": prompt}],
        reply=reply,
        parsed=parsed.model_dump() if parsed is not None else None,
        error=None,
        attempt=1,
        input_tokens=0,
        output_tokens=0,
        latency_s=0.0,
    )


def messages(system: str, user: str) -> list[BaseMessage]:
    return [SystemMessage(system), HumanMessage(user)]


class Component:
    """Base of askers, writers and oracles: ``run`` is the sync call, ``arun`` the async one.

    Offline components compute in ``run`` and inherit ``arun``; LLM components override both by
    building messages in ``prompt`` and reading the parsed reply in ``finish``.
    """

    name: str = "component"

    def run(self, *args: Any) -> tuple[Any, list[ModelCall]]:
        raise NotImplementedError

    async def arun(self, *args: Any) -> tuple[Any, list[ModelCall]]:
        return self.run(*args)


class LLMComponent(Component):
    role: str = "model"
    schema: type[BaseModel] | None = None

    def __init__(self, model: BaseChatModel | str, *, retries: int = 2):
        resolved = resolve_model(model)
        if resolved is None:
            raise ValueError(f"{type(self).__name__} needs a chat model, not 'offline'")
        self.recorder = CallRecorder(resolved, self.role, retries=retries)
        self.name = self.recorder.name

    def prompt(self, *args: Any) -> list[BaseMessage]:
        raise NotImplementedError

    def finish(self, reply: Any, *args: Any) -> Any:
        return reply

    def check(self, *args: Any) -> Check | None:
        """A validator of the parsed reply that depends on the inputs (e.g. the checklist length)."""
        return None

    def run(self, *args: Any) -> tuple[Any, list[ModelCall]]:
        reply, calls = self.recorder.call(self.prompt(*args), self.schema, self.check(*args))
        return self.finish(reply, *args), calls

    async def arun(self, *args: Any) -> tuple[Any, list[ModelCall]]:
        reply, calls = await self.recorder.acall(self.prompt(*args), self.schema, self.check(*args))
        return self.finish(reply, *args), calls
