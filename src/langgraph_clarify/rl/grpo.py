"""GRPO baseline: TRL's ``GRPOTrainer`` with a ``rollout_func`` that plays clarify episodes through the graph.

TRL hands the rollout function the batch's prompts already repeated ``num_generations`` times (a group is
``num_generations`` copies of one task); it returns exactly one rollout per entry: ``prompt_ids`` (the
policy's first prompt), ``completion_ids`` (everything after it), ``logprobs`` (one per completion token)
and ``env_mask`` (1 on tokens the policy generated, 0 on answer and template tokens, which then carry no
loss). The other keys reach the reward function as keyword arguments. The dataset's ``prompt`` is a key
(the task id, or a decision state in ``turn`` mode): the chat itself is built by the graph
(``asker.asker_chat``), so the protocol is defined in one place.

**What GRPO loses.** A completion gets one scalar, and every generated token of it the same advantage
(reward minus the group mean). In ``episode`` mode the scalar is the episode's return (the sum of its
per-turn rewards, as ``rollouts.decision_rewards`` computes them): a good question in an episode whose
later turns fail is pushed down with them, and which question earned the reward is lost. A group whose
rewards are all equal gives no gradient at all (an untrained policy that always drafts). ``turn`` mode
keeps per-question credit: each row is one decision state from a collection (``clarify collect``), the
group samples ``num_generations`` replies to that same state, and each reply is paid its own turn reward
(oracle answer, novelty against the earlier turns). The price: the states come from the collecting
policy (off-policy states) and a reply is not credited for what it enables later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Literal

from ..asker import asker_chat, parse_reply
from ..episodes import EpisodeResult, arun_episode, episode_input
from ..graph import create_clarify_graph
from ..oracle import make_oracle
from ..rewards import RewardConfig, score_turn
from ..runs import read_rows
from ..state import DialogueView, Ending, Turn
from ..tasks import MaskedTask
from .baselines import TaskArgs, callbacks, check_model_args, load_trainable, save_final
from .rollouts import EPISODES, decision_rewards, decisions, episode_tensors


@dataclass
class GRPOScriptArgs(TaskArgs):
    """``training/grpo.py`` arguments beside TRL's ``GRPOConfig`` and ``ModelConfig``."""

    max_new_tokens: int = field(default=48, metadata={"help": "most tokens the policy generates per reply"})
    oracle: str = field(default="offline", metadata={"help": "who answers: offline, embedding or a model string"})
    writer: str = field(default="offline", metadata={"help": "who drafts at the end of an episode"})
    reward_config: str | None = field(
        default=None, metadata={"help": "RewardConfig YAML (default: RewardConfig() of the installed package)"}
    )
    granularity: Literal["episode", "turn"] = field(
        default="episode",
        metadata={"help": "episode: one completion = one whole episode; turn: one completion = one decision"},
    )
    collection: str | None = field(
        default=None, metadata={"help": "turn mode: a `clarify collect` directory whose decisions are the states"}
    )
    max_batch: int = field(default=16, metadata={"help": "most concurrent replies generated in one batch"})

    def reward(self) -> RewardConfig:
        return RewardConfig.from_yaml(self.reward_config) if self.reward_config else RewardConfig()


@dataclass
class Rollout:
    """One completion as TRL wants it, with the figures the reward function pays and logs."""

    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    env_mask: list[int]
    reward: float
    asks: int
    decisions: int
    invalid: int
    evidence: int
    """Questions whose answer cited a hidden sentence."""


def episode_rollout(episode: EpisodeResult, task: MaskedTask, cfg: RewardConfig) -> Rollout:
    """A played episode as one completion: the first prompt, then every later token, answers masked out."""
    if episode.error is not None:
        raise RuntimeError(f"episode {episode.task_id} failed: {episode.error}")
    steps = decisions(episode, task, cfg)
    ids, mask, _ = episode_tensors(steps)
    start = len(steps[0].prompt_ids)
    generated = chain.from_iterable(s.logprobs for s in steps)
    logprobs = [next(generated) if m else 0.0 for m in mask[start:]]
    return Rollout(
        prompt_ids=ids[:start],
        completion_ids=ids[start:],
        logprobs=logprobs,
        env_mask=mask[start:],
        reward=sum(s.reward for s in steps),
        asks=len(episode.turns),
        decisions=len(steps),
        invalid=int(episode.ending is not None and episode.ending["kind"] == "invalid"),
        evidence=sum(bool(t["cited"]) for t in episode.turns),
    )


