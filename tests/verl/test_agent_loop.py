"""The clarify agent loop against a fake verl server manager: its output is token for token what our rollout
export gives for the same episode, verl's own v1 worker stores the per-turn rewards as ``rm_scores``, and
verl's GAE turns them into per-question returns where GRPO sums them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl.experimental.agent_loop.agent_loop import DictConfigWrap, ToolListWrap
from verl.trainer.ppo.core_algos import compute_gae_advantage_return, compute_grpo_outcome_advantage
from verl.utils.dataset.rl_dataset import RLHFDataset
from verl.workers.rollout.replica import TokenOutput
from verl_setup import AGENT_LOOPS, compose

from langgraph_clarify.episodes import EpisodeResult
from langgraph_clarify.rewards import RewardConfig
from langgraph_clarify.rl.rollouts import EPISODES, CollectConfig, collect, decision_rewards, export
from langgraph_clarify.rl.tokens import TokenChat
from langgraph_clarify.rl.verl import ClarifyAgentLoop, ClarifyAgentLoopOutput, VerlChatModel, episode_output
from langgraph_clarify.rl.verl_data import task_row, write_parquet
from langgraph_clarify.runs import read_rows
from langgraph_clarify.tasks import bundled_tasks_path, load_bundled

TASK = load_bundled()[0]  # software-incident-postmortem
# a question the hidden part answers, one it does not, then a format failure (two questions in one turn)
REPLIES = [
    "Should the timeline use UTC timestamps from the deploy logs?",
    "What is your favourite colour?",
    "Who? How?",
]
MAX_TURNS = 4
SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "logprobs": True}


class FakeServerManager:
    """verl's ``LLMServerClient.generate`` contract: scripted reply ids (end-of-turn included) with logprobs,
    and the server's ``extra_fields`` (the weights version moves on after the first reply)."""

    def __init__(self, tokenizer: Any, replies: list[str] = REPLIES, error: Exception | None = None):
        eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.replies = [tokenizer(r, add_special_tokens=False)["input_ids"] + [eos] for r in replies]
        self.error = error
        self.calls: list[dict[str, Any]] = []

    async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **kw: Any):
        if self.error is not None:
            raise self.error
        k = len(self.calls)
        self.calls.append({"request_id": request_id, "prompt_ids": list(prompt_ids), "sampling": dict(sampling_params)})
        ids = self.replies[min(k, len(self.replies) - 1)]
        step = 7 if k == 0 else 8
        return TokenOutput(
            token_ids=ids,
            log_probs=[-0.01 * (k + 1) * (i + 1) for i in range(len(ids))],
            stop_reason="completed",
            num_preempted=k,
            extra_fields={"global_steps": step, "min_global_steps": step, "max_global_steps": step},
        )


def last_generated(mask: list[int]) -> list[int]:
    """The position of each decision's last generated token."""
    return [i for i, m in enumerate(mask) if m and (i + 1 == len(mask) or not mask[i + 1])]


@pytest.fixture(scope="module")
def tokenizer(tiny_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_dir)


def trainer_config(tiny_dir: Path, *overrides: str) -> Any:
    return compose(
        "clarify_qwen7b_8gpu",
        [
            f"actor_rollout_ref.model.path={tiny_dir}",
            f"actor_rollout_ref.rollout.agent.agent_loop_config_path={AGENT_LOOPS}",
            "data.max_prompt_length=1024",
            "data.max_response_length=1024",
            *overrides,
        ],
    )


def make_loop(config: Any, server: Any, tokenizer: Any) -> ClarifyAgentLoop:
    """The loop as verl's AgentLoopWorker builds it: the entry of our agent loop file, instantiated by hydra."""
    (entry,) = [e for e in OmegaConf.load(AGENT_LOOPS) if e.name == "clarify_agent"]
    loop = instantiate(
        config=entry,
        trainer_config=DictConfigWrap(config=config),
        server_manager=server,
        tokenizer=tokenizer,
        processor=None,
        hf_model_type="qwen2",
        dataset_cls=RLHFDataset,
        data_config=DictConfigWrap(config.data),
        tools=ToolListWrap([]),
    )
    assert isinstance(loop, ClarifyAgentLoop)
    return loop


def play(loop: ClarifyAgentLoop) -> ClarifyAgentLoopOutput:
    row = task_row(TASK, 0, MAX_TURNS)
    kwargs = {k: row[k] for k in ("data_source", "reward_model", "extra_info")}
    return asyncio.run(loop.run(dict(SAMPLING), raw_prompt=row["prompt"], index=0, **kwargs))


