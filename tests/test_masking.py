"""Masking integrity: the asker and the writer never see hidden text except through the oracle's answers."""

from __future__ import annotations

from langgraph_clarify import create_clarify_graph, run_episode
from langgraph_clarify.asker import FACETS
from langgraph_clarify.state import DialogueView
from langgraph_clarify.tasks import load_bundled
from langgraph_clarify.testing import ScriptedChatModel

QUESTIONS = [question for _facet, _covered, question in FACETS]


def _asker_reply(messages) -> str:
    asked = sum(m.type == "ai" for m in messages)  # the policy chat holds each earlier question
    return "STOP" if asked >= len(QUESTIONS) else QUESTIONS[asked]


def _norm(text: str) -> str:
    return " ".join(text.split())


def test_no_hidden_text_reaches_asker_or_writer_on_any_bundled_task() -> None:
    tasks = load_bundled()
    checked_prompts = revealing = 0
    for task in tasks:
        asker = ScriptedChatModel(script=[_asker_reply])
        writer = ScriptedChatModel(script=["draft"])
        result = run_episode(create_clarify_graph(asker, writer, "offline", max_turns=len(QUESTIONS)), task)
        assert result.error is None
        answers = [_norm(t["answer"]) for t in result.turns]
        revealing += any(t["cited"] for t in result.turns)
        for prompt in asker.prompts + writer.prompts:
            text = _norm("\n".join(m.text for m in prompt))
            for answer in sorted(answers, key=len, reverse=True):  # what the oracle said may pass
                text = text.replace(answer, "")
            for sentence in task.hidden:
                assert _norm(sentence.text) not in text, f"{task.id}: hidden sentence {sentence.index} leaked"
            for secret in (task.procedure, task.output_spec, task.notes):
                assert not secret or _norm(secret) not in text
            checked_prompts += 1
        # and what did come through is exactly the oracle's answers, in the writer's prompt
        writer_text = _norm("\n".join(m.text for m in writer.prompts[0]))
        assert all(a in writer_text for a in answers)
    assert checked_prompts >= len(QUESTIONS) * len(tasks)
    assert revealing == len(tasks), "some task got no hidden sentence through: the test would be vacuous there"


def test_asker_and_writer_nodes_cannot_read_hidden_state() -> None:
    graph = create_clarify_graph()
    assert "hidden" not in DialogueView.__annotations__
    for node in ("ask", "draft"):
        assert graph.builder.nodes[node].input_schema is DialogueView
    # the asker may read its own calls, never the oracle's (whose prompts list the hidden sentences)
    assert "asker_calls" in DialogueView.__annotations__ and "calls" not in DialogueView.__annotations__
    assert "hidden" in graph.builder.nodes["answer"].input_schema.__annotations__