def batch(rollouts: Sequence[Rollout]) -> dict[str, list[Any]]:
    """The rollout function's return value: TRL's keys, plus the columns the reward function reads."""
    return {
        "prompt_ids": [r.prompt_ids for r in rollouts],
        "completion_ids": [r.completion_ids for r in rollouts],
        "logprobs": [r.logprobs for r in rollouts],
        "env_mask": [r.env_mask for r in rollouts],
        "clarify_reward": [r.reward for r in rollouts],
        "asks": [r.asks for r in rollouts],
        "decisions": [r.decisions for r in rollouts],
        "invalid": [r.invalid for r in rollouts],
        "evidence": [r.evidence for r in rollouts],
    }


def clarify_reward(
    completions: list[Any],
    clarify_reward: list[float],
    asks: list[int],
    decisions: list[int],
    invalid: list[int],
    evidence: list[int],
    log_metric: Any = None,
    **_: Any,
) -> list[float | None]:
    """The reward function: the rollout's own scalar; logs question share, format failures and evidence."""
    if log_metric is not None:
        log_metric("question_share", sum(asks) / max(sum(decisions), 1))
        log_metric("format_failures", sum(invalid) / max(len(invalid), 1))
        log_metric("evidence_per_question", sum(evidence) / max(sum(asks), 1))
        log_metric("questions_per_completion", sum(asks) / max(len(asks), 1))
    return [float(r) for r in clarify_reward]


class ClarifyRollout:
    """The ``rollout_func``: generates with the live policy the trainer updates; subclasses say what one
    completion is (:meth:`play`).

    One event loop is kept for the run (LLM clients are bound to the loop they were made in), and the
    policy is wrapped once with :meth:`HFChatModel.from_model`; each call points its generator at the
    model unwrapped for generation (ZeRO-3 gathers the weights for it).
    """

    def __init__(self, args: GRPOScriptArgs, temperature: float, top_p: float):
        self.args = args
        self.cfg = args.reward()
        self.sampling = {"temperature": temperature, "top_p": top_p, "max_new_tokens": args.max_new_tokens}
        self.loop = asyncio.new_event_loop()
        self.policy: Any = None

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list[Any]]:
        from trl.models.utils import unwrap_model_for_generation

        from .hf import HFChatModel

        with unwrap_model_for_generation(
            trainer.model_wrapped,
            trainer.accelerator,
            gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
            gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs,
        ) as model:
            if self.policy is None:
                self.policy = HFChatModel.from_model(
                    model, trainer.processing_class, name="grpo-policy", max_batch=self.args.max_batch, **self.sampling
                )
                self.setup()
            self.policy.engine.model = model
            rollouts = self.loop.run_until_complete(self._all([str(p) for p in prompts]))
        return batch(rollouts)

    async def _all(self, keys: list[str]) -> list[Rollout]:
        return list(await asyncio.gather(*(self.play(k) for k in keys)))

    def setup(self) -> None:
        """Build what plays the rollouts, once the policy exists."""

    async def play(self, key: str) -> Rollout:
        raise NotImplementedError


class EpisodeRollout(ClarifyRollout):
    """``episode`` mode: each completion is one whole episode of the task the key names."""

    def __init__(self, args: GRPOScriptArgs, tasks: Sequence[MaskedTask], temperature: float, top_p: float):
        super().__init__(args, temperature, top_p)
        self.tasks = {t.id: t for t in tasks}

    def setup(self) -> None:
        self.graph = create_clarify_graph(
            self.policy, self.args.writer, self.args.oracle, max_turns=self.args.max_turns, reward=self.cfg
        )

    async def play(self, key: str) -> Rollout:
        task = self.tasks[key]
        episode = await arun_episode(self.graph, task, max_turns=self.args.max_turns)
        return episode_rollout(episode, task, self.cfg)


# ---- turn mode: one decision per completion --------------------------------------------------------


@dataclass(frozen=True)
class DecisionState:
    """Where a decision is made: the task and the turns answered before it."""

    task: MaskedTask
    turns: tuple[Turn, ...]


