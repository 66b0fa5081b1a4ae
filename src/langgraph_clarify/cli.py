"""``clarify``: validate task files, run clarify episodes (oracle- or human-answered), evaluate policies.

Every command that calls a model takes ``--timeout``; model options accept ``offline``,
``openai:<model>[@<base_url>]``, ``vllm:<model-dir>@<base_url>`` and ``hf:<model-dir>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from langgraph.types import Durability
from pydantic import ValidationError

from .episodes import EpisodeResult, episode_input, run_episode
from .evaluation.runner import POLICY_SPECS, EvalConfig, run_eval
from .graph import HUMAN, create_clarify_graph
from .llm import DEFAULT_TIMEOUT, MODEL_SPECS
from .runs import RunLocked, default_workers
from .tasks import FORMATS, MaskedTask, TaskFileError, TaskSet, bundled_tasks_path, load_tasks

ORACLES = ("offline", "lexical", "embedding", "<model string>")
JUDGES = ("offline", "embedding", "lexical", "<model string>")
_MODELS = " | ".join(MODEL_SPECS)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help shows every default once and keeps the description's line breaks.

    A help text that already says its default (``(default: the bundled set)``) keeps its wording; defaults
    that say nothing (None, False for a flag, an empty list) are not printed.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        silent = default is None or default is False or default is argparse.SUPPRESS or default == []
        if "(default:" in text or silent:  # identity: a default of 0 is worth showing, False is not
            return text
        return super()._get_help_string(action)


def _count(kind: str, minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{kind} must be >= {minimum}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"--timeout must be > 0 seconds, got {text}")
    return value


def _add_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="seconds each model call may take; a call that times out is retried, then fails its episode",
    )


def _add_task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tasks", type=Path, default=bundled_tasks_path(), help="task file (JSONL) (default: the bundled tasks)"
    )
    p.add_argument("--format", choices=FORMATS, help="task file format (default: detected from the first row)")
    p.add_argument("--skip-invalid", action="store_true", help="skip and report bad rows instead of failing")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clarify", description=__doc__, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser(
        "tasks",
        help="validate a task file and summarise it",
        description="Validate a task file and summarise it.",
        formatter_class=_Formatter,
    )
    t.add_argument("path", type=Path, help="task file (JSONL)")
    t.add_argument("--format", choices=FORMATS, help="task file format (default: detected from the first row)")
    t.add_argument("--skip-invalid", action="store_true", help="skip and report bad rows instead of failing")

    r = sub.add_parser(
        "run",
        help="run clarify episodes and print transcripts, evidence and rewards",
        description="Run clarify episodes: the oracle answers (default), or you do (--human).",
        formatter_class=_Formatter,
    )
    _add_task_args(r)
    which = r.add_mutually_exclusive_group()
    which.add_argument("--task", action="append", metavar="ID", help="run this task (repeatable)")
    which.add_argument("--all", action="store_true", help="run every task in the file (the default)")
    r.add_argument("--limit", type=_count("--limit", 1), help="run at most N tasks")
    r.add_argument("--asker", default="offline", help=f"who asks: {_MODELS}")
    r.add_argument("--writer", default="offline", help=f"who drafts: {_MODELS}")
    r.add_argument("--oracle", default="offline", help=f"who answers: {' | '.join(ORACLES)}")
    r.add_argument("--max-turns", type=_count("--max-turns", 0), default=5, help="most questions per episode")
    r.add_argument("--human", action="store_true", help="answer the questions yourself at the terminal")
    r.add_argument("--checkpoint", type=Path, help="with --human: SQLite file that keeps episodes across restarts")
    r.add_argument(
        "--thread",
        help="with --human: thread name; each task gets thread NAME:TASK_ID, so --thread NAME resumes them",
    )
    r.add_argument("--json", action="store_true", help="print machine-readable results")
    _add_timeout(r)

    e = sub.add_parser(
        "eval",
        help="replay policies against the oracle, judge drafts, write a report",
        description="Replay policies against the masked-task oracle, judge every draft, write a report.",
        formatter_class=_Formatter,
    )
    add_eval_args(e)

    c = sub.add_parser(
        "collect",
        help="play a policy through the graph against the oracle and export training rollouts",
        description="Play K episodes per task with the policy as asker against the oracle, appending each "
        "finished episode to DIR/episodes.jsonl (resumable), and export token-exact training rows "
        "with per-turn rewards (--export).",
        formatter_class=_Formatter,
    )
    add_collect_args(c)

    add_studio_args(
        sub.add_parser(
            "studio",
            help="serve the clarify graph and an example agent to LangGraph Studio",
            description="Serve the clarify graph and an example agent to LangGraph Studio on a loopback port.",
            formatter_class=_Formatter,
        )
    )

    v = sub.add_parser(
        "validity",
        help="does the reward pay specific questions, the oracle find answers, the judges hold?",
        description="The validity suite: what the reward pays task-agnostic questions next to targeted ones, "
        "the oracle's hits on labelled questions, and the judges on full, direct, negated and off-topic drafts.",
        formatter_class=_Formatter,
    )
    add_validity_args(v)
    return parser


def _version() -> str:
    try:
        return metadata.version("langgraph-clarify")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _print_skipped(task_set: TaskSet, err: TextIO) -> None:
    if task_set.skipped:
        print(f"skipped {len(task_set.skipped)} invalid row(s) in {task_set.path}:", file=err)
        for problem in task_set.skipped[:20]:
            print(f"  {problem}", file=err)
        if len(task_set.skipped) > 20:
            print(f"  ... and {len(task_set.skipped) - 20} more", file=err)


def _load(path: Path, fmt: str | None, skip: bool) -> list[MaskedTask]:
    task_set = load_tasks(path, fmt, skip_invalid=skip)
    _print_skipped(task_set, sys.stderr)
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
        _print_skipped(task_set, out)
    return 0


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def print_episode(task: MaskedTask, result: EpisodeResult, out: TextIO) -> None:
    print(f"\n=== {task.id} [{task.field or task.source}] {task.objective[:100]}", file=out)
    for t in result.turns:
        print(f"Q{t['index'] + 1}: {t['question']}", file=out)
        print(f"A{t['index'] + 1}: {t['answer']}", file=out)
        if t["evidence_reward"] is not None:
            regions = [task.hidden[i].region for i in t["cited"] if i < len(task.hidden)]
            print(
                f"    cited {t['cited']} {regions} | evidence {t['evidence_reward']:.0f} "
                f"novelty {t['novelty_reward']:.0f} coverage {_fmt(t['coverage'])} reward {_fmt(t.get('reward'))}"
                + (" | repeated" if t["repeated"] else ""),
                file=out,
            )
    if result.ending is not None:
        ending = result.ending
        why = f" ({ending['reason']})" if ending["reason"] else ""
        print(f"asker: {ending['kind']}{why} reward {_fmt(ending['reward'])}", file=out)
    print(f"stop: {result.stop_reason}" + (f" | error: {result.error}" if result.error else ""), file=out)
    if result.draft:
        print("--- draft ---\n" + result.draft.strip()[:1500], file=out)


def summary_line(results: Sequence[EpisodeResult]) -> str:
    """One line over the episodes; a figure nothing measured (human answers) reads n/a, not 0."""

    def mean(values: list[float]) -> str:
        return f"{sum(values) / len(values):.3f}" if values else "n/a"

    ok = [r for r in results if r.error is None]
    evidence = [r.evidence_mean for r in ok if r.evidence_mean is not None]
    novelty = [r.novelty_mean for r in ok if r.novelty_mean is not None]
    measured = [r.coverage for r in ok if any(t["coverage"] is not None for t in r.turns)]
    return (
        f"{len(results)} episodes | mean evidence reward {mean(evidence)}"
        f" | mean novelty reward {mean(novelty)}"
        f" | mean coverage {mean(measured)}"
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


#: How a person's episode is checkpointed: once per question, when the run stops at it (``interrupt()``), the end
#: or an error, instead of after every step (the default), which cut the SQLite cost of an episode to about a fifth
#: (``bench/graph_overhead.py``). What a hard kill (SIGKILL, power loss) between two questions loses: the answer
#: just typed and the asker call in progress, so the same question is asked again; Ctrl-C and errors still save.
HUMAN_DURABILITY: Durability = "exit"


def human_episode(
    graph: Any, task: MaskedTask, config: dict[str, Any], max_turns: int, ask: Callable[[str], str], out: TextIO
) -> dict[str, Any]:
    """Drive one episode through interrupt/resume, the same path a server client uses."""
    from langgraph.types import Command

    thread = config["configurable"]["thread_id"]
    snapshot = graph.get_state(config)
    if not snapshot.values:
        print(f"(thread {thread})", file=out)
        print(task.explicit_text, file=out)
        graph.invoke(episode_input(task, max_turns), config, durability=HUMAN_DURABILITY)
    else:
        if snapshot.values.get("task_id") != task.id:
            raise SystemExit(
                f"error: thread {thread} holds task {snapshot.values.get('task_id')!r}, not {task.id!r}; "
                "choose another --thread"
            )
        print(f"(resuming thread {thread})\n{task.explicit_text}", file=out)
        for t in snapshot.values.get("turns", []):
            print(f"\nQ{t['index'] + 1}: {t['question']}\nA{t['index'] + 1}: {t['answer']}", file=out)
    while (snapshot := graph.get_state(config)).interrupts:
        payload = snapshot.interrupts[0].value
        print(f"\n[{payload['turn']}/{payload['budget']}] {payload['question']}", file=out)
        try:
            text = ask("your answer (/stop to end the questions): ")
        except EOFError:
            print("\npaused", file=out)
            break
        resume: Any = {"stop": True} if text.strip() == "/stop" else text
        try:
            graph.invoke(Command(resume=resume), config, durability=HUMAN_DURABILITY)
        except ValidationError:
            print("rejected: an answer cannot be empty; type an answer, or /stop to end the questions", file=out)
    return dict(graph.get_state(config).values)


def cmd_run(args: argparse.Namespace, out: TextIO, ask: Callable[[str], str] = input) -> int:
    if not args.human and (args.checkpoint or args.thread):
        raise SystemExit("error: --checkpoint and --thread only apply with --human")
    tasks = _select(_load(args.tasks, args.format, args.skip_invalid), args.task, args.limit)
    results: list[EpisodeResult] = []
    if args.human:
        checkpointer = _checkpointer(args.checkpoint)
        graph = create_clarify_graph(
            args.asker, args.writer, HUMAN, max_turns=args.max_turns, checkpointer=checkpointer, timeout=args.timeout
        )
        name = args.thread or uuid.uuid4().hex[:8]
        for task in tasks:
            config = {"configurable": {"thread_id": f"{name}:{task.id}"}}
            state = human_episode(graph, task, config, args.max_turns, ask, out)
            results.append(EpisodeResult.from_state(task, state, args.max_turns))
            if "draft" not in state:  # paused before the end: keep the rest for later
                print(
                    f"resume with --thread {name}" + (f" --checkpoint {args.checkpoint}" if args.checkpoint else ""),
                    file=out,
                )
                break
            if not args.json:
                print_episode(task, results[-1], out)
    else:
        graph = create_clarify_graph(
            args.asker, args.writer, args.oracle, max_turns=args.max_turns, timeout=args.timeout
        )
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

    try:
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError:
        raise ImportError("--checkpoint needs: pip install 'langgraph-clarify[sqlite]'") from None
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
    p.add_argument(
        "--tasks", type=Path, nargs="+", action="extend", help="task files, pooled (default: the bundled set)"
    )
    p.add_argument("--format", choices=FORMATS, help="task file format for all files (default: detected)")
    p.add_argument("--skip-invalid", action="store_true", help="skip and report bad rows instead of failing")
    p.add_argument(
        "--policy",
        nargs="+",
        action="extend",
        metavar="POLICY",
        help=f"policies to evaluate (repeatable): {' | '.join(POLICY_SPECS)} (default: direct offline)",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--max-turns", type=_count("--max-turns", 0), help="one turn budget (default: 5)")
    budget.add_argument("--turn-budgets", type=_ints, help="several budgets, e.g. 0,1,3,5")
    p.add_argument("--writer", default="offline", help=f"who drafts, the same for every policy: {_MODELS}")
    p.add_argument("--oracle", default="offline", help=f"who answers: {' | '.join(ORACLES)}")
    p.add_argument("--judge", default="offline", help=f"who scores drafts: {' | '.join(JUDGES)}")
    p.add_argument("--llm", help="model string behind the 'vanilla' policy")
    p.add_argument(
        "--pairwise", type=_pair, action="append", default=[], metavar="A:B", help="compare two policies (repeatable)"
    )
    p.add_argument("--pairwise-judge", help="model string for pairwise judging (default: offline comparison)")
    p.add_argument("--out", type=Path, default=Path("runs/eval"), help="output directory")
    p.add_argument(
        "--concurrency", type=_count("--concurrency", 1), default=8, help="episodes in flight at once (all workers)"
    )
    p.add_argument(
        "--workers",
        type=_count("--workers", 1),
        default=default_workers(),
        help="processes to spread episodes over (default: the cores available)",
    )
    p.add_argument("--limit", type=_count("--limit", 1), help="at most N tasks per file")
    p.add_argument("--resume", action="store_true", help="continue DIR/results.jsonl, skipping finished episodes")
    p.add_argument("--retry-failed", action="store_true", help="with --resume: run failed episodes again")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_timeout(p)


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    if args.retry_failed and not args.resume:
        raise SystemExit("error: --retry-failed only applies with --resume")
    budgets = args.turn_budgets or [args.max_turns if args.max_turns is not None else 5]
    return EvalConfig(
        tasks=list(dict.fromkeys(args.tasks or [bundled_tasks_path()])),
        policies=list(dict.fromkeys(args.policy or ["direct", "offline"])),
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
        retry_failed=args.retry_failed,
        seed=args.seed,
        pairwise=list(args.pairwise),
        pairwise_judge=args.pairwise_judge,
        format=args.format,
        skip_invalid=args.skip_invalid,
        progress=not args.no_progress,
        timeout=args.timeout,
    )


def cmd_eval(args: argparse.Namespace, out: TextIO) -> int:
    cfg = config_from_args(args)
    from .evaluation.report import report_files, wtl

    summary = run_eval(cfg)
    for line in summary_table(summary["groups"]):
        print(line, file=out)
    for pair in summary.get("pairwise", []):
        q, d = pair["questions"], pair["draft"]
        print(
            f"pairwise {pair['a']} vs {pair['b']}: questions {wtl(q)}, drafts {wtl(d)} (win/tie/lose)",
            file=out,
        )
    print(f"\nwrote {', '.join(map(str, report_files(cfg.out)))}", file=out)
    return _report_failures(summary["groups"], sys.stderr)


def _report_failures(groups: Iterable[dict[str, Any]], err: TextIO) -> int:
    """Name why episodes failed; exit 1 when every episode of some policy failed."""
    code = 0
    for g in groups:
        if not g["errors"]:
            continue
        whole = g["errors"] == g["n"]
        code = 1 if whole else code
        label = "every episode failed" if whole else f"{g['errors']} of {g['n']} episodes failed"
        print(f"{g['dataset']} / {g['policy']} / {g['max_turns']} turns: {label}", file=err)
        for reason, n in g["error_reasons"]:
            print(f"  {n}x {reason}", file=err)
    if code:
        print("rerun the failed episodes with --resume --retry-failed once the cause is fixed", file=err)
    return code


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


# ---- collect ----------------------------------------------------------------------------------


def add_collect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", type=Path, nargs="+", action="extend", required=True, help="task files, pooled")
    p.add_argument("--format", choices=FORMATS, help="task file format for all files (default: detected)")
    p.add_argument("--skip-invalid", action="store_true", help="skip and report bad rows instead of failing")
    p.add_argument("--policy", required=True, help=f"the asker to collect with: {_MODELS}")
    p.add_argument("--samples", type=_count("--samples", 1), default=4, help="episodes per task")
    p.add_argument("--out", type=Path, required=True, help="collection directory (DIR/episodes.jsonl)")
    p.add_argument("--max-turns", type=_count("--max-turns", 0), default=5, help="most questions per episode")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the policy")
    p.add_argument("--oracle", default="offline", help=f"who answers: {' | '.join(ORACLES)}")
    p.add_argument("--writer", default="offline", help=f"who drafts (for a terminal judge reward): {_MODELS}")
    p.add_argument("--judge", default="offline", help="judge of the terminal reward (used when its weight > 0)")
    p.add_argument("--reward", type=Path, help="RewardConfig YAML (default: the default reward)")
    p.add_argument(
        "--concurrency", type=_count("--concurrency", 1), default=8, help="episodes in flight (hf: batches them)"
    )
    p.add_argument("--limit", type=_count("--limit", 1), help="at most N tasks")
    p.add_argument("--resume", action="store_true", help="continue DIR; on a finished DIR only re-export")
    p.add_argument("--export", type=Path, metavar="DIR", help="write DIR/turns and DIR/episodes (+ .parquet)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_timeout(p)


def cmd_collect(args: argparse.Namespace, out: TextIO) -> int:
    from .rewards import RewardConfig
    from .rl.rollouts import CollectConfig, collect, export, load_task_files

    reward = RewardConfig.from_yaml(args.reward) if args.reward else RewardConfig()
    cfg = CollectConfig(
        tasks=list(dict.fromkeys(args.tasks)),
        policy=args.policy,
        out=args.out,
        samples=args.samples,
        max_turns=args.max_turns,
        temperature=args.temperature,
        oracle=args.oracle,
        writer=args.writer,
        judge=args.judge,
        reward=reward,
        concurrency=args.concurrency,
        limit=args.limit,
        resume=args.resume,
        timeout=args.timeout,
        progress=not args.no_progress,
        format=args.format,
        skip_invalid=args.skip_invalid,
    )
    run = collect(cfg)
    print(f"{run.results}: {len(run.done)} episodes ({len(run.failed)} failed)", file=out)
    if args.export:
        tasks = load_task_files(cfg.tasks, cfg.format, cfg.skip_invalid)
        counts = export(cfg.out, tasks, args.export, reward)
        print(f"exported {counts['episodes']} episodes, {counts['turns']} turns to {args.export}", file=out)
        for reason, n in counts["skipped"].items():
            print(f"  skipped {n}: {reason}", file=out)
    return 1 if run.done and len(run.failed) == len(run.done) else 0


# ---- studio -------------------------------------------------------------------------------
# `clarify studio`: LangGraph's dev server (`langgraph dev --no-browser --no-reload`, in this process, so no
# child outlives it) on a loopback port, serving the repository's langgraph.json or, from an installed wheel,
# one generated for langgraph_clarify.studio. The server's state lives in a temporary folder, removed on exit.

STUDIO_GRAPHS = {"clarify": "langgraph_clarify.studio:clarify", "agent": "langgraph_clarify.studio:agent"}


#: Runs the server works on at once (``langgraph dev`` defaults to one, which queues concurrent threads).
STUDIO_JOBS = 8


def add_studio_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=_count("--port", 1), help="loopback port (default: a free one)")


def studio_config(workdir: Path) -> Path:
    """Write the langgraph.json to serve into ``workdir``: the checkout's, with its paths made absolute (the
    server runs in ``workdir``), or, from an installed wheel, one naming the graphs of langgraph_clarify.studio."""
    checkout = Path(__file__).resolve().parents[2] / "langgraph.json"
    data: dict[str, Any] = {"dependencies": ["."], "graphs": dict(STUDIO_GRAPHS)}
    if checkout.is_file():
        data = json.loads(checkout.read_text(encoding="utf-8"))

        def absolute(spec: str) -> str:
            """A file or folder (``./graphs/agent.py:graph``, ``.``) made absolute; a module path unchanged."""
            path, sep, attr = spec.rpartition(":") if ":" in spec else (spec, "", "")
            return f"{(checkout.parent / path).resolve()}{sep}{attr}" if path.startswith(".") or "/" in path else spec

        data["dependencies"] = [absolute(d) for d in data.get("dependencies", [])]
        data["graphs"] = {
            k: {**v, "path": absolute(v["path"])} if isinstance(v, dict) else absolute(v)
            for k, v in data.get("graphs", {}).items()
        }
    path = workdir / "langgraph.json"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def cmd_studio(args: argparse.Namespace, out: TextIO) -> int:
    import os
    import socket
    import tempfile

    try:
        from langgraph_cli.cli import cli as langgraph_cli
    except ImportError as exc:
        raise ImportError("clarify studio needs the studio extra: pip install 'langgraph-clarify[studio]'") from exc
    port = args.port
    if port is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    # no analytics, no version check against the package index, no tracing: the server runs offline
    os.environ.update(LANGGRAPH_CLI_NO_ANALYTICS="1", LANGGRAPH_NO_VERSION_CHECK="true", LANGSMITH_TRACING="false")
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="clarify-studio-") as workdir:
        config = studio_config(Path(workdir))
        url = f"http://127.0.0.1:{port}"
        print(f"serving {', '.join(json.loads(config.read_text())['graphs'])} at {url}", file=out)
        print(f"open in LangGraph Studio: https://smith.langchain.com/studio/?baseUrl={url}", file=out)
        print("Ctrl-C stops the server", file=out, flush=True)
        os.chdir(workdir)
        try:
            argv = ["dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)]
            argv += ["--n-jobs-per-worker", str(STUDIO_JOBS), "--config", str(config)]
            langgraph_cli.main(argv, standalone_mode=False)
        except KeyboardInterrupt:
            pass  # uvicorn shuts down on Ctrl-C, then re-raises it
        finally:
            os.chdir(here)
    print("stopped", file=out)
    return 0


# ---- validity ----------------------------------------------------------------------------------


def add_validity_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tasks", type=Path, nargs="+", action="extend", help="task files, pooled (default: the bundled set)"
    )
    p.add_argument("--questions", type=Path, help='more template questions, JSONL {"question": "..."}')
    p.add_argument("--labelled", type=Path, help='questions with marked answers, JSONL {"task_id", "question", "gold"}')
    p.add_argument("--oracle", default="offline", help="offline | hybrid | lexical | embedding | <model>")
    p.add_argument("--judge", nargs="+", action="extend", help="judges to test (default: both offline judges)")
    p.add_argument("--reward", choices=("default", "evidence"), default="default", help="reward to report")
    p.add_argument("--no-episodes", action="store_true", help="skip the whole-episode returns")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def cmd_validity(args: argparse.Namespace, out: TextIO) -> int:
    from .evaluation.validity import (
        OFFLINE_JUDGES,
        QUESTION_BANK,
        format_report,
        load_bank,
        load_labelled,
        run_validity,
    )
    from .judge import make_judge
    from .oracle import make_oracle
    from .rewards import RewardConfig

    tasks = [t for path in dict.fromkeys(args.tasks or [bundled_tasks_path()]) for t in load_tasks(path).tasks]
    bank = [*QUESTION_BANK, *(load_bank(args.questions) if args.questions else [])]
    result = run_validity(
        tasks,
        oracle=make_oracle(args.oracle),
        judges={name: make_judge(name) for name in dict.fromkeys(args.judge or OFFLINE_JUDGES)},
        cfg=RewardConfig.paper() if args.reward == "evidence" else RewardConfig(),
        bank=bank,
        labelled=load_labelled(args.labelled) if args.labelled else None,
        episodes=not args.no_episodes,
    )
    if args.json:
        json.dump(result, out, indent=1)
        print(file=out)
    else:
        print("\n".join(format_report(result)), file=out)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "tasks": cmd_tasks,
    "run": cmd_run,
    "eval": cmd_eval,
    "collect": cmd_collect,
    "studio": cmd_studio,
    "validity": cmd_validity,
}


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args, out)
    except (TaskFileError, RunLocked) as exc:
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
