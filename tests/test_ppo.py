"""Multi-turn PPO: GAE by hand across masked answer tokens, learning on a keyword toy task, KL against itself,
resume, checkpoints as hf: policies, and the weight-sync seam (in process and over HTTP to a fake vLLM)."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("accelerate")

import torch

from langgraph_clarify.llm import resolve_model
from langgraph_clarify.rl.ppo import METRICS, PPOConfig, PPOTrainer, merge_metrics
from langgraph_clarify.rl.ppo_core import gae, masked_whiten, policy_loss, value_loss
from langgraph_clarify.rl.weights import InProcessSync, LoRAAdapterSync
from langgraph_clarify.tasks import load_bundled
from test_policy import scripted

TASKS = load_bundled()[:4]
ROOT = Path(__file__).resolve().parents[1]


def config(tiny_dir: Path, out: Path, **kw: Any) -> PPOConfig:
    base: dict[str, Any] = {
        "model": str(tiny_dir),
        "output_dir": str(out),
        "max_steps": 2,
        "batch_size": 4,
        "minibatch_size": 2,
        "micro_batch_size": 2,
        "max_new_tokens": 8,
        "max_turns": 3,
        "report_to": "none",
        "recompute_logprobs": True,  # scripted replies carry made-up logprobs
    }
    return PPOConfig(**{**base, **kw})


# ---- GAE and losses by hand --------------------------------------------------------------------------


def test_gae_carries_values_and_advantage_across_masked_answer_tokens() -> None:
    # question 1 = positions 0-1 (reward 1.0 on its last token), answer = 2-4 (masked), question 2 = 5-6 (0.5)
    mask = torch.tensor([[1, 1, 0, 0, 0, 1, 1]])
    rewards = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5]])
    values = torch.tensor([[0.5, 0.6, 9.0, 9.0, 9.0, 0.2, 0.4]])  # values on answer tokens must not matter
    # gamma = lam = 1: the advantage is the rewards still to come minus the value
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    on = mask[0].bool()
    assert adv[0, on].tolist() == pytest.approx([1.0, 0.9, 0.3, 0.1])
    assert ret[0, on].tolist() == pytest.approx([1.5, 1.5, 0.5, 0.5])
    # gamma 0.9, lam 0.8, by hand over the generated tokens only (one discount from question 1 to question 2):
    # d6 = .5 - .4 = .1;            A6 = .1
    # d5 = .9*.4 - .2 = .16;        A5 = .16 + .72*.1 = .232
    # d1 = 1 + .9*.2 - .6 = .58;    A1 = .58 + .72*.232 = .74704
    # d0 = .9*.6 - .5 = .04;        A0 = .04 + .72*.74704 = .5778688
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    assert adv[0, on].tolist() == pytest.approx([0.5778688, 0.74704, 0.232, 0.1])
    assert ret[0, on].tolist() == pytest.approx([1.0778688, 1.34704, 0.432, 0.5])
    # a longer answer changes nothing (OpenRLHF/SkyRL's mask-multiply would discount once per answer token)
    long_mask = torch.tensor([[1, 1] + [0] * 9 + [1, 1]])
    long_rewards = torch.tensor([[0.0, 1.0] + [0.0] * 9 + [0.0, 0.5]])
    long_values = torch.tensor([[0.5, 0.6] + [-3.0] * 9 + [0.2, 0.4]])
    long_adv, _ = gae(long_rewards, long_values, long_mask, gamma=0.9, lam=0.8)
    assert long_adv[0, long_mask[0].bool()].tolist() == pytest.approx(adv[0, on].tolist())


def test_gae_rows_are_independent_and_padding_is_inert() -> None:
    mask = torch.tensor([[1, 1, 0, 1], [1, 1, 0, 0]])  # row 2: two generated tokens then padding
    rewards = torch.tensor([[0.0, 1.0, 0.0, 2.0], [0.0, 3.0, 0.0, 0.0]])
    values = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 7.0, 8.0]])
    adv, _ = gae(rewards, values, mask, 0.9, 0.95)
    alone, _ = gae(rewards[1:, :2], values[1:, :2], mask[1:, :2], 0.9, 0.95)
    assert adv[1, :2].tolist() == pytest.approx(alone[0].tolist())


def test_losses_clip_and_whiten() -> None:
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    old = torch.zeros(1, 3)
    adv = torch.tensor([[1.0, -1.0, 5.0]])
    # ratio e^0.5 > 1.2 with a positive advantage: clipped; ratio 1 with a negative one: not
    loss, clip_frac, _ = policy_loss(torch.tensor([[0.5, 0.0, 0.0]]), old, adv, mask, clip=0.2)
    assert float(clip_frac) == pytest.approx(0.5)
    assert float(loss) == pytest.approx((-1.2 + 1.0) / 2)
    v_loss, v_clip = value_loss(torch.tensor([[1.0, 0.0, 0.0]]), old, torch.tensor([[1.0, 0.0, 0.0]]), mask, 0.2)
    assert float(v_clip) == pytest.approx(0.5) and float(v_loss) == pytest.approx(0.5 * (0.8**2 + 0.0) / 2)
    white = masked_whiten(torch.tensor([[1.0, 3.0, 100.0]]), mask)
    assert white[0, :2].tolist() == pytest.approx([-0.70710678, 0.70710678], rel=1e-4)


# ---- the trainer -------------------------------------------------------------------------------------


def test_multi_turn_rollouts_put_each_reward_on_its_last_generated_token(tiny_dir, tmp_path, monkeypatch) -> None:
    scripted(monkeypatch, ["Who will read it?", "How long should it be?", "STOP"])
    trainer = PPOTrainer(config(tiny_dir, tmp_path, kl_coef=0.05, gradient_checkpointing=True), tasks=TASKS)
    batch, dropped = trainer.rollouts(TASKS[:2])
    assert len(batch) == 2 and not dropped
    for r in batch:
        assert len(r.rewards) == 3 and r.episode.ending["kind"] == "stop"
        region = r.ids[r.start :]
        runs, k = [], 0
        while k < len(r.mask):  # the generated spans of the response region
            if r.mask[k]:
                end = k
                while end < len(r.mask) and r.mask[end]:
                    end += 1
                runs.append((k, end))
                k = end
            else:
                k += 1
        assert len(runs) == 3  # two questions and STOP, separated by masked answer tokens
        texts = [trainer.tokenizer.decode(region[a:b], skip_special_tokens=True) for a, b in runs]
        assert texts == ["Who will read it?", "How long should it be?", "STOP"]
        assert [k for k, s in enumerate(r.scores) if s] == [
            b - 1 for (a, b), rew in zip(runs, r.rewards, strict=True) if rew
        ]
        assert all(r.scores[b - 1] == pytest.approx(rew) for (_, b), rew in zip(runs, r.rewards, strict=True))
    # KL is zero against itself: the reference is the untouched initial policy
    prepared = trainer.prepare(batch)
    assert prepared["stats"]["kl"] == 0.0
    metrics = trainer.update(batch)
    assert {"policy_loss", "value_loss", "clip_frac", "entropy", "grad_norm_actor"} <= set(metrics)


def test_lora_reference_is_the_policy_with_adapters_disabled(tiny_dir, tmp_path, monkeypatch) -> None:
    scripted(monkeypatch, ["Who will read it?", "STOP"])
    cfg = config(tiny_dir, tmp_path, lora=True, critic="shared", kl_coef=0.1, gradient_checkpointing=True)
    trainer = PPOTrainer(cfg, tasks=TASKS)
    assert trainer.reference is None  # no second copy of the weights
    batch, _ = trainer.rollouts(TASKS[:2])
    assert trainer.prepare(batch)["stats"]["kl"] == 0.0  # fresh adapters are the identity
    trainer.update(batch)
    trainer.update(batch)
    assert trainer.prepare(batch)["stats"]["kl"] != 0.0


def keyword_reward(tokenizer: Any) -> tuple[set[int], Any]:
    """The keyword toy task: a reply earns the share of its tokens that contain the letter 'e'."""
    keyword = {i for t, i in tokenizer.get_vocab().items() if "e" in t.lower()}

    def reward_fn(episode: Any, task: Any, steps: list[Any]) -> list[float]:
        return [sum(t in keyword for t in s.completion_ids) / max(len(s.completion_ids), 1) for s in steps]

    return keyword, reward_fn


def test_ppo_learns_the_keyword_toy_task_and_the_value_loss_falls(tiny_dir, tmp_path) -> None:
    from transformers import AutoTokenizer

    _, reward_fn = keyword_reward(AutoTokenizer.from_pretrained(str(tiny_dir)))
    cfg = config(
        tiny_dir,
        tmp_path,
        max_steps=6,
        batch_size=16,
        minibatch_size=8,
        micro_batch_size=8,
        ppo_epochs=4,
        max_turns=1,
        actor_lr=1e-2,
        critic_lr=3e-3,
        kl_coef=0.0,
        seed=1,
        recompute_logprobs=None,  # in process: the generator's own logprobs are the old ones
    )
    sync = InProcessSync()
    history = PPOTrainer(cfg, tasks=load_bundled()[:8], reward_fn=reward_fn, weight_sync=sync).train()
    share = [m["reward_mean"] for m in history]
    assert sum(share[-2:]) / 2 > sum(share[:2]) / 2 + 0.1, share
    assert history[-1]["value_loss"] < history[0]["value_loss"] / 5
    assert history[-1]["kl"] is None  # no reference with kl_coef 0
    assert sync.pushed == [0, 1, 2, 3, 4, 5, 6]  # the seam: the initial weights, then after every update
    rows = [json.loads(line) for line in (tmp_path / METRICS).read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {"reward_mean", "kl", "value_loss", "entropy", "clip_frac", "question_share", "format_failures"} <= set(
        rows[0]
    )


def test_resume_continues_the_step_count_and_the_optimiser(tiny_dir, tmp_path, monkeypatch) -> None:
    scripted(monkeypatch, ["Who will read it?", "STOP"])
    first = PPOTrainer(config(tiny_dir, tmp_path, max_steps=2), tasks=TASKS)
    first.train()
    saved = tmp_path / "checkpoint-2"
    assert saved.is_dir() and (saved / "tokenizer.json").exists()
    adam_steps = {int(s["step"]) for s in first.optimizer.state_dict()["state"].values()}
    weights = {k: v.clone() for k, v in first.policy.state_dict().items()}

    second = PPOTrainer(config(tiny_dir, tmp_path, max_steps=3, resume_from_checkpoint="latest"), tasks=TASKS)
    assert second.step == 2
    assert {int(s["step"]) for s in second.optimizer.state_dict()["state"].values()} == adam_steps
    assert all(torch.equal(v, weights[k]) for k, v in second.policy.state_dict().items())
    history = second.train()
    assert [m["step"] for m in history] == [3]
    steps = [json.loads(line)["step"] for line in (tmp_path / METRICS).read_text().splitlines()]
    assert steps == [1, 2, 3]
    # the checkpoint is an hf: policy with the trained weights
    policy = resolve_model(f"hf:{tmp_path / 'checkpoint-3'}")
    loaded = policy.engine.model.state_dict()
    assert all(torch.allclose(loaded[k], v.cpu()) for k, v in second.policy.state_dict().items() if k in loaded)


def test_tasks_with_overlong_prompts_are_left_out(tiny_dir, tmp_path, capsys) -> None:
    trainer = PPOTrainer(config(tiny_dir, tmp_path, max_prompt_tokens=4096), tasks=TASKS)
    lengths = sorted(len(r.ids) for r in trainer.rollouts(TASKS)[0])
    assert len(trainer.tasks) == 4
    with pytest.raises(ValueError, match="no tasks to train on"):
        PPOTrainer(config(tiny_dir, tmp_path, max_prompt_tokens=10), tasks=TASKS)
    assert "left out 4 of 4 tasks longer than 10 prompt tokens" in capsys.readouterr().out
    assert lengths[0] > 10


def test_a_time_budget_stops_after_the_step_that_reaches_it(tiny_dir, tmp_path, monkeypatch, capsys) -> None:
    scripted(monkeypatch, ["STOP"])
    history = PPOTrainer(config(tiny_dir, tmp_path, max_steps=5, time_budget_s=0.01), tasks=TASKS).train()
    assert [m["step"] for m in history] == [1] and (tmp_path / "checkpoint-1").is_dir()
    # the progress bar shows the steps done out of max_steps and the last step's reward
    bar = capsys.readouterr().err.replace("\r", "\n")
    assert history[0]["reward_mean"] < 0  # STOP at once, with everything still hidden, is penalised
    assert "ppo:" in bar and "1/5" in bar and f"reward {history[0]['reward_mean']:.3f} questions 0.00" in bar


# ---- the vLLM weight-sync seam against a fake server -------------------------------------------------


class FakeVLLM:
    """Serves /v1/completions with one scripted reply (token ids and logprobs, like vLLM with
    return_token_ids) and records every request, in order, with the time it arrived."""

    def __init__(self, reply_ids: list[int]):
        self.events: list[tuple[str, dict[str, Any], float]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                fake.events.append((self.path, body, time.time()))
                reply: dict[str, Any] = {}
                if self.path == "/v1/completions":
                    reply = {
                        "choices": [
                            {
                                "text": "STOP",
                                "token_ids": reply_ids,
                                "prompt_token_ids": body["prompt"],
                                "logprobs": {"token_logprobs": [-0.5] * len(reply_ids)},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": len(body["prompt"]), "completion_tokens": len(reply_ids)},
                    }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_lora_weights_are_pushed_to_vllm_after_each_update(tiny_dir, tmp_path) -> None:
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    fake = FakeVLLM(tok("STOP", add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
    try:
        cfg = config(
            tiny_dir,
            tmp_path / "run",
            generation="vllm",
            vllm_url=fake.url,
            lora=True,
            critic="shared",
            entropy_coef=0.1,
            actor_lr=1e-2,
        )
        sync = LoRAAdapterSync(fake.url, "policy", tmp_path / "sync", keep=10)
        trainer = PPOTrainer(cfg, tasks=TASKS, weight_sync=sync)
        trainer.train()
    finally:
        fake.close()
    kinds = [path for path, _, _ in fake.events]
    loads = [(body, k) for k, (path, body, _) in enumerate(fake.events) if path == "/v1/load_lora_adapter"]
    assert [Path(b["lora_path"]).name for b, _ in loads] == ["step-0", "step-1", "step-2"]
    assert all(b["lora_name"] == "policy" and b["load_inplace"] for b, _ in loads)
    # each load is followed by a prefix-cache reset, and each step's generation comes after the previous push
    assert all(kinds[k + 1] == "/reset_prefix_cache" for _, k in loads)
    completions = [k for k, path in enumerate(kinds) if path == "/v1/completions"]
    assert len(completions) == 8 and all(fake.events[k][1]["model"] == "policy" for k in completions)
    assert loads[0][1] < completions[0] and all(loads[1][1] < k for k in completions[4:])
    assert all(k < loads[1][1] for k in completions[:4]) and all(k < loads[2][1] for k in completions)
    # what was pushed is what the trainer holds: step 2's adapter equals the final LoRA weights
    pushed = [load_file(str(Path(b["lora_path"]) / "adapter_model.safetensors")) for b, _ in loads]
    assert any(not torch.equal(pushed[1][k], pushed[2][k]) for k in pushed[2])
    live = {k: v for k, v in trainer.policy.state_dict().items() if "lora_" in k}
    for name, value in pushed[2].items():
        match = [v for k, v in live.items() if k.replace(".default", "") == name]
        assert len(match) == 1 and torch.equal(match[0].cpu(), value)
    # and the LoRA checkpoint loads as an hf: policy (adapter merged into its base)
    policy = resolve_model(f"hf:{tmp_path / 'run' / 'checkpoint-2'}")
    ids = torch.tensor([tok("Who reads it?", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        expected = trainer.policy(input_ids=ids).logits
        assert torch.allclose(policy.engine.model(input_ids=ids).logits, expected, atol=1e-4)


# ---- configs and the script --------------------------------------------------------------------------


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("ppo_script", ROOT / "training" / "ppo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["ppo_paper", "ppo_clarify", "ppo_smollm_cpu", "ppo_tiny"])
def test_shipped_configs_parse_and_flags_override_them(name: str, tmp_path: Path) -> None:
    path = ROOT / "training" / "configs" / f"{name}.yaml"
    cfg = _script().parse_args(["--config", str(path), "--output_dir", str(tmp_path), "--max_steps", "3"])
    assert cfg == PPOConfig.from_yaml(path, output_dir=str(tmp_path), max_steps=3)
    if name == "ppo_paper":
        assert (cfg.batch_size, cfg.minibatch_size, cfg.clip_range, cfg.actor_lr, cfg.critic_lr) == (
            256,
            16,
            0.2,
            2e-5,
            1e-4,
        )
        assert (cfg.max_grad_norm, cfg.num_epochs, cfg.max_turns, cfg.reward) == (1.0, 3, 5, "paper")
    if name == "ppo_clarify":
        assert cfg.reward == "default" and cfg.batch_size == 256


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="micro_batch_size <= minibatch_size"):
        PPOConfig(minibatch_size=2, micro_batch_size=4)
    with pytest.raises(ValueError, match="weight_sync=lora needs lora=true"):
        PPOConfig(generation="vllm", vllm_url="http://x/v1", weight_sync="lora")
    with pytest.raises(ValueError, match="generation=vllm needs vllm_url"):
        PPOConfig(generation="vllm")
    with pytest.raises(ValueError, match="unknown PPO config field"):
        PPOConfig.from_yaml(ROOT / "training" / "configs" / "ppo_tiny.yaml", nope=1)


def test_importing_the_trainer_imports_no_torch() -> None:
    import subprocess
    import sys

    heavy = "{'torch', 'transformers', 'accelerate'}"
    code = f"import sys, langgraph_clarify.rl.ppo; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_metrics_of_several_processes_merge_into_the_whole_batch() -> None:
    parts = [
        {"step": 3, "reward_mean": 1.0, "kl": None, "episodes": 8.0, "update_s": 2.0, "generate_tokens_per_s": 10.0},
        {"step": 3, "reward_mean": 0.0, "kl": None, "episodes": 8.0, "update_s": 3.0, "generate_tokens_per_s": 12.0},
    ]
    merged = merge_metrics([*parts[:1], {**parts[1], "failed_episodes": 1.0}])
    assert merged == {
        "step": 3,
        "reward_mean": 0.5,
        "kl": None,
        "episodes": 16.0,
        "update_s": 3.0,
        "generate_tokens_per_s": 22.0,
        "failed_episodes": 1.0,
    }
