"""Rollouts: collect episodes through the graph, export token-exact training rows with per-turn rewards,
re-score without replaying, resume a killed collection, refuse what cannot be exported."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("datasets")

from langgraph_clarify.cli import main
from langgraph_clarify.episodes import EpisodeResult
from langgraph_clarify.rewards import RewardConfig
from langgraph_clarify.rl.rollouts import (
    EPISODES,
    CollectConfig,
    ExportError,
    collect,
    decision_rewards,
    export,
)
from langgraph_clarify.runs import read_rows
from langgraph_clarify.tasks import bundled_tasks_path, load_bundled
from test_policy import scripted

TASKS = load_bundled()[:4]
REPLIES = ["Who will read it?", "What sections must it have?", "Who reads it? And how long?"]


@pytest.fixture
def small_tasks(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("\n".join(bundled_tasks_path().read_text(encoding="utf-8").splitlines()[:4]) + "\n")
    return path


def _collect(tiny_dir: Path, tasks: Path, out: Path, **kw) -> None:
    cfg = CollectConfig(tasks=[tasks], policy=f"hf:{tiny_dir}", out=out, samples=2, max_turns=4, progress=False, **kw)
    collect(cfg)


def test_collect_and_export_masks_and_rewards(tiny_dir, small_tasks, tmp_path, monkeypatch) -> None:
    from datasets import load_from_disk

    scripted(monkeypatch, REPLIES)  # two questions, then two questions in one turn: a format failure
    _collect(tiny_dir, small_tasks, tmp_path / "col")
    rows = list(read_rows(tmp_path / "col" / EPISODES))
    assert len(rows) == 8 and all(r["error"] is None for r in rows)
    assert all(r["stop_reason"] == "invalid_reply" and r["ending"]["reason"] == "2 questions in one turn" for r in rows)
    cfg = RewardConfig(evidence=1.0, novelty=0.0, format_penalty=1.0)
    counts = export(tmp_path / "col", TASKS, tmp_path / "exp", cfg)
    assert counts == {"turns": 24, "episodes": 8, "skipped": {}}
    episodes, turns = (
        load_from_disk(str(tmp_path / "exp" / "episodes")),
        load_from_disk(str(tmp_path / "exp" / "turns")),
    )
    assert len(episodes) == 8 and len(turns) == 24
    by_episode: dict[str, list[dict]] = {}
    for t in turns:
        by_episode.setdefault(t["episode_id"], []).append(t)
    for ep in episodes:
        steps = sorted(by_episode[ep["episode_id"]], key=lambda t: t["turn"])
        ids, mask, rewards = ep["input_ids"], ep["assistant_mask"], ep["token_rewards"]
        assert len(ids) == len(mask) == len(rewards)
        # the episode is the last prompt plus the last completion
        assert ids == steps[-1]["prompt_ids"] + steps[-1]["completion_ids"]
        # the mask is 1 exactly on generated tokens, and each reward sits on its turn's last generated token
        generated = [i for i, m in enumerate(mask) if m]
        spans = [(len(s["prompt_ids"]), len(s["prompt_ids"]) + len(s["completion_ids"])) for s in steps]
        assert generated == [i for a, b in spans for i in range(a, b)]
        assert [ids[a:b] for a, b in spans] == [s["completion_ids"] for s in steps]
        assert [i for i, r in enumerate(rewards) if r] == [
            b - 1 for a, b in spans if abs(steps[spans.index((a, b))]["reward"]) > 0
        ]
        assert [rewards[b - 1] for _, b in spans] == pytest.approx([s["reward"] for s in steps])
        # answer and template tokens are never in the mask
        assert all(m == 0 for m in mask[: spans[0][0]])
        assert [s["done"] for s in steps] == [False, False, True]
        assert steps[-1]["reward"] == pytest.approx(-1.0)  # the format failure, no evidence
    parquet = __import__("pyarrow.parquet", fromlist=["x"]).read_table(tmp_path / "exp" / "episodes.parquet")
    assert parquet.num_rows == 8 and parquet.column_names == episodes.column_names


def test_a_new_reward_config_rescores_without_replaying(tiny_dir, small_tasks, tmp_path, monkeypatch) -> None:
    from datasets import load_from_disk

    scripted(monkeypatch, ["Who will read it?", "Who will read it?", "STOP"])
    _collect(tiny_dir, small_tasks, tmp_path / "col")
    before = (tmp_path / "col" / EPISODES).read_bytes()
    paper = RewardConfig(evidence=1.0, novelty=0.0, repeat_penalty=0.0)
    repeat = RewardConfig(evidence=0.0, novelty=1.0, repeat_penalty=0.5)
    export(tmp_path / "col", TASKS, tmp_path / "a", paper)
    export(tmp_path / "col", TASKS, tmp_path / "b", repeat)
    assert (tmp_path / "col" / EPISODES).read_bytes() == before  # nothing replayed
    a = {(t["episode_id"], t["turn"]): t["reward"] for t in load_from_disk(str(tmp_path / "a" / "turns"))}
    b = {(t["episode_id"], t["turn"]): t["reward"] for t in load_from_disk(str(tmp_path / "b" / "turns"))}
    rows = {r["key"]: r for r in read_rows(tmp_path / "col" / EPISODES)}
    for row in rows.values():
        episode = EpisodeResult.model_validate({k: v for k, v in row.items() if k in EpisodeResult.model_fields})
        task = next(t for t in TASKS if t.id == row["task_id"])
        first, second = episode.turns
        # hand-computed: the repeated question earns novelty 0 and the repeat penalty
        assert decision_rewards(episode, task, repeat)[:2] == pytest.approx([float(bool(first["new_cited"])), -0.5])
        assert decision_rewards(episode, task, paper)[:2] == pytest.approx(
            [float(bool(first["cited"])), float(bool(second["cited"]))]
        )
    assert a != b and set(a) == set(b)


def test_export_refuses_episodes_without_token_ids(small_tasks, tmp_path) -> None:
    cfg = CollectConfig(tasks=[small_tasks], policy="offline", out=tmp_path / "col", samples=1, progress=False)
    collect(cfg)
    with pytest.raises(ExportError, match="recorded no token ids; collect with a token-exact policy"):
        export(tmp_path / "col", TASKS, tmp_path / "exp")


def test_collect_cli_resumes_after_a_kill_and_reexports(tiny_dir, small_tasks, tmp_path, stub_openai) -> None:
    """A served policy whose every reply takes 0.4 s; the collection is killed midway and resumed."""
    from langgraph_clarify.rl.served import load_tokenizer

    tok = load_tokenizer(str(tiny_dir))
    stop = tok("STOP", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    stub_openai.script([], default={"content": "STOP", "token_ids": stop, "delay": 0.4})
    out = tmp_path / "col"
    argv = [
        "collect",
        "--tasks",
        str(small_tasks),
        "--policy",
        f"vllm:{tiny_dir}@{stub_openai.base_url}",
        "--samples",
        "3",
        "--out",
        str(out),
        "--concurrency",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen([sys.executable, "-m", "langgraph_clarify.cli", *argv], start_new_session=True)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and len(list(read_rows(out / EPISODES))) < 3:
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    partial = len(list(read_rows(out / EPISODES)))
    assert 3 <= partial < 12
    stub_openai.script([], default={"content": "STOP", "token_ids": stop})
    text = io.StringIO()
    assert main([*argv, "--resume", "--export", str(tmp_path / "exp")], out=text) == 0
    keys = [r["key"] for r in read_rows(out / EPISODES)]
    assert len(keys) == 12 == len(set(keys))
    assert "exported 12 episodes, 12 turns" in text.getvalue()
    # on a finished collection, --resume only re-exports, with a new reward config
    (tmp_path / "r.yaml").write_text("evidence: 0\nstop: 1\n")
    text = io.StringIO()
    assert (
        main([*argv, "--resume", "--export", str(tmp_path / "exp2"), "--reward", str(tmp_path / "r.yaml")], out=text)
        == 0
    )
    assert "exported 12 episodes" in text.getvalue() and len(stub_openai.requests()) >= 12 - partial


def test_bad_reward_config_names_file_and_field(tmp_path, capsys) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text(json.dumps({"evidnce": 1}))
    code = main(
        [
            "collect",
            "--tasks",
            str(bundled_tasks_path()),
            "--policy",
            "offline",
            "--out",
            str(tmp_path / "c"),
            "--reward",
            str(bad),
        ]
    )
    assert code == 1 and "r.yaml" in capsys.readouterr().err
