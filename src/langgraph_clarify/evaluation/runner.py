"""Replay policies against the oracle over task sets, judge every draft, and keep every result.

Each finished episode is appended to ``DIR/results.jsonl`` at once (see :mod:`langgraph_clarify.runs`
for the durability rules: locked directory, workers that die with the run, pinned settings), so a crash
or kill loses at most the episodes in flight, and ``--resume`` skips what is already there
(``--retry-failed`` also reruns episodes that failed). The summary and the report are recomputed from
that file, so they are the same however the run was interrupted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..asker import HeuristicAsker, LLMAsker
from ..episodes import EpisodeResult, arun_episode
from ..graph import create_clarify_graph
from ..judge import JudgeResult, ajudge_draft, make_judge
from ..llm import DEFAULT_TIMEOUT, Component, unknown_spec
from ..oracle import make_oracle
from ..runs import RunDir, progress, read_rows, run_in_workers
from ..tasks import MaskedTask, bundled_tasks_path, load_tasks
from .agents import PREFIX as AGENT
from .agents import arun_agent_episode, load_agent

RESULTS = "results.jsonl"


@dataclass
class Policy:
    """An asker under evaluation. ``budget`` fixes the turn budget (``direct`` never asks). ``agent`` is an
    existing agent (``agent:package.module:factory``) evaluated whole: its final answer is the draft."""

    name: str
    asker: Component | str
    budget: int | None = None
    agent: Any = None


@dataclass
class EvalConfig:
    tasks: list[Path] = field(default_factory=lambda: [bundled_tasks_path()])
    policies: list[str | Policy] = field(default_factory=lambda: ["direct", "offline"])
    turn_budgets: list[int] = field(default_factory=lambda: [5])
    # strings as on the command line, or model/component objects (as benchmarks and tests pass)
    writer: Any = "offline"
    oracle: Any = "offline"
    judge: Any = "offline"
    llm: str | None = None  # the model behind the 'vanilla' policy
    out: Path = Path("runs/eval")
    concurrency: int = 8
    workers: int = 1  # processes; each runs concurrency // workers episodes at a time
    limit: int | None = None
    resume: bool = False
    seed: int = 0
    pairwise: list[tuple[str, str]] = field(default_factory=list)
    pairwise_judge: str | None = None
    format: str | None = None
    skip_invalid: bool = False
    progress: bool = True
    timeout: float | None = DEFAULT_TIMEOUT  # seconds per model call
    retry_failed: bool = False  # with resume: rerun the episodes that failed


POLICY_SPECS = ("direct", "offline", "vanilla", "<model string>", "agent:<module>:<factory>", "<label>=<policy>")


def make_policy(spec: str | Policy, llm: str | None, timeout: float | None = DEFAULT_TIMEOUT) -> Policy:
    """``direct``, ``offline``, ``vanilla`` (needs ``--llm``), a model string, or ``label=policy``."""
    if isinstance(spec, Policy):
        return spec
    label, _, model = spec.partition("=")
    if not model:
        label, model = spec, spec
    if not label:
        raise ValueError(f"policy {spec!r}: empty label before '='")
    if model == "direct":
        return Policy(label, HeuristicAsker(), budget=0)
    if model == "offline":
        return Policy(label, HeuristicAsker())
    if model == "vanilla":
        if not llm:
            raise ValueError("policy 'vanilla' needs --llm MODEL (e.g. openai:gpt-4o)")
        return Policy(label, LLMAsker(llm, timeout=timeout))
    if model.startswith(AGENT):
        return Policy(label, model, agent=load_agent(model))
    try:
        return Policy(label, LLMAsker(model, timeout=timeout))
    except ValueError as exc:
        if str(exc).startswith("unknown model"):
            raise unknown_spec(model, "policy", POLICY_SPECS) from None
        raise


def episode_key(policy: str, budget: int, dataset: str, task_id: str) -> str:
    return f"{policy}|{budget}|{dataset}|{task_id}"


def read_results(path: Path) -> list[dict[str, Any]]:
    """Rows of a results file (the last of each key; torn lines dropped) as a list, for small files."""
    return list(read_rows(path))


def _spec(value: Any) -> str:
    return value if isinstance(value, str) else getattr(value, "name", None) or type(value).__name__


def pinned_settings(cfg: EvalConfig) -> dict[str, Any]:
    """What scores depend on (writer, oracle, judge, seed): pinned to the output dir, so a resumed run
    cannot silently mix episodes judged differently. Policies, budgets and task files may grow."""
    return {
        "writer": _spec(cfg.writer),
        "oracle": _spec(cfg.oracle),
        "judge": make_judge(cfg.judge).name,
        "llm": cfg.llm,
        "seed": cfg.seed,
    }


def _row(
    policy: Policy,
    budget: int,
    dataset: str,
    task: MaskedTask,
    result: EpisodeResult,
    judge: JudgeResult,
    elapsed: float,
) -> dict[str, Any]:
    return {
        "key": episode_key(policy.name, budget, dataset, task.id),
        "policy": policy.name,
        "dataset": dataset,
        **result.model_dump(mode="json"),
        "max_turns": budget,
        "regions": [h.region for h in task.hidden],
        "evidence_mean": result.evidence_mean,
        "novelty_mean": result.novelty_mean,
        "coverage": result.coverage,
        "repeated": result.repeated,
        "llm_calls": result.llm_calls + sum(1 for c in judge.calls if not c["model"].startswith("offline")),
        "tokens": result.tokens + sum(c["input_tokens"] + c["output_tokens"] for c in judge.calls),
        "judge": judge.model_dump(mode="json"),
        "elapsed_s": round(elapsed, 4),
    }


def load_datasets(cfg: EvalConfig) -> dict[str, list[MaskedTask]]:
    datasets: dict[str, list[MaskedTask]] = {}
    for path in cfg.tasks:
        path = Path(path)
        name = "bundled" if path.resolve() == bundled_tasks_path().resolve() else path.stem
        if name in datasets:  # two files with one stem: tell them apart by their folder
            name = f"{path.parent.name}/{path.stem}"
        tasks = load_tasks(path, cfg.format, skip_invalid=cfg.skip_invalid).tasks
        datasets[name] = tasks[: cfg.limit] if cfg.limit else tasks
    return datasets


WorkItem = tuple[int, int, str, MaskedTask]  # (policy index, turn budget, dataset, task)


def plan(cfg: EvalConfig, policies: list[Policy], done: set[str]) -> list[WorkItem]:
    """Every (policy, budget, task) episode not yet in the results file."""
    return [
        (i, b, name, task)
        for name, tasks in load_datasets(cfg).items()
        for i, p in enumerate(policies)
        for b in ([p.budget] if p.budget is not None else cfg.turn_budgets)
        for task in tasks
        if episode_key(p.name, b, name, task.id) not in done
    ]


async def run_items(
    cfg: EvalConfig, items: Sequence[WorkItem], concurrency: int, emit: Callable[[dict[str, Any]], None]
) -> None:
    """Run episodes at most ``concurrency`` at a time; ``emit`` each row the moment it is done."""
    policies = [make_policy(p, cfg.llm, cfg.timeout) for p in cfg.policies]
    judge = make_judge(cfg.judge)
    graphs = [
        None if p.agent is not None else create_clarify_graph(p.asker, cfg.writer, cfg.oracle, timeout=cfg.timeout)
        for p in policies
    ]
    oracle = make_oracle(cfg.oracle) if any(p.agent is not None for p in policies) else None

    async def play(index: int, budget: int, task: MaskedTask) -> EpisodeResult:
        agent, graph = policies[index].agent, graphs[index]
        if agent is not None:
            assert oracle is not None
            return await arun_agent_episode(agent, task, oracle=oracle, max_turns=budget)
        return await arun_episode(graph, task, max_turns=budget)

    semaphore = asyncio.Semaphore(max(concurrency, 1))

    async def one(index: int, budget: int, dataset: str, task: MaskedTask) -> dict[str, Any]:
        async with semaphore:
            started = time.perf_counter()
            result = await play(index, budget, task)
            try:
                verdict = await ajudge_draft(task, result.draft, judge)
            except Exception as exc:  # a judge bug must not lose the episode
                verdict = JudgeResult(method=judge.name, error=f"{type(exc).__name__}: {exc}")
            return _row(policies[index], budget, dataset, task, result, verdict, time.perf_counter() - started)

    for future in asyncio.as_completed([one(*item) for item in items]):
        emit(await future)


def shard_by_task(items: Sequence[WorkItem], n: int) -> list[list[WorkItem]]:
    """All episodes of one task go to one worker, whose caches (hidden and draft embeddings) then serve
    every policy and budget of that task."""
    order: dict[tuple[str, str], int] = {}
    for _, _, dataset, task in items:
        order.setdefault((dataset, task.id), len(order))
    return [[it for it in items if order[(it[2], it[3].id)] % n == i] for i in range(n)]


def run_episodes(cfg: EvalConfig) -> set[str]:
    """Run every episode not yet in ``DIR/results.jsonl``, appending each as it finishes; return the keys
    of the episodes that failed (the file holds every row)."""
    policies = [make_policy(p, cfg.llm, cfg.timeout) for p in cfg.policies]  # bad policies fail before DIR
    with RunDir(cfg.out, resume=cfg.resume, pinned=pinned_settings(cfg), retry_failed=cfg.retry_failed) as run:
        items = plan(cfg, policies, run.done)
        bar = progress(len(items), len(run.done), cfg.progress)

        def emit(row: dict[str, Any]) -> None:
            run.append(row)
            bar.update(1)

        problems: list[str] = []
        if cfg.workers > 1 and len(items) > 1:
            n = min(cfg.workers, len(items))
            per_worker = max(cfg.concurrency // n, 1)

            def work(shard: Sequence[WorkItem], put: Callable[[dict[str, Any]], None]) -> None:
                asyncio.run(run_items(cfg, shard, per_worker, put))

            problems = run_in_workers(shard_by_task(items, n), work, emit)
        else:
            asyncio.run(run_items(cfg, items, cfg.concurrency, emit))
        bar.close()
        failed = set(run.failed)
    for problem in problems:
        print(f"warning: {problem}; its unfinished episodes run again with --resume", file=sys.stderr)
    return failed


def iter_results(cfg: EvalConfig) -> Iterator[dict[str, Any]]:
    return read_rows(cfg.out / RESULTS)


def run_eval(cfg: EvalConfig) -> dict[str, Any]:
    """Run the episodes, then write ``summary.json`` and ``report.md`` with plots; return the summary."""
    from .report import summarize, write_report

    run_episodes(cfg)
    rows = list(iter_results(cfg))
    tasks = {(name, t.id): t for name, ts in load_datasets(cfg).items() for t in ts}
    summary = summarize(rows, seed=cfg.seed)
    if cfg.pairwise:
        from .report import pairwise_outcomes

        summary["pairwise"] = pairwise_outcomes(rows, tasks, cfg.pairwise, cfg.pairwise_judge)
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    write_report(rows, summary, cfg.out)
    return summary
