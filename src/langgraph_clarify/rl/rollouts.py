"""Rollouts: play the policy through the clarify graph against the oracle, keep every episode, and export
token-exact training rows with per-turn rewards.

``collect`` appends each finished episode to ``DIR/episodes.jsonl`` at once (a locked, resumable run
directory, like ``clarify eval``). ``export`` turns a collection into two Hugging Face datasets:

- **turns** (one row per asker decision: each question, and a final STOP or invalid reply):
  ``episode_id, turn, prompt_ids, completion_ids, logprobs, reward, done``. ``done`` is true on the
  episode's last decision, whose ``reward`` also holds the terminal reward.
- **episodes** (one row per episode): ``episode_id, task_id, input_ids, assistant_mask, token_rewards,
  terminal_reward``. ``input_ids`` is the whole episode from its first prompt token through its last
  generated token; ``assistant_mask`` is 1 exactly on generated tokens (0 on prompt, answer and
  template tokens); ``token_rewards`` is 0 everywhere except each decision's reward on that decision's
  last generated token.

Rewards are recomputed at export from the stored citations with a :class:`RewardConfig`, so a new
config re-scores a collection without replaying it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..episodes import EpisodeResult, StoredCall, arun_episode
from ..graph import create_clarify_graph
from ..judge import ajudge_draft, make_judge
from ..llm import DEFAULT_TIMEOUT
from ..rewards import RewardConfig, combine, ending_components, turn_components
from ..runs import RunDir, progress, read_rows
from ..state import Hidden, Turn
from ..tasks import MaskedTask, load_tasks

EPISODES = "episodes.jsonl"


@dataclass
class CollectConfig:
    """What ``clarify collect`` runs; see the CLI's ``--help`` for each option."""

    tasks: list[Path]
    policy: Any  # a model string (``hf:``, ``vllm:``, ``openai:``, ``offline``) or a chat model / component
    out: Path
    samples: int = 4
    max_turns: int = 5
    temperature: float | None = 1.0
    oracle: Any = "offline"
    writer: Any = "offline"
    judge: Any = "offline"
    reward: RewardConfig = field(default_factory=RewardConfig)
    concurrency: int = 8
    limit: int | None = None
    resume: bool = False
    timeout: float | None = DEFAULT_TIMEOUT
    progress: bool = True
    format: str | None = None
    skip_invalid: bool = False

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if self.max_turns < 0:
            raise ValueError(f"max_turns must be >= 0, got {self.max_turns}")


def _name(value: Any) -> str:
    return value if isinstance(value, str) else getattr(value, "model_name", None) or type(value).__name__


def load_task_files(paths: Sequence[Path], fmt: str | None = None, skip_invalid: bool = False) -> list[MaskedTask]:
    """The tasks of several files, pooled; a task id may appear in one file only."""
    tasks: dict[str, MaskedTask] = {}
    for path in paths:
        for task in load_tasks(path, fmt, skip_invalid=skip_invalid).tasks:
            if task.id in tasks:
                raise ValueError(f"{path}: task id {task.id!r} is also in another --tasks file")
            tasks[task.id] = task
    return list(tasks.values())


def episode_key(task_id: str, sample: int) -> str:
    return f"{task_id}|{sample}"


async def _collect(
    cfg: CollectConfig, items: list[tuple[MaskedTask, int]], emit: Callable[[dict[str, Any]], None]
) -> None:
    graph = create_clarify_graph(
        cfg.policy, cfg.writer, cfg.oracle, max_turns=cfg.max_turns, reward=cfg.reward, timeout=cfg.timeout
    )
    judge = make_judge(cfg.judge) if cfg.reward.judge else None
    context = {"temperature": cfg.temperature} if cfg.temperature is not None else None
    semaphore = asyncio.Semaphore(max(cfg.concurrency, 1))

    async def one(task: MaskedTask, sample: int) -> dict[str, Any]:
        async with semaphore:
            result = await arun_episode(graph, task, max_turns=cfg.max_turns, context=context)
            row = {"key": episode_key(task.id, sample), "sample": sample, **result.model_dump(mode="json")}
            if judge is not None and result.error is None:
                verdict = await ajudge_draft(task, result.draft, judge)
                row["judge_score"] = verdict.score
            return row

    for future in asyncio.as_completed([one(t, s) for t, s in items]):
        emit(await future)


