"""Chat-model plumbing: pick a model by name, call it with retries and a timeout, record every call.

Every asker, writer, oracle and judge call goes through :class:`CallRecorder`, so an episode's result
carries the exact messages sent, the reply, token counts, latency, and (when the backend returns them)
the prompt and completion token ids with per-token logprobs. Evals and training read these records
back: :class:`ModelCall` is the data contract between the graph, the evaluation runner and the RL
rollout export, so every field is documented where it is declared.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable, Generator, Sequence
from functools import lru_cache
from typing import Any, Literal, NotRequired, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError
from typing_extensions import TypedDict

T = TypeVar("T", bound=BaseModel)
Check = Callable[[Any], None]  # raises ValueError when a reply (parsed or text) is unusable

OFFLINE = "offline"
#: Seconds a model call may take before it counts as failed (``--timeout``).
DEFAULT_TIMEOUT = 120.0
#: First backoff before resending after a transient failure; doubled each retry, with jitter.
RETRY_BACKOFF_S = 0.5
Role = Literal["asker", "writer", "oracle", "judge"]
ChatRole = Literal["system", "user", "assistant"]

#: Every model string a ``--asker``/``--writer``/``--oracle``/``--judge`` option accepts, for error messages.
MODEL_SPECS = (
    "offline",
    "openai:<model>",
    "openai:<model>@<base_url>",
    "vllm:<model-dir>@<base_url>",
    "hf:<model-dir>",
)


class Message(TypedDict):
    """One chat message as sent to a model."""

    role: ChatRole
    content: str


class ModelCall(TypedDict):
    """One attempt at one model call (or an offline component's decision, recorded the same way).

    A retried request is several records with the same ``role`` and ``turn`` and rising ``attempt``;
    only the last attempt of a successful call has ``error`` None.
    """

    call_id: str
    """Unique within the episode: ``"<role>-<turn>-<attempt>"`` (``turn`` is ``end`` for writer and judge)."""
    role: Role
    """Which component made the call: asker, writer, oracle or judge."""
    turn: int | None
    """0-based index of the question this call belongs to (asker: the question it asked or the final
    decision it made; oracle: the question it answered); None for the writer and the judge."""
    model: str
    """The model's name (``offline-...`` for the deterministic offline components)."""
    messages: list[Message]
    """The prompt exactly as sent, roles ``system``/``user``/``assistant``."""
    reply: str
    """The reply text (empty when the call failed before a reply)."""
    parsed: dict[str, Any] | None
    """The structured reply, when the component asked for one and it parsed."""
    error: str | None
    """Why this attempt failed (transport, timeout, parse, validation), else None."""
    attempt: int
    """1 for the first try of a request, 2 for its first retry, ..."""
    input_tokens: int
    """Prompt tokens as the backend reported them (0 when unknown)."""
    output_tokens: int
    """Completion tokens as the backend reported them (0 when unknown)."""
    latency_s: float
    """Wall time of the attempt, seconds."""
    prompt_ids: NotRequired[list[int] | None]
    """Token ids of the prompt as the policy saw them (token-exact backends only)."""
    completion_ids: NotRequired[list[int] | None]
    """Token ids the model generated, end-of-turn token included when generated (token-exact backends)."""
    logprobs: NotRequired[list[float] | None]
    """Log-probability of each generated token under the sampling policy, aligned with ``completion_ids``
    (or with the backend's own tokens when it returns logprobs but no ids)."""
    sampling: NotRequired[dict[str, Any] | None]
    """Sampling parameters of the call: temperature, top_p, max_tokens, seed (those that were set)."""
    finish_reason: NotRequired[str | None]
    """Why generation ended: ``stop`` (end of turn), ``length`` (token limit), ... as the backend says."""


class LLMError(RuntimeError):
    """A model call failed for good (after retries); carries the calls made so far.

    ``kind`` tells a reader why without parsing the message: ``timeout``, ``transport`` (connection,
    HTTP 5xx, malformed body), ``rejected`` (an HTTP 4xx the server will not change its mind about),
    ``invalid`` (the reply never parsed or validated).
    """

    def __init__(self, message: str, calls: list[ModelCall], kind: str = "transport"):
        super().__init__(message)
        self.calls = calls
        self.kind = kind


def model_name(model: Any) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def unknown_spec(spec: str, option: str = "model", accepted: Sequence[str] = MODEL_SPECS) -> ValueError:
    """The error for a model string nobody understands, listing every accepted value of that option."""
    return ValueError(f"unknown {option} {spec!r}; accepted: {', '.join(accepted)}")


def resolve_model(
    spec: str | BaseChatModel | None, *, timeout: float | None = DEFAULT_TIMEOUT, **kwargs: Any
) -> BaseChatModel | None:
    """Turn a model string into a chat model; ``offline``/None means "use the offline default".

    Accepted strings: ``offline``; ``openai:<model>`` (reads OPENAI_API_KEY / OPENAI_BASE_URL);
    ``openai:<model>@<base_url>`` for any OpenAI-compatible server; ``vllm:<model-dir>@<base_url>``
    for a vLLM server driven token-in/token-out (the tokenizer is read from ``<model-dir>``);
    ``hf:<model-dir>`` for an in-process transformers model (``train`` extra). Clients get ``timeout``
    seconds per call and no retries of their own: :class:`CallRecorder` retries and records each attempt.
    """
    if spec is None or isinstance(spec, BaseChatModel):
        return spec
    spec = spec.strip()
    if spec in ("", OFFLINE):
        return None
    kind, _, rest = spec.partition(":")
    if kind == "openai":
        return _openai(spec, rest, timeout, kwargs)
    if kind == "hf":
        from .rl.hf import load_hf_chat_model

        return load_hf_chat_model(rest, **kwargs)
    if kind == "vllm":
        from .rl.served import load_vllm_chat_model

        name, _, base_url = rest.partition("@")
        if not name or not base_url:
            raise ValueError(f"model spec {spec!r}: expected vllm:<model-dir>@<base_url>")
        return load_vllm_chat_model(name, base_url, timeout=timeout, **kwargs)
    raise unknown_spec(spec)


def _openai(spec: str, rest: str, timeout: float | None, kwargs: dict[str, Any]) -> BaseChatModel:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("openai models need: pip install 'langgraph-clarify[openai]'") from exc
    name, _, base_url = rest.partition("@")
    if not name:
        raise ValueError(f"model spec {spec!r}: missing model name after 'openai:'")
    opts: dict[str, Any] = {"model": name, "temperature": 0.0, "max_retries": 0, "timeout": timeout, **kwargs}
    if base_url:
        opts["base_url"] = base_url
        opts.setdefault("api_key", os.environ.get("OPENAI_API_KEY", "EMPTY"))
    elif not os.environ.get("OPENAI_API_KEY") and "api_key" not in opts:
        raise ValueError(
            f"model spec {spec!r} talks to api.openai.com and needs OPENAI_API_KEY in the environment; "
            "for an OpenAI-compatible server use openai:<model>@<base_url>"
        )
    return ChatOpenAI(**opts)


def message_dicts(messages: Sequence[BaseMessage]) -> list[Message]:
    """Messages as records, with chat roles (``system``/``user``/``assistant``)."""
    roles: dict[str, ChatRole] = {"system": "system", "human": "user", "ai": "assistant"}
    return [Message(role=roles.get(m.type, "user"), content=message_text(m)) for m in messages]


def message_text(message: BaseMessage) -> str:
    """A message's text. String content is returned as is: ``message.text`` builds a copy on every
    access, which for a prompt carrying a large task field is a copy of the whole field per call."""
    content = message.content
    return content if isinstance(content, str) else str(message.text)


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


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if code is None:
        code = getattr(getattr(exc, "response", None), "status_code", None)
    return code if isinstance(code, int) else None


def is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower() or "timed out" in str(exc).lower()


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: timeouts, dropped connections, HTTP 5xx/408/409/429, and malformed response bodies
    (which the OpenAI client raises as ValueError/KeyError/TypeError). A 4xx rejection is final."""
    if isinstance(exc, ImportError | NotImplementedError):
        return False
    status = _status(exc)
    return status is None or status >= 500 or status in (408, 409, 429)


def describe(exc: BaseException, timeout: float | None) -> str:
    if is_timeout(exc):
        return f"timed out after {timeout:g} s" if timeout else f"timed out ({type(exc).__name__})"
    status = _status(exc)
    try:
        where = getattr(getattr(exc, "request", None), "url", None)
    except RuntimeError:  # httpx raises when an error carries no request
        where = None
    text = f"{type(exc).__name__}: {exc}"
    if status is not None:
        text = f"HTTP {status}: {text}"
    return f"{text} ({where})" if where and str(where) not in text else text


class CallRecorder:
    """Calls one chat model for one role, retrying, and records each attempt as a :class:`ModelCall`.

    Two kinds of retry, both recorded: *transient* failures (timeouts, connection errors, HTTP 5xx,
    malformed bodies) resend the same request after a short backoff, up to ``transient_retries``
    times; an *unusable* reply (no JSON, wrong fields, a ``check`` that fails) is sent back with the
    reason, up to ``retries`` times.
    """

    def __init__(
        self,
        model: BaseChatModel,
        role: Role,
        *,
        retries: int = 2,
        transient_retries: int = 3,
        timeout: float | None = None,
    ):
        self.model = model
        self.role = role
        self.retries = retries
        self.transient_retries = transient_retries
        self.timeout = timeout if timeout is not None else getattr(model, "request_timeout", None)
        self.name = model_name(model)

    def _record(
        self,
        messages: Sequence[BaseMessage],
        reply: AIMessage | None,
        started: float,
        attempt: int,
        sampling: dict[str, Any],
        parsed: BaseModel | None = None,
        error: str | None = None,
    ) -> ModelCall:
        usage: dict[str, Any] = dict(reply.usage_metadata or {}) if reply is not None else {}
        meta = reply.response_metadata if reply is not None else {}
        return ModelCall(
            call_id="",
            role=self.role,
            turn=None,
            model=self.name,
            messages=message_dicts(messages),
            reply=message_text(reply) if reply is not None else "",
            parsed=parsed.model_dump() if parsed is not None else None,
            error=error,
            attempt=attempt,
            input_tokens=int(usage.get("input_tokens", 0)),
            output_tokens=int(usage.get("output_tokens", 0)),
            latency_s=round(time.perf_counter() - started, 6),
            prompt_ids=meta.get("prompt_ids"),
            completion_ids=meta.get("completion_ids"),
            logprobs=_logprobs(meta),
            sampling=meta.get("sampling") or sampling or None,
            finish_reason=meta.get("finish_reason"),
        )

    def _bound(self, schema: type[BaseModel] | None, sampling: dict[str, Any]) -> Any:
        fmt = _response_format(self.model, schema) if schema is not None else None
        extra = {**sampling, **({"response_format": fmt} if fmt else {})}
        return self.model.bind(**extra) if extra else self.model

    def _attempts(
        self,
        messages: list[BaseMessage],
        schema: type[T] | None,
        check: Check | None,
        sampling: dict[str, Any],
    ) -> Generator[tuple[list[BaseMessage], float], AIMessage | Exception, tuple[T | str, list[ModelCall]]]:
        """The retry protocol, independent of sync/async: yields (request, delay), receives replies."""
        calls: list[ModelCall] = []
        invalid = transient = 0
        delay = 0.0
        while True:
            started = time.perf_counter()
            reply = yield messages, delay
            delay = 0.0
            attempt = len(calls) + 1
            if isinstance(reply, Exception):
                reason = describe(reply, self.timeout)
                calls.append(self._record(messages, None, started, attempt, sampling, error=reason))
                if is_transient(reply) and transient < self.transient_retries:
                    transient += 1
                    delay = RETRY_BACKOFF_S * 2 ** (transient - 1) * (0.5 + random.random())
                    continue
                kind = "timeout" if is_timeout(reply) else "transport" if is_transient(reply) else "rejected"
                raise LLMError(f"{self.role}: model call failed after {attempt} attempt(s): {reason}", calls, kind)
            try:
                if schema is None:
                    result: T | str = message_text(reply)
                    parsed = None
                else:
                    result = parsed = parse_json(message_text(reply), schema)
                if check is not None:
                    check(result if schema is not None else reply)
            except ValueError as exc:
                label = "parse" if schema is not None else "invalid"
                calls.append(self._record(messages, reply, started, attempt, sampling, error=f"{label}: {exc}"))
                if invalid >= self.retries:
                    what = "unparseable" if schema is not None else "unusable"
                    raise LLMError(
                        f"{self.role}: {what} reply after {attempt} attempts: {exc}", calls, "invalid"
                    ) from exc
                invalid += 1
                hint = f"Your reply could not be used ({exc})."
                if schema is not None:
                    hint += " " + schema_instruction(schema)
                messages = [*messages, reply, HumanMessage(hint)]
                continue
            calls.append(self._record(messages, reply, started, attempt, sampling, parsed=parsed))
            return result, calls

    def call(
        self,
        messages: list[BaseMessage],
        schema: type[T] | None = None,
        check: Check | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> tuple[T | str, list[ModelCall]]:
        """Invoke the model; with a schema, parse JSON. ``check`` validates the parsed reply (or, without
        a schema, the AIMessage) and raises ValueError to have the model try again."""
        sampling = sampling or {}
        runnable, steps = self._bound(schema, sampling), self._attempts(messages, schema, check, sampling)
        request, delay = next(steps)
        while True:
            if delay:
                time.sleep(delay)
            try:
                reply: AIMessage | Exception = runnable.invoke(request)
            except Exception as exc:
                reply = exc
            try:
                request, delay = steps.send(reply)
            except StopIteration as done:
                return done.value

    async def acall(
        self,
        messages: list[BaseMessage],
        schema: type[T] | None = None,
        check: Check | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> tuple[T | str, list[ModelCall]]:
        import asyncio

        sampling = sampling or {}
        runnable, steps = self._bound(schema, sampling), self._attempts(messages, schema, check, sampling)
        request, delay = next(steps)
        while True:
            if delay:
                await asyncio.sleep(delay)
            try:
                reply: AIMessage | Exception = await runnable.ainvoke(request)
            except Exception as exc:
                reply = exc
            try:
                request, delay = steps.send(reply)
            except StopIteration as done:
                return done.value


def _logprobs(meta: dict[str, Any]) -> list[float] | None:
    """Per-token logprobs as floats: token-exact backends give a list; OpenAI-style ``logprobs.content``
    entries are reduced to their ``logprob``."""
    value = meta.get("logprobs")
    if isinstance(value, list):
        return [float(x) for x in value]
    if isinstance(value, dict) and isinstance(value.get("content"), list):
        return [float(entry["logprob"]) for entry in value["content"]]
    return None


def offline_call(
    role: Role,
    name: str,
    prompt: str | Sequence[BaseMessage],
    reply: str,
    parsed: BaseModel | None = None,
) -> ModelCall:
    """Record an offline component's decision in the same shape as an LLM call. ``prompt`` is what the
    component read: the messages an LLM in its place would get, or a text."""
    msgs = message_dicts(prompt) if not isinstance(prompt, str) else [Message(role="user", content=prompt)]
    return ModelCall(
        call_id="",
        role=role,
        turn=None,
        model=name,
        messages=msgs,
        reply=reply,
        parsed=parsed.model_dump() if parsed is not None else None,
        error=None,
        attempt=1,
        input_tokens=0,
        output_tokens=0,
        latency_s=0.0,
    )


def stamp(calls: list[ModelCall], turn: int | None) -> list[ModelCall]:
    """Give a component's calls their turn and episode-unique ids (the component does not know its turn)."""
    for call in calls:
        call["turn"] = turn
        call["call_id"] = f"{call['role']}-{'end' if turn is None else turn}-{call['attempt']}"
    return calls


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
    role: Role = "asker"
    schema: type[BaseModel] | None = None

    def __init__(
        self,
        model: BaseChatModel | str,
        *,
        retries: int = 2,
        timeout: float | None = DEFAULT_TIMEOUT,
        sampling: dict[str, Any] | None = None,
    ):
        resolved = resolve_model(model, timeout=timeout)
        if resolved is None:
            raise ValueError(f"{type(self).__name__} needs a chat model, not 'offline'")
        self.recorder = CallRecorder(resolved, self.role, retries=retries, timeout=timeout)
        self.name = self.recorder.name
        #: passed to every call (e.g. ``{"temperature": 0.7}``) and recorded in ``ModelCall.sampling``
        self.sampling: dict[str, Any] = {k: v for k, v in (sampling or {}).items() if v is not None}

    def prompt(self, *args: Any) -> list[BaseMessage]:
        raise NotImplementedError

    def finish(self, reply: Any, *args: Any) -> Any:
        return reply

    def check(self, *args: Any) -> Check | None:
        """A validator of the reply that depends on the inputs (e.g. the checklist length)."""
        return None

    def run(self, *args: Any) -> tuple[Any, list[ModelCall]]:
        reply, calls = self.recorder.call(self.prompt(*args), self.schema, self.check(*args), self.sampling)
        return self.finish(reply, *args), calls

    async def arun(self, *args: Any) -> tuple[Any, list[ModelCall]]:
        reply, calls = await self.recorder.acall(self.prompt(*args), self.schema, self.check(*args), self.sampling)
        return self.finish(reply, *args), calls