def exported(tokenizer: Any, tmp_path: Path) -> tuple[dict[str, Any], EpisodeResult]:
    """The same episode collected through our own rollouts (same chat model, same fake server) and exported."""
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(bundled_tasks_path().read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    server = FakeServerManager(tokenizer)
    policy = VerlChatModel(chat=TokenChat(tokenizer), server=server, sampling_params=SAMPLING, max_new_tokens=96)
    collect(
        CollectConfig(
            tasks=[tasks],
            policy=policy,
            out=tmp_path / "col",
            samples=1,
            max_turns=MAX_TURNS,
            temperature=None,
            progress=False,
        )
    )
    export(tmp_path / "col", [TASK], tmp_path / "exp", RewardConfig())
    (row,) = pq.read_table(tmp_path / "exp" / "episodes.parquet").to_pylist()
    (stored,) = read_rows(tmp_path / "col" / EPISODES)
    return row, EpisodeResult.model_validate({k: v for k, v in stored.items() if k in EpisodeResult.model_fields})


def test_output_is_exactly_the_rollout_export_of_the_same_episode(tiny_dir, tokenizer, tmp_path) -> None:
    server = FakeServerManager(tokenizer)
    out = play(make_loop(trainer_config(tiny_dir), server, tokenizer))
    row, episode = exported(tokenizer, tmp_path)

    start = len(out.prompt_ids)
    assert out.prompt_ids + out.response_ids == row["input_ids"]
    assert [0] * start + out.response_mask == row["assistant_mask"]
    assert [0.0] * start + out.token_scores == pytest.approx(row["token_rewards"])
    assert out.reward_score == pytest.approx(sum(row["token_rewards"]))

    # the prompt is the dataset row's chat, tokenised once; every later token was generated or is environment
    assert out.prompt_ids == TokenChat(tokenizer).start(task_row(TASK, 0, MAX_TURNS)["prompt"])
    # three decisions (two questions answered, then the format failure): each generated span is the scripted
    # reply, masked 1, with its logprobs, and its reward on its last token
    assert [c["prompt_ids"] for c in server.calls[1:]] == [
        out.prompt_ids + out.response_ids[: len(c["prompt_ids"]) - start] for c in server.calls[1:]
    ]
    spans = [
        (len(c["prompt_ids"]) - start, len(c["prompt_ids"]) - start + len(r))
        for c, r in zip(server.calls, server.replies, strict=True)
    ]
    assert [i for i, m in enumerate(out.response_mask) if m] == [i for a, b in spans for i in range(a, b)]
    assert [out.response_ids[a:b] for a, b in spans] == server.replies
    rewards = decision_rewards(episode, TASK, RewardConfig())
    assert len(set(rewards)) > 1  # the turns earn different rewards: what the per-turn credit is about
    assert [out.token_scores[b - 1] for _, b in spans] == pytest.approx(rewards)
    assert [i for i, r in enumerate(out.token_scores) if r] == [
        b - 1 for (_, b), r in zip(spans, rewards, strict=True) if r
    ]
    assert out.extra_fields["turn_scores"] == pytest.approx(rewards)
    assert out.response_logprobs is not None
    for k, (a, b) in enumerate(spans):
        assert out.response_logprobs[a:b] == pytest.approx([-0.01 * (k + 1) * (i + 1) for i in range(b - a)])
    assert all(out.response_logprobs[i] == 0.0 for i, m in enumerate(out.response_mask) if not m)

    # verl's record of the output carries the per-token rewards as rm_scores (not the sum on the last token)
    record = out.as_dict()
    assert record["rm_scores"].tolist() == pytest.approx(out.token_scores)
    assert record["response_mask"].tolist() == out.response_mask
    assert "token_scores" not in record
    # one sticky session with verl's sampling, our reply cap, and the weights versions it spanned
    assert len({c["request_id"] for c in server.calls}) == 1
    assert all(c["sampling"] == {**SAMPLING, "max_tokens": 96} for c in server.calls)
    assert (out.extra_fields["min_global_steps"], out.extra_fields["max_global_steps"]) == (7, 8)
    info = out.extra_fields["reward_extra_info"]
    assert info["clarify_questions"] == 2 and info["clarify_invalid"] == 1 and info["clarify_dropped_decisions"] == 0
    assert out.num_turns == 1 + 3 + 2
    assert out.metrics.generate_sequences > 0 and out.metrics.num_preempted == 0 + 1 + 2


def test_verls_v1_worker_plays_a_prepared_row_and_gae_credits_each_question(
    tiny_dir, tokenizer, tmp_path, monkeypatch
) -> None:
    from verl.trainer.ppo.v1 import agent_loop_tq
    from verl.utils import tensordict_utils as tu
    from verl.utils.dataset.rl_dataset import collate_fn

    # a prepared row, read and batched the way verl's v1 trainer feeds its agent loop workers
    config = trainer_config(tiny_dir)
    write_parquet([TASK], tmp_path / "train.parquet", MAX_TURNS)
    data = OmegaConf.create({**OmegaConf.to_container(config.data, resolve=True), "cache_dir": str(tmp_path / "c")})
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf"))
    batch_dict = collate_fn([RLHFDataset([str(tmp_path / "train.parquet")], tokenizer, data)[0]])
    batch_dict["uid"] = np.array(["u0"], dtype=object)
    batch = tu.get_tensordict(batch_dict)
    tu.assign_non_tensor_data(batch, "global_steps", 8)

    # verl's own v1 worker (AgentLoopWorkerTQ, outside Ray), with the TransferQueue calls captured
    status: list[str] = []
    put: dict[str, Any] = {}

    async def kv_put(key: str, partition_id: str, tag: dict[str, Any]) -> None:
        status.append(tag["status"])

    async def kv_batch_put(keys: list[str], fields: Any, tags: list[dict[str, Any]], partition_id: str) -> None:
        put.update(keys=keys, fields=fields, tags=tags)

    monkeypatch.setattr(agent_loop_tq.tq, "init", lambda *args, **kwargs: None)
    monkeypatch.setattr(agent_loop_tq.tq, "async_kv_put", kv_put)
    monkeypatch.setattr(agent_loop_tq.tq, "async_kv_batch_put", kv_batch_put)
    worker = agent_loop_tq.AgentLoopWorkerTQ.__ray_actor_class__(config, FakeServerManager(tokenizer), None, None)

    async def generate() -> None:
        await worker.generate_sequences(batch)
        await asyncio.gather(*list(worker.background_tasks))

    asyncio.run(generate())
    assert status == ["running", "finished"] and put["keys"] == ["u0_0_0"] and put["tags"][0]["min_global_steps"] == 7

    # what verl stored is our export of the same episode
    row, _ = exported(tokenizer, tmp_path)
    fields = put["fields"]
    prompt, response = fields["prompts"][0].tolist(), fields["responses"][0].tolist()
    mask = fields["response_mask"][0].tolist()
    rm_scores = fields["rm_scores"][0].tolist()
    assert prompt + response == row["input_ids"] and [0] * len(prompt) + mask == row["assistant_mask"]
    assert [0.0] * len(prompt) + rm_scores == pytest.approx(row["token_rewards"])
    assert fields["loss_mask"][0].tolist() == mask

    # the trainer's next step: token_level_rewards = rm_scores, then verl's GAE credits each question with its
    # reward-to-go (the answer tokens between questions are skipped, not discounted)
    scores, response_mask = torch.tensor([rm_scores]), torch.tensor([mask])
    _, returns = compute_gae_advantage_return(scores, torch.zeros_like(scores), response_mask, 1.0, 1.0)
    ends = last_generated(mask)
    rewards = [rm_scores[e] for e in ends]
    to_go = [sum(rewards[k:]) for k in range(len(rewards))]
    generated = np.flatnonzero(np.array(mask))
    decision = np.searchsorted(ends, generated)  # which decision each generated token belongs to
    assert returns[0, generated].tolist() == pytest.approx([to_go[d] for d in decision])
    assert len(set(to_go)) > 1  # questions are credited differently
    # an outcome estimator sums the episode first: every token of it gets one advantage
    twice = torch.cat([scores, -scores])
    advantages, _ = compute_grpo_outcome_advantage(twice, torch.cat([response_mask] * 2), np.array(["g", "g"]))
    assert len(set(advantages[0, generated].tolist())) == 1


def test_a_response_over_the_budget_loses_whole_decisions_from_the_end(tiny_dir, tokenizer, tmp_path) -> None:
    _, episode = exported(tokenizer, tmp_path)
    full = episode_output(episode, TASK, RewardConfig(), prompt_length=1024, response_length=1024)
    second = last_generated(full.response_mask)[1] + 1  # the response through the second decision
    cut = episode_output(episode, TASK, RewardConfig(), prompt_length=1024, response_length=second + 3)
    assert cut.response_ids == full.response_ids[:second] and cut.response_mask == full.response_mask[:second]
    assert cut.token_scores == full.token_scores[:second]
    assert cut.extra_fields["turn_scores"] == full.extra_fields["turn_scores"][:2]
    assert cut.extra_fields["reward_extra_info"]["clarify_dropped_decisions"] == 1
    assert cut.extra_fields["reward_extra_info"]["clarify_invalid"] == 0
    with pytest.raises(ValueError, match="prompt_length"):
        episode_output(episode, TASK, RewardConfig(), prompt_length=10, response_length=1024)


def test_the_legacy_trainer_and_a_failed_episode_are_refused(tiny_dir, tokenizer) -> None:
    with pytest.raises(InstantiationException, match="use_v1"):  # hydra's wrapper, as verl's worker sees it
        make_loop(trainer_config(tiny_dir, "trainer.use_v1=false"), FakeServerManager(tokenizer), tokenizer)

    class Rejected(RuntimeError):
        status_code = 400  # final, not retried

    server = FakeServerManager(tokenizer, error=Rejected("bad request"))
    with pytest.raises(RuntimeError, match=r"failed.*bad request"):
        play(make_loop(trainer_config(tiny_dir), server, tokenizer))
