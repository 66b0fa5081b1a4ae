"""What the GRPO and SFT baselines share: the script arguments about tasks, a trainable copy of the policy,
``metrics.jsonl``, a wall-clock budget, and checkpoints that load back as ``hf:`` policies.

Both scripts follow TRL's pattern, ``TrlParser((ScriptArgs, XConfig, ModelConfig))``: a YAML file gives
the defaults and any field can be overridden on the command line. ``model_name_or_path`` (ModelConfig)
takes ``tiny`` (a tiny random Qwen2 built from a config, nothing downloaded), ``hf:smollm2-135m``, any
``hf:<dir>`` or ``.gguf`` file, or a Hugging Face hub id (GPU runs).

torch and transformers are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..tasks import MaskedTask, bundled_tasks_path
from .rollouts import load_task_files

TINY = "tiny"
BUNDLED = "bundled"


@dataclass
class TaskArgs:
    """Script arguments about the tasks and the episode, shared by ``training/grpo.py`` and ``training/sft.py``."""

    tasks: list[str] = field(
        default_factory=lambda: [BUNDLED],
        metadata={"help": "task files (JSONL, any format `clarify tasks` reads); 'bundled' = the package's own"},
    )
    tasks_format: str | None = field(default=None, metadata={"help": "native, dolomites, mediq or askbench"})
    task_limit: int | None = field(default=None, metadata={"help": "use only the first N tasks"})
    max_turns: int = field(default=5, metadata={"help": "question budget per episode (the paper's n = 5)"})
    time_budget_s: float | None = field(
        default=None,
        metadata={"help": "stop after this many seconds of training (saving a checkpoint): equal wall-clock runs"},
    )

    def load_tasks(self) -> list[MaskedTask]:
        paths = [bundled_tasks_path() if p == BUNDLED else Path(p) for p in self.tasks]
        tasks = load_task_files(paths, self.tasks_format)[: self.task_limit]
        if not tasks:
            raise ValueError(f"no tasks in {', '.join(self.tasks)}")
        return tasks


def load_trainable(name: str, output_dir: str | Path, dtype: str | None = None) -> tuple[Any, Any]:
    """A fresh (model, tokenizer) to train, never the shared copy ``hf:`` loading caches for evaluation.

    A GGUF model (``hf:smollm2-135m``) loads dequantised, and transformers refuses to save it; it is rebuilt
    from its config without ``quantization_config`` and given the same weights, so checkpoints save.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..testing import tiny_policy
    from .hf import SMOLLM2, smollm2_gguf

    spec = name.removeprefix("hf:")
    if spec == TINY:
        spec = str(tiny_policy(Path(output_dir) / "init"))
    target = smollm2_gguf() if spec == SMOLLM2 else Path(spec)
    torch_dtype = getattr(torch, dtype) if dtype not in (None, "auto") else None
    if target.suffix == ".gguf":
        folder, gguf = str(target.parent), target.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf, padding_side="left")
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        del loaded
    else:
        where = str(target) if target.exists() else spec  # a hub id (GPU machines with the hub reachable)
        tokenizer = AutoTokenizer.from_pretrained(where, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype or "auto")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def check_model_args(model_args: Any) -> None:
    """Refuse what would make a checkpoint unusable as an ``hf:`` policy."""
    if getattr(model_args, "use_peft", False):
        raise ValueError(
            "use_peft is not supported by the GRPO/SFT baselines: their checkpoints must be whole models that "
            "`clarify eval --policy name=hf:DIR` loads; train all weights (ZeRO-3 for 7B, see training/BASELINES.md)"
        )
    if not getattr(model_args, "model_name_or_path", None):
        raise ValueError("model_name_or_path is required: tiny, hf:smollm2-135m, a model directory or a hub id")


def callbacks(output_dir: str | Path, time_budget_s: float | None) -> list[Any]:
    """``metrics.jsonl`` (one object per logging step) and the wall-clock budget, as Trainer callbacks."""
    from transformers import TrainerCallback

    class Metrics(TrainerCallback):  # type: ignore[misc]
        """Appends each training log as one JSON object; ``reward_mean`` and ``kl`` always present for GRPO
        (``kl`` null when TRL did not compute it, e.g. beta 0)."""

        def __init__(self) -> None:
            self.path = Path(output_dir) / "metrics.jsonl"
            self.started = time.monotonic()
            self.last = self.started

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if not logs or "train_runtime" in logs or not state.is_world_process_zero:
                return
            now = time.monotonic()
            row: dict[str, Any] = {"step": state.global_step}
            if "reward" in logs:
                row["reward_mean"] = logs["reward"]
                row["kl"] = logs.get("kl")
            row["loss"] = logs.get("loss")
            row["step_time_s"] = round((now - self.last) / max(args.logging_steps, 1), 3)
            row["elapsed_s"] = round(now - self.started, 3)
            row.update({k: v for k, v in logs.items() if k not in row and k != "reward"})
            self.last = now
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")

    class WallClock(TrainerCallback):  # type: ignore[misc]
        """Stops after ``time_budget_s`` seconds of training and saves that step's checkpoint."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.started = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if time_budget_s is not None and time.monotonic() - self.started >= time_budget_s:
                control.should_training_stop = True
                control.should_save = args.save_strategy != "no"

    return [Metrics(), WallClock()]


def save_final(trainer: Any) -> Path:
    """``OUTPUT_DIR/checkpoint-STEP`` for the last step (model and tokenizer), unless the trainer saved it."""
    out = Path(trainer.args.output_dir) / f"checkpoint-{trainer.state.global_step}"
    if not (out / "config.json").exists():
        trainer.save_model(str(out))
    return out
