"""``clarify``: validate task files, run clarify episodes (oracle- or human-answered), evaluate."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from .episodes import EpisodeResult, episode_input, run_episode
from .evaluation.runner import RESULTS, EvalConfig, run_eval
from .graph import HUMAN, create_clarify_graph
from .tasks import FORMATS, MaskedTask, TaskFileError, bundled_tasks_path, load_tasks


def _add_task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tasks", type=Path, default=bundled_tasks_path(), help="task file (JSONL); default: the bundled set"
    )
    p.add_argument("--format", choices=FORMATS, help="task file format (default: detected from the first row)")
    p.add_argument("--skip-invalid", action="store_true", help="skip and count bad rows instead of failing")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clarify", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tasks", help="validate a task file and summarise it")
    t.add_argument("path", type=Path)
    t.add_argument("--format", choices=FORMATS)
    t.add_argument("--skip-invalid", action="store_true")

    r = sub.add_parser("run", help="run clarify episodes and print transcripts, evidence and rewards")
    _add_task_args(r)
    which = r.add_mutually_exclusive_group()
    which.add_argument("--task", action="append", metavar="ID", help="run this task (repeatable)")
    which.add_argument("--all", action="store_true", help="run every task in the file (the default)")
    r.add_argument("--limit", type=int, help="run at most N tasks")
    r.add_argument("--asker", default="offline", help="offline | openai:<model>[@<base_url>]")
    r.add_argument("--writer", default="offline", help="offline | openai:<model>[@<base_url>]")
    r.add_argument("--oracle", default="offline", help="offline | lexical | embedding | openai:<model>[@<base_url>]")
    r.add_argument("--max-turns", type=int, default=5)
    r.add_argument("--human", action="store_true", help="answer the questions yourself at the terminal")
    r.add_argument("--checkpoint", type=Path, help="SQLite file that keeps --human episodes across restarts")
    r.add_argument("--thread", help="--human: resume this thread id (printed when an episode starts)")
    r.add_argument("--json", action="store_true", help="print machine-readable results")

    add_eval_args(sub.add_parser("eval", help="replay policies against the oracle, judge drafts, write a report"))

    from .evaluation.validity import add_validity_args, cmd_validity

    v = sub.add_parser(
        "validity", help="does the reward pay specific questions, the oracle find answers, the judges hold?"
    )
    add_validity_args(v)
    v.set_defaults(handler=cmd_validity)
    return parser


def _load(path: Path, fmt: str | None, skip: bool) -> list[MaskedTask]:
    task_set = load_tasks(path, fmt, skip_invalid=skip)
    if task_set.skipped:
        print(f"skipped {len(task_set.skipped)} invalid row(s) in {path}:", file=sys.stderr)
        for err in task_set.skipped[:10]:
            print(f"  {err}", file=sys.stderr)
    return task_set.tasks


def cmd_tasks(args: argparse.Namespace, out: TextIO) -> int:
    task_set = load_tasks(args.path, args.format, skip_invalid=args.skip_invalid)
    tasks = task_set.tasks
    fields = Counter(t.field or "(none)" for t in tasks)
    hidden = sum(len(t.hidden) for t in tasks)
    items = sum(len(t.checklist) for t in tasks)
    print(f"{args.path}: {len(tasks)} tasks, format {task_set.format}", file=out)
    print(f"  fields: {len(fields)} ({', '.join(f'{k} {v}' for k, v in fields.most_common(8))})", file=out)
    print(f"  hidden sentences: {hidden} (mean {hidden / len(tasks):.1f} per task)", file=out)
    print(f"  checklist items: {items} (mean {items / len(tasks):.1f} per task)", file=out)
    print(f"  gold answers: {sum(t.gold_answer is not None for t in tasks)}", file=out)
    if task_set.skipped:
        print(f"  skipped invalid rows: {len(task_set.skipped)}", file=out)
    return 0


def print_episode(task: MaskedTask, result: EpisodeResult, out: TextIO) -> None:
    print(f"\n=== {task.id} [{task.field or task.source}] {task.objective[:100]}", file=out)
    for t in result.turns:
        print(f"Q{t['index'] + 1}: {t['question']}", file=out)
        print(f"A{t['index'] + 1}: {t['answer']}", file=out)
        if t["evidence_reward"] is not None:
            regions = [task.hidden[i].region for i in t["cited"] if i < len(task.hidden)]
            print(
                f"    cited {t['cited']} {regions} | evidence {t['evidence_reward']:.0f} "
                f"novelty {t['novelty_reward']:.0f} coverage {t['coverage']:.2f}"
                + (" | repeated" if t["repeated"] else ""),
                file=out,
            )
    print(f"stop: {result.stop_reason}" + (f" | error: {result.error}" if result.error else ""), file=out)
    if result.draft:
        print("--- draft ---\n" + result.draft.strip()[:1500], file=out)


def summary_line(results: Sequence[EpisodeResult]) -> str:
    def mean(values: list[float]) -> str:
        return f"{sum(values) / len(values):.3f}" if values else "n/a"

    ok = [r for r in results if r.error is None]
    evidence = [r.evidence_mean for r in ok if r.evidence_mean is not None]
    novelty = [r.novelty_mean for r in ok if r.novelty_mean is not None]
    return (
        f"{len(results)} episodes | mean evidence reward {mean(evidence)}"
        f" | mean novelty reward {mean(novelty)}"
        f" | mean coverage {mean([r.coverage for r in ok])}"
        f" | questions {sum(len(r.turns) for r in results)} | errors {len(results) - len(ok)}"
    )


def _select(tasks: list[MaskedTask], ids: list[str] | None, limit: int | None) -> list[MaskedTask]:
    if ids:
        by_id = {t.id: t for t in tasks}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise SystemExit(f"error: unknown task id(s): {', '.join(missing)}")
        tasks = [by_id[i] for i in ids]
    return tasks[:limit] if limit else tasks


def human_episode(
    graph: Any, task: MaskedTask, config: dict[str, Any], max_turns: int, ask: Callable[[str], str], out: TextIO
) -> dict[str, Any]:
    """Drive one episode through interrupt/resume, the same path a server client uses."""
    from langgraph.types import Command

    snapshot = graph.get_state(config)
    if not snapshot.values:
        print(f"(thread {config['configurable']['thread_id']})", file=out)
        print(task.explicit_text, file=out)
        graph.invoke(episode_input(task, max_turns), config)
    while (snapshot := graph.get_state(config)).interrupts:
        payload = snapshot.interrupts[0].value
        print(f"\n[{payload['turn']}/{payload['budget']}] {payload['question']}", file=out)
        try:
            text = ask("your answer (/stop to end the questions): ")
        except EOFError:
            print(f"\npaused; resume with --thread {config['configurable']['thread_id']}", file=out)
            break
        resume: Any = {"stop": True} if text.strip() == "/stop" else text
        try:
            graph.invoke(Command(resume=resume), config)
        except ValidationError as exc:
            print(f"rejected: {exc.errors()[0]['msg']}", file=out)
    return dict(graph.get_state(config).values)


def cmd_run(args: argparse.Namespace, out: TextIO, ask: Callable[[str], str] = input) -> int:
    tasks = _select(_load(args.tasks, args.format, args.skip_invalid), args.task, args.limit)
    results: list[EpisodeResult] = []
    if args.human:
        checkpointer = _checkpointer(args.checkpoint)
        graph = create_clarify_graph(
            args.asker, args.writer, HUMAN, max_turns=args.max_turns, checkpointer=checkpointer
        )
        for task in tasks:
            thread = args.thread or f"{task.id}-{uuid.uuid4().hex[:8]}"
            state = human_episode(graph, task, {"configurable": {"thread_id": thread}}, args.max_turns, ask, out)
            results.append(EpisodeResult.from_state(task, state, args.max_turns))
            if "draft" not in state:  # paused before the end: keep the rest for later
                break
            if not args.json:
                print_episode(task, results[-1], out)
    else:
        graph = create_clarify_graph(args.asker, args.writer, args.oracle, max_turns=args.max_turns)
        for task in tasks:
            results.append(run_episode(graph, task, max_turns=args.max_turns))
            if not args.json:
                print_episode(task, results[-1], out)
    if args.json:
        json.dump([r.model_dump(mode="json") for r in results], out, indent=1)
        print(file=out)
    else:
        print("\n" + summary_line(results), file=out)
    return 1 if results and all(r.error for r in results) else 0


def _checkpointer(path: Path | None) -> Any:
    if path is None:
        from langgraph.checkpoint.memory import InMemorySaver

        return InMemorySaver()
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    return SqliteSaver(sqlite3.connect(str(path), check_same_thread=False))


# ---- eval ----------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("turn budgets must be non-negative integers")
    return values


def _pair(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not sep or not a or not b:
        raise argparse.ArgumentTypeError(f"expected POLICY_A:POLICY_B, got {text!r}")
    return a, b


def add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", type=Path, nargs="+", default=[bundled_tasks_path()], help="task files")
    p.add_argument("--format", choices=FORMATS, help="task file format for all files (default: detected)")
    p.add_argument("--skip-invalid", action="store_true")
    p.add_argument(
        "--policy",
        nargs="+",
        default=["direct", "offline"],
        help="direct | offline | vanilla | <model> | label=<model>",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--max-turns", type=int, help="one turn budget")
    budget.add_argument("--turn-budgets", type=_ints, help="several budgets, e.g. 0,1,3,5")
    p.add_argument("--writer", default="offline", help="fixed across policies (default: offline)")
    p.add_argument("--oracle", default="offline", help="offline | lexical | embedding | <model>")
    p.add_argument("--judge", default="offline", help="offline | embedding | lexical | <model>")
    p.add_argument("--llm", help="model for the 'vanilla' policy")
    p.add_argument("--pairwise", type=_pair, action="append", default=[], metavar="A:B")
    p.add_argument("--pairwise-judge", help="model for pairwise judging (default: offline comparison)")
    p.add_argument("--out", type=Path, default=Path("runs/eval"))
    p.add_argument("--concurrency", type=int, default=8, help="episodes in flight at once (all workers)")
    p.add_argument("--workers", type=int, default=1, help="processes to spread episodes over (CPU-bound runs)")
    p.add_argument("--limit", type=int, help="at most N tasks per file")
    p.add_argument("--resume", action="store_true", help="continue DIR/results.jsonl, skipping finished episodes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    budgets = args.turn_budgets or [args.max_turns if args.max_turns is not None else 5]
    return EvalConfig(
        tasks=list(args.tasks),
        policies=list(args.policy),
        turn_budgets=budgets,
        writer=args.writer,
        oracle=args.oracle,
        judge=args.judge,
        llm=args.llm,
        out=args.out,
        concurrency=args.concurrency,
        workers=args.workers,
        limit=args.limit,
        resume=args.resume,
        seed=args.seed,
        pairwise=list(args.pairwise),
        pairwise_judge=args.pairwise_judge,
        format=args.format,
        skip_invalid=args.skip_invalid,
        progress=not args.no_progress,
    )


def cmd_eval(args: argparse.Namespace, out: TextIO) -> int:
    cfg = config_from_args(args)
    from .evaluation.report import wtl

    summary = run_eval(cfg)
    for line in summary_table(summary["groups"]):
        print(line, file=out)
    for pair in summary.get("pairwise", []):
        q, d = pair["questions"], pair["draft"]
        print(
            f"pairwise {pair['a']} vs {pair['b']}: questions {wtl(q)}, drafts {wtl(d)} (win/tie/lose)",
            file=out,
        )
    print(f"\nwrote {cfg.out / RESULTS}, {cfg.out / 'summary.json'} and {cfg.out / 'report.md'}", file=out)
    return 0


def summary_table(groups: Iterable[dict[str, Any]]) -> list[str]:
    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    lines = [
        f"{'dataset':<28} {'policy':<16} {'turns':>5} {'n':>5} {'score':>7} {'95% CI':>15} "
        f"{'evid':>6} {'novel':>6} {'cover':>6} {'err':>4}"
    ]
    for g in groups:
        ci = f"[{f(g['score_ci'][0])}, {f(g['score_ci'][1])}]" if g["score_ci"] else "n/a"
        lines.append(
            f"{g['dataset'][:28]:<28} {g['policy'][:16]:<16} {g['max_turns']:>5} {g['n']:>5} {f(g['score']):>7} "
            f"{ci:>15} {f(g['evidence']):>6} {f(g['novelty']):>6} {f(g['coverage']):>6} {g['errors']:>4}"
        )
    return lines


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        if args.command == "tasks":
            return cmd_tasks(args, out)
        if args.command == "run":
            return cmd_run(args, out)
        if args.command == "validity":
            return int(args.handler(args, out))
        return cmd_eval(args, out)
    except TaskFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, ImportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