def collect(cfg: CollectConfig) -> RunDir:
    """Play ``samples`` episodes per task (those not yet in ``DIR/episodes.jsonl``); return the run dir."""
    tasks = load_task_files(cfg.tasks, cfg.format, cfg.skip_invalid)[: cfg.limit]
    pinned = {
        "policy": _name(cfg.policy),
        "oracle": _name(cfg.oracle),
        "writer": _name(cfg.writer),
        "max_turns": cfg.max_turns,
        "temperature": cfg.temperature,
    }
    with RunDir(cfg.out, results=EPISODES, resume=cfg.resume, pinned=pinned) as run:
        items = [(t, s) for t in tasks for s in range(cfg.samples) if episode_key(t.id, s) not in run.done]
        bar = progress(len(items), len(run.done), cfg.progress)

        def emit(row: dict[str, Any]) -> None:
            run.append(row)
            bar.update(1)

        asyncio.run(_collect(cfg, items, emit))
        bar.close()
    return run


# ---- rewards from stored citations --------------------------------------------------------------


def hidden_of(task: MaskedTask) -> list[Hidden]:
    """The task's hidden sentences as the graph state holds them."""
    return [Hidden(index=h.index, text=h.text, region=h.region) for h in task.hidden]


def decision_rewards(
    episode: EpisodeResult,
    task: MaskedTask,
    cfg: RewardConfig,
    judge_score: float | None = None,
    hidden: list[Hidden] | None = None,
) -> list[float]:
    """The reward of each asker decision (every question, then the ending if any), recomputed from the
    stored citations with ``cfg``; the terminal reward (``cfg.judge`` x the draft's score) is added to
    the last decision."""
    hidden, explicit = hidden if hidden is not None else hidden_of(task), task.explicit
    rewards: list[float] = []
    previous: list[Turn] = []
    for turn in episode.turns:
        components = turn_components(turn["question"], turn["cited"], previous, hidden, explicit, cfg=cfg)
        rewards.append(combine(components, cfg))
        previous.append(turn)
    if episode.ending is not None:
        ending = ending_components(episode.ending["kind"], previous, hidden, explicit, cfg=cfg)
        rewards.append(combine(ending, cfg))
    if rewards:
        rewards[-1] += terminal_reward(cfg, judge_score)
    return rewards


def terminal_reward(cfg: RewardConfig, judge_score: float | None) -> float:
    return cfg.judge * judge_score if cfg.judge and judge_score is not None else 0.0


# ---- export -------------------------------------------------------------------------------------


class ExportError(ValueError):
    """An episode cannot become token-exact training rows (no token ids, or ids that do not line up)."""


def decision_calls(episode: EpisodeResult) -> list[StoredCall]:
    """The asker call behind each decision (the attempt that produced it), in order."""
    by_id = {c["call_id"]: c for c in episode.calls if c["role"] == "asker"}
    ids = [t.get("asker_call_id") for t in episode.turns]
    if episode.ending is not None:
        ids.append(episode.ending["asker_call_id"])
    calls = []
    for call_id in ids:
        call = by_id.get(call_id or "")
        if call is None:
            raise ExportError(f"episode {episode.task_id}: decision without its asker call ({call_id})")
        calls.append(call)
    return calls


@dataclass
class Decision:
    """One asker decision as training data: its prompt and completion ids, logprobs and reward."""

    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    reward: float


def decisions(
    episode: EpisodeResult,
    task: MaskedTask,
    cfg: RewardConfig,
    judge_score: float | None = None,
    hidden: list[Hidden] | None = None,
) -> list[Decision]:
    rewards = decision_rewards(episode, task, cfg, judge_score, hidden)
    out = []
    for call, reward in zip(decision_calls(episode), rewards, strict=True):
        prompt, completion = episode.call_prompt_ids(call), call.get("completion_ids")
        if prompt is None or completion is None:
            raise ExportError(
                f"episode {episode.task_id}: model {call['model']!r} recorded no token ids; collect with a "
                "token-exact policy (hf:<dir> or vllm:<dir>@<url>)"
            )
        logprobs = call.get("logprobs") or [0.0] * len(completion)
        out.append(Decision(list(prompt), list(completion), list(logprobs), reward))
    return out


def episode_tensors(steps: Sequence[Decision]) -> tuple[list[int], list[int], list[float]]:
    """(input_ids, assistant_mask, token_rewards) of one episode; checks that each prompt continues the
    previous prompt and completion exactly (the token-exact contract)."""
    ids: list[int] = []
    mask: list[int] = []
    rewards: list[float] = []
    for k, step in enumerate(steps):
        if step.prompt_ids[: len(ids)] != ids:
            raise ExportError(f"decision {k}: its prompt does not continue the episode's token sequence")
        env = step.prompt_ids[len(ids) :]
        ids += env + step.completion_ids
        mask += [0] * len(env) + [1] * len(step.completion_ids)
        rewards += [0.0] * (len(env) + len(step.completion_ids))
        if step.completion_ids:
            rewards[-1] = step.reward
    return ids, mask, rewards


