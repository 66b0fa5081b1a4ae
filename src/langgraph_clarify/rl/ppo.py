"""Multi-turn PPO for the asker, with per-question credit.

One PPO step: play ``batch_size`` episodes through the clarify graph with the current policy against the
oracle; turn each episode into one token sequence whose generated tokens are the actions (answer and
template tokens masked, :func:`~langgraph_clarify.rl.rollouts.episode_tensors`), with each decision's
reward on its last generated token and a per-token KL penalty against a frozen reference; estimate
advantages by GAE over the generated tokens, carrying values across the masked answer tokens
(:mod:`~langgraph_clarify.rl.ppo_core`); run ``ppo_epochs`` passes of clipped policy and value updates
over minibatches; push the new weights to the generator (:mod:`~langgraph_clarify.rl.weights`).

Design (see training/README.md for the memory table):

- **Critic.** ``critic="separate"`` (default, verl's and the paper's setup): a value head on its own copy of
  the policy's backbone, so value regression never moves the policy's features; costs a second trainable
  backbone. ``critic="shared"``: a value head on the policy's last hidden state, one backbone forward gives
  both logits and values (the cheap choice with LoRA on one GPU); the value loss (times ``vf_coef``) also
  trains the policy's backbone.
- **Reference.** A frozen copy of the initial policy; with LoRA, the policy itself with its adapters
  disabled (no second copy). Not built when ``kl_coef`` is 0.
- **Actor and critic** are one module with one optimiser and two parameter groups (``actor_lr``,
  ``critic_lr``), so ``accelerate``/DeepSpeed wrap a single model; gradients are clipped per group.

torch, transformers, accelerate and peft are imported when a trainer is built, never at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from ..episodes import EpisodeResult, arun_episode
from ..rewards import RewardConfig
from ..runs import progress
from ..tasks import MaskedTask
from .rollouts import Decision, ExportError, decisions, episode_tensors, load_task_files
from .weights import InProcessSync, LoRAAdapterSync, NCCLSync, WeightSync

#: ``model`` value that builds a tiny random Qwen2 chat model (tokenizer trained inline): downloads nothing.
TINY = "tiny"
METRICS = "metrics.jsonl"
EPISODES_LOG = "episodes.jsonl"
STATE = "trainer_state.json"
RewardFn = Callable[[EpisodeResult, MaskedTask, list[Decision]], list[float]]
"""Custom per-decision rewards (one float per decision); the default reads ``PPOConfig.reward``."""


@dataclass
class PPOConfig:
    """Everything a PPO run needs; YAML keys and ``training/ppo.py --FIELD`` flags are these field names."""

    # ---- model and data ----
    model: str = field(
        default=TINY,
        metadata={
            "help": "policy: a model directory, a .gguf file, 'smollm2-135m', or 'tiny' (a tiny random model built in "
            "OUTPUT_DIR/tiny-base); an 'hf:' prefix is accepted"
        },
    )
    tasks: list[str] = field(
        default_factory=list, metadata={"help": "task files (JSONL); 'bundled' or empty: the bundled tasks"}
    )
    task_format: str | None = field(
        default=None, metadata={"help": "task file format (native, dolomites, mediq, askbench); None: detect"}
    )
    limit_tasks: int | None = field(default=None, metadata={"help": "use only the first N tasks"})
    max_prompt_tokens: int | None = field(
        default=2048,
        metadata={
            "help": "leave out tasks whose first asker prompt is longer (their batches would dominate memory: "
            "attention over a padded batch is quadratic in length); None: keep all"
        },
    )
    output_dir: str = field(
        default="ppo-out", metadata={"help": "metrics.jsonl, episodes.jsonl and checkpoint-STEP directories go here"}
    )
    seed: int = field(default=0, metadata={"help": "seed of task order, sampling and initialisation"})
    # ---- schedule ----
    max_steps: int = field(default=10, metadata={"help": "PPO steps (one batch of episodes and its update each)"})
    num_epochs: float | None = field(
        default=None,
        metadata={
            "help": "passes over the tasks (x samples_per_task); when set, steps = ceil(epochs * items / batch_size)"
        },
    )
    batch_size: int = field(default=16, metadata={"help": "episodes per step (over all processes)"})
    samples_per_task: int = field(default=1, metadata={"help": "episodes per task within a step's batch"})
    minibatch_size: int = field(default=4, metadata={"help": "episodes per optimiser step"})
    micro_batch_size: int = field(
        default=2, metadata={"help": "episodes per forward/backward (gradient accumulation within a minibatch)"}
    )
    ppo_epochs: int = field(default=1, metadata={"help": "passes over each batch"})
    time_budget_s: float | None = field(
        default=None,
        metadata={
            "help": "stop after the first step that ends this many seconds after training started (checkpoint saved): "
            "equal wall-clock runs"
        },
    )
    # ---- optimisation ----
    actor_lr: float = field(default=1e-5, metadata={"help": "policy learning rate"})
    critic_lr: float = field(
        default=1e-4, metadata={"help": "critic (value head, and its backbone when separate) learning rate"}
    )
    max_grad_norm: float = field(
        default=1.0, metadata={"help": "gradient-norm clip, applied to actor and critic separately"}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    clip_range: float = field(default=0.2, metadata={"help": "policy ratio clip epsilon"})
    value_clip_range: float | None = field(
        default=0.2, metadata={"help": "value clip around the rollout values; None: unclipped"}
    )
    vf_coef: float = field(default=1.0, metadata={"help": "weight of the value loss"})
    entropy_coef: float = field(default=0.001, metadata={"help": "entropy bonus weight"})
    kl_coef: float = field(
        default=0.01, metadata={"help": "per-token KL penalty against the reference (0: no reference model)"}
    )
    gamma: float = field(
        default=1.0, metadata={"help": "discount per generated token (environment tokens are not discounted)"}
    )
    lam: float = field(default=0.95, metadata={"help": "GAE lambda"})
    recompute_logprobs: bool | None = field(
        default=None,
        metadata={
            "help": "old logprobs from a trainer forward before the update, or the generator's own (false: one "
            "policy forward less per step; exact in process); None: recompute for served generators only"
        },
    )
    whiten_advantages: bool = field(
        default=True, metadata={"help": "normalise advantages over the batch's generated tokens"}
    )
    # ---- model structure ----
    critic: Literal["separate", "shared"] = field(
        default="separate", metadata={"help": "value head on its own backbone, or on the policy's"}
    )
    lora: bool = field(default=False, metadata={"help": "train LoRA adapters (peft) instead of all weights"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})
    lora_target_modules: str = field(
        default="all-linear", metadata={"help": "comma-separated module names, or 'all-linear'"}
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "recompute activations in backward (less memory, ~30% slower)"}
    )
    bf16: bool | None = field(
        default=None, metadata={"help": "bfloat16 weights and autocast; None: on when CUDA is available"}
    )
    # ---- episodes ----
    max_turns: int = field(default=5, metadata={"help": "question budget per episode"})
    max_new_tokens: int = field(default=64, metadata={"help": "tokens per asker reply"})
    temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature (logprobs are recomputed at the same temperature)"}
    )
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling"})
    oracle: str = field(
        default="offline", metadata={"help": "who answers: offline/lexical, embedding, or a model string"}
    )
    writer: str = field(default="offline", metadata={"help": "who drafts at the end (not trained)"})
    reward: str = field(
        default="default",
        metadata={"help": "'default' (RewardConfig()), 'paper' (RewardConfig.paper()) or a reward YAML"},
    )
    concurrency: int = field(default=8, metadata={"help": "episodes in flight"})
    generation_batch_size: int = field(default=8, metadata={"help": "hf: most prompts per generate call"})
    # ---- generation backend and weight sync ----
    generation: Literal["hf", "vllm"] = field(
        default="hf", metadata={"help": "hf: in process; vllm: a vLLM server at vllm_url"}
    )
    vllm_url: str | None = field(default=None, metadata={"help": "vLLM OpenAI base URL, e.g. http://127.0.0.1:8000/v1"})
    vllm_model_name: str | None = field(
        default=None,
        metadata={
            "help": "name requests use (LoRA: the adapter name, default 'policy'; full weights: the served model)"
        },
    )
    weight_sync: Literal["auto", "inprocess", "lora", "nccl"] = field(
        default="auto",
        metadata={"help": "how new weights reach the generator; auto: inprocess for hf, lora with LoRA, else nccl"},
    )
    weight_sync_dir: str | None = field(
        default=None, metadata={"help": "LoRA sync: adapter directory shared with the server"}
    )
    # ---- output ----
    save_steps: int = field(default=0, metadata={"help": "checkpoint every N steps (0: only at the end)"})
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "a checkpoint-STEP directory, or 'latest' in output_dir"}
    )
    report_to: Literal["auto", "none", "tensorboard", "wandb"] = field(
        default="auto", metadata={"help": "metric trackers besides metrics.jsonl; auto: tensorboard when installed"}
    )
    save_episodes: bool = field(
        default=True, metadata={"help": "append every episode (questions, answers, rewards) to episodes.jsonl"}
    )
    progress: bool = field(
        default=True, metadata={"help": "a progress bar over steps on stderr (main process) with the last reward"}
    )

    def __post_init__(self) -> None:
        positive = ("max_steps", "batch_size", "samples_per_task", "minibatch_size", "micro_batch_size", "ppo_epochs")
        for name in (*positive, "max_new_tokens", "concurrency", "generation_batch_size", "lora_r"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size % self.samples_per_task:
            raise ValueError(f"batch_size {self.batch_size} is not a multiple of samples_per_task")
        if self.minibatch_size > self.batch_size or self.micro_batch_size > self.minibatch_size:
            raise ValueError("need micro_batch_size <= minibatch_size <= batch_size")
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {self.max_turns}")
        for name in ("actor_lr", "critic_lr", "max_grad_norm", "clip_range", "temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("kl_coef", "entropy_coef", "vf_coef", "weight_decay", "lora_dropout", "save_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (0 <= self.gamma <= 1 and 0 <= self.lam <= 1 and 0 < self.top_p <= 1):
            raise ValueError("gamma and lam must be in [0, 1] and top_p in (0, 1]")
        if self.value_clip_range is not None and self.value_clip_range <= 0:
            raise ValueError("value_clip_range must be > 0 or None")
        if self.num_epochs is not None and self.num_epochs <= 0:
            raise ValueError("num_epochs must be > 0")
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 1:
            raise ValueError("max_prompt_tokens must be >= 1 or None")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError("time_budget_s must be > 0")
        if self.critic not in ("separate", "shared"):
            raise ValueError(f"critic must be 'separate' or 'shared', got {self.critic!r}")
        if self.generation not in ("hf", "vllm"):
            raise ValueError(f"generation must be 'hf' or 'vllm', got {self.generation!r}")
        if self.generation == "vllm" and not self.vllm_url:
            raise ValueError("generation=vllm needs vllm_url")
        sync = self.sync_kind
        if self.generation == "hf" and sync != "inprocess":
            raise ValueError(f"generation=hf trains the generating model in place: weight_sync {sync!r} does not apply")
        if self.generation == "vllm" and sync == "inprocess":
            raise ValueError("generation=vllm needs weight_sync lora or nccl")
        if sync == "lora" and not self.lora:
            raise ValueError("weight_sync=lora needs lora=true")
        self.model = self.model.removeprefix("hf:")
        self.reward_config()  # a bad reward name or file fails here

    @property
    def recompute(self) -> bool:
        return self.generation != "hf" if self.recompute_logprobs is None else self.recompute_logprobs

    @property
    def sync_kind(self) -> str:
        if self.weight_sync != "auto":
            return self.weight_sync
        if self.generation == "hf":
            return "inprocess"
        return "lora" if self.lora else "nccl"

    def reward_config(self) -> RewardConfig:
        if self.reward == "default":
            return RewardConfig()
        if self.reward == "paper":
            return RewardConfig.paper()
        return RewardConfig.from_yaml(self.reward)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> PPOConfig:
        import yaml

        data = {**(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}), **overrides}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown PPO config field(s) {', '.join(unknown)}")
        return cls(**data)

    def steps(self, n_items: int) -> int:
        """Total steps: ``max_steps``, or what ``num_epochs`` passes over ``n_items`` episodes take."""
        if self.num_epochs is None:
            return self.max_steps
        return max(1, math.ceil(self.num_epochs * n_items / self.batch_size))


# ---- rollouts as training data --------------------------------------------------------------------


@dataclass
class Rollout:
    """One episode as PPO data. Per-token fields cover the *response region*: from the first generated
    token (``start``) to the end of the sequence, aligned with ``ids[start:]``."""

    ids: list[int]
    """The whole episode's token ids (prompt, questions, answers, ...)."""
    start: int
    """Index of the first generated token in ``ids``."""
    mask: list[int]
    """1 on generated tokens of the response region, 0 on environment tokens."""
    scores: list[float]
    """Each decision's reward on its last generated token, 0 elsewhere."""
    sampled_logprobs: list[float]
    """Logprobs the generator reported (0 on environment tokens): the old logprobs unless recomputed."""
    episode: EpisodeResult
    rewards: list[float]
    """Per-decision rewards."""


