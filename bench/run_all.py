"""Run every benchmark (``make bench``) and write ``bench/RESULTS.md``: a table per benchmark, then its raw output.

Each benchmark runs in a fresh process, one after the other. Every figure is measured in that benchmark's own
run next to its reference (interleaved rounds, median and range), so the figures stay comparable on a machine
that other jobs share; the load average before and after each benchmark is recorded with it.
``--quick`` runs each with fewer rounds and episodes (a smoke run; its figures are noisier).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
Figure = dict[str, float]


def _f(x: Figure, digits: int = 2) -> str:
    """``median [min-max]``."""
    return f"{x['median']:.{digits}f} [{x['min']:.{digits}f}-{x['max']:.{digits}f}]"


def graph_overhead(d: dict[str, Any]) -> list[str]:
    lines = [
        f"{d['episodes_per_round']} episodes per variant per round, {d['rounds']} rounds; CPU ms per 5-turn episode;",
        "x loop: against the plain Python loop of the same component calls; x bare: against a bare LangGraph graph",
        'of the same 11 steps with the same checkpointer. `exit`: `durability="exit"`.',
        "",
        "| variant | CPU ms / episode | x loop | x bare |",
        "|---|---:|---:|---:|",
    ]
    for name, cpu in d["cpu_ms_per_episode"].items():
        graph, _, rest = name.partition("/")
        bare = d["clarify_to_bare"].get(rest) if graph == "clarify" else None
        lines.append(f"| {name} | {_f(cpu)} | {_f(d['ratio_to_loop'][name])} | {_f(bare) if bare else ''} |")
    return lines


def eval_throughput(d: dict[str, Any]) -> list[str]:
    levels = d["levels"]
    points = sorted({k.split("_", 1)[1] for k in d["ratio_to_ideal"]}, key=lambda p: tuple(map(int, p[1:].split("_w"))))
    lines = [
        f"Stand-in LLM: {d['llm_latency_s'] * 1000:.0f} ms per call, {d['calls_per_episode']} calls per episode; "
        f"{d['cores']} cores, {d['rounds']} rounds.",
        "Levels: `calls` the 11 model calls alone, `bare` a bare LangGraph graph of the same steps, `clarify` the",
        "clarify graph, `runner` run_episodes (judge, rows, file). Ratio to ideal (median [min-max]):",
        "",
        "| concurrency | workers | " + " | ".join(levels) + " |",
        "|---:|---:|" + "---:|" * len(levels),
    ]
    for point in points:
        c, w = point.removeprefix("c").split("_w")
        lines.append(f"| {c} | {w} | " + " | ".join(_f(d["ratio_to_ideal"][f"{lv}_{point}"]) for lv in levels) + " |")
    lines += [
        "",
        "CPU ms per episode (all processes), and the runner's CPU ceiling (the ratio the cores could sustain at",
        "that CPU cost if nothing else ran):",
        "",
        "| concurrency | workers | " + " | ".join(levels) + " | runner CPU ceiling |",
        "|---:|---:|" + "---:|" * (len(levels) + 1),
    ]
    for point in points:
        c, w = point.removeprefix("c").split("_w")
        cells = " | ".join(_f(d["cpu_ms_per_episode"][f"{lv}_{point}"]) for lv in levels)
        lines.append(f"| {c} | {w} | {cells} | {_f(d['cpu_ceiling'][f'runner_{point}'])} |")
    lines += ["", f"LLM oracle calls per question: {_f(d['llm_oracle_calls_per_question'], 4)} (must be exactly 1)."]
    return lines


def memory(d: dict[str, Any]) -> list[str]:
    small, big = d["episodes"]
    rows = [
        ("peak RSS while the episodes run, MiB", "episodes_peak_mib"),
        ("peak RSS of summary + report (plots), MiB", "summary_report_peak_mib"),
        ("results bytes per episode", "results_bytes_per_episode"),
    ]
    lines = [
        f"{d['tasks']} tasks x 4 / 16 copies of the offline policy, 5 turns, one process; {d['rounds']} rounds.",
        "",
        f"| figure | {small} episodes | {big} episodes |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {_f(d[f'{k}_{small}'])} | {_f(d[f'{k}_{big}'])} |" for label, k in rows]
    lines += [
        "",
        f"Peak ratio {big} / {small} episodes: while running {_f(d['episodes_peak_ratio_4000_to_1000'])}, "
        f"summary + report {_f(d['summary_report_peak_ratio_4000_to_1000'])}.",
        f"Reading the {big}-episode results into a list (what the summary used to hold) adds "
        f"{_f(d['rows_as_list_mib_4000'])} MiB; the streaming summary of the same file adds "
        f"{_f(d['rows_streamed_mib_4000'])} MiB.",
    ]
    return lines


def oracle_throughput(d: dict[str, Any]) -> list[str]:
    lines = [
        f"{d['questions']} questions on {d['tasks']} {d['data']} tasks ({d['distinct_texts_natural']} distinct texts);",
        f"`offline` is {d['offline_oracle']}; {d['rounds']} rounds. Questions per second:",
        "",
        "| oracle | texts | sequential | 32 in flight |",
        "|---|---|---:|---:|",
    ]
    qps = d["questions_per_s"]
    for key in qps:
        if key.endswith("_sequential"):
            name, texts = key.removesuffix("_sequential").split("_")
            lines.append(f"| {name} | {texts} | {_f(qps[key], 1)} | {_f(qps[f'{name}_{texts}_32_in_flight'], 1)} |")
    return lines


def embed_throughput(d: dict[str, Any]) -> list[str]:
    return [
        f"{d['n']} distinct sentences, batch {d['batch_size']}, {d['intra_op_threads']} threads: cold "
        f"{d['cold_sentences_per_s']:.0f} sentences/s, warm (cached) {d['warm_sentences_per_s']:.0f} sentences/s."
    ]


def rollout_throughput(d: dict[str, Any]) -> list[str]:
    return [f"- {part}: " + ", ".join(f"{k} {v}" for k, v in figures.items()) for part, figures in d.items()]


def text(_: str) -> list[str]:
    return []


# (script, its arguments in a full run, in a quick run, how to read its output, how to summarise it)
BENCHMARKS: list[tuple[str, list[str], list[str], str, Callable[[Any], list[str]]]] = [
    ("graph_overhead.py", [], ["--episodes", "20", "--rounds", "2"], "json", graph_overhead),
    ("eval_throughput.py", [], ["--rounds", "1", "--concurrency", "8", "32"], "json", eval_throughput),
    ("memory.py", [], ["--rounds", "1"], "json", memory),
    ("oracle_throughput.py", [], ["--rounds", "1", "--tasks", "30"], "json", oracle_throughput),
    ("embed_throughput.py", [], ["--n", "300"], "json", embed_throughput),
    ("loader_scaling.py", [], ["--sizes", "10000,100000"], "text", text),
    ("rollout_throughput.py", [], ["--episodes", "300"], "json", rollout_throughput),
]


def run(script: str, argv: list[str], kind: str) -> tuple[Any, str, float, tuple[float, float]]:
    before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / script), *argv], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    loads = (round(before, 2), round(os.getloadavg()[0], 2))
    if done.returncode != 0:
        raise SystemExit(f"bench/{script} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out = done.stdout.strip()
    if kind == "json":
        try:
            data = json.loads(out)
        except json.JSONDecodeError:
            data = json.loads(out.splitlines()[-1])
        return data, json.dumps(data, indent=1), elapsed, loads
    return out, out, elapsed, loads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="+", help="run only these scripts (e.g. memory.py)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args()
    import langgraph_clarify

    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("langgraph", "langchain-core", "langgraph-clarify"))
    versions += f" (from {Path(langgraph_clarify.__file__).parent})"
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python bench/run_all.py{' --quick' if args.quick else ''}`) on "
        f"{time.strftime('%Y-%m-%d %H:%M')}: {len(os.sched_getaffinity(0))} cores, Python "
        f"{platform.python_version()}, {versions}. The machine is shared: each figure is a median over interleaved",
        "rounds with its range [min-max], measured next to its reference in the same run; the load average (1 min)",
        "before and after each benchmark is given with it.",
    ]
    for script, full, quick, kind, summarise in BENCHMARKS:
        if args.only and script not in args.only:
            continue
        print(f"bench/{script} ...", file=sys.stderr, flush=True)
        data, raw, elapsed, (load_before, load_after) = run(script, quick if args.quick else full, kind)
        lines += ["", f"## {script}", "", (_doc(script) or ""), ""]
        lines += [f"Took {elapsed:.0f} s; load average {load_before} before, {load_after} after.", ""]
        lines += summarise(data)
        lines += ["", "<details><summary>raw output</summary>", "", "```", raw, "```", "", "</details>"]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


def _doc(script: str) -> str:
    """The first paragraph of the script's docstring: what it measures."""
    source = (HERE / script).read_text(encoding="utf-8")
    doc = source.split('"""', 2)[1] if source.lstrip().startswith('"""') else ""
    return " ".join(doc.strip().split("\n\n")[0].split())


if __name__ == "__main__":
    main()
