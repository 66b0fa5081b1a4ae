"""verl (Ray) agent loop: one clarify episode per sample, with each question's reward kept for the advantage.

verl's agent loops return one scalar ``reward_score`` per trajectory, written on the last response token;
per-turn ``turn_scores`` are stored but never reach the advantage (verl issue #2540). Here they do:

- :class:`ClarifyAgentLoop` (registered as ``clarify_agent``) plays the sample's task through
  :func:`~langgraph_clarify.graph.create_clarify_graph`. The asker is :class:`VerlChatModel`, token-exact
  over verl's server manager (prompt ids from :class:`~langgraph_clarify.rl.tokens.TokenChat`, generated ids
  never re-tokenised); the oracle, writer and :class:`~langgraph_clarify.rewards.RewardConfig` are ours.
- Its output is what :func:`~langgraph_clarify.rl.rollouts.episode_tensors` exports for the same episode:
  prompt = the first asker prompt, response = everything after it, mask 1 exactly on generated tokens (0 on
  answer and template tokens), each decision's reward on its last generated token.
- Those per-token rewards become verl's ``rm_scores`` through :meth:`ClarifyAgentLoopOutput.as_dict`, which
  verl 0.9's v1 trainer calls when it puts a rollout into the TransferQueue; the trainer copies ``rm_scores``
  to ``token_level_scores`` (minus the KL term when ``use_kl_in_reward``), the input of the advantage.
- With ``algorithm.adv_estimator=gae``, verl's GAE skips masked tokens (the value and the running advantage
  are carried across them), so every token of question k gets the return from question k on. Outcome
  estimators (``grpo``, ``rloo``, ``reinforce_plus_plus_baseline``, ...) sum ``token_level_rewards`` per
  episode first, so every question gets the same advantage: use GAE (training/verl/README.md).

The legacy trainer (``trainer.use_v1=false``) builds ``rm_scores`` from the scalar alone and is refused.
Needs the ``verl`` extra in its own environment (verl pins transformers<5.11); tested with verl 0.9.1.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

import torch
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr
from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput, register

from ..episodes import EpisodeResult, arun_episode
from ..graph import create_clarify_graph
from ..judge import ajudge_draft, make_judge
from ..llm import DEFAULT_TIMEOUT, Component
from ..oracle import LLMOracle, make_oracle
from ..rewards import RewardConfig
from ..tasks import MaskedTask
from ..writer import make_writer
from .rollouts import ExportError, decision_calls, decisions, episode_tensors
from .tokens import TokenChat
from .verl_data import AGENT_NAME, task_of

#: Oracle strings that need no model server (any other is an LLM playing the user, as in the paper).
OFFLINE_ORACLES = ("offline", "lexical", "embedding")
#: Sampling keys recorded with each asker call (``ModelCall.sampling``).
_RECORDED = ("temperature", "top_p", "top_k", "max_tokens")


class VerlChatModel(BaseChatModel):
    """Token-exact chat model over verl's server manager (``LLMServerClient.generate``), one per episode.

    One instance per episode because it carries what verl's own loops keep per trajectory: the sticky
    request id (every turn goes to the same server, whose prefix cache holds the earlier turns), the
    sampling parameters verl chose for the sample (validation is greedy), the time spent generating, and
    the server's ``extra_fields`` (``min_global_steps``/``max_global_steps``: which weights generated it).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str = "verl"
    max_new_tokens: int = 64
    _chat: TokenChat = PrivateAttr()
    _server: Any = PrivateAttr()
    _sampling: dict[str, Any] = PrivateAttr()
    _request_id: str = PrivateAttr()
    _generate_s: float = PrivateAttr(default=0.0)
    _preempted: int = PrivateAttr(default=-1)
    _server_fields: dict[str, Any] = PrivateAttr(default_factory=dict)

    def __init__(self, *, chat: TokenChat, server: Any, sampling_params: dict[str, Any], **data: Any):
        super().__init__(**data)
        self._chat, self._server, self._sampling = chat, server, dict(sampling_params)
        self._request_id = uuid.uuid4().hex

    @property
    def _llm_type(self) -> str:
        return "verl-token-exact"

    @property
    def generate_s(self) -> float:
        """Seconds spent waiting for the server, summed over the episode."""
        return self._generate_s

    @property
    def num_preempted(self) -> int:
        """Times the server preempted this episode's requests; -1 when it never said (verl's convention)."""
        return self._preempted

    @property
    def server_fields(self) -> dict[str, Any]:
        """The first reply's ``extra_fields``, with ``max_global_steps`` of the last (as verl's ToolAgentLoop)."""
        return dict(self._server_fields)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError("verl's server manager is async: run the graph with ainvoke (arun_episode)")

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = self._chat.prompt_ids(messages)
        params = {**self._sampling, "max_tokens": self.max_new_tokens}
        started = time.perf_counter()
        out = await self._server.generate(request_id=self._request_id, prompt_ids=prompt, sampling_params=params)
        self._generate_s += time.perf_counter() - started
        self._track(out)
        completion, finish = self._chat.split(out.token_ids)
        logprobs = [float(x) for x in out.log_probs[: len(completion)]] if out.log_probs else None
        message = AIMessage(
            self._chat.decode(completion),
            response_metadata={
                "model_name": self.model_name,
                "prompt_ids": prompt,
                "completion_ids": completion,
                "logprobs": logprobs,
                "finish_reason": finish,
                "sampling": {k: params[k] for k in _RECORDED if k in params},
            },
            usage_metadata={
                "input_tokens": len(prompt),
                "output_tokens": len(completion),
                "total_tokens": len(prompt) + len(completion),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _track(self, out: Any) -> None:
        fields = dict(getattr(out, "extra_fields", None) or {})
        if not self._server_fields:
            self._server_fields = fields
        elif fields.get("max_global_steps") is not None:
            self._server_fields["max_global_steps"] = fields["max_global_steps"]
        if (preempted := getattr(out, "num_preempted", None)) is not None:
            self._preempted = max(self._preempted, 0) + int(preempted)


class ClarifyAgentLoopOutput(AgentLoopOutput):
    """verl's agent loop output with one reward per response token, which become its ``rm_scores``."""

    token_scores: list[float]
    """Aligned with ``response_ids``: each decision's reward on its last generated token, 0 elsewhere."""

    def as_dict(self) -> dict[str, Any]:
        """verl's record (what the v1 trainer stores), with ``rm_scores`` = ``token_scores`` instead of the
        scalar ``reward_score`` on the last token."""
        out: dict[str, Any] = super().as_dict()
        out.pop("token_scores", None)
        out["rm_scores"] = torch.tensor(self.token_scores, dtype=torch.float32)
        return out


def episode_output(
    episode: EpisodeResult,
    task: MaskedTask,
    reward: RewardConfig,
    judge_score: float | None = None,
    *,
    prompt_length: int,
    response_length: int,
) -> ClarifyAgentLoopOutput:
    """A played episode as verl's output (see the module docstring).

    A response longer than ``response_length`` loses whole decisions from the end, never part of one, so
    every kept reward stays on its own token (counted in ``reward_extra_info["clarify_dropped_decisions"]``;
    size ``response_length`` for ``max_turns`` x (question + answer + template) to keep it at 0).
    """
    steps = decisions(episode, task, reward, judge_score)
    if not steps:
        raise ExportError(f"episode {task.id}: no asker decision")
    ids, mask, token_rewards = episode_tensors(steps)
    start = len(steps[0].prompt_ids)
    if start > prompt_length:
        raise ValueError(
            f"task {task.id}: the asker's first prompt has {start} tokens, more than rollout.prompt_length="
            f"{prompt_length} (set data.filter_overlong_prompts=true or raise data.max_prompt_length)"
        )
    kept = len(steps)
    while kept and len(steps[kept - 1].prompt_ids) + len(steps[kept - 1].completion_ids) - start > response_length:
        kept -= 1
    if not kept:
        raise ValueError(f"task {task.id}: the first reply is longer than rollout.response_length={response_length}")
    end = len(steps[kept - 1].prompt_ids) + len(steps[kept - 1].completion_ids)
    logprobs: list[float] | None = None
    if all(call.get("logprobs") is not None for call in decision_calls(episode)[:kept]):
        logprobs = []
        for step in steps[:kept]:
            logprobs += [0.0] * (len(step.prompt_ids) - start - len(logprobs)) + step.logprobs
    scores = token_rewards[start:end]
    questions = min(len(episode.turns), kept)
    info = {
        "clarify_questions": float(questions),
        "clarify_stopped": float(episode.stop_reason == "asker_stop" and kept == len(steps)),
        "clarify_invalid": float(episode.stop_reason == "invalid_reply" and kept == len(steps)),
        "clarify_coverage": episode.coverage,
        "clarify_dropped_decisions": float(len(steps) - kept),
    }
    if judge_score is not None:
        info["clarify_judge_score"] = judge_score
    return ClarifyAgentLoopOutput(
        prompt_ids=ids[:start],
        response_ids=ids[start:end],
        response_mask=mask[start:end],
        response_logprobs=logprobs,
        reward_score=sum(scores),
        token_scores=scores,
        num_turns=1 + kept + questions,
        metrics=AgentLoopMetrics(),
        extra_fields={"turn_scores": [s.reward for s in steps[:kept]], "reward_extra_info": info},
    )


@register(AGENT_NAME)
class ClarifyAgentLoop(AgentLoopBase):
    """One clarify episode per verl sample (rows from :mod:`langgraph_clarify.rl.verl_data`).

    Options come from the agent loop config file (``actor_rollout_ref.rollout.agent.agent_loop_config_path``;
    see training/verl/agent_loops.yaml): ``oracle``/``writer``/``judge`` are model strings as everywhere in
    the package, ``reward`` the :class:`RewardConfig` fields, ``max_new_tokens`` the cap of one asker reply,
    ``timeout`` the seconds an oracle/writer/judge call may take. The turn budget comes with each row.
    """

    #: Oracle, writer and judge per option set, built once per worker process: verl builds a new agent
    #: loop for every sample, and an embedding oracle or an LLM client is not cheap to build.
    _shared: ClassVar[dict[tuple[Any, ...], tuple[Component, Component, Component | None]]] = {}

    def __init__(
        self,
        *args: Any,
        oracle: str = "offline",
        writer: str = "offline",
        judge: str = "offline",
        reward: dict[str, Any] | None = None,
        max_new_tokens: int = 64,
        timeout: float = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        if not self.config.trainer.get("use_v1", True):
            raise ValueError(
                "clarify_agent needs verl's v1 trainer (trainer.use_v1=true, the default): the legacy trainer "
                "turns each episode's reward into one score on its last token, losing the per-turn rewards"
            )
        self.prompt_length = int(self.rollout_config.prompt_length)
        self.response_length = int(self.rollout_config.response_length)
        if not 0 < max_new_tokens <= self.response_length:
            raise ValueError(f"max_new_tokens={max_new_tokens} must be in [1, rollout.response_length]")
        self.max_new_tokens = max_new_tokens
        self.reward = RewardConfig.from_dict(dict(reward or {}), "clarify_agent reward")
        self.timeout = timeout
        self.chat = TokenChat(self.tokenizer)
        key = (oracle, writer, judge if self.reward.judge else None, timeout)
        if key not in self._shared:
            built_judge = make_judge(judge) if self.reward.judge else None
            built_oracle = make_oracle(oracle) if oracle in OFFLINE_ORACLES else LLMOracle(oracle, timeout=timeout)
            self._shared[key] = (built_oracle, make_writer(writer, timeout=timeout), built_judge)
        self.oracle, self.writer, self.judge = self._shared[key]

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> ClarifyAgentLoopOutput:
        task, max_turns = task_of(kwargs["extra_info"])
        asker = VerlChatModel(
            chat=self.chat,
            server=self.server_manager,
            sampling_params=sampling_params,
            max_new_tokens=self.max_new_tokens,
            model_name=str(self.config.actor_rollout_ref.model.path),
        )
        graph = create_clarify_graph(
            asker, self.writer, self.oracle, max_turns=max_turns, reward=self.reward, timeout=self.timeout
        )
        started = time.perf_counter()
        episode = await arun_episode(graph, task, max_turns=max_turns)
        if episode.error is not None:
            raise RuntimeError(f"clarify episode of task {task.id} failed: {episode.error}")
        judge_score = None
        if self.judge is not None:
            judge_score = (await ajudge_draft(task, episode.draft, self.judge)).score
        output = episode_output(
            episode,
            task,
            self.reward,
            judge_score,
            prompt_length=self.prompt_length,
            response_length=self.response_length,
        )
        output.metrics = AgentLoopMetrics(
            generate_sequences=asker.generate_s,
            tool_calls=time.perf_counter() - started - asker.generate_s,
            num_preempted=asker.num_preempted,
        )
        output.extra_fields = {**asker.server_fields, **output.extra_fields}
        return output
