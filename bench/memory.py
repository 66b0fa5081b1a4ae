"""Peak memory of ``clarify eval`` at 1,000 and 4,000 episodes, and results bytes per episode.

The same 250 tasks are run by 4 and by 16 copies of the offline policy (``p1=offline`` ...) at a budget of 5
turns, so the two runs differ only in the number of finished episodes. Each run is a fresh process running
the CLI (episodes, streaming summary, report with plots; one worker, lexical judge); the peak resident set
(VmHWM) is read after the episodes and, separately, over the summary and report. As the reference, in the
same run, a fresh process reads the 4,000-episode results file into a list (what the summary used to hold)
and another summarizes it in one streaming pass. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import load, spread, write_tasks

TASKS = 250


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_peak() -> None:
    """Start the peak over from the current size (Linux: ``clear_refs`` mode 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def child_eval(tasks: Path, out: Path, copies: int) -> dict[str, Any]:
    """In this process: the episodes, then the summary and report, each phase's peak measured apart."""
    from langgraph_clarify.evaluation.report import write_report
    from langgraph_clarify.evaluation.runner import EvalConfig, run_episodes, summarize_run

    policies: list[Any] = [f"p{i}=offline" for i in range(copies)]
    cfg = EvalConfig(tasks=[tasks], policies=policies, turn_budgets=[5], judge="lexical", out=out, progress=False)
    before = _peak_kib()
    run_episodes(cfg)
    episodes_peak = _peak_kib()
    _reset_peak()
    summary = summarize_run(cfg)
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    write_report(summary, out)
    return {"start_kib": before, "episodes_peak_kib": episodes_peak, "summary_report_peak_kib": _peak_kib()}


def child_read(results: Path, how: str) -> dict[str, Any]:
    from langgraph_clarify.evaluation.report import summarize
    from langgraph_clarify.runs import read_rows

    before = _peak_kib()
    if how == "list":
        rows = list(read_rows(results))
        summarize(rows)
    else:
        summarize(read_rows(results))
    return {"start_kib": before, "peak_kib": _peak_kib()}


def _child(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, path, *rest = args.child
        out = child_eval(Path(path), Path(rest[0]), int(rest[1])) if kind == "eval" else child_read(Path(path), kind)
        print(json.dumps(out))
        return

    mib = 1 / 1024
    figures: dict[str, list[float]] = {}

    def note(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        tasks = write_tasks(Path(tmp) / "tasks.jsonl", TASKS)
        for r in range(args.rounds):
            loads.append(load())
            runs = {}
            for copies in (4, 16):
                out = Path(tmp) / f"run{r}-{copies}"
                runs[copies] = _child("eval", str(tasks), str(out), str(copies))
                n = copies * TASKS
                size = (out / "results.jsonl").stat().st_size
                note(f"results_bytes_per_episode_{n}", size / n)
                note(f"episodes_peak_mib_{n}", runs[copies]["episodes_peak_kib"] * mib)
                note(f"summary_report_peak_mib_{n}", runs[copies]["summary_report_peak_kib"] * mib)
            note("episodes_peak_ratio_4000_to_1000", runs[16]["episodes_peak_kib"] / runs[4]["episodes_peak_kib"])
            note(
                "summary_report_peak_ratio_4000_to_1000",
                runs[16]["summary_report_peak_kib"] / runs[4]["summary_report_peak_kib"],
            )
            big = Path(tmp) / f"run{r}-16" / "results.jsonl"
            as_list, streamed = _child("list", str(big)), _child("stream", str(big))
            note("rows_as_list_mib_4000", (as_list["peak_kib"] - as_list["start_kib"]) * mib)
            note("rows_streamed_mib_4000", (streamed["peak_kib"] - streamed["start_kib"]) * mib)
    print(
        json.dumps(
            {
                "tasks": TASKS,
                "episodes": [4 * TASKS, 16 * TASKS],
                "rounds": args.rounds,
                "load_1min": spread(loads, 2),
                **{name: spread(values, 2) for name, values in figures.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
