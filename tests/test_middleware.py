"""ClarifyMiddleware in create_agent: asking through interrupts, stopping, budgets, and handing answers over."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from pydantic import ValidationError

from agent_models import AgentModel, tool_call
from langgraph_clarify import ClarifyContext, ClarifyMiddleware, ask_user
from langgraph_clarify.graph import NoCheckpointerError
from langgraph_clarify.middleware import ANSWERS_NOTE, QUESTION_NAME, STOPPED_NOTE
from langgraph_clarify.testing import ScriptedChatModel

REQUEST = "Write an incident postmortem for the payments outage"
CONFIG: Any = {"configurable": {"thread_id": "t"}}


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return "nothing found"


def make_agent(model: AgentModel, **kwargs: Any) -> Any:
    middleware = kwargs.pop("middleware", None) or [ClarifyMiddleware(**kwargs)]
    return create_agent(model, tools=[], middleware=middleware, checkpointer=InMemorySaver())


def ask(text: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(text)]}


def question_of(out: dict[str, Any]) -> dict[str, Any]:
    (pending,) = out["__interrupt__"]
    return pending.value  # type: ignore[no-any-return]


def test_questions_are_interrupts_and_the_answers_reach_the_model() -> None:
    model = AgentModel(script=["The postmortem."])
    agent = make_agent(model, max_turns=2)
    first = question_of(agent.invoke(ask(REQUEST), CONFIG))
    assert first["turn"] == 1 and first["budget"] == 2 and first["question"].endswith("?")
    assert model.prompts == []  # the agent's model waits while the asker gathers
    second = question_of(agent.invoke(Command(resume="Summary, timeline, action items."), CONFIG))
    assert second["turn"] == 2 and second["question"] != first["question"]
    out = agent.invoke(Command(resume={"text": "  Executives  "}), CONFIG)
    assert "__interrupt__" not in out and out["messages"][-1].text == "The postmortem."
    assert out["clarify_stop_reason"] == "budget"
    assert [t["answer"] for t in out["clarify_turns"]] == ["Summary, timeline, action items.", "Executives"]
    # the chat shows each question and answer; the model sees them and a summary in its system message
    kinds = [(m.type, m.name) for m in out["messages"]]
    asked = [("ai", QUESTION_NAME), ("human", None)]
    assert kinds == [("human", None), *asked, *asked, ("ai", None)]
    (prompt,) = model.prompts
    assert prompt[0].type == "system" and prompt[0].text.startswith(ANSWERS_NOTE.split("\n")[0][:40])
    assert "A2: Executives" in prompt[0].text and [m.text for m in prompt[1:3]] == [REQUEST, first["question"]]
    # the asker's calls are recorded in the policy protocol, linked from each turn
    calls = out["clarify_asker_calls"]
    assert [c["call_id"] for c in calls] == ["asker-0-1", "asker-1-1"]
    assert [t["asker_call_id"] for t in out["clarify_turns"]] == ["asker-0-1", "asker-1-1"]
    assert "up to 2 questions" in calls[0]["messages"][1]["content"]


def test_async_run_and_the_persons_stop() -> None:
    model = AgentModel(script=["Done with what I have."])
    agent = create_agent(
        model, tools=[ask_user, lookup], middleware=[ClarifyMiddleware(max_turns=3)], checkpointer=InMemorySaver()
    )

    async def run() -> dict[str, Any]:
        out = await agent.ainvoke(ask(REQUEST), CONFIG)
        question_of(out)
        out = await agent.ainvoke(Command(resume="Use the SRE template."), CONFIG)
        question_of(out)
        return await agent.ainvoke(Command(resume={"stop": True}), CONFIG)

    out = asyncio.run(run())
    assert out["clarify_stop_reason"] == "user_stop" and len(out["clarify_turns"]) == 1
    # the declined question left the chat; the model is told to stop asking and loses the ask-user tool
    assert [m.type for m in out["messages"]] == ["human", "ai", "human", "ai"]
    system = model.prompts[0][0].text
    assert "A1: Use the SRE template." in system and STOPPED_NOTE in system
    assert model.bound == [["lookup"]]


def test_the_asker_may_decide_the_request_needs_no_questions() -> None:
    model = AgentModel(script=["Direct answer."])
    out = make_agent(model, asker=ScriptedChatModel(script=["STOP"])).invoke(ask(REQUEST), CONFIG)
    assert out["clarify_stop_reason"] == "asker_stop" and out["clarify_turns"] == []
    assert out["clarify_ending"]["kind"] == "stop" and out["clarify_ending"]["rewards"] is None
    assert out["messages"][-1].text == "Direct answer." and model.prompts[0][0].type == "human"  # no note


def test_a_question_is_never_asked_twice() -> None:
    asker = ScriptedChatModel(script=["Who reads it?"])  # the same question every time
    agent = make_agent(AgentModel(script=["Draft."]), asker=asker)
    question_of(agent.invoke(ask(REQUEST), CONFIG))
    out = agent.invoke(Command(resume="Executives."), CONFIG)
    assert "__interrupt__" not in out and len(out["clarify_turns"]) == 1
    assert out["clarify_stop_reason"] == "invalid_reply"
    assert out["clarify_ending"]["reason"] == "repeats an earlier question"


def test_an_invalid_reply_or_a_failing_asker_ends_the_questions_not_the_agent() -> None:
    two = make_agent(AgentModel(script=["Draft."]), asker=ScriptedChatModel(script=["Who? And how long?"]))
    out = two.invoke(ask(REQUEST), CONFIG)
    assert out["clarify_stop_reason"] == "invalid_reply"
    assert out["clarify_ending"]["reason"] == "2 questions in one turn"
    rejected = ValueError("bad request")
    rejected.status_code = 400  # type: ignore[attr-defined]  # a 4xx is final: no retries
    broken = ScriptedChatModel(script=[rejected])
    out = make_agent(AgentModel(script=["Draft anyway."]), asker=broken).invoke(ask(REQUEST), CONFIG)
    assert out["clarify_stop_reason"] == "error" and out["messages"][-1].text == "Draft anyway."
    assert out["clarify_asker_calls"][-1]["error"]


def test_the_runtime_context_chooses_the_budget_and_a_resume_keeps_it() -> None:
    agent = create_agent(
        AgentModel(script=["Draft."]),
        tools=[],
        middleware=[ClarifyMiddleware(max_turns=5)],
        context_schema=ClarifyContext,
        checkpointer=InMemorySaver(),
    )
    none = agent.invoke(ask(REQUEST), {"configurable": {"thread_id": "a"}}, context=ClarifyContext(max_turns=0))
    assert none["clarify_turns"] == [] and none["clarify_stop_reason"] == "budget"
    config: Any = {"configurable": {"thread_id": "b"}}
    assert question_of(agent.invoke(ask(REQUEST), config, context={"max_turns": 1}))["budget"] == 1
    out = agent.invoke(Command(resume="Executives."), config)  # no context: the request's settings hold
    assert out["clarify_settings"]["max_turns"] == 1 and out["clarify_stop_reason"] == "budget"


def test_a_bad_resume_is_rejected_and_the_question_stays_pending() -> None:
    agent = make_agent(AgentModel(script=["Draft."]), max_turns=1)
    question = question_of(agent.invoke(ask(REQUEST), CONFIG))
    for bad in ("", "   ", {"stop": "maybe"}, 42):
        with pytest.raises(ValidationError):
            agent.invoke(Command(resume=bad), CONFIG)
        assert agent.get_state(CONFIG).interrupts[0].value == question
    assert agent.invoke(Command(resume="Executives."), CONFIG)["clarify_turns"][0]["answer"] == "Executives."


def test_a_person_needs_a_checkpointer() -> None:
    agent = create_agent(AgentModel(script=["Draft."]), tools=[], middleware=[ClarifyMiddleware()])
    with pytest.raises(NoCheckpointerError, match="needs a checkpointer"):
        agent.invoke(ask(REQUEST))


def test_each_new_request_gets_its_own_questions() -> None:
    model = AgentModel(script=["First draft.", "Second draft."])
    agent = make_agent(model, max_turns=1)
    question_of(agent.invoke(ask(REQUEST), CONFIG))
    agent.invoke(Command(resume="Executives."), CONFIG)
    second = question_of(agent.invoke(ask("Now write the release notes for version 2.0"), CONFIG))
    assert second["turn"] == 1
    out = agent.invoke(Command(resume="Customers."), CONFIG)
    assert [t["answer"] for t in out["clarify_turns"]] == ["Customers."]
    assert out["clarify_request"]["objective"] == "Now write the release notes for version 2.0"
    assert out["messages"][-1].text == "Second draft."


@pytest.mark.parametrize("clarify_first", [True, False])
def test_beside_human_in_the_loop_in_one_agent(clarify_first: bool) -> None:
    @tool
    def publish(text: str) -> str:
        """Publish the document."""
        return "published"

    model = AgentModel(script=[tool_call("publish", text="the postmortem"), "Published."])
    middleware = [ClarifyMiddleware(max_turns=1), HumanInTheLoopMiddleware(interrupt_on={"publish": True})]
    agent = create_agent(
        model,
        tools=[publish, ask_user],
        middleware=middleware if clarify_first else middleware[::-1],
        checkpointer=InMemorySaver(),
    )
    assert "question" in question_of(agent.invoke(ask(REQUEST), CONFIG))
    review = question_of(agent.invoke(Command(resume="Executives."), CONFIG))
    assert review["action_requests"][0]["name"] == "publish"
    out = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), CONFIG)
    assert [m.type for m in out["messages"]] == ["human", "ai", "human", "ai", "tool", "ai"]
    assert out["messages"][-1].text == "Published." and out["clarify_turns"][0]["answer"] == "Executives."
    assert model.bound == [["publish"], ["publish"]]  # after the budget the ask-user tool is hidden


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_turns"):
        ClarifyMiddleware(max_turns=-1)
    with pytest.raises(ValueError, match="unknown model"):
        ClarifyMiddleware(asker="nosuch:model")
