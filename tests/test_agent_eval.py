"""Evaluating an existing agent with the oracle: same turns, rewards and traces as the clarify graph."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from agent_models import AgentModel, tool_call
from langgraph_clarify import ClarifyMiddleware, EpisodeResult, ask_user, create_clarify_graph
from langgraph_clarify.episodes import arun_episode
from langgraph_clarify.evaluation.agents import arun_agent_episode, load_agent
from langgraph_clarify.evaluation.report import summarize
from langgraph_clarify.evaluation.runner import Policy, _row
from langgraph_clarify.judge import ajudge_draft, make_judge
from langgraph_clarify.oracle import LexicalOracle
from langgraph_clarify.tasks import load_bundled

SPEC = "agent:agent_models:clarifying_agent"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("agent:agent_models", "expected agent:package.module:factory"),
        ("agent:no_such_module:build", "No module named"),
        ("agent:agent_models:missing", "has no attribute"),
        ("agent:agent_models:not_an_agent", "not a compiled agent"),
    ],
)
def test_load_agent_says_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_agent(spec)


def test_an_agent_episode_is_scored_as_the_graph_scores_it() -> None:
    task = load_bundled()[0]
    agent = load_agent(SPEC)
    mine = asyncio.run(arun_agent_episode(agent, task, oracle=LexicalOracle(), max_turns=3))
    graph = asyncio.run(arun_episode(create_clarify_graph(), task, max_turns=3))
    assert mine.error is None and mine.stop_reason == graph.stop_reason == "budget" and mine.draft
    assert mine.turns == graph.turns and any(t["reward"] for t in mine.turns)
    # the asker read the same chat as in the graph: its calls are the policy's trace, then the oracle's
    asked = [c for c in mine.calls if c["role"] == "asker"]
    assert [mine.call_messages(c) for c in asked] == [
        graph.call_messages(c) for c in graph.calls if c["role"] == "asker"
    ]
    assert [c["call_id"] for c in mine.calls] == [f"{r}-{t}-1" for t in range(3) for r in ("asker", "oracle")]
    assert mine.settings is not None and mine.settings["max_turns"] == 3


def test_agent_rows_flow_through_judge_and_summary() -> None:
    """What the eval runner does with a ``--policy mine=agent:...`` episode."""
    tasks, judge, agent = load_bundled()[:4], make_judge("offline"), load_agent(SPEC)

    async def one(task: Any) -> dict[str, Any]:
        result = await arun_agent_episode(agent, task, oracle=LexicalOracle(), max_turns=2)
        verdict = await ajudge_draft(task, result.draft, judge)
        return _row(Policy("mine", SPEC), 2, "bundled", task, result, verdict, 0.0)

    async def all_rows() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(one(t) for t in tasks)))

    rows = json.loads(json.dumps(asyncio.run(all_rows())))  # as results.jsonl stores them
    assert [r["task_id"] for r in rows] == [t.id for t in tasks]  # concurrent episodes keep their own turns
    assert all(len(r["turns"]) == 2 and r["judge"]["score"] is not None for r in rows)
    assert EpisodeResult.model_validate({k: rows[0][k] for k in EpisodeResult.model_fields}).turns == rows[0]["turns"]
    (group,) = summarize(rows)["groups"]
    assert group["policy"] == "mine" and group["n"] == 4 and group["errors"] == 0 and group["score"] is not None


def test_an_agent_asking_through_the_tool_is_evaluated_too() -> None:
    task = load_bundled()[0]
    model = AgentModel(script=[tool_call("ask_user", question="What format should the timeline take?"), "Draft."])
    result = asyncio.run(
        arun_agent_episode(create_agent(model, tools=[ask_user]), task, oracle=LexicalOracle(), max_turns=2)
    )
    assert result.error is None and result.draft == "Draft." and result.stop_reason is None
    assert [t["cited"] for t in result.turns] == [[0, 6]] and [c["role"] for c in result.calls] == ["oracle"]


def test_failures_are_the_episodes_result() -> None:
    task = load_bundled()[0]

    @tool
    def publish(text: str) -> str:
        """Publish."""
        return "ok"

    paused = create_agent(
        AgentModel(script=[tool_call("publish", text="x"), "Done."]),
        tools=[publish],
        middleware=[ClarifyMiddleware(max_turns=0), HumanInTheLoopMiddleware(interrupt_on={"publish": True})],
        checkpointer=InMemorySaver(),
    )
    result = asyncio.run(arun_agent_episode(paused, task, oracle=LexicalOracle(), max_turns=1))
    assert result.error is not None and "paused for a person" in result.error and result.stop_reason == "error"
    broken = create_agent(AgentModel(script=[RuntimeError("model down")]), tools=[], middleware=[ClarifyMiddleware()])
    result = asyncio.run(arun_agent_episode(broken, task, oracle=LexicalOracle(), max_turns=1))
    assert result.error == "RuntimeError: model down" and len(result.turns) == 1  # what happened before is kept


def test_clarify_eval_scores_an_existing_agent_next_to_the_graph(tmp_path) -> None:
    """`--policy mine=agent:...` through the runner: the agent's questions are answered by the oracle and
    its final answer is judged, beside the graph's own policies."""
    import io

    from langgraph_clarify.cli import main

    out = tmp_path / "ev"
    argv = [
        "eval",
        "--policy",
        f"mine={SPEC}",
        "offline",
        "--limit",
        "3",
        "--max-turns",
        "2",
        "--out",
        str(out),
        "--no-progress",
        "--workers",
        "1",
    ]
    assert main(argv, out=io.StringIO()) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    mine = [r for r in rows if r["policy"] == "mine"]
    assert len(mine) == 3 and all(r["error"] is None and r["draft"] for r in mine)
    assert all(r["turns"] and r["turns"][0]["evidence_reward"] is not None for r in mine)
    assert all(r["judge"]["score"] is not None for r in mine)
    # a bad agent spec fails before the output directory is touched
    assert main(["eval", "--policy", "x=agent:agent_models:missing", "--out", str(tmp_path / "bad")]) == 1
    assert not (tmp_path / "bad").exists()