def decision_states(collection: Path, tasks: Sequence[MaskedTask], max_turns: int) -> dict[str, DecisionState]:
    """Every decision state of a collection's episodes (``KEY#k``: before the k-th decision), within budget.

    The chat is rebuilt from the stored text, not the collector's token ids: the collecting policy may be
    another model with another tokenizer (even ``offline``)."""
    by_id = {t.id: t for t in tasks}
    states: dict[str, DecisionState] = {}
    for row in read_rows(collection / EPISODES):
        task = by_id.get(row["task_id"])
        if task is None or row.get("error") is not None:
            continue
        turns = row["turns"]
        last = len(turns) + (row.get("ending") is not None)
        for k in range(min(last, max_turns)):
            states[f"{row['key']}#{k}"] = DecisionState(task, tuple(turns[:k]))
    if not states:
        raise ValueError(f"{collection}: no decision state from the given tasks")
    return states


class TurnRollout(ClarifyRollout):
    """``turn`` mode: each completion is one reply to a stored decision state, paid its own turn reward."""

    def __init__(self, args: GRPOScriptArgs, states: dict[str, DecisionState], temperature: float, top_p: float):
        super().__init__(args, temperature, top_p)
        self.states = states

    def setup(self) -> None:
        self.oracle = make_oracle(self.args.oracle)

    async def play(self, key: str) -> Rollout:
        task, previous = self.states[key].task, list(self.states[key].turns)
        view = DialogueView(explicit=task.explicit, turns=previous, max_turns=self.args.max_turns)
        reply = await self.policy.ainvoke(asker_chat(view))
        meta = reply.response_metadata
        decision = parse_reply(reply.text, meta["finish_reason"])
        k = len(previous)
        if decision.action == "ask":
            hidden = episode_input(task)["hidden"]
            answer, _ = await self.oracle.arun(decision.question, task.explicit, hidden)
            turn = score_turn(k, decision.question, answer.answer, answer.evidence, previous, len(hidden))
            played = EpisodeResult(task_id=task.id, turns=[*previous, turn])
        else:
            kind: Literal["stop", "invalid"] = "stop" if decision.action == "stop" else "invalid"
            why = decision.reason
            end = Ending(kind=kind, turn=k, reply=reply.text, reason=why, asker_call_id=None, rewards=None, reward=None)
            played = EpisodeResult(task_id=task.id, turns=previous, ending=end)
        completion = list(meta["completion_ids"])
        return Rollout(
            prompt_ids=list(meta["prompt_ids"]),
            completion_ids=completion,
            logprobs=list(meta["logprobs"]),
            env_mask=[1] * len(completion),
            reward=decision_rewards(played, task, self.cfg)[-1],
            asks=int(decision.action == "ask"),
            decisions=1,
            invalid=int(decision.action == "invalid"),
            evidence=int(decision.action == "ask" and bool(played.turns[-1]["cited"])),
        )


# ---- the script ---------------------------------------------------------------------------------------


def build_trainer(args: GRPOScriptArgs, config: Any, model_args: Any) -> Any:
    """A ``GRPOTrainer`` over the tasks (episode mode) or a collection's decision states (turn mode)."""
    from datasets import Dataset
    from trl import GRPOTrainer

    check_model_args(model_args)
    tasks = args.load_tasks()
    rollout: ClarifyRollout
    if args.granularity == "turn":
        if not args.collection:
            raise ValueError("granularity 'turn' needs --collection DIR (a `clarify collect` run)")
        states = decision_states(Path(args.collection), tasks, args.max_turns)
        rollout = TurnRollout(args, states, config.temperature, config.top_p)
        keys = list(states)
    else:
        rollout = EpisodeRollout(args, tasks, config.temperature, config.top_p)
        keys = [t.id for t in tasks]
    per_step = config.generation_batch_size // config.num_generations
    if len(keys) < per_step:  # TRL would drop the incomplete batch and silently train 0 steps
        raise ValueError(
            f"{len(keys)} prompt(s) but each generation batch takes {per_step} distinct ones "
            f"(generation_batch_size {config.generation_batch_size} / num_generations {config.num_generations})"
        )
    model, tokenizer = load_trainable(model_args.model_name_or_path, config.output_dir, model_args.dtype)
    return GRPOTrainer(
        model=model,
        reward_funcs=[clarify_reward],
        args=config,
        train_dataset=Dataset.from_list([{"prompt": k} for k in keys]),
        processing_class=tokenizer,
        rollout_func=rollout,
        callbacks=callbacks(config.output_dir, args.time_budget_s),
    )


def train(args: GRPOScriptArgs, config: Any, model_args: Any) -> Path:
    """Train and return the last checkpoint (``OUTPUT_DIR/checkpoint-STEP``, an ``hf:`` policy directory)."""
    trainer = build_trainer(args, config, model_args)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint)
    return save_final(trainer)
