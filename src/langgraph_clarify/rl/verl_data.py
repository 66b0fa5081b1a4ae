"""verl datasets from our task files: one parquet row per task for :class:`~langgraph_clarify.rl.verl.ClarifyAgentLoop`.

verl's ``RLHFDataset`` reads parquet rows and hands every column to the agent loop. A row here carries:

- ``prompt``: the asker's first chat (system message, task and budget) exactly as the graph will send it,
  so verl's ``filter_overlong_prompts`` measures the prompt the policy really gets;
- ``agent_name``: ``clarify_agent``, which selects our agent loop;
- ``extra_info``: ``index`` (verl's sample index), ``task_id``, ``max_turns`` (the budget the prompt
  states, so the agent loop plays the same one) and ``task``, the whole :class:`MaskedTask` as JSON:
  the hidden part the oracle answers from travels with the row, never in the prompt;
- ``data_source`` (``clarify/<source>``, verl groups validation metrics by it), ``ability`` and
  ``reward_model`` (``ground_truth`` is the task id; verl logs it with validation samples).

No verl import: the rows are plain parquet, so the data can be prepared in any environment with pyarrow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..asker import asker_chat
from ..llm import message_dicts
from ..state import DialogueView
from ..tasks import MaskedTask
from .rollouts import load_task_files

AGENT_NAME = "clarify_agent"
"""The name the clarify agent loop is registered under (``actor_rollout_ref.rollout.agent``)."""


def task_row(task: MaskedTask, index: int, max_turns: int = 5, agent_name: str = AGENT_NAME) -> dict[str, Any]:
    """The verl dataset row of one task (see the module docstring)."""
    if max_turns < 1:
        raise ValueError(f"max_turns must be >= 1 for training, got {max_turns}")
    chat = asker_chat(DialogueView(explicit=task.explicit, max_turns=max_turns))
    return {
        "data_source": f"clarify/{task.source}",
        "agent_name": agent_name,
        "prompt": [dict(m) for m in message_dicts(chat)],
        "ability": "clarify",
        "reward_model": {"style": "clarify", "ground_truth": task.id},
        "extra_info": {"index": index, "task_id": task.id, "max_turns": max_turns, "task": task.model_dump_json()},
    }


def task_of(extra_info: Mapping[str, Any]) -> tuple[MaskedTask, int]:
    """The task and turn budget a row's ``extra_info`` carries (what the agent loop plays)."""
    try:
        return MaskedTask.model_validate_json(extra_info["task"]), int(extra_info["max_turns"])
    except KeyError as exc:
        raise ValueError(
            f"extra_info has no {exc.args[0]!r}: prepare the data with langgraph_clarify.rl.verl_data"
        ) from None


def split(tasks: Sequence[MaskedTask], val_fraction: float, seed: int = 0) -> tuple[list[MaskedTask], list[MaskedTask]]:
    """(train, val) by a hash of each task id: stable when tasks are added or reordered."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    train: list[MaskedTask] = []
    val: list[MaskedTask] = []
    for task in tasks:
        bucket = int(hashlib.sha1(f"{seed}:{task.id}".encode()).hexdigest()[:8], 16) / 0x1_0000_0000
        (val if bucket < val_fraction else train).append(task)
    return train, val


def write_parquet(tasks: Sequence[MaskedTask], path: Path, max_turns: int = 5, agent_name: str = AGENT_NAME) -> int:
    """Write the rows of ``tasks`` to ``path``; return how many."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not tasks:
        raise ValueError(f"{path}: no tasks to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([task_row(t, i, max_turns, agent_name) for i, t in enumerate(tasks)]), path)
    return len(tasks)


def read_tasks(path: Path) -> list[MaskedTask]:
    """The tasks of a prepared parquet file, in row order."""
    import pyarrow.parquet as pq

    return [task_of(info)[0] for info in pq.read_table(path, columns=["extra_info"]).column("extra_info").to_pylist()]


def prepare(
    task_files: Sequence[Path],
    out: Path,
    *,
    max_turns: int = 5,
    val_fraction: float = 0.1,
    seed: int = 0,
    fmt: str | None = None,
) -> dict[str, int]:
    """Task files (any format :func:`~langgraph_clarify.tasks.load_tasks` reads) to ``out/train.parquet``
    and ``out/val.parquet``; return the row counts."""
    train, val = split(load_task_files(list(task_files), fmt), val_fraction, seed)
    if val_fraction and not val:
        raise ValueError(
            f"no task fell in the validation split ({len(train)} tasks, val_fraction={val_fraction}): "
            "raise val_fraction, or set it to 0 for no validation set"
        )
    counts = {"train": write_parquet(train, out / "train.parquet", max_turns)}
    if val_fraction:
        counts["val"] = write_parquet(val, out / "val.parquet", max_turns)
    return counts
