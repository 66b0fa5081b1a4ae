"""Replay policies against the oracle over task sets, judge every draft, and keep every result.

Each finished episode is appended to ``DIR/results.jsonl`` at once, so a crash or kill loses at most
the episodes in flight, and ``--resume`` skips what is already there. The summary and the report are
recomputed from that file, so they are the same however the run was interrupted.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

from ..asker import HeuristicAsker, LLMAsker
from ..episodes import EpisodeResult, arun_episode
from ..graph import create_clarify_graph
from ..judge import JudgeResult, ajudge_draft, make_judge
from ..llm import Component
from ..tasks import MaskedTask, bundled_tasks_path, load_tasks

RESULTS = "results.jsonl"


@dataclass
class Policy:
    """An asker under evaluation. ``budget`` fixes the turn budget (``direct`` never asks)."""

    name: str
    asker: Component | str
    budget: int | None = None


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


def make_policy(spec: str | Policy, llm: str | None) -> Policy:
    """``direct``, ``offline``, ``vanilla`` (needs ``--llm``), a model string, or ``label=model``."""
    if isinstance(spec, Policy):
        return spec
    label, _, model = spec.partition("=")
    if not model:
        label, model = spec, spec
    if model == "direct":
        return Policy(label, HeuristicAsker(), budget=0)
    if model == "offline":
        return Policy(label, HeuristicAsker())
    if model == "vanilla":
        if not llm:
            raise ValueError("policy 'vanilla' needs --llm MODEL (e.g. openai:gpt-4o)")
        return Policy(label, LLMAsker(llm))
    return Policy(label, LLMAsker(model))


def episode_key(policy: str, budget: int, dataset: str, task_id: str) -> str:
    return f"{policy}|{budget}|{dataset}|{task_id}"


def read_results(path: Path) -> list[dict[str, Any]]:
    """Rows of a results file; a line cut short by a kill is dropped (that episode reruns)."""
    rows: list[dict[str, Any]] = []
    if not path.exists():
        return rows
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _spec(value: Any) -> str:
    return value if isinstance(value, str) else getattr(value, "name", None) or type(value).__name__


def _check_run_file(cfg: EvalConfig) -> None:
    """Pin what scores depend on (writer, oracle, judge, seed) to the output dir, so a resumed run
    cannot silently mix episodes judged differently. Policies, budgets and task files may grow."""
    pinned = {
        "writer": _spec(cfg.writer),
        "oracle": _spec(cfg.oracle),
        "judge": make_judge(cfg.judge).name,
        "llm": cfg.llm,
        "seed": cfg.seed,
    }
    path = cfg.out / "run.json"
    if path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = [f"{k} was {before.get(k)!r}, now {v!r}" for k, v in pinned.items() if before.get(k) != v]
        if changed:
            raise ValueError(f"{path}: cannot resume with different settings ({'; '.join(changed)}); use another --out")
    else:
        path.write_text(json.dumps(pinned, indent=1) + "\n", encoding="utf-8")


def _prepare_out(cfg: EvalConfig) -> dict[str, dict[str, Any]]:
    cfg.out.mkdir(parents=True, exist_ok=True)
    path = cfg.out / RESULTS
    if path.exists() and not cfg.resume:
        raise FileExistsError(f"{path} exists: pass --resume to continue it, or choose another --out")
    _check_run_file(cfg)
    rows = read_results(path)
    # rewrite without a torn last line so appends start on a fresh line
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)
    return {r["key"]: r for r in rows}


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


def plan(cfg: EvalConfig, policies: list[Policy], done: dict[str, Any]) -> list[WorkItem]:
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
    cfg: EvalConfig, items: list[WorkItem], concurrency: int, emit: Callable[[dict[str, Any]], None]
) -> None:
    """Run episodes at most ``concurrency`` at a time; ``emit`` each row the moment it is done."""
    policies = [make_policy(p, cfg.llm) for p in cfg.policies]
    judge = make_judge(cfg.judge)
    graphs = [create_clarify_graph(p.asker, cfg.writer, cfg.oracle) for p in policies]
    semaphore = asyncio.Semaphore(max(concurrency, 1))

    async def one(index: int, budget: int, dataset: str, task: MaskedTask) -> dict[str, Any]:
        async with semaphore:
            started = time.perf_counter()
            result = await arun_episode(graphs[index], task, max_turns=budget)
            try:
                verdict = await ajudge_draft(task, result.draft, judge)
            except Exception as exc:  # a judge bug must not lose the episode
                verdict = JudgeResult(method=judge.name, error=f"{type(exc).__name__}: {exc}")
            return _row(policies[index], budget, dataset, task, result, verdict, time.perf_counter() - started)

    for future in asyncio.as_completed([one(*item) for item in items]):
        emit(await future)


def _worker(cfg: EvalConfig, items: list[WorkItem], concurrency: int, queue: Any) -> None:
    asyncio.run(run_items(cfg, items, concurrency, queue.put))
    queue.put(None)


def _run_workers(cfg: EvalConfig, items: list[WorkItem], emit: Callable[[dict[str, Any]], None]) -> list[str]:
    """Shard the episodes over ``cfg.workers`` processes (the event loop is CPU-bound past ~40 ep/s)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    n = min(cfg.workers, len(items))
    # all episodes of one task go to one worker, whose caches (hidden and draft embeddings) then serve
    # every policy and budget of that task
    order: dict[tuple[str, str], int] = {}
    for _, _, dataset, task in items:
        order.setdefault((dataset, task.id), len(order))
    shards = [[it for it in items if order[(it[2], it[3].id)] % n == i] for i in range(n)]
    procs = [
        ctx.Process(target=_worker, args=(cfg, shard, max(cfg.concurrency // n, 1), queue), daemon=True)
        for shard in shards
    ]
    for proc in procs:
        proc.start()
    finished, problems = 0, []
    while finished < n:
        try:
            row = queue.get(timeout=1.0)
        except Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead and queue.empty():
                problems += [f"worker {p.pid} exited with code {p.exitcode}" for p in dead]
                finished += len(dead)
                procs = [p for p in procs if p not in dead]
            continue
        if row is None:
            finished += 1
        else:
            emit(row)
    for proc in procs:
        proc.join(timeout=10)
    return problems


def run_episodes(cfg: EvalConfig) -> list[dict[str, Any]]:
    """Run every episode not yet in ``DIR/results.jsonl``, appending each as it finishes; return all rows."""
    policies = [make_policy(p, cfg.llm) for p in cfg.policies]  # bad policies fail before DIR is touched
    done = _prepare_out(cfg)
    items = plan(cfg, policies, done)
    bar = _progress(len(items), len(done), cfg.progress)
    with (cfg.out / RESULTS).open("a", encoding="utf-8") as fh:

        def emit(row: dict[str, Any]) -> None:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            done[row["key"]] = row
            bar.update(1)

        if cfg.workers > 1 and len(items) > 1:
            problems = _run_workers(cfg, items, emit)
        else:
            asyncio.run(run_items(cfg, items, cfg.concurrency, emit))
            problems = []
    bar.close()
    for problem in problems:
        print(f"warning: {problem}; its unfinished episodes run again with --resume", file=sys.stderr)
    return list(done.values())


class _NoBar:
    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


def _progress(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total + initial, initial=initial, desc="episodes", unit="ep", file=sys.stderr)


def run_eval(cfg: EvalConfig) -> dict[str, Any]:
    """Run the episodes, then write ``summary.json`` and ``report.md`` with plots; return the summary."""
    from .report import summarize, write_report

    rows = run_episodes(cfg)
    tasks = {(name, t.id): t for name, ts in load_datasets(cfg).items() for t in ts}
    summary = summarize(rows, seed=cfg.seed)
    if cfg.pairwise:
        from .report import pairwise_outcomes

        summary["pairwise"] = pairwise_outcomes(rows, tasks, cfg.pairwise, cfg.pairwise_judge)
    (cfg.out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    write_report(rows, summary, cfg.out)
    return summary
