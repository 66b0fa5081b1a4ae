"""The clarify loop as a LangGraph state machine: ask → answer → (ask | draft) → END.

``ask`` calls the asker (one question, STOP, or an invalid reply) and ``answer`` is the environment
step: it gets the reply to a question from a person through ``interrupt()`` or from an oracle inside
the graph, and records the asker's final decision (STOP or invalid) with its reward. Routing is by
``Command(goto=...)``: the turn budget, the asker's STOP or an invalid reply, or the person's stop send
the episode to ``draft``. The question is made in ``ask`` and the interrupt happens in ``answer``,
because a node re-runs from its top on resume.

Models are chosen per run through the runtime context (:class:`~langgraph_clarify.context.ClarifyContext`);
the factory's arguments are the defaults. What an episode runs with is copied into its state
(``settings``) by its first step, so a resume without ``context=`` continues unchanged.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import get_runtime
from langgraph.types import Command, interrupt
from pydantic import BaseModel, field_validator, model_validator
from typing_extensions import TypedDict

from .asker import AskDecision, make_asker
from .context import ClarifyContext
from .llm import DEFAULT_TIMEOUT, Component, LLMError, ModelCall, stamp
from .oracle import LLMOracle, OracleReply, make_oracle
from .rewards import RewardConfig, combine, ending_components, human_turn, score_turn, turn_components
from .state import (
    ClarifyInput,
    ClarifyOutput,
    ClarifyState,
    DialogueView,
    Ending,
    Explicit,
    Hidden,
    Pending,
    Settings,
    Turn,
    explicit_from_messages,
    render_task,
)
from .writer import make_writer

HUMAN = "human"
ModelLike = Component | BaseChatModel | str | None
Role = Literal["asker", "writer", "oracle"]


class HumanQuestion(TypedDict):
    """The interrupt payload a person sees."""

    question: str
    turn: int
    """1-based number of this question."""
    budget: int
    task_id: str


class HumanReply(BaseModel):
    """What a person resumes with: an answer, or ``{"stop": true}``. A bare string is an answer."""

    text: str = ""
    stop: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    @field_validator("text")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _not_empty(self) -> HumanReply:
        if not self.stop and not self.text:
            raise ValueError('an answer needs non-empty text; to end the questions resume with {"stop": true}')
        return self


class NoCheckpointerError(RuntimeError):
    """A human-answered graph ran without a checkpointer: its question could never be resumed."""


def require_checkpointer(config: RunnableConfig) -> None:
    """Fail before ``interrupt()`` when the run has no checkpointer: the question could never be resumed."""
    if not (config.get("configurable") or {}).get("__pregel_checkpointer"):
        raise NoCheckpointerError(
            "a person answers through interrupt(), which needs a checkpointer to resume: "
            "create_clarify_graph(..., user='human', checkpointer=InMemorySaver()) or serve the graph "
            "with `langgraph dev` / `clarify studio`, which bring their own"
        )


def oracle_turn(
    question: str,
    reply: OracleReply,
    turns: list[Turn],
    hidden: list[Hidden],
    explicit: Explicit,
    reward: RewardConfig,
    asker_call_id: str | None,
) -> Turn:
    """A question the oracle answered, with its evidence and every reward component (``turns`` came before)."""
    record = score_turn(len(turns), question, reply.answer, reply.evidence, turns, len(hidden))
    components = turn_components(question, reply.evidence, turns, hidden, explicit, cfg=reward)
    record["asker_call_id"] = asker_call_id
    record["rewards"], record["reward"] = components, combine(components, reward)
    return record


def ending_record(
    pending: Pending, turns: list[Turn], hidden: list[Hidden], explicit: Explicit, reward: RewardConfig | None
) -> Ending:
    """The asker's last decision (STOP or an invalid reply); rewarded only when an oracle answers (``reward``)."""
    kind: Literal["stop", "invalid"] = "stop" if pending["kind"] == "stop" else "invalid"
    rewards = ending_components(kind, turns, hidden, explicit, cfg=reward) if reward is not None else None
    return Ending(
        kind=kind,
        turn=len(turns),
        reply=pending["text"],
        reason=pending["reason"],
        asker_call_id=pending["asker_call_id"],
        rewards=rewards,
        reward=combine(rewards, reward) if rewards is not None and reward is not None else None,
    )