def episode_id(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def training_rows(
    collection: Path, tasks: dict[str, MaskedTask], cfg: RewardConfig, skipped: Counter[str]
) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Per usable episode of a collection: its per-turn rows and its per-episode row. Episodes that cannot
    be exported are counted in ``skipped`` by reason."""
    hidden: dict[str, list[Hidden]] = {}
    for row in read_rows(collection / EPISODES):
        # our own rows: constructed without re-validation (a third of the export's time)
        episode = EpisodeResult.model_construct(**{k: v for k, v in row.items() if k in EpisodeResult.model_fields})
        if episode.error is not None:
            skipped["failed episode"] += 1
            continue
        task = tasks.get(episode.task_id)
        if task is None:
            skipped["task not in the --tasks files"] += 1
            continue
        try:
            if task.id not in hidden:
                hidden[task.id] = hidden_of(task)
            steps = decisions(episode, task, cfg, row.get("judge_score"), hidden[task.id])
            ids, mask, rewards = episode_tensors(steps)
        except ExportError as exc:
            skipped[str(exc).split(": ", 1)[-1]] += 1
            continue
        if not steps:
            skipped["no asker decision"] += 1
            continue
        eid = episode_id(row["key"])
        turns = [
            {
                "episode_id": eid,
                "turn": k,
                "prompt_ids": step.prompt_ids,
                "completion_ids": step.completion_ids,
                "logprobs": step.logprobs,
                "reward": step.reward,
                "done": k == len(steps) - 1,
            }
            for k, step in enumerate(steps)
        ]
        yield (
            turns,
            {
                "episode_id": eid,
                "task_id": row["task_id"],
                "input_ids": ids,
                "assistant_mask": mask,
                "token_rewards": rewards,
                "terminal_reward": terminal_reward(cfg, row.get("judge_score")),
            },
        )


def _schemas() -> tuple[Any, Any]:
    import pyarrow as pa

    ints, floats = pa.list_(pa.int32()), pa.list_(pa.float32())
    turns = pa.schema(
        [
            ("episode_id", pa.string()),
            ("turn", pa.int32()),
            ("prompt_ids", ints),
            ("completion_ids", ints),
            ("logprobs", floats),
            ("reward", pa.float32()),
            ("done", pa.bool_()),
        ]
    )
    episodes = pa.schema(
        [
            ("episode_id", pa.string()),
            ("task_id", pa.string()),
            ("input_ids", ints),
            ("assistant_mask", pa.list_(pa.int8())),
            ("token_rewards", floats),
            ("terminal_reward", pa.float32()),
        ]
    )
    return turns, episodes


def export(
    collection: Path, tasks: Sequence[MaskedTask], dest: Path, cfg: RewardConfig | None = None, *, chunk: int = 512
) -> dict[str, Any]:
    """Write ``dest/{turns,episodes}.parquet`` and the same as ``save_to_disk`` datasets in ``dest/turns``
    and ``dest/episodes``; return counts. Rows stream from disk to parquet in chunks, so memory does not
    grow with the collection."""
    try:
        import datasets
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("export needs the datasets package: pip install 'langgraph-clarify[train]'") from exc
    cfg = cfg or RewardConfig()
    by_id = {t.id: t for t in tasks}
    dest.mkdir(parents=True, exist_ok=True)
    turn_schema, episode_schema = _schemas()
    skipped: Counter[str] = Counter()
    counts = {"turns": 0, "episodes": 0}
    with (
        pq.ParquetWriter(dest / "turns.parquet", turn_schema) as turn_out,
        pq.ParquetWriter(dest / "episodes.parquet", episode_schema) as episode_out,
    ):
        turn_buf: list[dict[str, Any]] = []
        episode_buf: list[dict[str, Any]] = []

        def flush() -> None:
            if episode_buf:
                turn_out.write_table(pa.Table.from_pylist(turn_buf, schema=turn_schema))
                episode_out.write_table(pa.Table.from_pylist(episode_buf, schema=episode_schema))
                turn_buf.clear()
                episode_buf.clear()

        for turns, episode in training_rows(collection, by_id, cfg, skipped):
            turn_buf += turns
            episode_buf.append(episode)
            counts["turns"] += len(turns)
            counts["episodes"] += 1
            if len(episode_buf) >= chunk:
                flush()
        flush()
    if not counts["episodes"]:
        reasons = "; ".join(f"{n}x {r}" for r, n in skipped.items()) or "the collection is empty"
        raise ExportError(f"{collection}: no episode could be exported ({reasons})")
    datasets.disable_progress_bars()
    for name in ("turns", "episodes"):
        datasets.Dataset.from_parquet(str(dest / f"{name}.parquet"), cache_dir=str(dest / ".cache")).save_to_disk(
            str(dest / name)
        )
    return {**counts, "skipped": dict(skipped)}
