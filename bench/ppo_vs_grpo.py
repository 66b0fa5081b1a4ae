"""One PPO update versus one TRL GRPO step on the same batch and model: training tokens/s and their ratio.

The batch is played once with the model itself through the clarify graph (real sampling); then the same
token sequences are trained on by our PPO (``PPOTrainer.update``: the no-grad pass for rollout values and
logprobs, GAE, one optimiser step over the whole batch) and by TRL's ``GRPOTrainer`` (a ``rollout_func``
that returns those sequences, answer tokens masked with ``env_mask``; beta 0, one iteration, so TRL needs no
old-logprob pass). Neither side generates inside the timed step. tokens/s counts every token of every
sequence (prompt included) per second of the step; the median over ``--repeats`` steps after a warm-up.

    python bench/ppo_vs_grpo.py                        # tiny random model (downloads nothing)
    python bench/ppo_vs_grpo.py --model smollm2-135m --episodes 8 --max_new_tokens 48
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langgraph_clarify.rl.ppo import PPOConfig, PPOTrainer, Rollout
from langgraph_clarify.tasks import load_bundled


def ppo_tokens_per_s(cfg: PPOConfig, batch: list[Rollout], repeats: int) -> dict[str, Any]:
    trainer = PPOTrainer(cfg, tasks=load_bundled())
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        trainer.update(batch)
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times[1:])
    tokens = sum(len(r.ids) for r in batch)
    return {"step_s": seconds, "tokens_per_s": tokens / seconds}


def grpo_tokens_per_s(cfg: PPOConfig, model_dir: str, batch: list[Rollout], group: int, repeats: int) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    prompts = [f"episode-{k}" for k in range(len(batch) // group)]
    by_prompt = {p: batch[k * group : (k + 1) * group] for k, p in enumerate(prompts)}

    def rollout_func(texts: list[str], trainer: Any) -> dict[str, Any]:
        seen: dict[str, int] = {}
        rows = []
        for text in texts:
            rows.append(by_prompt[text][seen.get(text, 0) % group])
            seen[text] = seen.get(text, 0) + 1
        return {
            "prompt_ids": [r.ids[: r.start] for r in rows],
            "completion_ids": [r.ids[r.start :] for r in rows],
            "logprobs": [r.sampled_logprobs for r in rows],
            "env_mask": [r.mask for r in rows],
            "episode_reward": [sum(r.rewards) for r in rows],
        }

    def reward(completions: list[Any], episode_reward: list[float], **_: Any) -> list[float | None]:
        return list(episode_reward)

    times: list[float] = []

    class Timer(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            self.t0 = time.perf_counter()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            times.append(time.perf_counter() - self.t0)

    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            output_dir=out,
            use_cpu=True,
            bf16=False,
            report_to="none",
            save_strategy="no",
            max_steps=repeats + 1,
            per_device_train_batch_size=len(batch),
            gradient_accumulation_steps=1,
            num_generations=group,
            max_completion_length=max(len(r.ids) - r.start for r in batch),
            learning_rate=cfg.actor_lr,
            beta=0.0,
            num_iterations=1,
            logging_steps=1,
            gradient_checkpointing=False,
            seed=cfg.seed,
        )
        trainer = GRPOTrainer(
            model=AutoModelForCausalLM.from_pretrained(model_dir),
            reward_funcs=[reward],
            args=args,
            train_dataset=Dataset.from_list([{"prompt": p} for p in prompts for _ in range(group)]),
            processing_class=AutoTokenizer.from_pretrained(model_dir),
            rollout_func=rollout_func,
            callbacks=[Timer()],
        )
        trainer.train()
    seconds = statistics.median(times[1:])
    tokens = sum(len(r.ids) for r in batch)
    return {"step_s": seconds, "tokens_per_s": tokens / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="tiny, smollm2-135m, or a model directory")
    parser.add_argument("--episodes", type=int, default=8, help="episodes in the batch")
    parser.add_argument("--group", type=int, default=4, help="GRPO group size (episodes per prompt)")
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--max_turns", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON result here")
    a = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ppo-vs-grpo-"))
    common = {
        "model": a.model,
        "output_dir": str(work / "ppo"),
        "batch_size": a.episodes,
        "samples_per_task": a.group,
        "minibatch_size": a.episodes,
        "micro_batch_size": a.episodes,
        "ppo_epochs": 1,
        "max_new_tokens": a.max_new_tokens,
        "max_turns": a.max_turns,
        "kl_coef": 0.0,
        "report_to": "none",
        "save_episodes": False,
    }
    player = PPOTrainer(PPOConfig(**common), tasks=load_bundled())
    batch, dropped = player.rollouts(player.batch_tasks(0))
    if len(batch) != a.episodes:
        raise SystemExit(f"{dropped}: every episode of the batch must be usable")
    model_dir = work / "model"
    player.policy.save_pretrained(str(model_dir))
    player.tokenizer.save_pretrained(str(model_dir))
    del player
    common["model"] = str(model_dir)  # both trainers start from the same saved weights
    grpo = grpo_tokens_per_s(PPOConfig(**common), str(model_dir), batch, a.group, a.repeats)
    result: dict[str, Any] = {
        "model": a.model,
        "episodes": a.episodes,
        "tokens_per_episode": sum(len(r.ids) for r in batch) / len(batch),
        "generated_per_episode": sum(sum(r.mask) for r in batch) / len(batch),
        "grpo": grpo,
    }
    for critic in ("separate", "shared"):
        ppo = ppo_tokens_per_s(PPOConfig(**{**common, "critic": critic}), batch, a.repeats)
        result[f"ppo_{critic}"] = {**ppo, "ratio_to_grpo": ppo["tokens_per_s"] / grpo["tokens_per_s"]}
    text = json.dumps(result, indent=1)
    print(text)
    if a.out:
        a.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
