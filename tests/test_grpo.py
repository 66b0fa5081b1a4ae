"""GRPO baseline: the rollout_func plays whole clarify episodes through the graph and hands TRL token-exact
completions with answers masked out; one step on varied rewards moves the weights; turn mode pays each
decision its own reward; the script reads a YAML config with CLI overrides and writes metrics.jsonl."""

from __future__ import annotations

import itertools
import json
import runpy
from pathlib import Path

import pytest

pytest.importorskip("trl")

from langgraph_clarify import create_clarify_graph, run_episode
from langgraph_clarify.rl.emulate import OfflineEmulator
from langgraph_clarify.rl.grpo import GRPOScriptArgs, build_trainer, decision_states
from langgraph_clarify.rl.hf import Generator, Sampling
from langgraph_clarify.rl.rollouts import CollectConfig, collect
from langgraph_clarify.tasks import bundled_tasks_path, load_bundled

ROOT = Path(__file__).resolve().parents[1]
TASK = load_bundled()[0]
Q1, Q2 = (t.question for t in OfflineEmulator(questions=2).dialogue(TASK, 5).turns)
# first replies cycle over the samples of a step: two questions then STOP, STOP at once, two questions in one turn
FIRST = [Q1, "STOP", Q1, f"{Q1} {Q2}"]


# The paper's evidence reward and a format penalty, written out so the figures below do not follow the defaults.
REWARD = (
    "evidence: 1\nnovelty: 0\ninformation: 0\nstop: 0\nrepeat_penalty: 0\nformat_penalty: 1\nlate_ask_penalty: 0\n"
    "judge: 0\n"
)
# Episode return of each first reply: two cited questions then STOP, STOP at once, a format failure.
RETURNS = {Q1: 2.0, "STOP": 0.0, f"{Q1} {Q2}": -1.0}


def cycled(monkeypatch: pytest.MonkeyPatch, every_turn: bool = False) -> None:
    """Make ``hf:`` generation reply FIRST in turn to each episode's first prompt (to every prompt with
    ``every_turn``), then Q2, then STOP."""
    firsts = itertools.cycle(FIRST)

    def generate(self: Generator, prompts: list[list[int]], sampling: Sampling):
        out = []
        for prompt in prompts:
            k = self.chat.tokenizer.decode(prompt).count("<|im_start|>assistant") - 1
            text = next(firsts) if k == 0 or every_turn else Q2 if k == 1 else "STOP"
            ids = [*self.chat.encode(text), self.chat.tokenizer.eos_token_id]
            out.append((ids, [-0.5] * len(ids), "stop"))
        return out

    monkeypatch.setattr(Generator, "generate", generate)


def grpo_config(out: Path, **kw):
    from trl import GRPOConfig

    base = dict(
        output_dir=str(out),
        num_generations=4,
        per_device_train_batch_size=4,
        max_steps=1,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        report_to="none",
        seed=0,
    )
    return GRPOConfig(**(base | kw))


def reward_file(tmp_path: Path) -> str:
    path = tmp_path / "reward.yaml"
    path.write_text(REWARD)
    return str(path)


def model_args(tiny_dir: Path):
    from trl import ModelConfig

    return ModelConfig(model_name_or_path=str(tiny_dir))


def test_rollout_func_returns_one_masked_episode_per_entry(tiny_dir, tmp_path, monkeypatch) -> None:
    cycled(monkeypatch)
    args = GRPOScriptArgs(task_limit=1, max_turns=4, max_new_tokens=16, reward_config=reward_file(tmp_path))
    trainer = build_trainer(args, grpo_config(tmp_path), model_args(tiny_dir))
    prompts = [TASK.id] * 8  # TRL repeats each prompt num_generations times (here two groups of one task)
    out = trainer.rollout_func(prompts, trainer)
    assert {"prompt_ids", "completion_ids", "logprobs", "env_mask"} <= set(out)
    assert all(len(v) == 8 for v in out.values())
    tok = trainer.processing_class
    eos = tok.eos_token_id
    firsts = []
    for i in range(8):
        completion, mask, logprobs = out["completion_ids"][i], out["env_mask"][i], out["logprobs"][i]
        assert len(completion) == len(mask) == len(logprobs)
        assert tok.decode(out["prompt_ids"][i]).endswith("<|im_start|>assistant\n")
        spans = [[t for t, _ in g] for m, g in itertools.groupby(zip(completion, mask, strict=True), lambda x: x[1])]
        generated = spans[0::2] if mask[0] else spans[1::2]
        environment = spans[1::2] if mask[0] else spans[0::2]
        first = tok.decode(generated[0][:-1])
        replies = [Q1, Q2, "STOP"] if first == Q1 else [first]
        # 1 exactly on the policy's own replies (end-of-turn included), 0 on answers and template tokens
        assert [tok.decode(s[:-1]) for s in generated] == replies and all(s[-1] == eos for s in generated)
        assert len(environment) == len(replies) - 1
        assert all("questions left" in tok.decode(s) and "<|im_start|>user" in tok.decode(s) for s in environment)
        assert [lp for lp, m in zip(logprobs, mask, strict=True) if m] == [-0.5] * sum(mask)
        assert all(lp == 0.0 for lp, m in zip(logprobs, mask, strict=True) if not m)
        assert out["clarify_reward"][i] == RETURNS[first] and out["asks"][i] == len(replies) - 1
        assert out["invalid"][i] == (first not in (Q1, "STOP"))
        firsts.append(first)
    assert sorted(firsts) == sorted(FIRST * 2)


