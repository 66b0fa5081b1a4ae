"""Emulators for the SFT baseline: the offline one aims each question at one hidden sentence with words the
explicit part lacks, so the oracle cites that sentence; the LLM one gets the whole task and has a dialogue
that is not in the policy protocol sent back with the reason."""

from __future__ import annotations

import asyncio
import json

from langgraph_clarify.asker import parse_reply
from langgraph_clarify.episodes import episode_input
from langgraph_clarify.oracle import explicit_terms, make_oracle, terms
from langgraph_clarify.rl.emulate import LLMEmulator, OfflineEmulator, emulate, make_emulator
from langgraph_clarify.tasks import load_bundled, load_tasks
from langgraph_clarify.testing import ScriptedChatModel
from shared_data import DOLOMITES, need

TASKS = load_bundled()


def cited_targets(tasks, budget: int = 5) -> tuple[int, int]:
    """(questions whose target the offline oracle cites, questions)."""
    oracle, emulator = make_oracle("offline"), OfflineEmulator()
    hits = total = 0
    for task in tasks:
        for turn in emulator.dialogue(task, budget).turns:
            reply, _ = oracle.run(turn.question, task.explicit, episode_input(task)["hidden"])
            hits += set(turn.target) <= set(reply.evidence)
            total += 1
    return hits, total


def test_offline_questions_make_the_oracle_cite_their_targets() -> None:
    emulator = OfflineEmulator(questions=3)
    for task in TASKS:
        dialogue = emulator.dialogue(task, budget=5)
        assert len(dialogue.turns) == 3 and dialogue == emulator.dialogue(task, budget=5)  # deterministic
        targets = [t.target[0] for t in dialogue.turns]
        assert targets == sorted(set(targets))  # a different sentence each, in order
        known = explicit_terms(task.explicit)
        for turn in dialogue.turns:
            assert parse_reply(turn.question).action == "ask"
            asked = set(terms(turn.question))
            sentence = set(terms(task.hidden[turn.target[0]].text))
            assert asked and asked <= sentence and not asked & known  # its own words, none the task states
            assert turn.answer == task.hidden[turn.target[0]].text
    assert cited_targets(TASKS) == (48, 48)
    assert len(emulator.dialogue(TASKS[0], budget=2).turns) == 2


def test_offline_targets_are_cited_on_real_dolomites_tasks() -> None:
    tasks = load_tasks(need(DOLOMITES), "dolomites", skip_invalid=True).tasks
    hits, total = cited_targets(tasks)
    assert total >= 3 * len(tasks) - 5 and hits == total


def _dialogue(*questions: str) -> str:
    turns = [{"question": q, "answer": f"answer {k}", "target": [k]} for k, q in enumerate(questions)]
    return json.dumps({"turns": turns})


def test_llm_emulator_sees_the_whole_task_and_retries_an_off_protocol_dialogue() -> None:
    task = TASKS[0]
    bad = _dialogue("Who reads it? And how long should it be?")
    good = _dialogue("Question: Who reads the postmortem?", "Which sections must it have?")
    model = ScriptedChatModel(script=[bad, good])
    emulator = make_emulator(model)
    assert isinstance(emulator, LLMEmulator) and isinstance(make_emulator("offline"), OfflineEmulator)
    dialogue, calls = emulator.run(task, 5)
    assert [t.question for t in dialogue.turns] == ["Who reads the postmortem?", "Which sections must it have?"]
    assert [c["attempt"] for c in calls] == [1, 2] and "turn 1" in (calls[0]["error"] or "")
    prompt = "\n".join(m["content"] for m in calls[0]["messages"])
    assert all(f"[{h.index}] {h.text}" in prompt for h in task.hidden) and task.objective in prompt


def test_a_task_the_llm_emulator_never_gets_right_is_dropped() -> None:
    model = ScriptedChatModel(script=[_dialogue("STOP")])
    out = asyncio.run(emulate(LLMEmulator(model, retries=1), TASKS[:2], 5))
    assert [(t.id, d) for t, d, _ in out] == [(TASKS[0].id, None), (TASKS[1].id, None)]
    assert all(len(calls) == 2 and calls[-1]["error"] for _, _, calls in out)
