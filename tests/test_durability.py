"""Faults and durability of runs: workers die with their parent, one run per directory, injected faults
retried and accounted for, failed episodes retryable, and a failing policy makes the run exit non-zero."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from langgraph_clarify.cli import main
from langgraph_clarify.evaluation.runner import RESULTS, EvalConfig, read_results, run_eval
from langgraph_clarify.runs import RunDir, RunLocked, read_rows
from langgraph_clarify.tasks import bundled_tasks_path, load_bundled


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie no longer runs
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _wait(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _slow_eval(stub, out: Path, *extra: str) -> subprocess.Popen[str]:
    """A run whose every asker call takes 1 s: a worker's share of the 16 tasks takes about 8 s."""
    stub.script([], default={"content": "STOP", "delay": 1.0})
    policy = f"slow=openai:stub@{stub.base_url}"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "langgraph_clarify.cli",
            "eval",
            "--policy",
            policy,
            "--out",
            str(out),
            "--no-progress",
            "--max-turns",
            "1",
            "--concurrency",
            "2",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_workers_die_with_a_killed_parent_and_a_resume_finishes_the_run(stub_openai, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _slow_eval(stub_openai, out, "--workers", "2")
    try:
        assert _wait(lambda: len(_children(proc.pid)) >= 2), "workers did not start"
        workers = _children(proc.pid)
        assert _wait(lambda: (out / RESULTS).exists() and (out / RESULTS).read_text().count("\n") >= 2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # well before they could finish their share
        assert _wait(lambda: not any(_alive(w) for w in workers), timeout=3), "orphaned workers live on"
    finally:
        with_kill = [proc.pid, *_children(proc.pid)]
        for pid in with_kill:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    done_before = len(read_results(out / RESULTS))
    assert 0 < done_before < len(load_bundled())
    # nothing holds the directory any more: a resume runs only what is missing
    stub_openai.script([], default={"content": "STOP"})
    code = main(
        [
            "eval",
            "--policy",
            f"slow=openai:stub@{stub_openai.base_url}",
            "--out",
            str(out),
            "--resume",
            "--max-turns",
            "1",
            "--no-progress",
            "--workers",
            "1",
        ],
        out=io.StringIO(),
    )
    assert code == 0
    rows = read_results(out / RESULTS)
    assert len(rows) == len(load_bundled()) and all(r["error"] is None for r in rows)


def test_a_second_run_on_a_live_directory_is_refused_naming_the_holder(stub_openai, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _slow_eval(stub_openai, out, "--workers", "1")
    try:
        assert _wait(lambda: (out / ".lock").exists() and (out / ".lock").read_text().strip() != "")
        err = subprocess.run(
            [sys.executable, "-m", "langgraph_clarify.cli", "eval", "--out", str(out), "--resume", "--no-progress"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stderr
        assert f"is in use by PID {proc.pid}" in err and "clarify" in err and "Traceback" not in err
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # the holder's death released the lock
    with RunDir(out, resume=True):
        pass


def test_lock_is_held_in_process_too(tmp_path: Path) -> None:
    with RunDir(tmp_path), pytest.raises(RunLocked, match="in use by PID"):
        RunDir(tmp_path, resume=True).__enter__()


def test_injected_faults_are_retried_and_every_episode_is_accounted_for(stub_openai, tmp_path, monkeypatch) -> None:
    """18% of calls fail (HTTP 500, malformed bodies, non-JSON content for a JSON call, dropped connections)."""
    monkeypatch.setattr("langgraph_clarify.llm.RETRY_BACKOFF_S", 0.001)
    rng = random.Random(7)
    faults = [{"status": 500, "body": "boom"}, {"raw": "<html>502</html>"}, {"raw": "{}"}, {"drop": True}]
    replies = [rng.choice(faults) if rng.random() < 0.18 else {"content": "STOP"} for _ in range(1400)]
    stub_openai.script(replies, default={"content": "STOP"})
    tasks = tmp_path / "tasks.jsonl"
    base = bundled_tasks_path().read_text(encoding="utf-8").splitlines()
    rows = []
    for k in range(200):
        row = json.loads(base[k % len(base)])
        row["id"] = f"{row['id']}-{k}"
        rows.append(json.dumps(row))
    tasks.write_text("\n".join(rows) + "\n", encoding="utf-8")
    model = f"openai:stub@{stub_openai.base_url}"
    cfg = EvalConfig(
        tasks=[tasks],
        policies=[f"llm={model}"],
        turn_budgets=[2],
        writer=model,
        judge="lexical",
        out=tmp_path / "run",
        concurrency=16,
        progress=False,
    )
    summary = run_eval(cfg)
    results = read_results(cfg.out / RESULTS)
    assert len(results) == 200  # every episode accounted for
    retried = sum(1 for r in results for c in r["calls"] if c["attempt"] > 1)
    malformed = sum(1 for r in results for c in r["calls"] if c["error"] and "Unexpected response" in c["error"])
    assert retried > 30 and malformed > 0
    failed = [r for r in results if r["error"]]
    # an episode fails only when one call failed four times in a row (0.18^4 per call): each failure was
    # retried, and its reason names the fault
    assert len(failed) <= 5
    for r in failed:
        attempts = [c for c in r["calls"] if c["error"]][-4:]
        assert [c["attempt"] for c in attempts] == [1, 2, 3, 4] and "after 4 attempt(s)" in r["error"]
    (group,) = summary["groups"]
    assert group["errors"] == len(failed) and group["n"] == 200


def test_retry_failed_reruns_only_failed_episodes_and_exit_codes(tmp_path: Path, capsys, stub_openai) -> None:
    out = tmp_path / "run"
    broken = f"broken=openai:stub@{stub_openai.base_url}"
    stub_openai.script([], default={"status": 401, "body": "bad key"})
    argv = [
        "eval",
        "--policy",
        "offline",
        broken,
        "--out",
        str(out),
        "--max-turns",
        "1",
        "--no-progress",
        "--workers",
        "1",
    ]
    code = main(argv, out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 1 and "broken / 1 turns: every episode failed" in err and "HTTP 401" in err
    assert "--resume --retry-failed" in err
    rows = read_results(out / RESULTS)
    assert sum(1 for r in rows if r["error"]) == len(load_bundled())
    # a plain resume has nothing to do; --retry-failed reruns the failures once the server is fixed
    stub_openai.script([], default={"content": "STOP"})
    assert main([*argv, "--resume"], out=io.StringIO()) == 1
    assert main([*argv, "--resume", "--retry-failed"], out=io.StringIO()) == 0
    rows = list(read_rows(out / RESULTS))
    assert len(rows) == 2 * len(load_bundled()) and not any(r["error"] for r in rows)
    lines = (out / RESULTS).read_text().count("\n")
    assert lines == 3 * len(load_bundled())  # history kept; the last row of a key wins
