"""Train the asker with multi-turn PPO (per-question credit); see training/README.md.

    python training/ppo.py --config training/configs/ppo_tiny.yaml [--FIELD VALUE ...]
    accelerate launch --config_file training/accelerate/zero3_8gpu.yaml training/ppo.py \\
        --config training/configs/ppo_paper.yaml --output_dir runs/ppo-paper

Every field of ``PPOConfig`` is a flag (``--max_steps 5``, ``--output_dir DIR``, ``--lora true``) and overrides
the YAML. Metrics go to OUTPUT_DIR/metrics.jsonl, checkpoints to OUTPUT_DIR/checkpoint-STEP (each usable as
``hf:OUTPUT_DIR/checkpoint-STEP``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from langgraph_clarify.rl.ppo import PPOConfig, PPOTrainer


def parse_args(argv: Sequence[str] | None = None) -> PPOConfig:
    """``--config FILE.yaml`` plus field overrides (TRL's parser: the YAML sets defaults, flags win)."""
    from trl import TrlParser

    parser = TrlParser((PPOConfig,))  # type: ignore[arg-type]
    (cfg,) = parser.parse_args_and_config(list(argv) if argv is not None else None)
    return cfg  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    trainer = PPOTrainer(parse_args(argv))
    history = trainer.train()
    if trainer.accelerator.is_main_process and history:
        keys = ("step", "reward_mean", "question_share", "kl", "value_loss", "step_s")
        print(json.dumps({k: history[-1].get(k) for k in keys}))
        print(f"checkpoint: {trainer.out / f'checkpoint-{trainer.step}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
