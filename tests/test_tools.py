"""The ask-user tool: a person answers through the graph's interrupt protocol; refusals need no one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command
from pydantic import ValidationError

from agent_models import AgentModel, tool_call
from langgraph_clarify import ask_user
from langgraph_clarify.graph import NoCheckpointerError
from langgraph_clarify.middleware import ORACLE_USER, STOPPED_NOTE, OracleUser
from langgraph_clarify.oracle import LexicalOracle
from langgraph_clarify.rewards import RewardConfig, combine
from langgraph_clarify.tasks import load_bundled
from langgraph_clarify.tools import create_ask_user_tool

CONFIG: Any = {"configurable": {"thread_id": "t"}}


def agent_with(*turns: Any, tool: Any = ask_user, checkpointer: Any = None) -> tuple[Any, AgentModel]:
    model = AgentModel(script=[*turns, "Final answer."])
    agent = create_agent(model, tools=[tool], checkpointer=checkpointer or InMemorySaver())
    return agent, model


def tool_results(out: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(m.text, m.artifact) for m in out["messages"] if isinstance(m, ToolMessage)]


def test_a_person_answers_and_a_repeat_is_answered_from_the_chat() -> None:
    agent, _ = agent_with(
        tool_call("ask_user", question="Who reads it?"), tool_call("ask_user", question="who reads it")
    )
    out = agent.invoke({"messages": [HumanMessage("Write a postmortem")]}, CONFIG)
    (pending,) = out["__interrupt__"]
    assert pending.value == {"question": "Who reads it?", "turn": 1, "budget": 5, "task_id": ""}
    out = agent.invoke(Command(resume="Executives."), CONFIG)
    assert "__interrupt__" not in out and out["messages"][-1].text == "Final answer."
    assert tool_results(out) == [
        ("Executives.", {"question": "Who reads it?", "answer": "Executives."}),
        ("You asked that already; the answer was: Executives.", {"refused": "repeat"}),
    ]


def test_budget_stop_and_a_new_request() -> None:
    tool = create_ask_user_tool(max_questions=1)
    agent, _ = agent_with(
        tool_call("ask_user", question="Who reads it?"), tool_call("ask_user", question="How long?"), tool=tool
    )
    agent.invoke({"messages": [HumanMessage("Write a postmortem")]}, CONFIG)
    out = agent.invoke(Command(resume="Executives."), CONFIG)
    assert tool_results(out)[1] == (
        "No questions left (the budget is 1): do the task with what you have.",
        {"refused": "budget"},
    )

    again = tool_call("ask_user", question="How long?")
    agent, _ = agent_with(tool_call("ask_user", question="Who reads it?"), again, "Done.", again)
    agent.invoke({"messages": [HumanMessage("Write a postmortem")]}, CONFIG)
    out = agent.invoke(Command(resume={"stop": True}), CONFIG)
    assert [r for _, r in tool_results(out)] == [{"stop": True}, {"refused": "stop"}]
    assert tool_results(out)[0][0] == STOPPED_NOTE
    # a new human message is a new request: the stop and the count start over
    out = agent.invoke({"messages": [HumanMessage("Now the release notes")]}, CONFIG)
    assert out["__interrupt__"][0].value["turn"] == 1


def test_bad_resume_and_no_checkpointer() -> None:
    agent, _ = agent_with(tool_call("ask_user", question="Who reads it?"))
    agent.invoke({"messages": [HumanMessage("Write a postmortem")]}, CONFIG)
    with pytest.raises(ValidationError):
        agent.invoke(Command(resume=""), CONFIG)
    assert agent.get_state(CONFIG).interrupts[0].value["question"] == "Who reads it?"
    model = AgentModel(script=[tool_call("ask_user", question="Who reads it?"), "Final answer."])
    with pytest.raises(NoCheckpointerError):
        create_agent(model, tools=[ask_user]).invoke({"messages": [HumanMessage("Write a postmortem")]})


def test_in_a_hand_built_graph_with_a_tool_node_async() -> None:
    model = AgentModel(script=[tool_call("ask_user", question="Who reads it?"), "Final answer."])

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", call_model)
    builder.add_node("tools", ToolNode([ask_user]))
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", tools_condition)
    builder.add_edge("tools", "model")
    graph = builder.compile(checkpointer=InMemorySaver())

    async def run() -> dict[str, Any]:
        out = await graph.ainvoke({"messages": [HumanMessage("Write a postmortem")]}, CONFIG)
        assert out["__interrupt__"][0].value["question"] == "Who reads it?"
        return await graph.ainvoke(Command(resume="Executives."), CONFIG)

    out = asyncio.run(run())
    assert tool_results(out) == [("Executives.", {"question": "Who reads it?", "answer": "Executives."})]


def test_an_evaluation_run_is_answered_by_the_oracle() -> None:
    task = load_bundled()[0]
    agent, _ = agent_with(tool_call("ask_user", question="What format should the timeline take?"), checkpointer=None)
    user = OracleUser(task, LexicalOracle(), max_turns=3)
    config = {"configurable": {ORACLE_USER: user, "thread_id": "e"}}
    out = asyncio.run(agent.ainvoke({"messages": [HumanMessage(task.explicit_text)]}, config))
    (turn,) = user.turns
    assert tool_results(out) == [
        (turn["answer"], {"question": "What format should the timeline take?", "answer": turn["answer"]})
    ]
    assert turn["cited"] == [0, 6] and [c["role"] for c in user.calls] == ["oracle"]
    # scored as the graph scores it: the default reward's components, combined
    assert turn["rewards"]["information"] > 0 and turn["reward"] == combine(turn["rewards"], RewardConfig())
