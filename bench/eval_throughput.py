"""Eval throughput against ideal, with stand-in LLMs that sleep 50 ms per call, and where the time goes.

Every episode has 5 turns and makes 11 model calls (5 asker, 5 oracle, 1 writer), so it cannot take less than
0.55 s. At each point (concurrency 1, 8, 32, 128; one process, and as many processes as cores) four levels
play 8 x concurrency episodes (at least 8), each level adding one layer to the one before:

- ``calls``: the 11 chat-model calls of an episode in a plain loop (``BaseChatModel.ainvoke``, nothing else);
- ``bare``: a bare LangGraph graph of the same 11 steps (ask/answer x 5, draft) making the same calls;
- ``clarify``: the clarify graph (``arun_episode``: prompts, parsing, rewards, call records, the result);
- ``runner``: ``run_episodes`` (the clarify graph plus judging, result rows and the results file).

A level's ideal throughput is concurrency / the latency of one of its episodes played alone, measured in the
same round just before; its ratio is the throughput it reached over that. Rounds interleave everything; each
figure is the median over rounds with its range. Also per point: CPU per episode (every process), and the CPU
ceiling, the ratio the cores could sustain at that CPU cost if nothing else ran on the machine (cores /
(ideal episodes/s x CPU per episode), at most 1). And the LLM oracle's calls per question, which must be
exactly 1. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import operator
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from common import ASKER_REPLY, ORACLE_REPLY, WRITER_REPLY, cores, load, outage_tasks, spread, stand_in, write_tasks
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

from langgraph_clarify.asker import LLMAsker
from langgraph_clarify.episodes import arun_episode
from langgraph_clarify.evaluation.runner import RESULTS, EvalConfig, Policy, run_episodes
from langgraph_clarify.graph import create_clarify_graph
from langgraph_clarify.runs import fewer_collections, read_rows
from langgraph_clarify.tasks import MaskedTask

TURNS = 5
LEVELS = ("calls", "bare", "clarify", "runner")
Play = Callable[[MaskedTask], Awaitable[Any]]


class Bare(TypedDict, total=False):
    turns: Annotated[list[str], operator.add]
    draft: str


def bare_graph(asker: Any, oracle: Any, writer: Any) -> Any:
    """The clarify graph's steps and routing with nothing but the model calls."""

    async def ask(state: Bare) -> Command[Any]:
        await asker.ainvoke([HumanMessage(f"ask {len(state.get('turns', []))}")])
        return Command(goto="answer")

    async def answer(state: Bare) -> Command[Any]:
        reply = await oracle.ainvoke([HumanMessage("answer")])
        done = len(state.get("turns", [])) + 1 >= TURNS
        return Command(goto="draft" if done else "ask", update={"turns": [reply.text]})

    async def draft(state: Bare) -> dict[str, Any]:
        return {"draft": (await writer.ainvoke([HumanMessage("draft")])).text}

    builder = StateGraph(Bare)
    builder.add_node("ask", ask, destinations=("answer",))
    builder.add_node("answer", answer, destinations=("ask", "draft"))
    builder.add_node("draft", draft)
    builder.add_edge(START, "ask")
    builder.add_edge("draft", END)
    return builder.compile()


def plays(asker: Any, oracle: Any, writer: Any) -> dict[str, Play]:
    bare = bare_graph(asker, oracle, writer)
    clarify = create_clarify_graph(LLMAsker(asker), writer, oracle, max_turns=TURNS)

    async def calls(task: MaskedTask) -> None:
        for _ in range(TURNS):
            await asker.ainvoke([HumanMessage("ask")])
            await oracle.ainvoke([HumanMessage("answer")])
        await writer.ainvoke([HumanMessage("draft")])

    async def bare_episode(task: MaskedTask) -> None:
        await bare.ainvoke({"turns": []})

    async def clarify_episode(task: MaskedTask) -> None:
        result = await arun_episode(clarify, task)
        assert result.error is None and len(result.turns) == TURNS

    return {"calls": calls, "bare": bare_episode, "clarify": clarify_episode}