def _spec(value: ModelLike) -> str | None:
    return value if isinstance(value, str) else None


class Components:
    """Askers, writers and oracles by model string, built on first use and kept (one per string and
    temperature), so one compiled graph serves every model choice without rebuilding clients."""

    def __init__(self, defaults: dict[Role, ModelLike], timeout: float | None):
        self.defaults = defaults
        self.timeout = timeout
        self._cache: dict[tuple[Role, str | None, float | None], Component] = {}
        self._lock = threading.Lock()
        for role in defaults:  # a bad default fails here, when the graph is built
            self.get(role, None, None)

    def cached(self, role: Role, spec: str | None, temperature: float | None) -> Component | None:
        return self._cache.get((role, spec, temperature))

    def get(self, role: Role, spec: str | None, temperature: float | None) -> Component:
        key = (role, spec, temperature)
        if (found := self._cache.get(key)) is not None:
            return found
        with self._lock:
            if (found := self._cache.get(key)) is None:
                found = self._cache[key] = self._build(role, spec, temperature)
        return found

    async def aget(self, role: Role, spec: str | None, temperature: float | None) -> Component:
        """Like :meth:`get`, but a first build (clients, model weights, embeddings) runs off the event loop."""
        found = self.cached(role, spec, temperature)
        return found if found is not None else await asyncio.to_thread(self.get, role, spec, temperature)

    def _build(self, role: Role, spec: str | None, temperature: float | None) -> Component:
        target: ModelLike = spec if spec is not None else self.defaults[role]
        sampling = {"temperature": temperature} if temperature is not None else None
        if role == "asker":
            return make_asker(target, sampling=sampling, timeout=self.timeout)
        if role == "writer":
            return make_writer(target, sampling=sampling, timeout=self.timeout)
        if isinstance(target, Component) or target in (None, "offline", "lexical", "embedding"):
            return make_oracle(target)
        return LLMOracle(target, sampling=sampling, timeout=self.timeout)


def _context() -> ClarifyContext | None:
    try:
        context = get_runtime().context
    except Exception:  # called outside a graph run (a node invoked directly in a test)
        return None
    if isinstance(context, dict):
        return ClarifyContext.model_validate(context)
    return context if isinstance(context, ClarifyContext) else None


def _failed(exc: LLMError, channel: str, turn: int | None) -> Command[Any]:
    update = {"error": str(exc), "stop_reason": "error", channel: stamp(exc.calls, turn), "pending": None}
    return Command(goto=END, update=update)


class _Call(NamedTuple):
    """What a node asks of a component: which one (by role and the episode's settings) and with what."""

    role: Role
    settings: Settings
    args: tuple[Any, ...]
    turn: int | None


class _Node(Runnable[Any, Any]):
    """A node that calls one component: ``prepare`` returns an early Command or a :class:`_Call`;
    ``finish`` builds the update. One object serves sync and async graphs.

    A plain Runnable (not RunnableLambda) because it skips per-call signature inspection, which was a
    third of the CPU an episode costs when many run concurrently.
    """

    def __init__(
        self,
        name: str,
        components: Components,
        prepare: Callable[[dict[str, Any]], Command[Any] | _Call],
        finish: Callable[[dict[str, Any], Any, list[ModelCall], int | None], Any],
        channel: str,
    ):
        self.name, self.components, self.prepare, self.finish, self.channel = name, components, prepare, finish, channel

    @staticmethod
    def _key(call: _Call) -> tuple[Role, str | None, float | None]:
        return call.role, call.settings[call.role], call.settings["temperature"]

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        call = self.prepare(input)
        if isinstance(call, Command):
            return call
        try:
            result, calls = self.components.get(*self._key(call)).run(*call.args)
        except LLMError as exc:
            return _failed(exc, self.channel, call.turn)
        return self.finish(input, result, stamp(calls, call.turn), call.turn)

    async def ainvoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        call = self.prepare(input)
        if isinstance(call, Command):
            return call
        try:
            component = await self.components.aget(*self._key(call))
            result, calls = await component.arun(*call.args)
        except LLMError as exc:
            return _failed(exc, self.channel, call.turn)
        return self.finish(input, result, stamp(calls, call.turn), call.turn)


