"""Askers decide, from the explicit part and the dialogue only, whether to ask and what.

Every asker speaks one protocol, the one a policy is trained in: the episode is **one growing chat**
(system; user: the task and the instruction; assistant: question 1; user: answer 1; ...) and the
reply is plain text, one question or the single word STOP. No JSON: the tokens a trainer optimises
are the tokens the policy generated, and a checkpoint served over HTTP is prompted exactly as it was
trained. A reply that is neither (a draft, two questions, a cut-off) is a format failure: it is
recorded with its reason and ends the questions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from . import prompts
from .llm import DEFAULT_TIMEOUT, Component, LLMComponent, ModelCall, offline_call
from .rewards import count_questions, is_repeat
from .state import DialogueView, render_task

#: A reply longer than this is not "one short question" (an untrained policy drafts instead of asking).
MAX_QUESTION_WORDS = 60


class AskDecision(BaseModel):
    """The asker's decision: ask ``question``, stop, or an invalid reply (``reason`` says why)."""

    action: Literal["ask", "stop", "invalid"]
    question: str = ""
    reason: str | None = None


_LABEL = re.compile(r"^(?:\*\*)?(?:question|q\d*|assistant|next question)\s*[:.\-]\s*(?:\*\*)?", re.I)
_STOP = re.compile(r"^[\W_]*stop[\W_]*$", re.I)


def parse_reply(text: str, finish_reason: str | None = None) -> AskDecision:
    """Read a plain-text asker reply: one question, the word STOP, or invalid (with the reason).

    Tolerates what models add around an answer: surrounding whitespace, quotes, markdown emphasis,
    a ``Question:`` label. Anything else is not repaired: it is the policy's to learn.
    """
    body = text.strip().strip("`\"'“”").strip()
    body = _LABEL.sub("", body).strip().strip("*").strip()
    if _STOP.match(body):
        return AskDecision(action="stop")
    if finish_reason == "length":
        return AskDecision(action="invalid", reason="cut off at the token limit")
    if not body:
        return AskDecision(action="invalid", reason="empty reply")
    n = count_questions(body)
    if n == 0:
        return AskDecision(action="invalid", reason="no question")
    if n > 1:
        return AskDecision(action="invalid", reason=f"{n} questions in one turn")
    words = len(body.split())
    if words > MAX_QUESTION_WORDS:
        return AskDecision(action="invalid", reason=f"too long for one question ({words} words)")
    return AskDecision(action="ask", question=body)


def budget_of(view: DialogueView) -> int:
    settings = view.get("settings")
    return settings["max_turns"] if settings else view.get("max_turns", 5)


def asker_chat(view: DialogueView) -> list[BaseMessage]:
    """The policy's chat for its next reply: system, task + instruction, then each question and answer.

    Earlier questions are the asker's own replies as generated, with the token ids it produced
    (``response_metadata``), so a token-exact backend continues from those ids and never re-tokenises
    generated text.
    """
    turns = view.get("turns", [])
    budget = budget_of(view)
    chat: list[BaseMessage] = [
        SystemMessage(prompts.ASKER_SYSTEM),
        HumanMessage(prompts.ASKER_FIRST.format(task=render_task(view["explicit"]), budget=budget)),
    ]
    own = {c["call_id"]: c for c in view.get("asker_calls", []) if c["error"] is None}
    for turn in turns:
        call = own.get(turn.get("asker_call_id") or "")
        meta: dict[str, Any] = {}
        if call is not None and call.get("completion_ids") is not None:
            meta = {"prompt_ids": call.get("prompt_ids"), "completion_ids": call["completion_ids"]}
        chat.append(AIMessage(call["reply"] if call else turn["question"], response_metadata=meta))
        left = max(budget - turn["index"] - 1, 0)
        chat.append(HumanMessage(prompts.ASKER_NEXT.format(answer=turn["answer"], left=left)))
    return chat


class LLMAsker(LLMComponent):
    """Any chat model asked in the policy protocol: the paper's vanilla baseline, or a trained policy."""

    role = "asker"

    def prompt(self, view: DialogueView) -> list[BaseMessage]:
        return asker_chat(view)

    def run(self, view: DialogueView) -> tuple[AskDecision, list[ModelCall]]:
        reply, calls = self.recorder.call(self.prompt(view), sampling=self.sampling)
        return parse_reply(str(reply), calls[-1].get("finish_reason")), calls

    async def arun(self, view: DialogueView) -> tuple[AskDecision, list[ModelCall]]:
        reply, calls = await self.recorder.acall(self.prompt(view), sampling=self.sampling)
        return parse_reply(str(reply), calls[-1].get("finish_reason")), calls


