"""The served API: the real ``clarify studio`` server on loopback, driven with langgraph_sdk."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph_api", reason="the studio extra (langgraph-cli[inmem]) is not installed")
from langgraph_sdk import get_client

from studio_server import StudioServer

TASK = {"explicit": {"objective": "Write an incident postmortem for the payments outage"}, "task_id": "pm"}
ANSWERS = ["Follow the SRE template.", "Summary: one paragraph.", "Executives.", "Two pages.", "Formal."]


@pytest.fixture(scope="module")
def server() -> Iterator[StudioServer]:
    studio = StudioServer().start()
    print(f"\nclarify studio ready in {studio.startup_s:.2f} s")
    try:
        yield studio
    finally:
        studio.stop()


async def drive(
    url: str, graph: str, data: dict[str, Any], answers: list[Any], context: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One thread: run to each question interrupt and resume with the next answer; the final values and the
    questions asked."""
    client = get_client(url=url)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    values = await client.runs.wait(tid, graph, input=data, context=context)
    questions = []
    for answer in answers:
        state = await client.threads.get_state(tid)
        if not state["interrupts"]:
            break
        questions.append(state["interrupts"][0]["value"])
        values = await client.runs.wait(tid, graph, command={"resume": answer})
    assert isinstance(values, dict)
    return values, questions


def test_graphs_and_their_schemas_are_served(server: StudioServer) -> None:
    async def schemas() -> dict[str, Any]:
        client = get_client(url=server.url)
        found = {a["graph_id"]: a for a in await client.assistants.search()}
        return {g: await client.assistants.get_schemas(found[g]["assistant_id"]) for g in ("clarify", "agent")}

    got = asyncio.run(schemas())
    clarify, agent = got["clarify"], got["agent"]
    assert {"explicit", "task_id", "max_turns"} <= set(clarify["input_schema"]["properties"])
    assert {"draft", "turns", "stop_reason"} <= set(clarify["output_schema"]["properties"])
    assert set(agent["input_schema"]["properties"]) == {"messages"}  # the middleware's keys are not inputs
    assert {"messages", "clarify_turns", "clarify_stop_reason"} <= set(agent["output_schema"]["properties"])
    for schema in (clarify, agent):
        assert {"asker", "max_turns", "temperature"} <= set(schema["context_schema"]["properties"])


def test_a_thread_from_question_to_draft_with_the_budget_from_the_context_form(server: StudioServer) -> None:
    started = time.perf_counter()
    values, questions = asyncio.run(drive(server.url, "clarify", TASK, ANSWERS, context={"max_turns": 3}))
    elapsed = time.perf_counter() - started
    assert [(q["turn"], q["budget"]) for q in questions] == [(1, 3), (2, 3), (3, 3)]  # resumes carry no context
    assert all(q["task_id"] == "pm" and q["question"].endswith("?") for q in questions)
    assert [t["answer"] for t in values["turns"]] == ANSWERS[:3] and values["stop_reason"] == "budget"
    assert values["settings"]["max_turns"] == 3 and "Executives." in values["draft"]
    print(f"one thread, 4 runs (start + 3 resumes): {elapsed:.2f} s")


def test_five_threads_at_once(server: StudioServer) -> None:
    def answers(i: int) -> list[Any]:
        return [f"answer {i}-0", f"answer {i}-1", {"stop": True}]

    async def five() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        return list(await asyncio.gather(*(drive(server.url, "clarify", TASK, answers(i)) for i in range(5))))

    started = time.perf_counter()
    results = asyncio.run(five())
    elapsed = time.perf_counter() - started
    for i, (values, questions) in enumerate(results):  # every thread got its own answers, in order
        assert [q["budget"] for q in questions] == [5, 5, 5]  # the graph's default, with no context
        assert [t["answer"] for t in values["turns"]] == answers(i)[:2] and values["stop_reason"] == "user_stop"
        assert values["draft"]
    print(f"five threads at once, 20 runs: {elapsed:.2f} s")


