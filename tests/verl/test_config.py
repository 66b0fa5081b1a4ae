"""The verl configs in training/verl load with verl's own loader (hydra over verl's ``ppo_trainer``), pass
verl's checks, select our agent loop, and carry the paper's hyperparameters."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from hydra.utils import get_class
from omegaconf import OmegaConf
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import omega_conf_to_dataclass, validate_config
from verl.utils.import_utils import resolve_config_path
from verl_setup import CONFIG_DIR, ROOT, compose

from langgraph_clarify.rl.verl import ClarifyAgentLoop

LAYOUTS = {"clarify_qwen7b_8gpu": (1, 8), "clarify_qwen7b_2node": (2, 16)}


@pytest.mark.parametrize("name", LAYOUTS)
def test_layouts_compose_and_pass_verls_checks(name, tiny_dir) -> None:
    # verl builds the model config (tokenizer included) while validating: point it at a local model
    config = compose(name, [f"actor_rollout_ref.model.path={tiny_dir}"])
    validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    nnodes, workers = LAYOUTS[name]
    assert (config.trainer.nnodes, config.trainer.n_gpus_per_node) == (nnodes, 8)
    rollout = omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    assert rollout.agent.default_agent_loop == "clarify_agent" and rollout.agent.num_workers == workers
    assert rollout.prompt_length == config.data.max_prompt_length and rollout.response_length == 2048
    # the paper: PPO actor-critic (GAE), no KL, batch 256, minibatch 16, clip 0.2, lr 2e-5 / 1e-4, clip 1.0, 3 epochs
    actor, critic = config.actor_rollout_ref.actor, config.critic
    assert config.algorithm.adv_estimator == "gae" and need_critic(config) and not need_reference_policy(config)
    assert (config.data.train_batch_size, config.actor_rollout_ref.rollout.n, actor.ppo_mini_batch_size) == (256, 1, 16)
    assert actor.clip_ratio == 0.2 and actor.grad_clip == critic.grad_clip == 1.0
    assert (actor.optim.lr, critic.optim.lr) == (2e-5, 1e-4)
    assert config.trainer.total_epochs == 3 and config.trainer.use_v1
    assert config.critic.model.path == str(tiny_dir)


def test_agent_loop_file_selects_our_loop_from_the_repository_root(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    relative = compose("clarify_qwen7b_8gpu").actor_rollout_ref.rollout.agent.agent_loop_config_path
    entries = OmegaConf.load(resolve_config_path(relative))  # as verl's AgentLoopWorker loads it
    assert [e.name for e in entries] == ["clarify_agent"]
    assert get_class(entries[0]._target_) is ClarifyAgentLoop
    assert yaml.safe_load((ROOT / relative).read_text())[0]["reward"] == {}


def test_verls_entry_point_loads_the_two_node_config() -> None:
    # verl's own `python -m verl.trainer.main_ppo`, asked by hydra for the composed job config only (no Ray)
    args = ["-m", "verl.trainer.main_ppo", f"--config-path={CONFIG_DIR}", "--config-name=clarify_qwen7b_2node"]
    done = subprocess.run([sys.executable, *args, "--cfg", "job"], capture_output=True, text=True, check=True)
    job = yaml.safe_load(done.stdout)
    assert job["trainer"]["nnodes"] == 2 and job["algorithm"]["adv_estimator"] == "gae"
    assert job["actor_rollout_ref"]["rollout"]["agent"]["default_agent_loop"] == "clarify_agent"