def to_rollout(episode: EpisodeResult, steps: list[Decision]) -> Rollout:
    ids, mask, scores = episode_tensors(steps)
    start = mask.index(1)
    sampled = [0.0] * len(ids)
    for step in steps:
        end = len(step.prompt_ids) + len(step.completion_ids)
        sampled[len(step.prompt_ids) : end] = step.logprobs
    return Rollout(ids, start, mask[start:], scores[start:], sampled[start:], episode, [s.reward for s in steps])


def task_stream(items: Sequence[MaskedTask], samples: int, seed: int) -> Iterator[MaskedTask]:
    """Tasks in a reproducible order: each pass a new shuffle, each task ``samples`` times in a row (so a
    step's batch holds whole groups); resuming at step k skips the first ``k * batch_size`` items."""
    epoch = 0
    while True:
        order = list(items)
        random.Random(seed + epoch).shuffle(order)
        for task in order:
            for _ in range(samples):
                yield task
        epoch += 1


# ---- the trainer ------------------------------------------------------------------------------------


class PPOTrainer:
    """Online PPO over clarify episodes; see the module docstring. ``train()`` runs to ``max_steps``."""

    def __init__(
        self,
        cfg: PPOConfig,
        *,
        tasks: Sequence[MaskedTask] | None = None,
        reward_fn: RewardFn | None = None,
        weight_sync: WeightSync | None = None,
    ):
        import torch
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        from ..graph import create_clarify_graph
        from ..tasks import bundled_tasks_path
        from .hf import HFChatModel

        self.cfg = cfg
        self.out = Path(cfg.output_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        bf16 = torch.cuda.is_available() if cfg.bf16 is None else cfg.bf16
        trackers = _trackers(cfg.report_to)
        self.accelerator = Accelerator(
            mixed_precision="bf16" if bf16 else "no", log_with=trackers or None, project_dir=str(self.out)
        )
        set_seed(cfg.seed)
        share = cfg.batch_size // self.accelerator.num_processes
        if cfg.batch_size % self.accelerator.num_processes or share % cfg.samples_per_task:
            raise ValueError(
                f"batch_size {cfg.batch_size} must split into {self.accelerator.num_processes} processes of whole "
                f"groups of samples_per_task={cfg.samples_per_task}"
            )
        if tasks is None:
            paths = [bundled_tasks_path() if p == "bundled" else Path(p) for p in cfg.tasks or ["bundled"]]
            tasks = load_task_files(paths, cfg.task_format)
        self.reward_cfg = cfg.reward_config()
        self.reward_fn = reward_fn
        self.step = 0

        policy, self.tokenizer = self._load_policy(torch.bfloat16 if bf16 else torch.float32)
        self.tasks = self._fitting(list(tasks)[: cfg.limit_tasks])
        self.total_steps = cfg.steps(len(self.tasks) * cfg.samples_per_task)
        self.module = ActorCritic.build(policy, cfg)
        self.reference = None
        if cfg.kl_coef > 0 and not cfg.lora:
            self.reference = _frozen_copy(self.module.policy)
        actor, critic = self.module.parameter_groups()
        self._actor_params, self._critic_params = actor, critic
        optimizer = torch.optim.AdamW(
            [{"params": actor, "lr": cfg.actor_lr}, {"params": critic, "lr": cfg.critic_lr}],
            weight_decay=cfg.weight_decay,
        )
        plugin = self.accelerator.state.deepspeed_plugin
        if plugin is not None:  # no dataloader tells DeepSpeed the batch size: episodes per forward it is
            plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = cfg.micro_batch_size
        self.module, self.optimizer = self.accelerator.prepare(self.module, optimizer)
        if self.reference is not None:
            self.reference = self._prepare_reference(self.reference)
        self.policy = self.accelerator.unwrap_model(self.module).policy
        if self._zero3 and cfg.generation == "hf":
            raise ValueError("ZeRO-3 shards the policy's weights: generate with a vLLM server (generation=vllm)")

        if cfg.generation == "hf":
            self.chat_model: Any = HFChatModel.from_model(
                self.policy,
                self.tokenizer,
                name=f"ppo:{cfg.model}",
                max_new_tokens=cfg.max_new_tokens,
                top_p=cfg.top_p,
                max_batch=cfg.generation_batch_size,
            )
        else:
            from .served import VLLMChatModel
            from .tokens import TokenChat

            self.chat_model = VLLMChatModel(
                chat=TokenChat(self.tokenizer),
                model_name=self._served_name,
                base_url=str(cfg.vllm_url),
                max_new_tokens=cfg.max_new_tokens,
                top_p=cfg.top_p,
            )
        self.weight_sync = weight_sync or self._default_sync()
        self.graph = create_clarify_graph(
            self.chat_model, cfg.writer, cfg.oracle, max_turns=cfg.max_turns, reward=self.reward_cfg
        )
        if trackers:
            self.accelerator.init_trackers("ppo", config={k: str(v) for k, v in asdict(cfg).items()})
        if cfg.resume_from_checkpoint:
            self._resume(cfg.resume_from_checkpoint)

    # ---- building ----------------------------------------------------------------------------------

    def _load_policy(self, dtype: Any) -> tuple[Any, Any]:
        from .hf import fresh_pretrained

        source = self.cfg.model
        if source == TINY:
            from ..testing import tiny_policy

            source = str(self.out / "tiny-base")
            with self.accelerator.main_process_first():
                if not (Path(source) / "config.json").exists():
                    tiny_policy(source, seed=self.cfg.seed)
        model, tokenizer = fresh_pretrained(source, dtype=dtype)
        if self.cfg.gradient_checkpointing:
            options = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.24 renamed it
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
        if self.cfg.lora:
            from peft import LoraConfig, get_peft_model

            targets: Any = self.cfg.lora_target_modules
            if targets != "all-linear":
                targets = [t.strip() for t in targets.split(",") if t.strip()]
            lora = LoraConfig(
                r=self.cfg.lora_r,
                lora_alpha=self.cfg.lora_alpha,
                lora_dropout=self.cfg.lora_dropout,
                target_modules=targets,
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, lora)
            # where hf:<checkpoint> finds the base: an absolute path (or the smollm2 alias), from any directory
            base = Path(source).resolve() if Path(source).exists() else source
            model.peft_config["default"].base_model_name_or_path = str(base)
            if self.cfg.gradient_checkpointing:
                model.enable_input_require_grads()
        return model, tokenizer

    def _fitting(self, tasks: list[MaskedTask]) -> list[MaskedTask]:
        """The tasks whose first asker prompt fits ``max_prompt_tokens`` (the dropped ones are reported)."""
        from ..asker import asker_chat
        from ..state import DialogueView
        from .tokens import TokenChat

        limit = self.cfg.max_prompt_tokens
        if limit is not None:
            chat = TokenChat(self.tokenizer)

            def length(task: MaskedTask) -> int:
                view = DialogueView(explicit=task.explicit, turns=[], max_turns=self.cfg.max_turns)
                return len(chat.prompt_ids(asker_chat(view)))

            kept = [t for t in tasks if length(t) <= limit]
            if len(kept) < len(tasks) and self.accelerator.is_main_process:
                print(f"ppo: left out {len(tasks) - len(kept)} of {len(tasks)} tasks longer than {limit} prompt tokens")
            tasks = kept
        if not tasks:
            raise ValueError("no tasks to train on")
        return tasks

    def _prepare_reference(self, reference: Any) -> Any:
        if self.accelerator.state.deepspeed_plugin is not None:
            from trl.models.utils import prepare_deepspeed

            return prepare_deepspeed(reference, self.accelerator)
        return reference.to(self.accelerator.device)

    @property
    def _served_name(self) -> str:
        return self.cfg.vllm_model_name or ("policy" if self.cfg.lora else self.cfg.model)

    def _default_sync(self) -> WeightSync:
        kind = self.cfg.sync_kind
        if kind == "inprocess":
            return InProcessSync()
        if kind == "lora":
            directory = Path(self.cfg.weight_sync_dir or self.out / "weight-sync")
            return LoRAAdapterSync(str(self.cfg.vllm_url), self._served_name, directory)
        return NCCLSync(str(self.cfg.vllm_url), device=self.accelerator.device)

    # ---- rollouts ----------------------------------------------------------------------------------

    def batch_tasks(self, step: int) -> list[MaskedTask]:
        """This process's share of step ``step``'s tasks (whole sample groups stay on one process)."""
        cfg, acc = self.cfg, self.accelerator
        stream = task_stream(self.tasks, cfg.samples_per_task, cfg.seed)
        items = list(itertools.islice(stream, step * cfg.batch_size, (step + 1) * cfg.batch_size))
        share = cfg.batch_size // acc.num_processes
        return items[acc.process_index * share : (acc.process_index + 1) * share]

    async def _play(self, tasks: list[MaskedTask]) -> list[tuple[MaskedTask, EpisodeResult]]:
        gate = asyncio.Semaphore(self.cfg.concurrency)
        context = {"temperature": self.cfg.temperature}

        async def one(task: MaskedTask) -> tuple[MaskedTask, EpisodeResult]:
            async with gate:
                return task, await arun_episode(self.graph, task, max_turns=self.cfg.max_turns, context=context)

        return list(await asyncio.gather(*[one(t) for t in tasks]))

    def rollouts(self, tasks: list[MaskedTask]) -> tuple[list[Rollout], dict[str, float]]:
        """Play ``tasks`` with the current weights; the usable episodes as rollouts, and how many failed."""
        played = asyncio.run(self._play(tasks))
        out: list[Rollout] = []
        dropped: dict[str, float] = defaultdict(float)
        for task, episode in played:
            if episode.error is not None:
                dropped["failed_episodes"] += 1
                continue
            try:
                steps = decisions(episode, task, self.reward_cfg)
                if self.reward_fn is not None:
                    for step, reward in zip(steps, self.reward_fn(episode, task, steps), strict=True):
                        step.reward = reward
                if not steps or not any(s.completion_ids for s in steps):
                    raise ExportError("no generated token")
                out.append(to_rollout(episode, steps))
            except ExportError:
                dropped["unusable_episodes"] += 1
        return out, dict(dropped)

    # ---- forward passes ----------------------------------------------------------------------------

    def _window(self, batch: Sequence[Rollout]) -> tuple[Any, Any, int, list[tuple[int, int]]]:
        """Right-padded input ids and attention mask, the window start, and each row's (offset, length)
        of its response region inside the window ``[start, max_len)``."""
        import torch

        width = max(len(r.ids) for r in batch)
        start = min(r.start for r in batch)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attn = torch.zeros((len(batch), width), dtype=torch.long)
        spans = []
        for row, r in enumerate(batch):
            ids[row, : len(r.ids)] = torch.tensor(r.ids)
            attn[row, : len(r.ids)] = 1
            spans.append((r.start - start, len(r.ids) - r.start))
        device = self.accelerator.device
        return ids.to(device), attn.to(device), start, spans

    def _pad(self, rows: Sequence[Sequence[float]] | Sequence[Any], spans: list[tuple[int, int]], width: int) -> Any:
        """Per-rollout response-region values into a ``[batch, window]`` tensor at each row's offset."""
        import torch

        out = torch.zeros((len(rows), width), dtype=torch.float32, device=self.accelerator.device)
        for row, (values, (offset, n)) in enumerate(zip(rows, spans, strict=True)):
            out[row, offset : offset + n] = torch.as_tensor(values, dtype=torch.float32, device=out.device)
        return out

    def _forward(
        self, module: Any, batch: Sequence[Rollout], mode: Literal["both", "reference", "values"] = "both"
    ) -> dict[str, Any]:
        """The window's ``[batch, window]`` tensors: logprobs and entropy of its tokens at the sampling
        temperature (not in ``values`` mode) and the values of the states before them (not for the
        ``reference``, an ordinary causal LM)."""
        from .ppo_core import token_logprobs_and_entropy

        ids, attn, start, spans = self._window(batch)
        keep = ids.shape[1] - start + 1  # logits at positions start-1 .. width-2 predict tokens start .. width-1
        out: dict[str, Any] = {"mask": self._pad([r.mask for r in batch], spans, ids.shape[1] - start), "spans": spans}
        with self.accelerator.autocast():
            if mode == "values":
                out["values"] = self.accelerator.unwrap_model(module).values(ids, attn, start)
                return out
            if mode == "reference":
                logits = module(input_ids=ids, attention_mask=attn, logits_to_keep=keep, use_cache=False).logits
            else:
                logits, out["values"] = module(ids, attn, start)
        out["logprobs"], out["entropy"] = token_logprobs_and_entropy(
            logits[:, :-1], ids[:, start:], self.cfg.temperature
        )
        return out

    def _reference_logprobs(self, batch: Sequence[Rollout]) -> Any:
        import torch

        with torch.no_grad():
            if self.reference is not None:
                return self._forward(self.reference, batch, "reference")["logprobs"]
            with self.policy.disable_adapter():
                return self._forward(self.policy, batch, "reference")["logprobs"]

    # ---- one step ------------------------------------------------------------------------------------

    def prepare(self, batch: list[Rollout]) -> dict[str, Any]:
        """Rollout values, old logprobs (recomputed, or the generator's), KL-penalised rewards, GAE advantages
        and returns, per rollout (tensors over each response region), plus the batch statistics."""
        import torch

        from .ppo_core import gae, masked_mean, masked_whiten

        cfg = self.cfg
        names = ("old_logprobs", "old_values", "advantages", "returns")
        per: dict[str, list[Any]] = {name: [None] * len(batch) for name in names}
        stats: dict[str, list[float]] = defaultdict(list)
        self.module.eval()
        with torch.no_grad():
            for rows in _chunks(_by_length(batch, range(len(batch))), cfg.micro_batch_size):
                chunk = [batch[i] for i in rows]
                fw = self._forward(self.module, chunk, "both" if cfg.recompute else "values")
                mask, spans = fw["mask"], fw["spans"]
                sampled = self._pad([r.sampled_logprobs for r in chunk], spans, mask.shape[1])
                old = fw.get("logprobs", sampled)
                if cfg.recompute:
                    stats["logprob_gap"].append(float(masked_mean((sampled - old).abs(), mask)))
                rewards = self._pad([r.scores for r in chunk], spans, mask.shape[1])
                if cfg.kl_coef > 0:
                    kl = (old - self._reference_logprobs(chunk)) * mask
                    rewards = rewards - cfg.kl_coef * kl
                    stats["kl"].append(float(kl.sum() / mask.sum().clamp(min=1)))
                adv, ret = gae(rewards, fw["values"].float(), mask, cfg.gamma, cfg.lam)
                stats["value_mean"].append(float(masked_mean(fw["values"].float(), mask)))
                for row, (i, (offset, n)) in enumerate(zip(rows, spans, strict=True)):
                    window = slice(offset, offset + n)
                    for name, values in zip(names, (old, fw["values"].float(), adv, ret), strict=True):
                        per[name][i] = values[row, window]
        self.module.train()
        if cfg.whiten_advantages:
            flat = torch.cat(per["advantages"])
            weights = torch.cat([torch.tensor(r.mask, dtype=flat.dtype, device=flat.device) for r in batch])
            white = masked_whiten(flat, weights)
            per["advantages"] = list(torch.split(white, [len(a) for a in per["advantages"]]))
        return {"per": per, "stats": {k: sum(v) / len(v) for k, v in stats.items()}}

    def update(self, batch: list[Rollout]) -> dict[str, float]:
        """Advantages, then ``ppo_epochs`` passes of minibatch updates; the step's training statistics."""
        from .ppo_core import masked_mean, policy_loss, value_loss

        cfg = self.cfg
        prepared = self.prepare(batch)
        per = prepared["per"]
        stats: dict[str, list[float]] = defaultdict(list)
        order = list(range(len(batch)))
        rng = random.Random(cfg.seed * 100_003 + self.step)
        lock = getattr(getattr(self.chat_model, "engine", None), "lock", None)
        for _ in range(cfg.ppo_epochs):
            rng.shuffle(order)
            for mb in _chunks(order, cfg.minibatch_size):
                tokens = sum(sum(batch[i].mask) for i in mb)
                self.optimizer.zero_grad(set_to_none=True)
                for micro in _chunks(_by_length(batch, mb), cfg.micro_batch_size):
                    chunk = [batch[i] for i in micro]
                    fw = self._forward(self.module, chunk)
                    mask, spans, width = fw["mask"], fw["spans"], fw["mask"].shape[1]

                    def field_(name: str, micro: list[int] = micro, spans: Any = spans, width: int = width) -> Any:
                        return self._pad([per[name][i] for i in micro], spans, width)

                    pg, clip_frac, approx_kl = policy_loss(
                        fw["logprobs"], field_("old_logprobs"), field_("advantages"), mask, cfg.clip_range
                    )
                    vf, vf_clip = value_loss(
                        fw["values"].float(), field_("old_values"), field_("returns"), mask, cfg.value_clip_range
                    )
                    entropy = masked_mean(fw["entropy"], mask)
                    share = float(mask.sum()) / max(tokens, 1)
                    loss = (pg + cfg.vf_coef * vf - cfg.entropy_coef * entropy) * share
                    self.accelerator.backward(loss)
                    for name, value in (
                        ("entropy", entropy),
                        ("policy_loss", pg),
                        ("value_loss", vf),
                        ("clip_frac", clip_frac),
                        ("value_clip_frac", vf_clip),
                        ("approx_kl", approx_kl),
                    ):
                        stats[name].append(float(value.detach()))
                actor_norm = self._clip(self._actor_params)
                critic_norm = self._clip(self._critic_params)
                if actor_norm is not None and critic_norm is not None:
                    stats["grad_norm_actor"].append(actor_norm)
                    stats["grad_norm_critic"].append(critic_norm)
                if lock is not None:
                    with lock:
                        self.optimizer.step()
                else:
                    self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {**prepared["stats"], **{k: sum(v) / len(v) for k, v in stats.items()}}

    @property
    def _zero3(self) -> bool:
        plugin = self.accelerator.state.deepspeed_plugin
        return plugin is not None and plugin.zero_stage == 3

    def _push(self) -> None:
        """Every process gathers (ZeRO-3 shards the weights), the main process pushes."""
        gathered: Any = contextlib.nullcontext()
        if self._zero3:
            import deepspeed

            gathered = deepspeed.zero.GatheredParameters(list(self.policy.parameters()), modifier_rank=None)
        with gathered:
            if self.accelerator.is_main_process:
                self.weight_sync.push(self.policy, self.step)
        self.accelerator.wait_for_everyone()

    def _clip(self, params: list[Any]) -> float | None:
        norm = self.accelerator.clip_grad_norm_(params, self.cfg.max_grad_norm)
        return None if norm is None else float(norm)

    def train_step(self) -> dict[str, Any]:
        """Play one batch, update, push the weights, log; the step's metrics."""
        t0 = time.perf_counter()
        batch, dropped = self.rollouts(self.batch_tasks(self.step))
        if not batch:
            raise RuntimeError(f"step {self.step}: no usable episode ({dropped})")
        t1 = time.perf_counter()
        train = self.update(batch)
        t2 = time.perf_counter()
        self.step += 1
        self._push()
        t3 = time.perf_counter()
        generated = sum(sum(r.mask) for r in batch)
        seq_tokens = sum(len(r.ids) for r in batch)
        metrics: dict[str, Any] = {
            "step": self.step,
            **episode_metrics(batch),
            "kl": train.pop("kl", None),
            "value_loss": train.pop("value_loss"),
            **train,
            **dropped,
            "generated_tokens": generated,
            "generation_s": t1 - t0,
            "generate_tokens_per_s": generated / max(t1 - t0, 1e-9),
            "update_s": t2 - t1,
            "update_tokens_per_s": seq_tokens * self.cfg.ppo_epochs / max(t2 - t1, 1e-9),
            "sync_s": t3 - t2,
            "step_s": t3 - t0,
        }
        self._log(metrics, batch)
        if self.cfg.save_steps and self.step % self.cfg.save_steps == 0 and self.step < self.total_steps:
            self.save()
        return metrics

    def train(self) -> list[dict[str, Any]]:
        """Run until ``max_steps`` or ``time_budget_s`` (a resumed run continues from its step); checkpoint
        at the end."""
        started = time.monotonic()
        if self.step == 0:
            self._push()  # a served generator starts from the initial weights too
        history = []
        shown = self.cfg.progress and self.accelerator.is_main_process
        bar = progress(self.total_steps - self.step, self.step, shown, desc="ppo", unit="step")
        while self.step < self.total_steps:
            metrics = self.train_step()
            history.append(metrics)
            bar.set_postfix_str(
                f"reward {metrics['reward_mean']:.3f} questions {metrics['question_share']:.2f} "
                f"step {metrics['step_s']:.0f}s"
            )
            bar.update(1)
            if self.cfg.time_budget_s is not None and time.monotonic() - started >= self.cfg.time_budget_s:
                break
        bar.close()
        self.save()
        self.accelerator.end_training()
        return history

    # ---- logging and checkpoints -------------------------------------------------------------------

    def _log(self, metrics: dict[str, Any], batch: list[Rollout]) -> None:
        """Append the step's metrics (over all processes' episodes) and episodes on the main process."""
        records = [episode_record(self.step, r) for r in batch] if self.cfg.save_episodes else []
        if self.accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            parts = gather_object([(metrics, records)])
            metrics = merge_metrics([m for m, _ in parts])
            records = [r for _, rs in parts for r in rs]
        if not self.accelerator.is_main_process:
            return
        with (self.out / METRICS).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(metrics) + "\n")
        if records:
            with (self.out / EPISODES_LOG).open("a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in records)
        self.accelerator.log({k: v for k, v in metrics.items() if isinstance(v, int | float)}, step=self.step)

    def save(self) -> Path:
        """``OUTPUT_DIR/checkpoint-STEP``: the policy (full weights, or the LoRA adapter) and tokenizer at its
        root, so ``hf:OUTPUT_DIR/checkpoint-STEP`` loads it; ``trainer/`` holds what resuming needs."""
        acc = self.accelerator
        root = self.out / f"checkpoint-{self.step}"
        acc.wait_for_everyone()
        state = acc.get_state_dict(self.module)
        if acc.is_main_process:
            prefix = "policy."
            policy_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            self.policy.save_pretrained(str(root), state_dict=policy_state)
            self.tokenizer.save_pretrained(str(root))
        acc.save_state(str(root / "trainer"))
        if acc.is_main_process:
            (root / STATE).write_text(
                json.dumps({"step": self.step, "config": asdict(self.cfg)}, indent=1), encoding="utf-8"
            )
        acc.wait_for_everyone()
        return root

    def _resume(self, where: str) -> None:
        path = latest_checkpoint(self.out) if where == "latest" else Path(where)
        if path is None:
            return  # nothing saved yet: start from scratch
        state = json.loads((path / STATE).read_text(encoding="utf-8"))
        self.accelerator.load_state(str(path / "trainer"))
        self.step = int(state["step"])


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = [p for p in output_dir.glob("checkpoint-*") if (p / STATE).exists() and p.name[11:].isdigit()]
    return max(found, key=lambda p: int(p.name[11:])) if found else None


def _by_length(batch: Sequence[Rollout], indices: Iterable[int]) -> list[int]:
    """``indices`` shortest episode first, so micro-batches hold episodes of similar length (less padding)."""
    return sorted(indices, key=lambda i: len(batch[i].ids))


def _chunks(items: Sequence[Any], n: int) -> Iterator[list[Any]]:
    for k in range(0, len(items), n):
        yield list(items[k : k + n])


def _frozen_copy(model: Any) -> Any:
    import copy

    ref = copy.deepcopy(model)
    ref.requires_grad_(False)
    ref.eval()
    return ref


def _trackers(report_to: str) -> list[str]:
    import importlib.util

    if report_to == "auto":
        return ["tensorboard"] if importlib.util.find_spec("tensorboard") else []
    return [] if report_to == "none" else [report_to]


def episode_metrics(batch: Sequence[Rollout]) -> dict[str, float]:
    """Reward (mean episode return) and by component, question share, format failures, episode length."""
    returns = [sum(r.rewards) for r in batch]
    n_decisions = sum(len(r.rewards) for r in batch)
    turns = [t for r in batch for t in r.episode.turns]
    components: dict[str, list[float]] = defaultdict(list)
    for t in turns:
        for name, value in (t.get("rewards") or {}).items():
            components[name].append(value)
    endings = [r.episode.ending for r in batch if r.episode.ending is not None]
    for e in endings:
        for name, value in (e.get("rewards") or {}).items():
            components[name].append(value)
    out = {
        "reward_mean": sum(returns) / len(returns),
        "reward_std": _std(returns),
        "reward_per_decision": sum(returns) / max(n_decisions, 1),
        "question_share": len(turns) / max(n_decisions, 1),
        "format_failures": sum(e["kind"] == "invalid" for e in endings) / len(batch),
        "stop_share": sum(e["kind"] == "stop" for e in endings) / len(batch),
        "episode_turns": len(turns) / len(batch),
        "episode_generated_tokens": sum(sum(r.mask) for r in batch) / len(batch),
        "episode_length": sum(len(r.ids) for r in batch) / len(batch),
        "coverage": sum(r.episode.coverage for r in batch) / len(batch),
        "episodes": float(len(batch)),
    }
    out.update({f"reward/{k}": sum(v) / len(v) for k, v in sorted(components.items())})
    return out


#: Metrics that add up over processes (counts and throughputs); wall times take the slowest process, the rest
#: (means over equal shares of the batch) the mean.
_SUMMED = {"episodes", "generated_tokens", "failed_episodes", "unusable_episodes"}


def merge_metrics(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One process's metrics per part into the step's metrics over the whole batch."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for part in parts for k in part):
        values = [part[key] for part in parts if part.get(key) is not None]
        if not values or key == "step":
            out[key] = parts[0].get(key)
        elif key in _SUMMED or key.endswith("tokens_per_s"):
            out[key] = sum(values)
        elif key.endswith("_s"):
            out[key] = max(values)
        else:
            out[key] = sum(values) / len(values)
    return out


def _std(xs: Sequence[float]) -> float:
    mean = sum(xs) / len(xs)
    return (sum((x - mean) ** 2 for x in xs) / len(xs)) ** 0.5


def episode_record(step: int, r: Rollout) -> dict[str, Any]:
    """What episodes.jsonl keeps of an episode: enough to read what the policy asked and earned."""
    e = r.episode
    return {
        "step": step,
        "task_id": e.task_id,
        "questions": [t["question"] for t in e.turns],
        "answers": [t["answer"] for t in e.turns],
        "ending": e.ending,
        "rewards": r.rewards,
        "coverage": e.coverage,
    }


class ActorCritic:
    """Policy, optional critic backbone and value head as one ``torch.nn.Module`` (built by :meth:`build`)."""

    @staticmethod
    def build(policy: Any, cfg: PPOConfig) -> Any:
        import copy

        import torch
        from torch import nn

        class _ActorCritic(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.policy = policy
                base = policy.get_base_model() if hasattr(policy, "get_base_model") else policy
                hidden = base.config.hidden_size
                self.critic = None
                if cfg.critic == "separate":
                    backbone = copy.deepcopy(getattr(base, base.base_model_prefix))
                    backbone.requires_grad_(True)
                    self.critic = backbone
                self.value_head = nn.Linear(hidden, 1, dtype=torch.float32)
                nn.init.normal_(self.value_head.weight, std=1.0 / math.sqrt(hidden + 1))
                nn.init.zeros_(self.value_head.bias)

            def _policy(self, input_ids: Any, attention_mask: Any, keep: int) -> Any:
                return self.policy(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    logits_to_keep=keep,
                    use_cache=False,
                    output_hidden_states=self.critic is None,
                )

            def _values(self, input_ids: Any, attention_mask: Any, start: int, policy_out: Any) -> Any:
                if self.critic is None:
                    hidden = policy_out.hidden_states[-1]
                else:
                    hidden = self.critic(
                        input_ids=input_ids, attention_mask=attention_mask, use_cache=False
                    ).last_hidden_state
                return self.value_head(hidden[:, start - 1 : -1].float()).squeeze(-1)

            def forward(self, input_ids: Any, attention_mask: Any, start: int) -> tuple[Any, Any]:
                """Logits at positions ``start-1 .. end`` and values of the states before tokens ``start ..``."""
                out = self._policy(input_ids, attention_mask, input_ids.shape[1] - start + 1)
                return out.logits, self._values(input_ids, attention_mask, start, out)

            def values(self, input_ids: Any, attention_mask: Any, start: int) -> Any:
                """Only the values (the critic pass before an update): no logits beyond one position."""
                out = self._policy(input_ids, attention_mask, 1) if self.critic is None else None
                return self._values(input_ids, attention_mask, start, out)

            def parameter_groups(self) -> tuple[list[Any], list[Any]]:
                actor = [p for p in self.policy.parameters() if p.requires_grad]
                critic = list(self.value_head.parameters())
                if self.critic is not None:
                    critic += [p for p in self.critic.parameters() if p.requires_grad]
                return actor, critic

        return _ActorCritic()
