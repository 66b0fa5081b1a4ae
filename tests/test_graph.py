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

STOP = "STOP"


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


def test_asker_stop_routes_to_draft_and_is_recorded_as_the_ending() -> None:
    asker = ScriptedChatModel(script=["What sections do you need?", "  **STOP.** "])
    out = create_clarify_graph(asker, max_turns=5).invoke(episode_input(TASK))
    assert [t["question"] for t in out["turns"]] == ["What sections do you need?"]
    assert out["stop_reason"] == "asker_stop" and out["draft"]
    assert [c["role"] for c in out["asker_calls"]] == ["asker", "asker"]
    assert [c["role"] for c in out["calls"]] == ["oracle", "writer"]
    ending = out["ending"]
    assert ending["kind"] == "stop" and ending["turn"] == 1 and ending["reply"] == "  **STOP.** "
    # the reward of a turn and of the ending link to the asker call that earned it
    assert out["turns"][0]["asker_call_id"] == out["asker_calls"][0]["call_id"] == "asker-0-1"
    assert ending["asker_call_id"] == "asker-1-1" and ending["rewards"] is not None


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Here is your postmortem: the API failed. It was bad.", "no question"),
        ("Who reads it? And how long should it be?", "2 questions in one turn"),
        ("", "empty reply"),
    ],
)
def test_a_reply_that_is_not_one_question_ends_the_questions(reply: str, reason: str) -> None:
    asker = ScriptedChatModel(script=["What sections do you need?", reply])
    out = run_episode(create_clarify_graph(asker), TASK)
    assert len(out.turns) == 1 and out.stop_reason == "invalid_reply" and out.error is None
    assert out.ending is not None and out.ending["kind"] == "invalid" and out.ending["reason"] == reason
    assert out.ending["rewards"]["format"] == 1.0 and out.ending["reward"] < 0
    assert out.draft  # the writer still drafts from what was gathered


def test_the_policy_chat_grows_one_turn_at_a_time() -> None:
    asker = ScriptedChatModel(script=["Who reads it?", "How long should it be?", STOP])
    out = create_clarify_graph(asker, max_turns=4).invoke(episode_input(TASK))
    first, second, third = asker.prompts
    assert [m.type for m in first] == ["system", "human"]
    assert "up to 4 questions" in first[1].text and "Write an incident postmortem" in first[1].text
    # each later prompt is the earlier one plus the asker's reply and the answer
    assert second[:2] == first and second[2].text == "Who reads it?" and second[2].type == "ai"
    assert second[3].text.startswith(out["turns"][0]["answer"]) and "(3 questions left." in second[3].text
    assert third[:4] == second and "(2 questions left." in third[5].text
    assert [c["messages"][-1]["role"] for c in out["asker_calls"]] == ["user", "user", "user"]


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
    oracle = ScriptedChatModel(
        script=["Sure! The answer is UTC.", '{"evidence": [3]}', json.dumps({"answer": "UTC.", "evidence": [3]})]
    )
    asker = ScriptedChatModel(script=["Which time zone?", STOP])
    result = run_episode(create_clarify_graph(asker, "offline", oracle), TASK)
    oracle_calls = [c for c in result.calls if c["role"] == "oracle"]
    assert [(c["attempt"], c["call_id"]) for c in oracle_calls] == [
        (1, "oracle-0-1"),
        (2, "oracle-0-2"),
        (3, "oracle-0-3"),
    ]
    assert oracle_calls[0]["error"].startswith("parse: no JSON object")
    assert "answer" in oracle_calls[1]["error"]
    assert oracle_calls[2]["parsed"]["evidence"] == [3] and oracle_calls[2]["error"] is None
    # the retry told the model what was wrong
    assert "could not be used" in oracle.prompts[1][-1].text
    assert result.turns[0]["cited"] == [3] and result.error is None


def test_llm_failure_is_recorded_in_its_episode_only() -> None:
    rejected = ScriptedChatModel(script=[_status_error(403)])
    failed = run_episode(create_clarify_graph(rejected), TASK)
    assert failed.stop_reason == "error" and "403" in (failed.error or "")
    assert len(failed.calls) == 1 and failed.calls[-1]["error"].startswith("HTTP 403")  # a 4xx is not retried
    assert failed.draft is None
    ok = run_episode(create_clarify_graph(), TASK)
    assert ok.error is None and ok.draft


