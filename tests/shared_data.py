"""Where the read-only benchmark data sits (../shared/data beside the clone), and a skip when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DOLOMITES = DATA / "dolomites" / "dolomites_dev_examples.jsonl"
MEDIQ = DATA / "mediq" / "all_dev_good.jsonl"
ASKBENCH = DATA / "askbench" / "ask_mind_test.jsonl"


def need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"shared benchmark data not found at {path} (read-only ../shared/data is not mounted here)")
    return path