async def in_lanes(play: Play, tasks: list[MaskedTask], concurrency: int) -> None:
    """``concurrency`` lanes, each playing the next episode when its last is done (as the runner does)."""
    pending = iter(tasks)

    async def lane() -> None:
        for task in pending:
            await play(task)

    with fewer_collections():  # as the runner runs episodes
        await asyncio.gather(*(lane() for _ in range(concurrency)))


def _share(play: Play, tasks: list[MaskedTask], concurrency: int) -> None:
    asyncio.run(in_lanes(play, tasks, concurrency))


def in_processes(play: Play, tasks: list[MaskedTask], concurrency: int, workers: int) -> None:
    """The episodes split over ``workers`` forked processes, ``concurrency // workers`` lanes each."""
    if workers == 1:
        _share(play, tasks, concurrency)
        return
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_share, args=(play, tasks[i::workers], max(concurrency // workers, 1)))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 128])
    ap.add_argument("--workers", type=int, nargs="+", default=None, help="default: 1 and the cores")
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    worker_counts = args.workers or sorted({1, cores()})
    points = [(c, w) for c in args.concurrency for w in worker_counts if w == 1 or c >= 2 * w]
    asker, oracle, writer = (stand_in(r, args.latency) for r in (ASKER_REPLY, ORACLE_REPLY, WRITER_REPLY))
    graphs = plays(asker, oracle, writer)
    probe = outage_tasks(3)
    stats: dict[str, dict[str, list[float]]] = {"ratio": {}, "cpu_ms": {}, "ceiling": {}, "single_s": {}}
    loads, per_question = [], []
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {max(8 * c, 8) for c, _ in points}
        files = {n: write_tasks(Path(tmp) / f"tasks{n}.jsonl", n) for n in sizes}
        tasks = {n: outage_tasks(n) for n in sizes}
        for r in range(args.rounds):
            for c, w in points:
                n = max(8 * c, 8)
                for level in LEVELS:
                    loads.append(load())
                    play = graphs["clarify" if level == "runner" else level]
                    started = time.perf_counter()
                    for task in probe:
                        asyncio.run(play(task))
                    single = (time.perf_counter() - started) / len(probe)
                    cpu, started = _cpu(), time.perf_counter()
                    if level == "runner":
                        cfg = EvalConfig(
                            tasks=[files[n]],
                            policies=[Policy("llm", LLMAsker(asker))],
                            turn_budgets=[TURNS],
                            writer=writer,
                            oracle=oracle,
                            judge="lexical",
                            out=Path(tmp) / f"r{r}-c{c}-w{w}",
                            concurrency=c,
                            workers=w,
                            progress=False,
                        )
                        run_episodes(cfg)
                    else:
                        in_processes(play, tasks[n], c, w)
                    elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
                    ideal = c / single
                    key = f"{level}_c{c}_w{w}"
                    for name, value in (
                        ("ratio", (n / elapsed) / ideal),
                        ("cpu_ms", cpu / n * 1000),
                        ("ceiling", min(1.0, cores() / (ideal * cpu / n))),
                        ("single_s", single),
                    ):
                        stats[name].setdefault(key, []).append(value)
                    if level == "runner":
                        rows = list(read_rows(cfg.out / RESULTS))
                        assert len(rows) == n and not any(row["error"] for row in rows)
                        oracle_calls = sum(call["role"] == "oracle" for row in rows for call in row["calls"])
                        per_question.append(oracle_calls / sum(len(row["turns"]) for row in rows))
    print(
        json.dumps(
            {
                "llm_latency_s": args.latency,
                "turns": TURNS,
                "calls_per_episode": 2 * TURNS + 1,
                "cores": cores(),
                "rounds": args.rounds,
                "levels": list(LEVELS),
                "load_1min": spread(loads, 2),
                "ratio_to_ideal": {k: spread(v) for k, v in stats["ratio"].items()},
                "cpu_ms_per_episode": {k: spread(v, 2) for k, v in stats["cpu_ms"].items()},
                "cpu_ceiling": {k: spread(v) for k, v in stats["ceiling"].items()},
                "single_episode_s": {k: spread(v) for k, v in stats["single_s"].items()},
                "llm_oracle_calls_per_question": spread(per_question, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
