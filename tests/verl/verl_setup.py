"""Paths and config composition shared by the verl tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "training" / "verl" / "config"
AGENT_LOOPS = ROOT / "training" / "verl" / "agent_loops.yaml"


def compose(name: str, overrides: list[str] | None = None) -> Any:
    """A verl trainer config of ours, composed by hydra with verl's own config package on the search path."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return hydra_compose(config_name=name, overrides=overrides or [])
