"""Tests of the verl adapter. They run in their own environment (``make test-verl`` builds ``.venv-verl``:
verl 0.9.1 pins transformers<5.11); where verl is not installed (the main ``.venv``) this folder is not
collected at all, so the main suite never imports verl."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, distribution

# every model and tokenizer here is built inline: a hub look-up is a bug, and should fail at once
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _installed(name: str) -> bool:
    # by distribution, not import: with tests/ on sys.path this very folder is importable as "verl"
    try:
        distribution(name)
    except PackageNotFoundError:
        return False
    return True


collect_ignore_glob = [] if _installed("verl") else ["test_*.py"]
