"""The clarify loop as a LangGraph state machine: ask → answer → (ask | draft) → END.

``ask`` calls the asker (question or STOP) and ``answer`` gets the reply: from a person through
``interrupt()`` or from an oracle inside the graph. Routing is by ``Command(goto=...)``: the turn
budget, the asker's STOP or the user's stop send the episode to ``draft``. The question is made in
``ask`` and the interrupt happens in ``answer``, because a node re-runs from its top on resume.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt
from pydantic import BaseModel, model_validator
from typing_extensions import TypedDict

from .asker import AskDecision, make_asker
from .llm import Component, LLMError, ModelCall
from .oracle import OracleReply, make_oracle
from .rewards import human_turn, score_turn
from .state import ClarifyInput, ClarifyOutput, ClarifyState, DialogueView
from .writer import make_writer

HUMAN = "human"
ModelLike = Component | BaseChatModel | str | None


class HumanQuestion(TypedDict):
    """The interrupt payload a person sees."""

    question: str
    turn: int
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

    @model_validator(mode="after")
    def _not_empty(self) -> HumanReply:
        self.text = self.text.strip()
        if not self.stop and not self.text:
            raise ValueError("an answer needs non-empty text, or stop=true to end the questions")
        return self


def _failed(exc: LLMError) -> Command[Any]:
    return Command(goto=END, update={"error": str(exc), "stop_reason": "error", "calls": exc.calls})


class _ComponentNode(Runnable[Any, Any]):
    """A node that calls ``component`` with ``args(state)``: one object for sync and async graphs.

    A plain Runnable (not RunnableLambda) because it skips per-call signature inspection, which
    was a third of the CPU an episode costs when many run concurrently.
    """

    def __init__(
        self,
        component: Component,
        args: Callable[[dict[str, Any]], tuple[Any, ...]],
        finish: Callable[[dict[str, Any], Any, list[ModelCall]], Any],
        guard: Callable[[dict[str, Any]], Any] = lambda state: None,
    ):
        self.component, self.args, self.finish, self.guard = component, args, finish, guard
        self.name = component.name

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if (early := self.guard(input)) is not None:
            return early
        try:
            result, calls = self.component.run(*self.args(input))
        except LLMError as exc:
            return _failed(exc)
        return self.finish(input, result, calls)

    async def ainvoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        if (early := self.guard(input)) is not None:
            return early
        try:
            result, calls = await self.component.arun(*self.args(input))
        except LLMError as exc:
            return _failed(exc)
        return self.finish(input, result, calls)


def create_clarify_graph(
    asker: ModelLike = "offline",
    writer: ModelLike = "offline",
    user: ModelLike = "offline",
    *,
    max_turns: int = 5,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    name: str = "clarify",
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the clarify graph.

    Args:
        asker: the question asker: ``"offline"`` (heuristic), a chat model or a model string.
        writer: drafts the output: ``"offline"`` (extractive), a chat model or a model string.
        user: ``"human"`` (answers through ``interrupt()``), ``"offline"``/``"lexical"``,
            ``"embedding"``, an oracle component, or a chat model acting as the LLM oracle.
        max_turns: default question budget; an episode's input may override it with ``max_turns``.
        checkpointer: required for ``user="human"`` (resuming needs one); none by default.
    """
    ask_c, write_c = make_asker(asker), make_writer(writer)
    human = user == HUMAN

    def budget_spent(state: dict[str, Any]) -> Command[Any] | None:
        if len(state.get("turns", [])) >= state.get("max_turns", max_turns):
            return Command(goto="draft", update={"stop_reason": "budget", "pending_question": None})
        return None

    def next_after_answer(state: Mapping[str, Any], update: dict[str, Any]) -> Command[Any]:
        """Back to ``ask``, or straight to ``draft`` when this answer used up the budget (saves a step)."""
        if len(state.get("turns", [])) + 1 >= state.get("max_turns", max_turns):
            return Command(goto="draft", update={**update, "stop_reason": "budget"})
        return Command(goto="ask", update=update)

    def after_ask(state: dict[str, Any], decision: AskDecision, calls: list[ModelCall]) -> Command[Any]:
        if decision.action == "stop":
            return Command(goto="draft", update={"stop_reason": "asker_stop", "pending_question": None, "calls": calls})
        return Command(goto="answer", update={"pending_question": decision.question, "calls": calls})

    def after_oracle(state: dict[str, Any], reply: OracleReply, calls: list[ModelCall]) -> Command[Any]:
        turns, hidden = state.get("turns", []), state.get("hidden", [])
        turn = score_turn(len(turns), state["pending_question"], reply.answer, reply.evidence, turns, len(hidden))
        return next_after_answer(state, {"turns": [turn], "pending_question": None, "calls": calls})

    def answer_human(state: ClarifyState) -> Command[Literal["ask", "draft"]]:
        turns = state.get("turns", [])
        question = state["pending_question"] or ""
        payload = HumanQuestion(
            question=question,
            turn=len(turns) + 1,
            budget=state.get("max_turns", max_turns),
            task_id=state.get("task_id", ""),
        )
        reply: HumanReply = interrupt(payload, response_schema=HumanReply)
        if reply.stop:
            return Command(goto="draft", update={"stop_reason": "user_stop", "pending_question": None})
        turn = human_turn(len(turns), question, reply.text, turns)
        return next_after_answer(state, {"turns": [turn], "pending_question": None})

    def after_draft(state: dict[str, Any], draft: str, calls: list[ModelCall]) -> dict[str, Any]:
        return {"draft": draft, "calls": calls}

    builder = StateGraph(ClarifyState, input_schema=ClarifyInput, output_schema=ClarifyOutput)
    builder.add_node(
        "ask",
        _ComponentNode(ask_c, lambda s: (s,), after_ask, guard=budget_spent),
        input_schema=DialogueView,
        destinations=("answer", "draft"),
    )
    if human:
        builder.add_node("answer", answer_human, destinations=("ask", "draft"))
    else:
        oracle = make_oracle(user)

        def oracle_args(s: dict[str, Any]) -> tuple[Any, ...]:
            return (s["pending_question"], s["explicit"], s.get("hidden", []))

        builder.add_node(
            "answer",
            _ComponentNode(oracle, oracle_args, after_oracle),
            destinations=("ask", "draft"),
        )
    builder.add_node("draft", _ComponentNode(write_c, lambda s: (s,), after_draft), input_schema=DialogueView)
    builder.add_edge(START, "ask")
    builder.add_edge("draft", END)
    return builder.compile(checkpointer=checkpointer, name=name)
