"""SFT baseline: TRL's SFTTrainer on emulated conversations in the policy protocol (see training/BASELINES.md).

python training/sft.py --config training/configs/sft_tiny.yaml [--output_dir DIR] [--max_steps N] ...
"""

from __future__ import annotations

import sys

from trl import ModelConfig, SFTConfig, TrlParser

from langgraph_clarify.rl.sft import SFTScriptArgs, train


def main(argv: list[str] | None = None) -> None:
    parser = TrlParser((SFTScriptArgs, SFTConfig, ModelConfig))
    args, config, model_args = parser.parse_args_and_config(argv)
    print(f"last checkpoint: {train(args, config, model_args)}", file=sys.stderr)


if __name__ == "__main__":
    main()