def test_a_bad_resume_is_rejected_without_losing_the_thread(server: StudioServer) -> None:
    async def run() -> tuple[dict[str, Any], list[Any], list[Any]]:
        client = get_client(url=server.url)
        tid = (await client.threads.create())["thread_id"]
        await client.runs.wait(tid, "clarify", input=TASK, context={"max_turns": 1})
        before = (await client.threads.get_state(tid))["interrupts"]
        for bad in ("   ", {"stop": "maybe"}):
            with pytest.raises(Exception, match="HumanReply"):
                await client.runs.wait(tid, "clarify", command={"resume": bad})
        after = (await client.threads.get_state(tid))["interrupts"]
        values = await client.runs.wait(tid, "clarify", command={"resume": "Executives."})
        assert isinstance(values, dict)
        return values, before, after

    values, before, after = asyncio.run(run())
    assert [i["value"] for i in after] == [i["value"] for i in before] and len(before) == 1
    assert [t["answer"] for t in values["turns"]] == ["Executives."] and values["draft"]


def test_the_agent_asks_then_answers(server: StudioServer) -> None:
    request = {"messages": [{"role": "user", "content": "Write an incident postmortem"}]}
    values, questions = asyncio.run(drive(server.url, "agent", request, ["Summary: one paragraph."], {"max_turns": 1}))
    assert [(q["turn"], q["budget"]) for q in questions] == [(1, 1)]
    assert values["clarify_stop_reason"] == "budget" and [m["type"] for m in values["messages"]] == [
        "human",
        "ai",
        "human",
        "ai",
    ]
    assert "## Summary" in values["messages"][-1]["content"]
    values, questions = asyncio.run(drive(server.url, "agent", request, [{"stop": True}]))
    assert len(questions) == 1 and values["clarify_stop_reason"] == "user_stop"


def test_an_llm_asker_chosen_in_the_context_is_built_off_the_event_loop(server: StudioServer, stub_openai: Any) -> None:
    """The server raises on blocking calls in async nodes; building a ChatOpenAI client for the asker named in the
    context must happen in a thread, in the graph and in the middleware."""
    stub_openai.script(["Who reads it?", "STOP", "Who reads it?", "STOP"])
    context = {"asker": f"openai:stub@{stub_openai.base_url}"}
    values, questions = asyncio.run(drive(server.url, "clarify", TASK, ["Executives."], context))
    assert [q["question"] for q in questions] == ["Who reads it?"] and values["stop_reason"] == "asker_stop"
    request = {"messages": [{"role": "user", "content": "Write an incident postmortem"}]}
    values, questions = asyncio.run(drive(server.url, "agent", request, ["Executives."], context))
    assert [q["question"] for q in questions] == ["Who reads it?"] and values["clarify_stop_reason"] == "asker_stop"
    assert len(stub_openai.requests()) == 4


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_from_an_installed_wheel_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    """A wheel has no langgraph.json: clarify studio generates one naming the package's graphs."""
    root, source = Path(__file__).resolve().parents[1], tmp_path / "source"
    shutil.copytree(root / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):  # a copy: building writes build/ beside the sources
        shutil.copy(root / name, source)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    build = subprocess.run([*command, str(source)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("langgraph_clarify-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert not (site / "langgraph.json").exists() and (site / "langgraph_clarify" / "studio.py").is_file()
    studio = StudioServer(pythonpath=site, cwd=tmp_path).start()
    try:

        async def question() -> dict[str, Any]:
            client = get_client(url=studio.url)
            assert {a["graph_id"] for a in await client.assistants.search()} == {"clarify", "agent"}
            tid = (await client.threads.create())["thread_id"]
            await client.runs.wait(tid, "clarify", input=TASK)
            return (await client.threads.get_state(tid))["interrupts"][0]["value"]  # type: ignore[no-any-return]

        assert asyncio.run(question())["turn"] == 1
    finally:
        code = studio.stop()
    assert code == 0 and studio.output.rstrip().endswith("stopped"), studio.output[-2000:]
    assert f"at {studio.url}" in studio.output and "baseUrl=" in studio.output
    assert not _listening(studio.port)
    assert not list(tmp_path.glob(".langgraph_api"))  # the server's state stayed in its own temporary folder