def _status_error(code: int) -> Exception:
    exc = RuntimeError(f"server said {code}")
    exc.status_code = code  # type: ignore[attr-defined]
    return exc


def test_transient_failures_are_retried_and_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("langgraph_clarify.llm.RETRY_BACKOFF_S", 0.001)
    flaky = ScriptedChatModel(
        script=[
            ConnectionError("reset by peer"),
            ValueError("Unexpected response type: '<html>'"),
            "Who reads it?",
            STOP,
        ]
    )
    result = run_episode(create_clarify_graph(flaky), TASK, max_turns=2)
    asker_calls = [c for c in result.calls if c["role"] == "asker"]
    assert [c["attempt"] for c in asker_calls[:3]] == [1, 2, 3]
    assert "reset by peer" in asker_calls[0]["error"] and "Unexpected response" in asker_calls[1]["error"]
    assert result.error is None and result.turns[0]["question"] == "Who reads it?"


def test_llm_oracle_cleans_indices_and_cannot_answer() -> None:
    oracle = ScriptedChatModel(
        script=[
            json.dumps({"answer": "Use UTC timestamps.", "evidence": [3, 3, 99, -1], "can_answer": True}),
            json.dumps({"answer": "I cannot say.", "evidence": [1], "can_answer": False}),
        ]
    )
    asker = ScriptedChatModel(script=["Which time zone?", "Who reads it?", STOP])
    out = run_episode(create_clarify_graph(asker, "offline", oracle), TASK)
    assert out.turns[0]["cited"] == [3] and out.turns[0]["evidence_reward"] == 1.0
    assert out.turns[1]["cited"] == [] and out.turns[1]["evidence_reward"] == 0.0
    # the oracle saw the hidden sentences with their indices (in the system message, the same for every
    # question of the episode), then the question; one call per question
    system, question = oracle.prompts[0]
    assert "[3] Timeline: a table of events with UTC timestamps." in system.text
    assert question.text == "Assistant's question: Which time zone?"
    assert oracle.prompts[1][0] == system and len(oracle.prompts) == 2
    # an offline oracle records the same prompt an LLM in its place would get
    fresh = ScriptedChatModel(script=["Which time zone?"])
    offline = run_episode(create_clarify_graph(fresh, "offline", "offline", max_turns=1), TASK)
    recorded = offline.call_messages(next(c for c in offline.calls if c["role"] == "oracle"))
    assert [m["role"] for m in recorded] == ["system", "user"] and "[3] Timeline" in recorded[0]["content"]


def test_calls_record_tokens_latency_and_messages() -> None:
    asker = ScriptedChatModel(script=["What format?", STOP])
    writer = ScriptedChatModel(script=["Final report."])
    out = run_episode(create_clarify_graph(asker, writer), TASK)
    assert [c["call_id"] for c in out.calls] == ["asker-0-1", "oracle-0-1", "asker-1-1", "writer-end-1"]
    writer_call = out.calls[-1]
    assert writer_call["reply"] == "Final report." and writer_call["model"] == "scripted"
    assert writer_call["input_tokens"] > 10 and writer_call["output_tokens"] == 2
    prompt = out.call_messages(writer_call)
    assert writer_call["latency_s"] >= 0 and [m["role"] for m in prompt] == ["system", "user"]
    assert out.draft == "Final report." and out.llm_calls == 3
    # the offline oracle's decision is recorded in the same shape
    assert out.calls[1]["model"].startswith("offline") and out.calls[1]["turn"] == 0


ECHO = "Task: Write an incident postmortem\n\nInput:\nThe payments API returned errors for two hours"


@pytest.mark.parametrize("reply", ["", "   ", ECHO])
def test_writer_output_that_is_not_a_draft_is_retried_then_fails_the_episode(reply: str) -> None:
    writer = ScriptedChatModel(script=[reply])
    out = run_episode(create_clarify_graph("offline", writer, max_turns=1), TASK)
    writer_calls = [c for c in out.calls if c["role"] == "writer"]
    assert (
        out.stop_reason == "error"
        and out.draft is None
        and "writer: unusable reply after 3 attempts" in (out.error or "")
    )
    assert len(writer_calls) == 3 and all(c["error"] for c in writer_calls)
    recovered = run_episode(create_clarify_graph("offline", ScriptedChatModel(script=[reply, "A real report."])), TASK)
    assert recovered.draft == "A real report." and recovered.error is None


