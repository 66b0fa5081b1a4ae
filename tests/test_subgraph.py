"""The clarify graph as a node of a parent graph with its own state (examples/subgraph.py): input/output mapping,
interrupts that reach the parent and resume there, the subgraph's own context, sync and async."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langgraph.types import Command
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import subgraph

TICKET = {"id": "t-1", "request": "Write a postmortem for the checkout outage", "budget": 2}


def config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread}}


def test_questions_reach_the_parent_and_resume_there() -> None:
    parent = subgraph.build()
    out = parent.invoke(TICKET, config("a"))
    first = out["__interrupt__"][0].value
    assert first["turn"] == 1 and first["budget"] == 2 and first["task_id"] == "t-1"
    snapshot = parent.get_state(config("a"))
    assert snapshot.next == ("gather",) and snapshot.interrupts[0].value == first  # paused on the parent
    with pytest.raises(ValidationError):
        parent.invoke(Command(resume=""), config("a"))
    assert parent.get_state(config("a")).interrupts[0].value == first  # a bad answer loses nothing
    second = parent.invoke(Command(resume="Blameless, five whys."), config("a"))["__interrupt__"][0].value
    assert second["turn"] == 2 and second["question"] != first["question"]
    out = parent.invoke(Command(resume="Summary and timeline."), config("a"))
    # the output mapping: the parent's own fields, none of the clarify graph's keys
    assert set(out) == {"id", "request", "budget", "report", "questions", "stop_reason", "approved"}
    assert out["questions"] == [first["question"], second["question"]] and out["stop_reason"] == "budget"
    assert "Blameless, five whys." in out["report"] and out["approved"] is True


def test_a_parent_context_of_its_own_does_not_reach_the_clarify_graph() -> None:
    @dataclass
    class Tenant:
        tenant: str

    parent = subgraph.build()
    out = parent.invoke(TICKET, config("b"), context={"tenant": "acme", "max_turns": 9})
    assert out["__interrupt__"][0].value["budget"] == 2  # the ticket's budget, through clarify_context
    out = parent.invoke({**TICKET, "budget": 0}, config("c"), context=Tenant("acme"))
    assert out["questions"] == [] and out["report"]


def test_an_async_parent() -> None:
    async def gather(ticket: Any) -> dict[str, Any]:
        context = subgraph.clarify_context(ticket)
        return subgraph.ticket_update(await subgraph.clarify.ainvoke(subgraph.clarify_input(ticket), context=context))

    parent = subgraph.build(gather)

    async def run() -> dict[str, Any]:
        out = await parent.ainvoke(TICKET, config("d"))
        assert out["__interrupt__"][0].value["turn"] == 1
        out = await parent.ainvoke(Command(resume="Five whys."), config("d"))
        return await parent.ainvoke(Command(resume={"stop": True}), config("d"))  # type: ignore[no-any-return]

    out = asyncio.run(run())
    assert len(out["questions"]) == 1 and out["stop_reason"] == "user_stop" and "Five whys." in out["report"]
