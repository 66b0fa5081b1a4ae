"""The ``clarify`` command: task validation, oracle runs, and human runs through interrupt/resume."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from langgraph_clarify.cli import main
from langgraph_clarify.tasks import bundled_tasks_path, load_bundled
from shared_data import MEDIQ, need


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_tasks_summary() -> None:
    code, text = run("tasks", str(bundled_tasks_path()))
    n = len(load_bundled())
    assert code == 0 and f"{n} tasks, format native" in text
    assert "hidden sentences:" in text and "checklist items:" in text


def test_tasks_bad_file_names_file_line_and_field(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    good = bundled_tasks_path().read_text(encoding="utf-8").splitlines()[0]
    row = json.loads(good)
    row["objective"] = 7
    bad.write_text(good + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    code, _ = run("tasks", str(bad))
    err = capsys.readouterr().err
    assert code == 1 and "bad.jsonl:2" in err and "objective" in err and "Traceback" not in err
    code, text = run("tasks", str(bad), "--skip-invalid")
    assert code == 0 and "skipped invalid rows: 1" in text


def test_run_json_results() -> None:
    tasks = load_bundled()
    code, text = run("run", "--task", tasks[0].id, "--task", tasks[1].id, "--max-turns", "2", "--json")
    assert code == 0
    results = json.loads(text)
    assert [r["task_id"] for r in results] == [tasks[0].id, tasks[1].id]
    assert all(len(r["turns"]) == 2 and r["draft"] and r["stop_reason"] == "budget" for r in results)
    assert {c["role"] for c in results[0]["calls"]} == {"asker", "oracle", "writer"}


def test_run_transcript_and_summary_line() -> None:
    code, text = run("run", "--limit", "3", "--max-turns", "3")
    assert code == 0
    assert text.count("\n=== ") == 3 and "Q1:" in text and "cited [" in text and "--- draft ---" in text
    last = text.strip().splitlines()[-1]
    assert last.startswith("3 episodes | mean evidence reward") and "mean coverage" in last


def test_run_unknown_task_and_bad_model(capsys) -> None:
    try:
        run("run", "--task", "nope")
    except SystemExit as exc:
        assert "unknown task id" in str(exc)
    else:
        raise AssertionError("expected SystemExit")
    code, _ = run("run", "--limit", "1", "--asker", "gpt-4o")
    assert code == 1 and "unknown model 'gpt-4o'; accepted: offline, openai:<model>" in capsys.readouterr().err


def test_run_on_shared_mediq_slice() -> None:
    path = need(MEDIQ)
    code, text = run("run", "--tasks", str(path), "--limit", "5", "--json")
    results = json.loads(text)
    assert code == 0 and len(results) == 5
    assert all(r["draft"].rstrip().endswith(".") and "The answer is" in r["draft"] for r in results)


def test_human_threads_belong_to_their_task(tmp_path) -> None:
    first, second = load_bundled()[:2]
    db = tmp_path / "human.sqlite"
    base = ["run", "--human", "--max-turns", "2", "--checkpoint", str(db), "--thread", "t1"]
    one = _cli([*base, "--task", first.id], "It is for the board.\n")
    assert one.returncode == 0 and f"(thread t1:{first.id})" in one.stdout
    # the same thread name on another task starts that task's own episode, never the first one's
    other = _cli([*base, "--task", second.id], "")
    assert f"(thread t1:{second.id})" in other.stdout and "It is for the board." not in other.stdout
    assert second.objective[:40] in other.stdout


def test_cli_rejects_bad_numbers_and_stray_flags(capsys) -> None:
    import pytest

    for argv in (["run", "--max-turns", "-1"], ["eval", "--workers", "0"], ["run", "--timeout", "0"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "must be" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="only apply with --human"):
        run("run", "--checkpoint", "x.sqlite")
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and "clarify" in capsys.readouterr().out


def _cli(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "langgraph_clarify.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_human_episode_survives_a_process_restart(tmp_path) -> None:
    task = load_bundled()[0]
    db = tmp_path / "human.sqlite"
    args = ["run", "--task", task.id, "--human", "--max-turns", "3", "--checkpoint", str(db), "--thread", "t1"]
    # process 1: answers question 1, then an empty answer (rejected), then stdin ends
    first = _cli(args, "Use our SRE template.\n   \n")
    assert first.returncode == 0, first.stderr
    assert "[1/3]" in first.stdout and "[2/3]" in first.stdout
    assert "rejected: an answer cannot be empty" in first.stdout and "Value error" not in first.stdout
    assert "paused\nresume with --thread t1 --checkpoint" in first.stdout
    # process 2: same thread, picks up at question 2 (not 1), answers it, then stops the questions
    second = _cli(args, "The CTO reads it.\n/stop\n")
    assert second.returncode == 0, second.stderr
    assert "[1/3]" not in second.stdout and "[2/3]" in second.stdout and "[3/3]" in second.stdout
    # the earlier dialogue is shown when the thread resumes
    assert "(resuming thread t1:" in second.stdout and second.stdout.index("A1: Use our SRE") < second.stdout.index(
        "[2/3]"
    )
    assert "A1: Use our SRE template." in second.stdout and "A2: The CTO reads it." in second.stdout
    assert "stop: user_stop" in second.stdout and "--- draft ---" in second.stdout


def test_help_of_every_command_states_each_default_once(capsys) -> None:
    import re

    import pytest

    from langgraph_clarify.cli import COMMANDS

    for command in COMMANDS:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert text.startswith(f"usage: clarify {command}")
        # one "(default: ...)" per option at most, and none that says nothing
        for option in re.split(r"\s(?=--[a-z])", text):
            assert option.count("(default:") <= 1, option
        assert "(default: None)" not in text and "(default: False)" not in text and "(default: [])" not in text
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    assert "bootstrap intervals (default: 0)" in " ".join(capsys.readouterr().out.split())  # 0 is not False