def test_stored_episode_keeps_each_prompt_once() -> None:
    big = TASK.model_copy(update={"input": "x " * 200_000})
    graph = create_clarify_graph()
    one, five = run_episode(graph, big, max_turns=1), run_episode(graph, big, max_turns=5)
    assert len(one.turns) == 1 and len(five.turns) == 5
    # the 400 kB input is stored a fixed number of times (asker's first message, writer prompt, draft,
    # explicit part), however many calls read it: four more turns add kilobytes, not 4 x 400 kB
    assert len(five.model_dump_json()) - len(one.model_dump_json()) < 20_000
    result = five
    first = result.call_messages(result.calls[0])
    assert first == result.call_messages(result.calls[2])[:2]


def test_runtime_context_chooses_models_and_budget_and_is_kept_for_resume() -> None:
    asker = ScriptedChatModel(script=["Who reads it?", "How long?", STOP], model="ctx-asker")
    graph = create_clarify_graph(user=HUMAN, checkpointer=InMemorySaver(), max_turns=5)
    config = {"configurable": {"thread_id": "ctx"}}
    graph.invoke(episode_input(TASK), config, context={"max_turns": 2, "temperature": 0.3})
    state = graph.get_state(config).values
    assert state["settings"]["max_turns"] == 2 and state["settings"]["temperature"] == 0.3
    assert graph.get_state(config).interrupts[0].value["budget"] == 2
    # a resume without context= continues with the same budget
    graph.invoke(Command(resume="The board."), config)
    out = graph.invoke(Command(resume="Two pages."), config)
    assert len(out["turns"]) == 2 and out["stop_reason"] == "budget"
    # the episode's max_turns wins over the context
    oracle_graph = create_clarify_graph(asker, max_turns=5)
    out = oracle_graph.invoke(episode_input(TASK, max_turns=1), context={"max_turns": 3})
    assert len(out["turns"]) == 1 and out["settings"]["max_turns"] == 1
    assert "up to 1 questions" in asker.prompts[0][1].text


def test_context_model_strings_pick_components_per_run() -> None:
    graph = create_clarify_graph(max_turns=2)
    default = graph.invoke(episode_input(TASK))
    assert default["asker_calls"][0]["model"] == "offline-heuristic-asker"
    out = graph.invoke(episode_input(TASK), context={"oracle": "lexical", "max_turns": 1})
    assert len(out["turns"]) == 1 and out["calls"][0]["model"] == "offline-lexical-oracle"
    with pytest.raises(ValueError, match="unknown model 'nonsense'"):
        graph.invoke(episode_input(TASK), context={"asker": "nonsense"})


def test_human_graph_without_checkpointer_says_so() -> None:
    from langgraph_clarify.graph import NoCheckpointerError

    graph = create_clarify_graph(user=HUMAN)
    with pytest.raises(NoCheckpointerError, match="needs a checkpointer"):
        graph.invoke(episode_input(TASK))


def test_messages_view_for_studio_and_agents() -> None:
    out = create_clarify_graph(max_turns=2).invoke(episode_input(TASK))
    types = [m.type for m in out["messages"]]
    assert types == ["human", "ai", "human", "ai", "human", "ai"]
    assert out["messages"][1].text == out["turns"][0]["question"] and out["messages"][-1].text == out["draft"]
    # a graph started from chat messages takes the request from the last human message
    from langchain_core.messages import HumanMessage

    chat = create_clarify_graph(max_turns=1).invoke({"messages": [HumanMessage("Write a haiku about rain.")]})
    assert chat["turns"] and chat["draft"].startswith("# Write a haiku about rain.")


def test_async_run_matches_sync() -> None:
    graph = create_clarify_graph(max_turns=3)
    sync = run_episode(graph, TASK)
    result = asyncio.run(arun_episode(graph, TASK))
    assert result.turns == sync.turns and result.draft == sync.draft
