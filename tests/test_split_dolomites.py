"""``training/split_dolomites.py``: the benchmark's split keeps every template on one side, and the prompt
filter keeps exactly the training examples whose first asker prompt fits."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

from shared_data import DOLOMITES, need

SPLIT = runpy.run_path(str(Path(__file__).parents[1] / "training" / "split_dolomites.py"))


def _objectives(path: Path) -> list[str]:
    return [json.loads(line)["task"]["task_objective"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_split_by_template_and_prompt_filter(tiny_dir: Path, tmp_path: Path) -> None:
    data = need(DOLOMITES)
    rows = [line for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert SPLIT["main"](["--data", str(data), "--out", str(tmp_path), "--model", str(tiny_dir)]) == 0
    train, held = _objectives(tmp_path / "train.jsonl"), _objectives(tmp_path / "heldout.jsonl")
    assert len(train) + len(held) == len(rows) and train and held
    assert not set(train) & set(held)  # no template on both sides
    assert len(set(held)) >= 40  # the benchmark's "at least 40 unseen templates"
    everything = (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()

    def fitting(limit: int) -> list[str]:
        argv = [
            "--data",
            str(data),
            "--out",
            str(tmp_path),
            "--model",
            str(tiny_dir),
            "--max-prompt-tokens",
            str(limit),
        ]
        assert SPLIT["main"](argv) == 0
        return (tmp_path / "train_fit.jsonl").read_text(encoding="utf-8").splitlines()

    assert fitting(10**6) == everything
    long, short = fitting(1024), fitting(400)
    assert set(short) < set(long) < set(everything)  # a tighter limit keeps a strict subset, in file order
    assert [line for line in everything if line in set(long)] == long