def test_script_one_step_with_varied_rewards_moves_the_weights(tiny_dir, tmp_path, monkeypatch) -> None:
    import torch
    from safetensors.torch import load_file

    cycled(monkeypatch)
    out = tmp_path / "run"
    script = runpy.run_path(str(ROOT / "training" / "grpo.py"))
    argv = ["--config", str(ROOT / "training/configs/grpo_tiny.yaml"), "--output_dir", str(out), "--max_steps", "1"]
    overrides = ["--model_name_or_path", str(tiny_dir), "--task_limit", "1", "--reward_config", reward_file(tmp_path)]
    script["main"]([*argv, *overrides, "--max_turns", "4", "--per_device_train_batch_size", "4"])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["step"] == 1 and rows[0]["kl"] is None  # beta 0: no KL computed
    assert rows[0]["reward_mean"] == pytest.approx((2 + 0 + 2 - 1) / 4)  # one group: FIRST
    assert rows[0]["grad_norm"] > 0 and rows[0]["question_share"] == pytest.approx(4 / 8)
    before = load_file(str(tiny_dir / "model.safetensors"))
    after = load_file(str(out / "checkpoint-1" / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # the checkpoint is an hf: policy: it plays an episode through the graph
    monkeypatch.undo()
    result = run_episode(create_clarify_graph(f"hf:{out / 'checkpoint-1'}?max_new_tokens=8", max_turns=2), TASK)
    assert result.error is None and result.calls[0]["completion_ids"]


def test_identical_rewards_give_zero_gradient_and_the_budget_stops_the_run(tiny_dir, tmp_path, monkeypatch) -> None:
    from langgraph_clarify.rl.grpo import train

    def empty(self: Generator, prompts: list[list[int]], sampling: Sampling):
        return [([self.chat.tokenizer.eos_token_id], [-0.1], "stop")] * len(prompts)

    monkeypatch.setattr(Generator, "generate", empty)
    # a wall-clock budget spent after the first step stops the run there and saves that step
    args = GRPOScriptArgs(task_limit=1, reward_config=reward_file(tmp_path), time_budget_s=0)
    config = grpo_config(tmp_path, max_steps=3, save_strategy="steps", save_steps=100)
    assert train(args, config, model_args(tiny_dir)) == tmp_path / "checkpoint-1"
    row = json.loads((tmp_path / "metrics.jsonl").read_text())  # one step, one row
    assert row["reward_std"] == 0 and row["grad_norm"] == 0  # every episode an empty reply: one reward, no signal


def test_turn_mode_pays_each_decision_its_own_reward(tiny_dir, tmp_path, monkeypatch) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(bundled_tasks_path().read_text().splitlines()[0] + "\n")
    collect(CollectConfig(tasks=[tasks], policy="offline", out=tmp_path / "col", samples=1, progress=False))
    states = decision_states(tmp_path / "col", [TASK], max_turns=5)
    assert list(states) == [f"{TASK.id}|0#{k}" for k in range(len(states))] and len(states) >= 2
    cycled(monkeypatch, every_turn=True)
    col = str(tmp_path / "col")
    args = GRPOScriptArgs(tasks=[str(tasks)], granularity="turn", collection=col, reward_config=reward_file(tmp_path))
    trainer = build_trainer(args, grpo_config(tmp_path / "run"), model_args(tiny_dir))
    key = f"{TASK.id}|0#1"  # after the heuristic asker's first question
    out = trainer.rollout_func([key] * 4, trainer)
    tok = trainer.processing_class
    prompt = tok.decode(out["prompt_ids"][0])
    assert states[key].turns[0]["question"] in prompt and "(4 questions left" in prompt
    assert all(m == [1] * len(c) for m, c in zip(out["env_mask"], out["completion_ids"], strict=True))
    # one decision each, paid its own reward: a cited question +1, STOP 0, two questions in one turn -1
    paid = sorted((tok.decode(c[:-1]), r) for c, r in zip(out["completion_ids"], out["clarify_reward"], strict=True))
    assert paid == sorted([(Q1, 1.0), ("STOP", 0.0), (Q1, 1.0), (f"{Q1} {Q2}", -1.0)])
    assert out["decisions"] == [1] * 4
