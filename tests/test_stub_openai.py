"""Tests for the deterministic OpenAI-compatible stub server (tests/stub_openai.py)."""

import os
import subprocess
import sys

import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from stub_openai import SCRIPT_PATH, StubServer, free_port


def _chat(stub: StubServer, **kwargs) -> ChatOpenAI:
    return ChatOpenAI(base_url=stub.base_url, api_key="EMPTY", model="stub", max_retries=0, **kwargs)


def test_scripted_content_and_usage(stub_openai: StubServer) -> None:
    stub_openai.script([{"content": "one two three"}, {"content": "second reply"}])
    llm = _chat(stub_openai)

    first = llm.invoke([SystemMessage("be brief"), HumanMessage("hello there stub")])
    assert first.content == "one two three"
    assert first.usage_metadata is not None
    assert first.usage_metadata["input_tokens"] == 5
    assert first.usage_metadata["output_tokens"] == 3
    assert first.usage_metadata["total_tokens"] == 8
    assert first.response_metadata["model_name"] == "stub"
    assert first.response_metadata["finish_reason"] == "stop"

    assert llm.invoke("again").content == "second reply"  # FIFO


def test_requests_are_recorded(stub_openai: StubServer) -> None:
    stub_openai.script([{"content": "ok"}])
    _chat(stub_openai, temperature=0.0).invoke([SystemMessage("sys prompt"), HumanMessage("user question")])

    requests = stub_openai.requests()
    assert len(requests) == 1
    body = requests[0]
    assert body["model"] == "stub"
    assert body["messages"] == [
        {"role": "system", "content": "sys prompt"},
        {"role": "user", "content": "user question"},
    ]

    stub_openai.reset()
    assert stub_openai.requests() == []


def test_http_500_raises_internal_server_error(stub_openai: StubServer) -> None:
    stub_openai.script([{"status": 500, "body": "boom"}])
    with pytest.raises(openai.InternalServerError) as excinfo:
        _chat(stub_openai).invoke("hi")
    assert "boom" in str(excinfo.value)


def test_empty_queue_is_500_unless_default(stub_openai: StubServer) -> None:
    llm = _chat(stub_openai)
    with pytest.raises(openai.InternalServerError, match="stub queue empty"):
        llm.invoke("hi")

    stub_openai.script([{"content": "first"}], default={"content": "fallback"})
    assert llm.invoke("a").content == "first"
    assert llm.invoke("b").content == "fallback"
    assert llm.invoke("c").content == "fallback"


def test_logprobs(stub_openai: StubServer) -> None:
    stub_openai.script([{"content": "alpha beta gamma", "logprobs": True}])
    msg = _chat(stub_openai, logprobs=True).invoke("hi")

    assert stub_openai.requests()[0]["logprobs"] is True
    entries = msg.response_metadata["logprobs"]["content"]
    assert [e["token"] for e in entries] == ["alpha", "beta", "gamma"]
    assert [e["logprob"] for e in entries] == pytest.approx([0.0, -0.1, -0.2])
    assert entries[1]["bytes"] == list(b"beta")
    assert all(e["top_logprobs"] == [] for e in entries)


def test_streaming(stub_openai: StubServer) -> None:
    stub_openai.script([{"content": "streamed reply text"}])
    chunks = list(_chat(stub_openai, stream_usage=True).stream("count these words"))

    assert "".join(str(c.content) for c in chunks) == "streamed reply text"
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] == 3
    assert total.usage_metadata["output_tokens"] == 3
    assert stub_openai.requests()[0]["stream"] is True


def test_server_process_gone_after_stop() -> None:
    server = StubServer(port=free_port())
    server.start()
    pid = server.pid
    assert server.health()
    os.kill(pid, 0)  # alive

    server.stop()
    assert server.proc is not None
    assert server.proc.returncode == 0  # clean exit on SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_start_reports_stderr_when_child_dies(tmp_path) -> None:
    bad = tmp_path / "bad_server.py"
    bad.write_text("import sys\nsys.stderr.write('kaboom\\n')\nsys.exit(3)\n")
    server = StubServer(port=free_port(), path=str(bad))
    with pytest.raises(RuntimeError, match="kaboom"):
        server.start()


def test_refuses_non_loopback_host() -> None:
    out = subprocess.run(
        [sys.executable, SCRIPT_PATH, "--port", "0", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert out.returncode != 0
    assert "non-loopback" in out.stderr
