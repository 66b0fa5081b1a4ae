"""The OpenAI-compatible HTTP path (how a vLLM server is used), against a stub server on loopback."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("langchain_openai")

from langgraph_clarify import create_clarify_graph, resolve_model, run_episode
from langgraph_clarify.tasks import load_bundled


@pytest.fixture
def task():
    return load_bundled()[0]


def _model(stub, **kw):
    return resolve_model(f"openai:stub-asker@{stub.base_url}", max_retries=0, **kw)


def test_model_spec_parsing(stub_openai) -> None:
    model = _model(stub_openai)
    assert type(model).__name__ == "ChatOpenAI" and model.model_name == "stub-asker"
    assert resolve_model("offline") is None
    with pytest.raises(ValueError, match="unknown model spec"):
        resolve_model("gpt-4o")
    with pytest.raises(ValueError, match="missing model name"):
        resolve_model("openai:")


def test_structured_output_over_http(stub_openai, task) -> None:
    ask = json.dumps({"action": "ask", "question": "Who will read it?"})
    stub_openai.script(
        [
            {"content": ask, "logprobs": True},
            {"content": json.dumps({"answer": "The board.", "evidence": [1, 1, 50], "can_answer": True})},
            {"content": json.dumps({"action": "stop"})},
            {"content": "# Final draft"},
        ]
    )
    model = _model(stub_openai, logprobs=True)
    result = run_episode(create_clarify_graph(model, model, model), task)
    assert result.error is None, result.error
    assert [t["question"] for t in result.turns] == ["Who will read it?"]
    assert result.turns[0]["cited"] == [1]  # duplicate and out-of-range indices dropped
    assert result.draft == "# Final draft" and result.stop_reason == "asker_stop"
    requests = stub_openai.requests()
    assert len(requests) == 4
    # structured calls ask the server for constrained JSON (vLLM honours json_schema); the writer does not
    formats = [r.get("response_format") for r in requests]
    assert formats[0]["type"] == "json_schema" and formats[0]["json_schema"]["name"] == "AskDecision"
    assert formats[1]["json_schema"]["name"] == "OracleReply"
    assert formats[3] is None
    first = result.calls[0]
    assert first["input_tokens"] > 0 and first["output_tokens"] == len(ask.split())  # the stub counts words
    assert first["logprobs"] and first["logprobs"][0]["logprob"] == 0.0
    assert first["messages"] == [
        {"role": m["role"].replace("user", "human"), "content": m["content"]} for m in requests[0]["messages"]
    ]


def test_malformed_reply_is_retried_over_http(stub_openai, task) -> None:
    stub_openai.script(
        [
            {"content": "I would like to ask about the audience."},
            {"content": json.dumps({"action": "stop"})},
        ],
        default={"content": "draft"},
    )
    model = _model(stub_openai)
    result = run_episode(create_clarify_graph(model, model, "offline"), task)
    asker_calls = [c for c in result.calls if c["role"] == "asker"]
    assert [c["attempt"] for c in asker_calls] == [1, 2]
    assert asker_calls[0]["error"].startswith("parse:")
    retry_messages = stub_openai.requests()[1]["messages"]
    assert retry_messages[-2]["role"] == "assistant" and "could not be used" in retry_messages[-1]["content"]
    assert result.stop_reason == "asker_stop" and result.draft == "draft"


def test_http_500_is_an_episode_error_not_a_crash(stub_openai, task) -> None:
    stub_openai.script([{"status": 500, "body": "boom"}], default={"content": json.dumps({"action": "stop"})})
    model = _model(stub_openai)
    graph = create_clarify_graph(model, "offline", "offline")
    failed = run_episode(graph, task)
    assert failed.stop_reason == "error" and "Error code: 500" in (failed.error or "")
    assert "500" in failed.calls[-1]["error"] and failed.draft is None
    ok = run_episode(graph, task)  # the next episode on the same graph is unaffected
    assert ok.error is None and ok.stop_reason == "asker_stop"
