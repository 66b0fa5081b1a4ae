"""GRPO baseline: TRL's GRPOTrainer playing whole clarify episodes through the graph (see training/BASELINES.md).

python training/grpo.py --config training/configs/grpo_tiny.yaml [--output_dir DIR] [--max_steps N] ...
"""

from __future__ import annotations

import sys

from trl import GRPOConfig, ModelConfig, TrlParser

from langgraph_clarify.rl.grpo import GRPOScriptArgs, train


def main(argv: list[str] | None = None) -> None:
    parser = TrlParser((GRPOScriptArgs, GRPOConfig, ModelConfig))
    args, config, model_args = parser.parse_args_and_config(argv)
    print(f"last checkpoint: {train(args, config, model_args)}", file=sys.stderr)


if __name__ == "__main__":
    main()
