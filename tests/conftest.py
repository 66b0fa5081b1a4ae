"""Shared pytest fixtures."""

import os
import sys
from collections.abc import Iterator

import pytest

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from stub_openai import StubServer  # noqa: E402


@pytest.fixture(scope="session")
def _stub_openai_server() -> Iterator[StubServer]:
    """One OpenAI-compatible stub server process for the whole test session."""
    server = StubServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stub_openai(_stub_openai_server: StubServer) -> StubServer:
    """The session stub server, reset (empty queue, no default, no recorded requests) for this test."""
    _stub_openai_server.reset()
    return _stub_openai_server


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random Qwen2 chat model with a tokenizer trained inline (train extra), built once."""
    pytest.importorskip("torch")
    from langgraph_clarify.testing import tiny_policy

    return tiny_policy(tmp_path_factory.mktemp("tiny-policy"))
