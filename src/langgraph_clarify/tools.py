"""An ask-the-user tool for any tool-calling agent (``create_agent``, a ``ToolNode`` in a hand-built graph).

The agent's own model decides when to ask; the tool asks a person through ``interrupt()`` with the clarify
graph's payload (:class:`~langgraph_clarify.graph.HumanQuestion`) and resume schema (a string, or
``{"stop": true}``). It keeps no state of its own: its earlier questions are read back from the chat (each
answer is a ToolMessage whose artifact records the question), counted from the last human message, so it
works in any graph whose state has ``messages``. It refuses, without interrupting, a question past the
budget, a question after the person said stop, and a repeated question (it returns the earlier answer).
In evaluation an :class:`~langgraph_clarify.middleware.OracleUser` in the run's config answers instead.

Two tool calls in one model turn interrupt twice at once: resume them with ``{interrupt_id: value}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from langchain.tools import ToolRuntime
from langchain_core.messages import AnyMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.types import interrupt

from .graph import HumanQuestion, HumanReply, require_checkpointer
from .middleware import STOPPED_NOTE, OracleUser, oracle_user
from .rewards import human_turn, is_repeat
from .state import Turn

DESCRIPTION = (
    "Ask the user one short clarifying question when the request leaves out something the result depends on "
    "(required sections, format, audience, procedure, constraints). Ask only what the conversation does not "
    "already answer; the reply is the user's answer."
)

Result = tuple[str, dict[str, Any]]


def _earlier(messages: Sequence[AnyMessage], name: str) -> tuple[list[Turn], bool]:
    """This request's answered questions (since the last human message), and whether the person said stop."""
    turns: list[Turn] = []
    stopped = False
    for message in messages:
        if message.type == "human":
            turns, stopped = [], False
        elif isinstance(message, ToolMessage) and message.name == name and isinstance(message.artifact, dict):
            if message.artifact.get("stop"):
                stopped = True
            elif "question" in message.artifact:
                turns.append(human_turn(len(turns), message.artifact["question"], message.artifact["answer"], turns))
    return turns, stopped


class _Ask(NamedTuple):
    """A question to put to someone: the oracle of an evaluation run, else a person; its number and the budget."""

    user: OracleUser | None
    turn: int
    budget: int


def create_ask_user_tool(*, max_questions: int = 5, name: str = "ask_user", description: str = DESCRIPTION) -> BaseTool:
    """The ask-the-user tool: at most ``max_questions`` per request (an evaluation run's budget wins)."""

    def check(question: str, runtime: ToolRuntime) -> Result | _Ask:
        """The reply when no one needs asking (budget spent, stopped, a repeat), else who to ask."""
        turns, stopped = _earlier(runtime.state.get("messages", []), name)
        user = oracle_user(runtime.config)
        budget = user.max_turns if user is not None and user.max_turns is not None else max_questions
        if stopped:
            return STOPPED_NOTE, {"refused": "stop"}
        if len(turns) >= budget:
            return f"No questions left (the budget is {budget}): do the task with what you have.", {"refused": "budget"}
        earlier = next((t for t in turns if is_repeat(question, [t])), None)
        if earlier is not None:
            return f"You asked that already; the answer was: {earlier['answer']}", {"refused": "repeat"}
        return _Ask(user, len(turns) + 1, budget)

    def answered(question: str, answer: str) -> Result:
        return answer, {"question": question, "answer": answer}

    def ask_person(question: str, runtime: ToolRuntime, step: _Ask) -> Result:
        require_checkpointer(runtime.config)
        payload = HumanQuestion(question=question, turn=step.turn, budget=step.budget, task_id="")
        reply: HumanReply = interrupt(payload, response_schema=HumanReply)
        return (STOPPED_NOTE, {"stop": True}) if reply.stop else answered(question, reply.text)

    def ask(question: str, runtime: ToolRuntime) -> Result:
        step = check(question, runtime)
        if not isinstance(step, _Ask):
            return step
        if step.user is not None:
            return answered(question, step.user.answer(question, None)["answer"])
        return ask_person(question, runtime, step)

    async def aask(question: str, runtime: ToolRuntime) -> Result:
        step = check(question, runtime)
        if not isinstance(step, _Ask):
            return step
        if step.user is not None:
            return answered(question, (await step.user.aanswer(question, None))["answer"])
        return ask_person(question, runtime, step)

    return StructuredTool.from_function(
        func=ask, coroutine=aask, name=name, description=description, response_format="content_and_artifact"
    )


#: The default ask-the-user tool (5 questions per request).
ask_user = create_ask_user_tool()
