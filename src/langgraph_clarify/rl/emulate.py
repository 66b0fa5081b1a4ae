"""Emulated conversations for the paper's SFT baseline: an emulator that sees the whole task (explicit and
hidden parts) writes the dialogue an ideal asker would have had, questions that uncover the hidden part.

- :class:`LLMEmulator`: any chat model (model string or object), structured output through
  :class:`~langgraph_clarify.llm.CallRecorder`; a dialogue whose questions are not each one short question
  in the policy protocol is sent back with the reason.
- :class:`OfflineEmulator`: deterministic, no model. It picks the few hidden sentences that say most of what
  the explicit part does not, and for each writes one question from that sentence's own content words that
  the explicit part lacks (its rarest among the hidden sentences); the answer is the sentence. The words are
  the ones an oracle matches on, so the offline oracle cites the targeted sentence.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, Field

from ..asker import parse_reply
from ..llm import DEFAULT_TIMEOUT, Check, Component, LLMComponent, ModelCall, messages, offline_call
from ..oracle import explicit_terms, terms
from ..rewards import normalize_question
from ..state import render_task
from ..tasks import HiddenSentence, MaskedTask


class EmulatedTurn(BaseModel):
    question: str = Field(description="one short question the assistant asks")
    answer: str = Field(description="the user's answer, strictly from the hidden details")
    target: list[int] = Field(default_factory=list, description="indices of the hidden details the answer uses")


class EmulatedDialogue(BaseModel):
    """A whole emulated dialogue: the questions in order, each with its answer."""

    turns: list[EmulatedTurn]


EMULATOR_SYSTEM = """You write training conversations for an assistant that must ask before it works. \
You see a task as the user stated it and the hidden details the user knows but did not say.

Write the dialogue an ideal assistant would have: at most {budget} turns, each ONE short, specific \
question (under {words} words, ending with a question mark) that uncovers hidden details the task \
does not already state, followed by the user's brief answer taken strictly from the hidden details. \
Ask about the details that would change the result most, never about what the task already says, \
never the same thing twice.

Reply with JSON only: {{"turns": [{{"question": "...", "answer": "...", "target": [indices used]}}]}}."""

EMULATOR_USER = """Task as the user stated it:
{task}

Hidden details (only the user knows these):
{hidden}"""


def check_dialogue(budget: int) -> Check:
    """Each question must be what the policy is trained to say (one short question, no repeats)."""

    def check(dialogue: EmulatedDialogue) -> None:
        if not 1 <= len(dialogue.turns) <= budget:
            raise ValueError(f"expected 1 to {budget} turns, got {len(dialogue.turns)}")
        seen: set[str] = set()
        for k, turn in enumerate(dialogue.turns, 1):
            decision = parse_reply(turn.question)
            if decision.action != "ask":
                raise ValueError(f"turn {k}: the question is not one short question ({decision.reason or 'STOP'})")
            if normalize_question(turn.question) in seen:
                raise ValueError(f"turn {k}: repeats an earlier question")
            if not turn.answer.strip():
                raise ValueError(f"turn {k}: empty answer")
            seen.add(normalize_question(turn.question))

    return check


class LLMEmulator(LLMComponent):
    """The paper's emulator: an LLM given <o, p, i, s> writes the dialogue that uncovers <p, s>."""

    role = "oracle"  # it plays the user who knows the hidden part (and the ideal asker)
    schema = EmulatedDialogue

    def prompt(self, task: MaskedTask, budget: int) -> list[BaseMessage]:
        from ..asker import MAX_QUESTION_WORDS

        hidden = "\n".join(f"[{h.index}] {h.text}" for h in task.hidden)
        system = EMULATOR_SYSTEM.format(budget=budget, words=MAX_QUESTION_WORDS)
        return messages(system, EMULATOR_USER.format(task=render_task(task.explicit), hidden=hidden))

    def check(self, task: MaskedTask, budget: int) -> Check:
        return check_dialogue(budget)

    def finish(self, reply: EmulatedDialogue, task: MaskedTask, budget: int) -> EmulatedDialogue:
        return EmulatedDialogue(
            turns=[
                t.model_copy(update={"question": parse_reply(t.question).question, "answer": t.answer.strip()})
                for t in reply.turns
            ]
        )


_WORD = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


class OfflineEmulator(Component):
    """Deterministic emulator (see the module docstring): ``questions`` turns, each aimed at one hidden sentence."""

    name = "offline-emulator"

    def __init__(self, questions: int = 3, words: int = 3):
        self.questions = questions
        self.words = words

    def _novel(self, sentence: HiddenSentence, known: frozenset[str]) -> list[tuple[str, str]]:
        """(surface word, term) of the sentence's content words the explicit part lacks, first occurrence each."""
        out: dict[str, str] = {}
        for word in _WORD.findall(sentence.text):
            found = terms(word)
            if len(found) == 1 and found[0] not in known:
                out.setdefault(found[0], word if word.isupper() else word.lower())
        return [(w, t) for t, w in out.items()]

    def dialogue(self, task: MaskedTask, budget: int) -> EmulatedDialogue:
        known = explicit_terms(task.explicit)
        novel = {h.index: self._novel(h, known) for h in task.hidden}
        df = Counter(t for words in novel.values() for t in {t for _, t in words})
        ranked = sorted((h for h in task.hidden if novel[h.index]), key=lambda h: (-len(novel[h.index]), h.index))
        targets = sorted(ranked[: min(self.questions, budget)], key=lambda h: h.index)
        turns = []
        for h in targets:
            words = novel[h.index]
            # rarest among the hidden sentences first (what singles this one out), short words last
            picked = sorted(range(len(words)), key=lambda i: (df[words[i][1]], len(words[i][1]) < 4, i))[: self.words]
            chosen = [words[i][0] for i in sorted(picked)]
            listed = chosen[0] if len(chosen) == 1 else ", ".join(chosen[:-1]) + " and " + chosen[-1]
            turns.append(EmulatedTurn(question=f"What should I know about {listed}?", answer=h.text, target=[h.index]))
        return EmulatedDialogue(turns=turns)

    def run(self, task: MaskedTask, budget: int) -> tuple[EmulatedDialogue, list[ModelCall]]:
        dialogue = self.dialogue(task, budget)
        return dialogue, [offline_call("oracle", self.name, render_task(task.explicit), dialogue.model_dump_json())]


def make_emulator(
    spec: Component | BaseChatModel | str | None, *, questions: int = 3, timeout: float | None = DEFAULT_TIMEOUT
) -> Component:
    """``offline``/None → :class:`OfflineEmulator`; a model or model string → :class:`LLMEmulator`."""
    if isinstance(spec, Component):
        return spec
    if spec is None or spec == "offline":
        return OfflineEmulator(questions=questions)
    return LLMEmulator(spec, timeout=timeout)


async def emulate(
    emulator: Component, tasks: Sequence[MaskedTask], budget: int, *, concurrency: int = 8
) -> list[tuple[MaskedTask, EmulatedDialogue | None, list[ModelCall]]]:
    """Each task's dialogue (None when the emulator failed for good), with the calls it took, in task order."""
    from ..llm import LLMError

    gate = asyncio.Semaphore(max(concurrency, 1))

    async def one(task: MaskedTask) -> tuple[MaskedTask, EmulatedDialogue | None, list[ModelCall]]:
        async with gate:
            try:
                dialogue, calls = await emulator.arun(task, budget)
            except LLMError as exc:
                return task, None, exc.calls
            return task, dialogue, calls

    out: list[Any] = await asyncio.gather(*(one(t) for t in tasks))
    return out
