"""What the checkpoint benchmark relies on, as behaviour: a person's episode (``clarify run --human
--checkpoint``) is checkpointed once per question (``durability="exit"``), not after every graph step, and still
resumes where it stopped after the process is gone."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from langgraph_clarify.tasks import load_bundled


def _clarify(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "langgraph_clarify.cli", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def _checkpoints(db: Path, thread: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", (thread,)).fetchone()[0])


def test_a_human_episode_is_checkpointed_once_per_question_and_resumes_after_a_restart(tmp_path: Path) -> None:
    task = load_bundled()[0]
    db = tmp_path / "human.sqlite"
    args = ["run", "--task", task.id, "--human", "--max-turns", "3", "--checkpoint", str(db), "--thread", "t1"]
    first = _clarify(args, "Use our SRE template.\n")  # answers question 1; stdin ends at question 2
    assert first.returncode == 0, first.stderr
    assert "[1/3]" in first.stdout and "[2/3]" in first.stdout and "paused" in first.stdout
    # one checkpoint where the run stopped at question 1, one at question 2; the five graph steps up to there
    # (input, ask, answer, ask, answer) would each have written one in the default durability
    assert _checkpoints(db, f"t1:{task.id}") == 2

    second = _clarify(args, "The CTO reads it.\n/stop\n")  # a new process on the same file
    assert second.returncode == 0, second.stderr
    assert "[1/3]" not in second.stdout and "[2/3]" in second.stdout
    assert "A1: Use our SRE template." in second.stdout and "A2: The CTO reads it." in second.stdout
    assert "stop: user_stop" in second.stdout and "--- draft ---" in second.stdout
