"""What the benchmarks share: the same synthetic tasks, stand-in models, and figures with their spread.

The machine these run on is shared, so every figure is a ratio to a reference measured in the same run,
in interleaved rounds; a figure is reported as the median over rounds with its range (min-max).
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langgraph_clarify.tasks import MaskedTask, hide
from langgraph_clarify.testing import ScriptedChatModel

PROCEDURE = "First gather the logs. Then interview the team."
OUTPUT = "* Summary: one paragraph. * Timeline: a table with UTC times."
#: Replies of the stand-in models: the asker always asks (5 questions in 5 turns), the oracle cites one sentence.
ASKER_REPLY = "What format should it take?"
ORACLE_REPLY = '{"answer": "A table with UTC times.", "evidence": [3]}'
WRITER_REPLY = "Final report."


def outage_tasks(n: int) -> list[MaskedTask]:
    """``n`` distinct tasks with four hidden sentences each (the offline asker asks five questions)."""
    hidden = hide([("procedure", PROCEDURE), ("output", OUTPUT)])
    return [
        MaskedTask(id=f"t{i}", objective=f"Write report {i}", input="An outage happened.", hidden=hidden)
        for i in range(n)
    ]


def write_tasks(path: Path, n: int) -> Path:
    """:func:`outage_tasks` as a native task file (what ``clarify eval --tasks`` reads)."""
    rows = [
        {"id": t.id, "objective": t.objective, "input": t.input, "procedure": PROCEDURE, "output_spec": OUTPUT}
        for t in outage_tasks(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def stand_in(reply: str, latency: float = 0.0) -> ScriptedChatModel:
    """A chat model that answers ``reply`` after ``latency`` seconds. It keeps no prompts: the stand-in
    itself must not grow with the episodes a benchmark runs."""
    return _Forgetful(script=[reply], latency=latency)


class _Forgetful(ScriptedChatModel):
    def _next(self, messages: Any) -> Any:
        result = super()._next(messages)
        self.prompts.clear()
        return result


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """Median and range of repeated measurements."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def load() -> float:
    """The 1-minute load average: how busy the (shared) machine was."""
    return round(os.getloadavg()[0], 2)


def cores() -> int:
    return len(os.sched_getaffinity(0))
