"""Evaluate an existing agent with the oracle: the agent of agent_middleware.py, unchanged, answered by the
masked-task oracle instead of a person, its final answer judged against each task's checklist.

``load_agent`` takes the same ``agent:package.module:factory`` string as ``clarify eval --policy``; each episode
is an :class:`~langgraph_clarify.EpisodeResult` with per-turn evidence rewards and the asker's and oracle's
calls, exactly as the clarify graph records them.

Run: python examples/evaluate_agent.py   (offline: lexical oracle, checklist judge, 8 bundled tasks)
"""

from __future__ import annotations

import asyncio
from statistics import mean

from langgraph_clarify.episodes import EpisodeResult
from langgraph_clarify.evaluation.agents import arun_agent_episode, load_agent
from langgraph_clarify.judge import JudgeResult, ajudge_draft, make_judge
from langgraph_clarify.oracle import make_oracle
from langgraph_clarify.tasks import MaskedTask, load_bundled

SPEC = "agent:agent_middleware:build_offline_agent"


async def evaluate(spec: str, tasks: list[MaskedTask], max_turns: int) -> list[tuple[EpisodeResult, JudgeResult]]:
    agent, oracle, judge = load_agent(spec), make_oracle("offline"), make_judge("offline")

    async def one(task: MaskedTask) -> tuple[EpisodeResult, JudgeResult]:
        result = await arun_agent_episode(agent, task, oracle=oracle, max_turns=max_turns)
        return result, await ajudge_draft(task, result.draft, judge)

    return list(await asyncio.gather(*(one(task) for task in tasks)))


def main() -> None:
    tasks = load_bundled()[:8]
    for budget in (0, 3):
        episodes = asyncio.run(evaluate(SPEC, tasks, budget))
        scores = [verdict.score or 0.0 for _, verdict in episodes]
        turns = [t for result, _ in episodes for t in result.turns]
        evidence = mean(t["evidence_reward"] or 0.0 for t in turns) if turns else 0.0
        errors = sum(result.error is not None for result, _ in episodes)
        print(
            f"max_turns={budget}: checklist score {mean(scores):.3f} | {len(turns)} questions, "
            f"evidence reward {evidence:.2f} | errors {errors}"
        )
    result, verdict = episodes[0]
    print(f"\n{result.task_id}: score {verdict.score:.2f}")
    for turn in result.turns:
        print(f"  Q{turn['index'] + 1}: {turn['question']}\n      cited {turn['cited']} reward {turn['reward']}")


if __name__ == "__main__":
    main()
