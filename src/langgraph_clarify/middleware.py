"""``ClarifyMiddleware``: proactive clarification for an existing ``langchain.agents.create_agent`` agent.

Two lines turn an agent into one that asks first::

    from langgraph_clarify import ClarifyMiddleware
    agent = create_agent(model, tools, middleware=[ClarifyMiddleware(asker="openai:gpt-4o")], checkpointer=saver)

**Why the clarify asker, not an ask-the-user tool.** The questions come from the package's asker: the same
component, in the same plain-text protocol (one growing chat; one question or STOP), that the clarify graph
runs and the training code optimises. So a policy trained with this package drops into an existing agent
unchanged; its calls inside the agent are recorded exactly as in the graph (:class:`~langgraph_clarify.llm.ModelCall`,
token ids when the backend returns them), which is what lets ``clarify eval`` score the agent and its traces
feed the rollout export; and the budget, STOP, repeats and the person's stop are enforced by code, not left
to the agent model's tool-calling judgement. An agent whose own model should decide, mid-task, when to ask
gets :func:`langgraph_clarify.tools.create_ask_user_tool` instead (the middleware hides that tool once the
budget is spent or the person said stop).

**How it runs.** Per request (each invocation that brings a new human message):

1. ``before_agent`` starts a fresh gathering: the request (the last human message; earlier ones are its
   input), and the settings fixed for it (asker, budget, temperature: the middleware's arguments, overridden
   by the runtime context when it has those fields, e.g. :class:`~langgraph_clarify.context.ClarifyContext`).
2. The model step: while gathering, ``wrap_model_call`` consults the asker *instead of* the agent's model.
   A question becomes the step's AIMessage (named ``asker``, so chat views show it). STOP, a reply that is
   not one question, a repeated question, a failed asker call, or the spent budget ends the gathering, and
   the agent's model is called in that same step, with the answers summarised in its system message.
3. ``after_model`` is the answer step: a person answers through ``interrupt()`` (payload
   :class:`~langgraph_clarify.graph.HumanQuestion`, resumed with a string or ``{"stop": true}``, the clarify
   graph's human protocol), or, in evaluation, the masked-task oracle of an :class:`OracleUser`. The answer
   joins ``messages`` as a HumanMessage and the agent jumps back to the model step.

The question is made in the model node and the interrupt happens in the after-model node because a node
re-runs from its top on resume: a resume never asks the asker again. Sync and async hooks run side by side
(the LangGraph server runs the async ones; components are built off the event loop).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, NamedTuple, NotRequired

from langchain.agents.middleware.types import (
    AgentMiddleware,
    AgentState,
    ExtendedModelResponse,
    ModelRequest,
    ModelResponse,
    OmitFromInput,
    hook_config,
)
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from .asker import AskDecision
from .episodes import episode_input
from .graph import (
    Components,
    HumanQuestion,
    HumanReply,
    ModelLike,
    ending_record,
    oracle_turn,
    require_checkpointer,
)
from .llm import DEFAULT_TIMEOUT, Component, LLMError, ModelCall, stamp
from .oracle import OracleReply
from .rewards import RewardConfig, human_turn, is_repeat
from .state import (
    DialogueView,
    Ending,
    Explicit,
    Hidden,
    Pending,
    Settings,
    StopReason,
    Turn,
    dialogue_text,
    explicit_from_messages,
)
from .tasks import MaskedTask

#: ``config["configurable"]`` key under which an evaluation run passes its :class:`OracleUser`.
ORACLE_USER = "clarify_oracle_user"
#: ``name`` of the AIMessages that carry the asker's questions (as in the clarify graph).
QUESTION_NAME = "asker"

ANSWERS_NOTE = (
    "Before you started, you asked the user clarifying questions. Treat their answers as requirements "
    "of the task and do not ask again:\n{dialogue}"
)
STOPPED_NOTE = "The user asked you to stop asking questions: do the task with what you have."


@dataclass
class OracleUser:
    """Plays the user of one evaluation episode: answers questions from a masked task's hidden part.

    It reaches a run through ``config["configurable"][ORACLE_USER]``, never through the agent's state, so the
    hidden sentences stay out of everything the agent (and its other middleware) can read. It keeps the
    episode's turns and oracle calls, scored as the clarify graph scores them.
    """

    task: MaskedTask
    oracle: Component
    max_turns: int | None = None
    """The episode's question budget; wins over the middleware's and the runtime context's."""
    reward: RewardConfig = field(default_factory=RewardConfig)
    turns: list[Turn] = field(default_factory=list)
    """Every question answered in this episode, with its evidence and rewards."""
    calls: list[ModelCall] = field(default_factory=list)
    """The oracle's calls (their prompts hold hidden sentences)."""

    def __post_init__(self) -> None:
        self.hidden: list[Hidden] = episode_input(self.task)["hidden"]
        self.explicit: Explicit = self.task.explicit

    def answer(self, question: str, asker_call_id: str | None) -> Turn:
        return self._record(question, asker_call_id, *self.oracle.run(question, self.explicit, self.hidden))

    async def aanswer(self, question: str, asker_call_id: str | None) -> Turn:
        reply, calls = await self.oracle.arun(question, self.explicit, self.hidden)
        return self._record(question, asker_call_id, reply, calls)

    def _record(self, question: str, asker_call_id: str | None, reply: OracleReply, calls: list[ModelCall]) -> Turn:
        turn = oracle_turn(question, reply, self.turns, self.hidden, self.explicit, self.reward, asker_call_id)
        self.calls += stamp(calls, len(self.turns))
        self.turns.append(turn)
        return turn

    def ending(self, pending: Pending) -> Ending:
        return ending_record(pending, self.turns, self.hidden, self.explicit, self.reward)