def create_clarify_graph(
    asker: ModelLike = "offline",
    writer: ModelLike = "offline",
    user: ModelLike = "offline",
    *,
    max_turns: int = 5,
    reward: RewardConfig | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    context_schema: type[Any] = ClarifyContext,
    name: str = "clarify",
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the clarify graph.

    Args:
        asker: default question asker: ``"offline"`` (heuristic), a chat model or a model string.
        writer: default writer: ``"offline"`` (extractive), a chat model or a model string.
        user: ``"human"`` (a person answers through ``interrupt()``; needs a checkpointer), or the default
            oracle: ``"offline"``/``"lexical"``, ``"embedding"``, an oracle component, or a chat model /
            model string acting as the paper's LLM oracle.
        max_turns: default question budget (the runtime context and the episode input override it).
        reward: weights of the reward terms (default: ``RewardConfig()``).
        timeout: seconds each model call may take before it fails (and is retried).
        checkpointer: required for ``user="human"`` outside a LangGraph server (which brings its own).
        context_schema: the runtime context type; a subclass of ClarifyContext may add fields of its own.
    """
    human = user == HUMAN
    defaults: dict[Role, ModelLike] = {"asker": asker, "writer": writer}
    if not human:
        defaults["oracle"] = user
    components = Components(defaults, timeout)
    reward_cfg = reward or RewardConfig()
    factory = Settings(
        asker=_spec(asker),
        writer=_spec(writer),
        oracle=None if human else _spec(user),
        max_turns=max_turns,
        temperature=None,
    )

    def settings_of(state: dict[str, Any]) -> Settings:
        if (found := state.get("settings")) is not None:
            return found  # type: ignore[no-any-return]
        ctx = _context()
        chosen = Settings(**factory)
        if ctx is not None:
            for key in ("asker", "writer", "oracle", "max_turns", "temperature"):
                if (value := getattr(ctx, key)) not in (None, ""):
                    chosen[key] = value  # type: ignore[literal-required]
        if state.get("max_turns") is not None:
            chosen["max_turns"] = state["max_turns"]
        if chosen["max_turns"] < 0:
            raise ValueError(f"max_turns must be >= 0, got {chosen['max_turns']}")
        return chosen

    def start(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """On the first step: fix the settings, take the task from the messages if needed, open the chat."""
        if "settings" in state:
            return state, {}
        update: dict[str, Any] = {"settings": settings_of(state)}
        if "explicit" not in state:
            update["explicit"] = explicit_from_messages(state.get("messages", []))
        if not state.get("messages"):
            update["messages"] = [HumanMessage(render_task(update.get("explicit") or state["explicit"]))]
        return {**state, **update}, update

    def prepare_ask(state: dict[str, Any]) -> Command[Any] | _Call:
        view, setup = start(state)
        settings: Settings = view["settings"]
        turns = view.get("turns", [])
        if len(turns) >= settings["max_turns"]:
            return Command(goto="draft", update={**setup, "stop_reason": "budget", "pending": None})
        return _Call("asker", settings, (view,), len(turns))

    def finish_ask(state: dict[str, Any], decision: AskDecision, calls: list[ModelCall], turn: int | None) -> Any:
        _, setup = start(state)
        text = decision.question if decision.action == "ask" else (calls[-1]["reply"] if calls else "STOP")
        pending = Pending(
            kind=decision.action,
            text=text,
            reason=decision.reason,
            asker_call_id=calls[-1]["call_id"] if calls else None,
        )
        update: dict[str, Any] = {**setup, "pending": pending, "asker_calls": calls}
        if decision.action == "ask":
            update["messages"] = [*setup.get("messages", []), AIMessage(decision.question, name="asker")]
        return Command(goto="answer", update=update)

    def after_answer(state: dict[str, Any], update: dict[str, Any]) -> Command[Any]:
        """Back to ``ask``, or straight to ``draft`` when this answer used up the budget (saves a step)."""
        if len(state.get("turns", [])) + 1 >= state["settings"]["max_turns"]:
            return Command(goto="draft", update={**update, "stop_reason": "budget"})
        return Command(goto="ask", update=update)

    def ending(state: dict[str, Any], pending: Pending, rewarded: bool) -> Command[Any]:
        turns, hidden = state.get("turns", []), state.get("hidden", [])
        record = ending_record(pending, turns, hidden, state["explicit"], reward_cfg if rewarded else None)
        reason = "asker_stop" if record["kind"] == "stop" else "invalid_reply"
        return Command(goto="draft", update={"ending": record, "stop_reason": reason, "pending": None})

    def prepare_oracle(state: dict[str, Any]) -> Command[Any] | _Call:
        pending: Pending = state["pending"]
        if pending["kind"] != "ask":
            return ending(state, pending, rewarded=True)
        args = (pending["text"], state["explicit"], state.get("hidden", []))
        return _Call("oracle", state["settings"], args, len(state.get("turns", [])))

    def finish_oracle(state: dict[str, Any], reply: OracleReply, calls: list[ModelCall], turn: int | None) -> Any:
        pending: Pending = state["pending"]
        turns, hidden = state.get("turns", []), state.get("hidden", [])
        record = oracle_turn(
            pending["text"], reply, turns, hidden, state["explicit"], reward_cfg, pending["asker_call_id"]
        )
        update = {"turns": [record], "pending": None, "calls": calls, "messages": [HumanMessage(reply.answer)]}
        return after_answer(state, update)

    def answer_human(state: ClarifyState, config: RunnableConfig) -> Command[Literal["ask", "draft"]]:
        require_checkpointer(config)
        pending = state["pending"]
        assert pending is not None
        if pending["kind"] != "ask":
            return ending(dict(state), pending, rewarded=False)
        turns = state.get("turns", [])
        payload = HumanQuestion(
            question=pending["text"],
            turn=len(turns) + 1,
            budget=state["settings"]["max_turns"],
            task_id=state.get("task_id", ""),
        )
        reply: HumanReply = interrupt(payload, response_schema=HumanReply)
        if reply.stop:
            return Command(goto="draft", update={"stop_reason": "user_stop", "pending": None})
        record = human_turn(len(turns), pending["text"], reply.text, turns)
        record["asker_call_id"], record["rewards"], record["reward"] = pending["asker_call_id"], None, None
        return after_answer(dict(state), {"turns": [record], "pending": None, "messages": [HumanMessage(reply.text)]})

    def prepare_draft(state: dict[str, Any]) -> _Call:
        view, _ = start(state)  # a budget of 0 goes straight here through ask, which already set up
        return _Call("writer", view["settings"], (view,), None)

    def finish_draft(state: dict[str, Any], draft: str, calls: list[ModelCall], turn: int | None) -> Any:
        return {"draft": draft, "calls": calls, "messages": [AIMessage(draft, name="writer")]}

    builder = StateGraph(
        ClarifyState, context_schema=context_schema, input_schema=ClarifyInput, output_schema=ClarifyOutput
    )
    builder.add_node(
        "ask",
        _Node("ask", components, prepare_ask, finish_ask, "asker_calls"),
        input_schema=DialogueView,
        destinations=("answer", "draft"),
    )
    if human:
        builder.add_node("answer", answer_human, destinations=("ask", "draft"))
    else:
        builder.add_node(
            "answer", _Node("answer", components, prepare_oracle, finish_oracle, "calls"), destinations=("ask", "draft")
        )
    builder.add_node(
        "draft", _Node("draft", components, prepare_draft, finish_draft, "calls"), input_schema=DialogueView
    )
    builder.add_edge(START, "ask")
    builder.add_edge("draft", END)
    return builder.compile(checkpointer=checkpointer, name=name)
