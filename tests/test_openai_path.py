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


def test_model_spec_parsing(stub_openai, monkeypatch) -> None:
    model = _model(stub_openai)
    assert type(model).__name__ == "ChatOpenAI" and model.model_name == "stub-asker"
    assert model.max_retries == 0 and model.request_timeout == 120.0  # our recorder retries, and records each try
    assert _model(stub_openai, timeout=3).request_timeout == 3
    assert resolve_model("offline") is None
    with pytest.raises(ValueError, match=r"unknown model 'gpt-4o'; accepted: offline, openai:<model>"):
        resolve_model("gpt-4o")
    with pytest.raises(ValueError, match="missing model name"):
        resolve_model("openai:")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="needs OPENAI_API_KEY"):
        resolve_model("openai:gpt-4o")


def test_policy_protocol_and_structured_oracle_over_http(stub_openai, task) -> None:
    stub_openai.script(
        [
            {"content": "Who will read it?", "logprobs": True},
            {"content": json.dumps({"answer": "The board.", "evidence": [1, 1, 50], "can_answer": True})},
            {"content": "STOP"},
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
    # the asker speaks plain text (the tokens trained on are the tokens generated); the oracle asks the
    # server for constrained JSON (vLLM honours json_schema); the writer is plain text
    formats = [r.get("response_format") for r in requests]
    assert formats[0] is None and formats[2] is None and formats[3] is None
    assert formats[1]["json_schema"]["name"] == "OracleReply"
    # the second asker request continues the first chat with the asker's own reply and the answer
    assert requests[2]["messages"][:2] == requests[0]["messages"]
    assert requests[2]["messages"][2] == {"role": "assistant", "content": "Who will read it?"}
    assert requests[2]["messages"][3]["content"].startswith("The board.")
    first = result.calls[0]
    assert first["input_tokens"] > 0 and first["output_tokens"] == 4  # the stub counts words
    assert first["logprobs"] == [0.0, -0.1, -0.2, -0.3] and first["finish_reason"] == "stop"
    assert result.call_messages(first) == requests[0]["messages"]


def test_malformed_reply_is_retried_over_http(stub_openai, task) -> None:
    stub_openai.script(
        [
            {"content": "Who will read it?"},
            {"content": "I would say the board."},
            {"content": json.dumps({"answer": "The board.", "evidence": [1]})},
            {"content": "STOP"},
        ],
        default={"content": "draft"},
    )
    model = _model(stub_openai)
    result = run_episode(create_clarify_graph(model, model, model), task)
    oracle_calls = [c for c in result.calls if c["role"] == "oracle"]
    assert [c["attempt"] for c in oracle_calls] == [1, 2]
    assert oracle_calls[0]["error"].startswith("parse: no JSON object")
    retry_messages = stub_openai.requests()[2]["messages"]
    assert retry_messages[-2]["role"] == "assistant" and "could not be used" in retry_messages[-1]["content"]
    assert result.stop_reason == "asker_stop" and result.draft == "draft"


def test_transient_http_failures_are_retried_then_reported(stub_openai, task, monkeypatch) -> None:
    monkeypatch.setattr("langgraph_clarify.llm.RETRY_BACKOFF_S", 0.001)
    stub_openai.script(
        [{"status": 500, "body": "boom"}, {"status": 503, "body": "busy"}, {"content": "STOP"}],
        default={"status": 500, "body": "down"},
    )
    model = _model(stub_openai)
    graph = create_clarify_graph(model, "offline", "offline")
    ok = run_episode(graph, task)
    assert ok.error is None and ok.stop_reason == "asker_stop"
    assert [c["error"][:8] for c in ok.calls if c["role"] == "asker" and c["error"]] == ["HTTP 500", "HTTP 503"]
    failed = run_episode(graph, task)  # the queue is empty: every attempt gets the default 500
    assert failed.stop_reason == "error" and "HTTP 500" in (failed.error or "") and "4 attempt(s)" in failed.error
    assert len(failed.calls) == 4 and failed.draft is None


@pytest.mark.parametrize("fault", [{"raw": "<html>oops</html>"}, {"raw": '{"choices": null}'}, {"drop": True}])
def test_malformed_bodies_and_dropped_connections_are_retried(stub_openai, task, monkeypatch, fault) -> None:
    monkeypatch.setattr("langgraph_clarify.llm.RETRY_BACKOFF_S", 0.001)
    stub_openai.script([fault, {"content": "STOP"}], default={"content": "A real draft."})
    model = _model(stub_openai)
    result = run_episode(create_clarify_graph(model, model, "offline"), task)
    asker_calls = [c for c in result.calls if c["role"] == "asker"]
    assert len(asker_calls) == 2 and asker_calls[0]["error"] and result.error is None, result.error
    assert result.stop_reason == "asker_stop" and result.draft == "A real draft."


def test_timeout_is_an_episode_error_that_says_so(stub_openai, task, monkeypatch) -> None:
    monkeypatch.setattr("langgraph_clarify.llm.RETRY_BACKOFF_S", 0.001)
    stub_openai.script([], default={"content": "STOP", "delay": 2.0})
    model = _model(stub_openai, timeout=0.3)
    graph = create_clarify_graph(model, "offline", "offline", timeout=0.3)
    result = run_episode(graph, task)
    assert result.stop_reason == "error" and "timed out after 0.3 s" in (result.error or "")


def test_unreachable_server_is_named(task, monkeypatch) -> None:
    monkeypatch.setattr("langgraph_clarify.llm.RETRY_BACKOFF_S", 0.001)
    from stub_openai import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    result = run_episode(create_clarify_graph(resolve_model(f"openai:foo@{url}")), task)
    assert result.stop_reason == "error" and "127.0.0.1" in (result.error or "")