def oracle_user(config: RunnableConfig | None = None) -> OracleUser | None:
    """The run's :class:`OracleUser` (evaluation), or None when a person answers."""
    found = ((config if config is not None else get_config()).get("configurable") or {}).get(ORACLE_USER)
    return found if isinstance(found, OracleUser) else None


class ClarifyAgentState(AgentState[Any]):
    """What the middleware keeps in the agent's state, for the current request (reset by each new one)."""

    clarify_request: NotRequired[Annotated[Explicit | None, OmitFromInput]]
    """The request as the asker reads it; None when the run brought no human message (nothing to clarify)."""
    clarify_settings: NotRequired[Annotated[Settings, OmitFromInput]]
    """Asker, budget and temperature fixed when the request arrived, so a resume continues with them."""
    clarify_turns: NotRequired[Annotated[list[Turn], OmitFromInput]]
    """The questions asked and their answers, in order (evidence and rewards when an oracle answered)."""
    clarify_pending: NotRequired[Annotated[Pending | None, OmitFromInput]]
    """The question waiting for its answer (the person's interrupt or the oracle), else None."""
    clarify_ending: NotRequired[Annotated[Ending | None, OmitFromInput]]
    """The asker's last decision when it was not a question (STOP, an invalid or repeated question)."""
    clarify_stop_reason: NotRequired[Annotated[StopReason | None, OmitFromInput]]
    """Why the gathering ended; None while it goes on. Once set, the agent's model works on the request."""
    clarify_asker_calls: NotRequired[Annotated[list[ModelCall], OmitFromInput]]
    """The asker's calls (prompts, replies, token ids): the policy's trace for evaluation and training."""


class _Ask(NamedTuple):
    """The asker's next call: which one (the request's settings) and what it reads."""

    settings: Settings
    view: DialogueView
    turn: int


def _tool_name(tool: Any) -> str | None:
    if isinstance(tool, Mapping):
        return tool.get("name") or (tool.get("function") or {}).get("name")
    return getattr(tool, "name", None)


def _with_note(system: SystemMessage | None, note: str) -> SystemMessage:
    if system is None:
        return SystemMessage(note)
    if isinstance(system.content, str):
        return SystemMessage(f"{system.content}\n\n{note}" if system.content else note)
    return SystemMessage([*system.content, {"type": "text", "text": note}])


