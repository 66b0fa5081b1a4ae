"""Routing, human interrupt/resume, failure isolation and call recording of the clarify graph."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from pydantic import ValidationError

from langgraph_clarify import create_clarify_graph
from langgraph_clarify.episodes import arun_episode, episode_input, run_episode
from langgraph_clarify.graph import HUMAN
from langgraph_clarify.tasks import MaskedTask, hide
from langgraph_clarify.testing import ScriptedChatModel

TASK = MaskedTask(
    id="postmortem",
    field="software",
    objective="Write an incident postmortem",
    input="The payments API returned errors for two hours on 3 May after a configuration change.",
    hidden=hide(
        [
            ("procedure", "First, rebuild the timeline from deploy logs. Then interview the on-call engineers."),
            ("output", "* Summary: one paragraph for executives. * Timeline: a table of events with UTC timestamps."),
        ]
    ),
)

ASK = '{"action": "ask", "question": "%s"}'
STOP = '{"action": "stop"}'


def test_offline_budget_routing() -> None:
    graph = create_clarify_graph(max_turns=2)
    out = graph.invoke(episode_input(TASK))
    assert len(out["turns"]) == 2
    assert out["stop_reason"] == "budget"
    assert out["draft"].startswith("# Write an incident postmortem")
    # the episode input overrides the factory's budget
    assert len(graph.invoke(episode_input(TASK, max_turns=4))["turns"]) == 4
    direct = graph.invoke(episode_input(TASK, max_turns=0))
    assert direct["turns"] == [] and direct["stop_reason"] == "budget" and direct["draft"]


def test_asker_stop_routes_to_draft() -> None:
    asker = ScriptedChatModel(script=[ASK % "What sections do you need?", STOP])
    out = create_clarify_graph(asker, max_turns=5).invoke(episode_input(TASK))
    assert [t["question"] for t in out["turns"]] == ["What sections do you need?"]
    assert out["stop_reason"] == "asker_stop"
    assert out["draft"]
    roles = [c["role"] for c in out["calls"]]
    assert roles == ["asker", "oracle", "asker", "writer"]


def test_graph_draws() -> None:
    mermaid = create_clarify_graph().get_graph().draw_mermaid()
    for edge in ("__start__ --> ask", "ask -.-> answer", "ask -.-> draft", "answer -.-> ask", "draft --> __end__"):
        assert edge in mermaid
    human = create_clarify_graph(user=HUMAN, checkpointer=InMemorySaver()).get_graph().draw_mermaid()
    assert "answer -.-> draft" in human


def _human_graph(**kw: object):
    return create_clarify_graph(user=HUMAN, checkpointer=InMemorySaver(), **kw)  # type: ignore[arg-type]


def test_human_interrupt_payload_and_resume() -> None:
    graph = _human_graph(max_turns=2)
    config = {"configurable": {"thread_id": "h1"}}
    graph.invoke(episode_input(TASK), config)
    (pending,) = graph.get_state(config).interrupts
    assert pending.value["turn"] == 1 and pending.value["budget"] == 2 and pending.value["task_id"] == "postmortem"
    first_question = pending.value["question"]
    assert first_question.endswith("?")
    assert pending.response_schema["properties"].keys() >= {"text", "stop"}
    graph.invoke(Command(resume="Follow our SRE template."), config)
    (pending,) = graph.get_state(config).interrupts
    assert pending.value["turn"] == 2 and pending.value["question"] != first_question
    out = graph.invoke(Command(resume={"text": "Executives."}), config)
    assert [t["answer"] for t in out["turns"]] == ["Follow our SRE template.", "Executives."]
    assert out["turns"][0]["evidence_reward"] is None  # a person cites no hidden sentences
    assert out["stop_reason"] == "budget" and "Follow our SRE template." in out["draft"]


@pytest.mark.parametrize("bad", ["   ", {"text": ""}, {"answer": 3}, 42])
def test_bad_resume_is_rejected_and_episode_still_answerable(bad: object) -> None:
    graph = _human_graph(max_turns=1)
    config = {"configurable": {"thread_id": "h2"}}
    graph.invoke(episode_input(TASK), config)
    (before,) = graph.get_state(config).interrupts
    with pytest.raises(ValidationError):
        graph.invoke(Command(resume=bad), config)
    (after,) = graph.get_state(config).interrupts
    assert after.id == before.id and after.value == before.value
    out = graph.invoke(Command(resume="Two pages."), config)
    assert out["turns"][0]["answer"] == "Two pages." and out["draft"]


def test_human_stop() -> None:
    graph = _human_graph(max_turns=5)
    config = {"configurable": {"thread_id": "h3"}}
    graph.invoke(episode_input(TASK), config)
    out = graph.invoke(Command(resume={"stop": True}), config)
    assert out["turns"] == [] and out["stop_reason"] == "user_stop" and out["draft"]


def test_sqlite_checkpoint_survives_new_process_objects(tmp_path) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    db = tmp_path / "episodes.sqlite"
    config = {"configurable": {"thread_id": "durable"}}
    conn = sqlite3.connect(db, check_same_thread=False)
    graph = create_clarify_graph(user=HUMAN, checkpointer=SqliteSaver(conn), max_turns=2)
    graph.invoke(episode_input(TASK), config)
    graph.invoke(Command(resume="Use the SRE template."), config)
    conn.close()
    del graph
    # a fresh saver on the same file (as after a restart) continues with question 2
    conn = sqlite3.connect(db, check_same_thread=False)
    graph = create_clarify_graph(user=HUMAN, checkpointer=SqliteSaver(conn), max_turns=2)
    (pending,) = graph.get_state(config).interrupts
    assert pending.value["turn"] == 2
    out = graph.invoke(Command(resume="For the CTO."), config)
    assert [t["answer"] for t in out["turns"]] == ["Use the SRE template.", "For the CTO."]
    conn.close()


def test_structured_output_retry_on_malformed_reply() -> None:
    asker = ScriptedChatModel(script=["Sure! Here is my question: what format?", '{"action": "ask"}', STOP])
    result = run_episode(create_clarify_graph(asker), TASK)
    asker_calls = [c for c in result.calls if c["role"] == "asker"]
    assert [c["attempt"] for c in asker_calls] == [1, 2, 3]
    assert asker_calls[0]["error"].startswith("parse: no JSON object")
    assert "question" in asker_calls[1]["error"]
    assert asker_calls[2]["parsed"] == {"action": "stop", "question": ""}
    # the retry told the model what was wrong
    assert "could not be used" in asker.prompts[1][-1].text
    assert result.stop_reason == "asker_stop" and result.error is None


def test_llm_failure_is_recorded_in_its_episode_only() -> None:
    boom = ScriptedChatModel(script=[RuntimeError("upstream 503")])
    failed = run_episode(create_clarify_graph(boom), TASK)
    assert failed.stop_reason == "error" and "upstream 503" in (failed.error or "")
    assert failed.calls and failed.calls[-1]["error"].startswith("RuntimeError")
    assert failed.draft is None
    ok = run_episode(create_clarify_graph(), TASK)
    assert ok.error is None and ok.draft


def test_unparseable_after_retries_is_an_episode_error() -> None:
    asker = ScriptedChatModel(script=["no json"])
    result = run_episode(create_clarify_graph(asker), TASK)
    assert result.stop_reason == "error" and "unparseable" in (result.error or "")
    assert len([c for c in result.calls if c["role"] == "asker"]) == 3


def test_llm_oracle_cleans_indices_and_cannot_answer() -> None:
    oracle = ScriptedChatModel(
        script=[
            json.dumps({"answer": "Use UTC timestamps.", "evidence": [3, 3, 99, -1], "can_answer": True}),
            json.dumps({"answer": "I cannot say.", "evidence": [1], "can_answer": False}),
        ]
    )
    asker = ScriptedChatModel(script=[ASK % "Which time zone?", ASK % "Who reads it?", STOP])
    out = run_episode(create_clarify_graph(asker, "offline", oracle), TASK)
    assert out.turns[0]["cited"] == [3] and out.turns[0]["evidence_reward"] == 1.0
    assert out.turns[1]["cited"] == [] and out.turns[1]["evidence_reward"] == 0.0
    # the oracle saw the hidden sentences with their indices; one call per question
    oracle_prompt = oracle.prompts[0][-1].text
    assert "[3] Timeline: a table of events with UTC timestamps." in oracle_prompt
    assert len(oracle.prompts) == 2


def test_calls_record_tokens_latency_and_messages() -> None:
    asker = ScriptedChatModel(script=[ASK % "What format?", STOP])
    writer = ScriptedChatModel(script=["Final report."])
    out = run_episode(create_clarify_graph(asker, writer), TASK)
    writer_call = next(c for c in out.calls if c["role"] == "writer")
    assert writer_call["reply"] == "Final report." and writer_call["model"] == "scripted"
    assert writer_call["input_tokens"] > 10 and writer_call["output_tokens"] == 2
    assert writer_call["latency_s"] >= 0 and writer_call["messages"][0]["role"] == "system"
    assert out.draft == "Final report." and out.llm_calls == 3


def test_async_run_matches_sync() -> None:
    graph = create_clarify_graph(max_turns=3)
    sync = run_episode(graph, TASK)
    result = asyncio.run(arun_episode(graph, TASK))
    assert result.turns == sync.turns and result.draft == sync.draft
