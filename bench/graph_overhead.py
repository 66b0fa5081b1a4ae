"""Graph overhead per 5-turn episode: the clarify graph against a bare LangGraph graph of the same steps and
against a plain Python loop, all calling the same offline components (asker, lexical oracle, writer).

Each variant runs the same episodes (5 questions, 11 graph steps: ask/answer x 5, draft) and ends with the
same ``EpisodeResult``; the loop is the reference (no framework at all). Graph variants run without a
checkpointer, with ``InMemorySaver`` and with SQLite, in LangGraph's default durability (``async``: a
checkpoint per step, written while the next step runs) and with ``durability="exit"`` (one checkpoint when
the run exits, at the end or at an interrupt); sync (``invoke``) and async (``ainvoke``). Figures are CPU
time per episode (the process's, so other jobs on the machine do not count), in interleaved rounds; each
ratio is taken within a round, then the median and range over rounds are reported. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import operator
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from common import load, outage_tasks, spread
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

from langgraph_clarify.asker import HeuristicAsker
from langgraph_clarify.episodes import EpisodeResult, episode_input
from langgraph_clarify.graph import create_clarify_graph, oracle_turn
from langgraph_clarify.llm import stamp
from langgraph_clarify.oracle import LexicalOracle
from langgraph_clarify.rewards import RewardConfig
from langgraph_clarify.tasks import MaskedTask
from langgraph_clarify.writer import ExtractiveWriter

TURNS = 5
THREADS = itertools.count()  # every episode its own checkpointer thread, across variants sharing a database
ASKER, ORACLE, WRITER, REWARD = HeuristicAsker(), LexicalOracle(), ExtractiveWriter(), RewardConfig()


# ---- the reference: a plain loop over the same component calls --------------------------------------


def loop_state(task: MaskedTask) -> dict[str, Any]:
    data = episode_input(task, TURNS)
    explicit, hidden = data["explicit"], data["hidden"]
    turns: list[Any] = []
    asker_calls: list[Any] = []
    calls: list[Any] = []
    while len(turns) < TURNS:
        view = {"explicit": explicit, "turns": turns, "max_turns": TURNS, "asker_calls": asker_calls}
        decision, made = ASKER.run(view)
        asker_calls += stamp(made, len(turns))
        if decision.action != "ask":
            break
        reply, made = ORACLE.run(decision.question, explicit, hidden)
        calls += stamp(made, len(turns))
        turns.append(oracle_turn(decision.question, reply, turns, hidden, explicit, REWARD, asker_calls[-1]["call_id"]))
    draft, made = WRITER.run({"explicit": explicit, "turns": turns})
    return {"turns": turns, "draft": draft, "asker_calls": asker_calls, "calls": [*calls, *stamp(made, None)]}


# ---- a bare LangGraph graph with the same steps ------------------------------------------------------


class Bare(TypedDict, total=False):
    explicit: Any
    hidden: Any
    max_turns: int
    question: str | None
    turns: Annotated[list[Any], operator.add]
    asker_calls: Annotated[list[Any], operator.add]
    calls: Annotated[list[Any], operator.add]
    draft: str


def bare_graph(checkpointer: Any = None, aio: bool = False) -> Any:
    """ask -> answer -> (ask | draft), routed by Command as the clarify graph is, no schemas or messages."""

    def ask(state: Bare) -> Command[Any]:
        turns = state.get("turns", [])
        view = {"explicit": state["explicit"], "turns": turns, "max_turns": TURNS, "asker_calls": state["asker_calls"]}
        decision, made = ASKER.run(view)
        update = {"asker_calls": stamp(made, len(turns)), "question": decision.question}
        return Command(goto="answer" if decision.action == "ask" else "draft", update=update)

    def answer(state: Bare) -> Command[Any]:
        turns, question = state.get("turns", []), state["question"] or ""
        reply, made = ORACLE.run(question, state["explicit"], state["hidden"])
        call_id = state["asker_calls"][-1]["call_id"]
        record = oracle_turn(question, reply, turns, state["hidden"], state["explicit"], REWARD, call_id)
        update = {"turns": [record], "calls": stamp(made, len(turns))}
        return Command(goto="draft" if len(turns) + 1 >= TURNS else "ask", update=update)

    def draft(state: Bare) -> dict[str, Any]:
        text, made = WRITER.run({"explicit": state["explicit"], "turns": state.get("turns", [])})
        return {"draft": text, "calls": stamp(made, None)}

    async def ask_async(state: Bare) -> Command[Any]:
        return ask(state)

    async def answer_async(state: Bare) -> Command[Any]:
        return answer(state)

    async def draft_async(state: Bare) -> dict[str, Any]:
        return draft(state)

    # an async graph gets async nodes, as one would write it (LangGraph runs a sync node in a thread there)
    nodes = (ask_async, answer_async, draft_async) if aio else (ask, answer, draft)
    builder = StateGraph(Bare)
    builder.add_node("ask", nodes[0], destinations=("answer", "draft"))
    builder.add_node("answer", nodes[1], destinations=("ask", "draft"))
    builder.add_node("draft", nodes[2])
    builder.add_edge(START, "ask")
    builder.add_edge("draft", END)
    return builder.compile(checkpointer=checkpointer)


def bare_input(task: MaskedTask) -> dict[str, Any]:
    data = episode_input(task, TURNS)
    return {"explicit": data["explicit"], "hidden": data["hidden"], "turns": [], "asker_calls": [], "calls": []}


# ---- variants ----------------------------------------------------------------------------------------

Runner = Callable[[list[MaskedTask]], list[EpisodeResult]]


def graph_runner(graph: Any, make_input: Callable[[MaskedTask], Any], durability: str | None, aio: bool) -> Runner:
    def config() -> dict[str, Any]:
        return {"configurable": {"thread_id": f"t{next(THREADS)}"}}

    kwargs = {"durability": durability} if durability else {}

    def run_sync(tasks: list[MaskedTask]) -> list[EpisodeResult]:
        return [EpisodeResult.from_state(t, graph.invoke(make_input(t), config(), **kwargs), TURNS) for t in tasks]

    def run_async(tasks: list[MaskedTask]) -> list[EpisodeResult]:
        async def all_of() -> list[EpisodeResult]:
            return [
                EpisodeResult.from_state(t, await graph.ainvoke(make_input(t), config(), **kwargs), TURNS)
                for t in tasks
            ]

        return asyncio.run(all_of())

    return run_async if aio else run_sync


def loop_runner(aio: bool) -> Runner:
    def run_sync(tasks: list[MaskedTask]) -> list[EpisodeResult]:
        return [EpisodeResult.from_state(t, loop_state(t), TURNS) for t in tasks]

    def run_async(tasks: list[MaskedTask]) -> list[EpisodeResult]:
        async def one(t: MaskedTask) -> EpisodeResult:
            return EpisodeResult.from_state(t, loop_state(t), TURNS)

        async def all_of() -> list[EpisodeResult]:
            return [await one(t) for t in tasks]

        return asyncio.run(all_of())

    return run_async if aio else run_sync


def variants(tmp: Path) -> dict[str, Runner]:
    out: dict[str, Runner] = {}
    sqlite_sync = SqliteSaver(sqlite3.connect(str(tmp / "sync.db"), check_same_thread=False))
    for aio in (False, True):
        mode = "async" if aio else "sync"
        out[f"loop/{mode}"] = loop_runner(aio)
        savers: dict[str, Callable[[], Any]] = {
            "none": lambda: None,
            "memory": InMemorySaver,
            "sqlite": (lambda: _AsyncSqlite(tmp / "async.db")) if aio else (lambda: sqlite_sync),
        }
        for saver_name, saver in savers.items():
            for durability in (None, "exit") if saver_name != "none" else (None,):
                label = f"{saver_name}{'/exit' if durability else ''}/{mode}"
                for name, graph, make_input in (
                    ("bare", bare_graph, bare_input),
                    ("clarify", _clarify, lambda t: episode_input(t, TURNS)),
                ):
                    out[f"{name}/{label}"] = _lazy(graph, saver, make_input, durability, aio)
    return out


def _clarify(checkpointer: Any = None, aio: bool = False) -> Any:
    return create_clarify_graph(ASKER, WRITER, ORACLE, max_turns=TURNS, checkpointer=checkpointer)


class _AsyncSqlite:
    """An AsyncSqliteSaver opened inside the running loop (aiosqlite binds to it)."""

    def __init__(self, path: Path):
        self.path = path


def _lazy(
    build: Callable[[Any, bool], Any],
    saver: Callable[[], Any],
    make_input: Callable[[MaskedTask], Any],
    durability: str | None,
    aio: bool,
) -> Runner:
    """Build the graph once; an async SQLite saver is opened per measurement inside its own event loop."""
    made = saver()
    if not isinstance(made, _AsyncSqlite):
        return graph_runner(build(made, aio), make_input, durability, aio)

    def run(tasks: list[MaskedTask]) -> list[EpisodeResult]:
        async def all_of() -> list[EpisodeResult]:
            async with AsyncSqliteSaver.from_conn_string(str(made.path)) as cp:
                graph, kwargs = build(cp, aio), {"durability": durability} if durability else {}
                out = []
                for t in tasks:
                    config = {"configurable": {"thread_id": f"t{next(THREADS)}"}}
                    out.append(EpisodeResult.from_state(t, await graph.ainvoke(make_input(t), config, **kwargs), TURNS))
                return out

        return asyncio.run(all_of())

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=60, help="episodes per variant per round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    tasks = outage_tasks(args.episodes)
    with tempfile.TemporaryDirectory() as tmp:
        runs = variants(Path(tmp))
        reference = loop_state(tasks[0])
        for name, run in runs.items():  # warm-up, and every variant plays the same episodes
            (result,) = run(tasks[:1])
            assert [t["question"] for t in result.turns] == [t["question"] for t in reference["turns"]], name
            assert result.draft == reference["draft"] and len(result.turns) == TURNS, name
        per_episode: dict[str, list[float]] = {name: [] for name in runs}
        ratios: dict[str, list[float]] = {name: [] for name in runs}
        loads = []
        for _ in range(args.rounds):
            loads.append(load())
            cpu: dict[str, float] = {}
            for name, run in runs.items():
                started = time.process_time()
                run(tasks)
                cpu[name] = (time.process_time() - started) / len(tasks)
                per_episode[name].append(cpu[name] * 1000)
            for name in runs:
                mode = name.rsplit("/", 1)[1]
                ratios[name].append(cpu[name] / cpu[f"loop/{mode}"])
    print(
        json.dumps(
            {
                "episodes_per_round": args.episodes,
                "rounds": args.rounds,
                "turns": TURNS,
                "load_1min": spread(loads, 2),
                "cpu_ms_per_episode": {k: spread(v, 2) for k, v in per_episode.items()},
                "ratio_to_loop": {k: spread(v, 2) for k, v in ratios.items()},
                "clarify_to_bare": {
                    k.removeprefix("clarify/"): spread(
                        [c / b for c, b in zip(v, per_episode[k.replace("clarify/", "bare/")], strict=True)], 2
                    )
                    for k, v in per_episode.items()
                    if k.startswith("clarify/")
                },
            }
        )
    )


if __name__ == "__main__":
    main()