class ClarifyMiddleware(AgentMiddleware[ClarifyAgentState, Any, Any]):
    """Before the agent works on a request, ask the few questions whose answers change the result.

    Args:
        asker: who asks: ``"offline"`` (heuristic), a chat model, or a model string (``openai:<model>``,
            ``openai:<model>@<base_url>`` for a served policy). The runtime context's ``asker`` overrides it.
        max_turns: most questions per request (the runtime context's ``max_turns`` overrides it; 0 never asks).
        timeout: seconds an asker call may take before it fails (and is retried).
        ask_tools: names of ask-the-user tools to hide from the model once the budget is spent or the person
            said stop, so the model cannot go on asking through a tool.

    A person answers through ``interrupt()``, so the agent needs a checkpointer (the LangGraph server brings
    its own); in evaluation an :class:`OracleUser` in the run's config answers instead.
    """

    state_schema = ClarifyAgentState

    def __init__(
        self,
        asker: ModelLike = "offline",
        *,
        max_turns: int = 5,
        timeout: float | None = DEFAULT_TIMEOUT,
        ask_tools: Sequence[str] = ("ask_user",),
    ):
        if max_turns < 0:
            raise ValueError(f"max_turns must be >= 0, got {max_turns}")
        self.max_turns = max_turns
        self.ask_tools = frozenset(ask_tools)
        self._asker_spec = asker if isinstance(asker, str) else None
        self._components = Components({"asker": asker}, timeout)

    # ---- 1. a new request ---------------------------------------------------------------------

    def before_agent(self, state: ClarifyAgentState, runtime: Runtime[Any]) -> dict[str, Any]:
        user = oracle_user()
        try:
            request: Explicit | None = user.explicit if user else explicit_from_messages(state["messages"])
        except ValueError:  # no human message: nothing to clarify
            request = None
        return {
            "clarify_request": request,
            "clarify_settings": self._settings(runtime.context, user),
            "clarify_turns": [],
            "clarify_pending": None,
            "clarify_ending": None,
            "clarify_stop_reason": None,
            "clarify_asker_calls": [],
        }

    async def abefore_agent(self, state: ClarifyAgentState, runtime: Runtime[Any]) -> dict[str, Any]:
        return self.before_agent(state, runtime)

    def _settings(self, context: Any, user: OracleUser | None) -> Settings:
        chosen = Settings(asker=self._asker_spec, writer=None, oracle=None, max_turns=self.max_turns, temperature=None)
        for key in ("asker", "max_turns", "temperature"):
            value = context.get(key) if isinstance(context, Mapping) else getattr(context, key, None)
            if value not in (None, ""):
                chosen[key] = value  # type: ignore[literal-required]
        if user is not None and user.max_turns is not None:
            chosen["max_turns"] = user.max_turns
        if chosen["max_turns"] < 0:
            raise ValueError(f"max_turns must be >= 0, got {chosen['max_turns']}")
        return chosen

    # ---- 2. the model step: ask, or let the agent's model work ---------------------------------

    def wrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], ModelResponse[Any]]
    ) -> ModelResponse[Any] | ExtendedModelResponse[Any]:
        step: _Ask | ExtendedModelResponse[Any] | dict[str, Any] = self._next(request.state)
        if isinstance(step, _Ask):
            asker = self._components.get("asker", step.settings["asker"], step.settings["temperature"])
            try:
                decision, calls = asker.run(step.view)
            except LLMError as exc:
                decision, calls = None, exc.calls
            step = self._asked(request.state, decision, stamp(calls, step.turn))
        if isinstance(step, ExtendedModelResponse):
            return step
        return self._respond(handler(self._working(request, step)), step)

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
    ) -> ModelResponse[Any] | ExtendedModelResponse[Any]:
        step: _Ask | ExtendedModelResponse[Any] | dict[str, Any] = self._next(request.state)
        if isinstance(step, _Ask):
            asker = await self._components.aget("asker", step.settings["asker"], step.settings["temperature"])
            try:
                decision, calls = await asker.arun(step.view)
            except LLMError as exc:
                decision, calls = None, exc.calls
            step = self._asked(request.state, decision, stamp(calls, step.turn))
        if isinstance(step, ExtendedModelResponse):
            return step
        return self._respond(await handler(self._working(request, step)), step)

    @staticmethod
    def _next(state: Mapping[str, Any]) -> _Ask | dict[str, Any]:
        """The asker's next call, or the update that ends the gathering ({} when it already ended)."""
        request, settings = state.get("clarify_request"), state.get("clarify_settings")
        if request is None or settings is None or state.get("clarify_stop_reason") is not None:
            return {}
        turns = state.get("clarify_turns", [])
        if len(turns) >= settings["max_turns"]:
            return {"clarify_stop_reason": "budget"}
        view = DialogueView(
            explicit=request, settings=settings, turns=turns, asker_calls=state.get("clarify_asker_calls", [])
        )
        return _Ask(settings, view, len(turns))

    @staticmethod
    def _asked(
        state: Mapping[str, Any], decision: AskDecision | None, calls: list[ModelCall]
    ) -> ExtendedModelResponse[Any] | dict[str, Any]:
        """A question to put to the user, or the update that ends the gathering (STOP, invalid, repeat, error)."""
        update: dict[str, Any] = {"clarify_asker_calls": [*state.get("clarify_asker_calls", []), *calls]}
        if decision is None:
            return {**update, "clarify_stop_reason": "error"}
        turns: list[Turn] = state.get("clarify_turns", [])
        call_id = calls[-1]["call_id"] if calls else None
        if decision.action == "ask" and not is_repeat(decision.question, turns):
            update["clarify_pending"] = Pending(kind="ask", text=decision.question, reason=None, asker_call_id=call_id)
            message = AIMessage(decision.question, name=QUESTION_NAME)
            return ExtendedModelResponse(model_response=ModelResponse(result=[message]), command=Command(update=update))
        reason: str | None
        if decision.action == "ask":
            kind, reason = "invalid", "repeats an earlier question"
        else:
            kind, reason = decision.action, decision.reason
        pending = Pending(kind=kind, text=calls[-1]["reply"] if calls else "STOP", reason=reason, asker_call_id=call_id)  # type: ignore[typeddict-item]
        user = oracle_user()
        request = state["clarify_request"]
        update["clarify_ending"] = user.ending(pending) if user else ending_record(pending, turns, [], request, None)
        update["clarify_stop_reason"] = "asker_stop" if kind == "stop" else "invalid_reply"
        return update

    def _working(self, request: ModelRequest[Any], update: Mapping[str, Any]) -> ModelRequest[Any]:
        """The agent model's request once gathering is over: the answers in its system message and, after the
        budget or the person's stop, no ask-the-user tool."""
        state = {**request.state, **update}
        reason, turns = state.get("clarify_stop_reason"), state.get("clarify_turns", [])
        notes = [ANSWERS_NOTE.format(dialogue=dialogue_text(turns))] if turns else []
        if reason == "user_stop":
            notes.append(STOPPED_NOTE)
        overrides: dict[str, Any] = {}
        if notes:
            overrides["system_message"] = _with_note(request.system_message, "\n\n".join(notes))
        if reason in ("budget", "user_stop"):
            overrides["tools"] = [t for t in request.tools if _tool_name(t) not in self.ask_tools]
        return request.override(**overrides) if overrides else request

    @staticmethod
    def _respond(
        response: ModelResponse[Any], update: dict[str, Any]
    ) -> ModelResponse[Any] | ExtendedModelResponse[Any]:
        return ExtendedModelResponse(model_response=response, command=Command(update=update)) if update else response

    # ---- 3. the answer step --------------------------------------------------------------------

    @hook_config(can_jump_to=["model"])
    def after_model(self, state: ClarifyAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        pending = state.get("clarify_pending")
        if pending is None:
            return None
        user = oracle_user()
        if user is not None:
            return self._answered(state, user.answer(pending["text"], pending["asker_call_id"]))
        return self._ask_person(state, pending)

    @hook_config(can_jump_to=["model"])
    async def aafter_model(self, state: ClarifyAgentState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        pending = state.get("clarify_pending")
        if pending is None:
            return None
        user = oracle_user()
        if user is not None:
            return self._answered(state, await user.aanswer(pending["text"], pending["asker_call_id"]))
        return self._ask_person(state, pending)

    @staticmethod
    def _ask_person(state: ClarifyAgentState, pending: Pending) -> dict[str, Any]:
        require_checkpointer(get_config())
        turns = state.get("clarify_turns", [])
        settings = state["clarify_settings"]
        payload = HumanQuestion(question=pending["text"], turn=len(turns) + 1, budget=settings["max_turns"], task_id="")
        reply: HumanReply = interrupt(payload, response_schema=HumanReply)
        if reply.stop:  # the unanswered question leaves the chat: the model works from the answers so far
            update: dict[str, Any] = {"clarify_pending": None, "clarify_stop_reason": "user_stop", "jump_to": "model"}
            question = _question_message(state["messages"], pending["text"])
            if question is not None and question.id:
                update["messages"] = [RemoveMessage(id=question.id)]
            return update
        turn = human_turn(len(turns), pending["text"], reply.text, turns)
        turn["asker_call_id"], turn["rewards"], turn["reward"] = pending["asker_call_id"], None, None
        return ClarifyMiddleware._answered(state, turn)

    @staticmethod
    def _answered(state: ClarifyAgentState, turn: Turn) -> dict[str, Any]:
        return {
            "clarify_pending": None,
            "clarify_turns": [*state.get("clarify_turns", []), turn],
            "messages": [HumanMessage(turn["answer"])],
            "jump_to": "model",
        }


def _question_message(messages: Sequence[AnyMessage], text: str) -> AIMessage | None:
    for message in reversed(messages):
        if isinstance(message, AIMessage) and message.name == QUESTION_NAME and message.text == text:
            return message
    return None
