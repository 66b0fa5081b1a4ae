"""Dataset preparation: our task files become verl parquet prompts and come back unchanged, and verl's own
``RLHFDataset`` reads them into what the clarify agent loop needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl.utils.dataset.rl_dataset import RLHFDataset
from verl_setup import ROOT, compose

from langgraph_clarify.rl.rollouts import load_task_files
from langgraph_clarify.rl.tokens import TokenChat
from langgraph_clarify.rl.verl_data import AGENT_NAME, prepare, read_tasks, task_of
from langgraph_clarify.tasks import bundled_tasks_path

# a second file in another of our formats (DOLOMITES, flat layout)
DOLOMITES = [
    {
        "field": "Law",
        "task_objective": f"Draft a tenancy notice {k}",
        "task_procedure": "Check the notice period. Cite the statute.",
        "task_input": "The tenant and the address.",
        "task_output": "One page. Formal tone.",
        "task_notes": "",
        "example_input": f"Tenant {k} at 12 Elm Street.",
        "example_output": "",
    }
    for k in range(3)
]


@pytest.fixture
def task_files(tmp_path: Path) -> list[Path]:
    other = tmp_path / "dolomites.jsonl"
    other.write_text("".join(json.dumps(row) + "\n" for row in DOLOMITES), encoding="utf-8")
    return [bundled_tasks_path(), other]


def test_prepared_parquet_round_trips_the_task_files(task_files, tmp_path) -> None:
    tasks = load_task_files(task_files)
    counts = prepare(task_files, tmp_path / "a", max_turns=3, val_fraction=0.25, seed=1)
    train, val = read_tasks(tmp_path / "a" / "train.parquet"), read_tasks(tmp_path / "a" / "val.parquet")
    assert counts == {"train": len(train), "val": len(val)} and train and val
    # every task exactly once, field for field (hidden sentences and their indices included)
    assert sorted([*train, *val], key=lambda t: t.id) == sorted(tasks, key=lambda t: t.id)
    # the split is a function of the ids and the seed: the same again, another with another seed
    prepare(list(reversed(task_files)), tmp_path / "b", max_turns=3, val_fraction=0.25, seed=1)
    assert {t.id for t in read_tasks(tmp_path / "b" / "val.parquet")} == {t.id for t in val}
    prepare(task_files, tmp_path / "c", max_turns=3, val_fraction=0.25, seed=2)
    assert {t.id for t in read_tasks(tmp_path / "c" / "val.parquet")} != {t.id for t in val}


def test_verls_dataset_reads_what_the_agent_loop_plays(task_files, tiny_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf"))
    prepare(task_files, tmp_path / "d", max_turns=3, val_fraction=0.0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    data = compose("clarify_qwen7b_8gpu", [f"actor_rollout_ref.model.path={tiny_dir}"]).data
    config = OmegaConf.create({**OmegaConf.to_container(data, resolve=True), "cache_dir": str(tmp_path / "verl")})
    dataset = RLHFDataset([str(tmp_path / "d" / "train.parquet")], tokenizer, config)
    tasks = load_task_files(task_files)
    assert len(dataset) == len(tasks)
    for k in (0, len(tasks) - 1):
        row = dataset[k]
        task, budget = task_of(row["extra_info"])
        assert task == tasks[k] and budget == 3 and row["index"] == k
        assert row["agent_name"] == AGENT_NAME and row["data_source"] == f"clarify/{task.source}"
        # the chat verl measures is the asker's first prompt, budget stated, hidden part absent
        chat = list(row["raw_prompt"])
        user = chat[1]["content"]
        assert chat[0]["role"] == "system" and task.objective in user and "3 questions" in user
        assert not any(h.text in user for h in task.hidden)
        assert len(TokenChat(tokenizer).start(chat)) < config.max_prompt_length
    # verl's own length filter drops rows whose prompt would not fit
    short = OmegaConf.merge(config, {"max_prompt_length": 16})
    assert len(RLHFDataset([str(tmp_path / "d" / "train.parquet")], tokenizer, short)) == 0


def test_the_script_writes_train_and_val(tmp_path) -> None:
    script = ROOT / "training" / "verl" / "prepare_data.py"
    args = [sys.executable, str(script), "--tasks", str(bundled_tasks_path()), "--out", str(tmp_path / "out")]
    done = subprocess.run([*args, "--val-fraction", "0.25"], capture_output=True, text=True, check=True)
    counts = json.loads(done.stdout)
    assert counts["train"] + counts["val"] == len(load_task_files([bundled_tasks_path()]))
    assert (tmp_path / "out" / "train.parquet").is_file() and (tmp_path / "out" / "val.parquet").is_file()
    # too few tasks for the held-out share: said so, nothing half-written
    failed = subprocess.run(
        [*args, "--val-fraction", "0.01", "--out", str(tmp_path / "x")], capture_output=True, text=True
    )
    assert failed.returncode != 0 and "validation split" in failed.stderr and not (tmp_path / "x").exists()