# (facet, words that show the explicit part already covers it, the question)
FACETS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "procedure",
        ("procedure", "steps", "methodology", "process"),
        "What steps, method or procedure should the work follow, and what expertise should it reflect?",
    ),
    (
        "sections",
        ("sections", "headings", "outline", "structure"),
        "Which sections or parts must the output contain, and what should each one cover?",
    ),
    (
        "audience",
        ("audience", "readers", "reader", "intended"),
        "Who is the intended audience or reader, and what do they need from it?",
    ),
    (
        "format",
        ("format", "bullet", "table", "template"),
        "What format should it take: paragraphs, bullet points, a table or a template?",
    ),
    (
        "length",
        ("length", "words", "pages", "paragraphs"),
        "How long should it be: a word count, a number of pages, or paragraphs per section?",
    ),
    ("style", ("tone", "style", "formal", "informal"), "What tone and style of writing should it use?"),
    (
        "constraints",
        ("constraints", "requirements", "avoid", "deadline"),
        "Are there constraints or requirements it must meet, or things it must avoid?",
    ),
    (
        "criteria",
        ("criteria", "success", "evaluated", "assessed"),
        "How will the result be judged: what must it include to be complete and successful?",
    ),
    (
        "sources",
        ("sources", "references", "citations", "evidence"),
        "What sources, data or evidence should it draw on or cite?",
    ),
)


# Facets of a case to be answered (a task that comes with answer options, e.g. a clinical vignette).
CASE_FACETS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "history",
        ("history",),
        "What is the relevant history: past illnesses, medications, family history or previous events?",
    ),
    (
        "timeline",
        ("onset", "duration", "ago", "since"),
        "When did it start, how long has it lasted and how has it changed over time?",
    ),
    ("findings", ("examination", "exam", "reveals", "shows"), "What did the examination or inspection show?"),
    (
        "measurements",
        ("temperature", "pressure", "pulse", "vital"),
        "What are the exact measurements, such as temperature, blood pressure, pulse and other vital signs?",
    ),
    (
        "tests",
        ("laboratory", "lab", "test", "imaging", "culture"),
        "What do the laboratory, imaging or other test results show?",
    ),
    (
        "person",
        ("year-old", "age", "aged"),
        "Who exactly is involved: age, sex, occupation and other details about the person?",
    ),
    (
        "exposures",
        ("travel", "exposure", "smok", "alcohol"),
        "Any recent travel, exposures, habits such as smoking or alcohol, or social circumstances?",
    ),
    (
        "specifics",
        ("exactly", "precisely"),
        "Which specific details, numbers or names were left vague in the question?",
    ),
)


FacetTable = tuple[tuple[str, tuple[str, ...], str], ...]


@lru_cache(maxsize=4096)
def _open_facets(task_text: str, case: bool) -> tuple[str, ...]:
    """The facet questions the explicit part does not already cover, in order (cached per task: every
    turn of an episode asks the same)."""
    lowered = task_text.lower()
    table: FacetTable = CASE_FACETS if case else FACETS
    return tuple(q for _, words, q in table if not any(re.search(rf"\b{re.escape(w)}", lowered) for w in words))


class HeuristicAsker(Component):
    """Offline asker: asks about the facets the explicit part does not mention, once each, then stops.

    Writing tasks get writing facets (procedure, sections, audience, format, length, ...); tasks that
    come with answer options get case facets (history, timeline, findings, measurements, ...). It
    reads the same chat an LLM asker would get and records it as its prompt.
    """

    name = "offline-heuristic-asker"

    def run(self, view: DialogueView) -> tuple[AskDecision, list[ModelCall]]:
        explicit = view["explicit"]
        turns = view.get("turns", [])
        decision = AskDecision(action="stop")
        for question in _open_facets(render_task(explicit), bool(explicit.get("options"))):
            if not is_repeat(question, turns):
                decision = AskDecision(action="ask", question=question)
                break
        reply = decision.question or "STOP"
        return decision, [offline_call("asker", self.name, asker_chat(view), reply, decision)]


def make_asker(
    spec: Component | BaseChatModel | str | None,
    *,
    sampling: dict[str, Any] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> Component:
    """``offline``/None → :class:`HeuristicAsker`; a model or model string → :class:`LLMAsker`."""
    if isinstance(spec, Component):
        return spec
    if spec is None or spec == "offline":
        return HeuristicAsker()
    return LLMAsker(spec, sampling=sampling, timeout=timeout)
