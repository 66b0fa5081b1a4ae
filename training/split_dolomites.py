"""Split the shared DOLOMITES examples by template for the real-model benchmark (training/README.md).

Examples of one template (task objective) share their hidden text, so the split is by template: a stable
hash of the objective sends one template in five to ``heldout.jsonl`` (never trained on) and the rest to
``train.jsonl``. ``train_fit.jsonl`` keeps the training examples whose first asker prompt fits
``--max-prompt-tokens`` under the policy's chat template (PPO's ``max_prompt_tokens`` filter, applied to
the file so PPO and GRPO train on exactly the same tasks; a 10.8k-token example ran a SmolLM2 run out of
24 GB).

    python training/split_dolomites.py [--data ../shared/data/dolomites/dolomites_dev_examples.jsonl]
        [--out runs/bench] [--model smollm2-135m] [--max-prompt-tokens 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from langgraph_clarify.asker import asker_chat
from langgraph_clarify.rl.hf import load_pretrained
from langgraph_clarify.rl.rollouts import load_task_files
from langgraph_clarify.rl.tokens import TokenChat
from langgraph_clarify.state import DialogueView
from langgraph_clarify.tasks import MaskedTask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dolomites" / "dolomites_dev_examples.jsonl"


def heldout(row: dict[str, Any]) -> bool:
    objective = row["task"]["task_objective"] if "task" in row else row["task_objective"]
    return int(hashlib.sha1(objective.encode()).hexdigest(), 16) % 5 == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="DOLOMITES examples (JSONL)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"), help="where the three files go")
    parser.add_argument("--model", default="smollm2-135m", help="the policy whose chat template measures prompts")
    parser.add_argument("--max-prompt-tokens", type=int, default=1024, help="longest first prompt kept for training")
    parser.add_argument("--max-turns", type=int, default=5, help="the budget the first prompt announces")
    args = parser.parse_args(argv)

    lines = [line for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    train = [line for line in lines if not heldout(json.loads(line))]
    test = [line for line in lines if heldout(json.loads(line))]
    (args.out / "train.jsonl").write_text("".join(f"{line}\n" for line in train), encoding="utf-8")
    (args.out / "heldout.jsonl").write_text("".join(f"{line}\n" for line in test), encoding="utf-8")

    tasks = load_task_files([args.out / "train.jsonl"], "dolomites")
    if len(tasks) != len(train):
        raise SystemExit(f"{args.out / 'train.jsonl'}: {len(train)} rows but {len(tasks)} tasks")
    _, tokenizer = load_pretrained(args.model)
    chat = TokenChat(tokenizer)

    def fits(task: MaskedTask) -> bool:
        view = DialogueView(explicit=task.explicit, turns=[], max_turns=args.max_turns)
        return len(chat.prompt_ids(asker_chat(view))) <= args.max_prompt_tokens

    kept = [line for line, task in zip(train, tasks, strict=True) if fits(task)]
    (args.out / "train_fit.jsonl").write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    templates = len({json.loads(line)["task"]["task_objective"] for line in test})
    print(
        f"train {len(train)} examples ({len(kept)} fit {args.max_prompt_tokens} prompt tokens: train_fit.jsonl), "
        f"held out {len(test)} examples of {templates} templates -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
