"""Askers decide, from the explicit part and the dialogue only, whether to ask and what."""

from __future__ import annotations

import re
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from pydantic import BaseModel, model_validator

from . import prompts
from .llm import Component, LLMComponent, ModelCall, messages, offline_call
from .rewards import is_repeat
from .state import DialogueView, dialogue_text, render_task


class AskDecision(BaseModel):
    """The asker's structured output: a question, or STOP."""

    action: Literal["ask", "stop"]
    question: str = ""

    @model_validator(mode="after")
    def _question_when_asking(self) -> AskDecision:
        self.question = self.question.strip()
        if self.action == "ask" and not self.question:
            raise ValueError("action 'ask' needs a non-empty question")
        return self


def asker_prompt(view: DialogueView) -> list[BaseMessage]:
    turns = view.get("turns", [])
    left = max(view.get("max_turns", 5) - len(turns), 0)
    user = prompts.ASKER_USER.format(task=render_task(view["explicit"]), dialogue=dialogue_text(turns), left=left)
    return messages(prompts.ASKER_SYSTEM, user)


class LLMAsker(LLMComponent):
    """Any chat model prompted to ask proactively (the paper's 'vanilla' baseline, or a trained policy)."""

    role = "asker"
    schema = AskDecision

    def prompt(self, view: DialogueView) -> list[BaseMessage]:
        return asker_prompt(view)


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


class HeuristicAsker(Component):
    """Offline asker: asks about the facets the explicit part does not mention, once each, then stops.

    Writing tasks get writing facets (procedure, sections, audience, format, length, ...); tasks that
    come with answer options get case facets (history, timeline, findings, measurements, ...).
    """

    name = "offline-heuristic-asker"

    def run(self, view: DialogueView) -> tuple[AskDecision, list[ModelCall]]:
        text = render_task(view["explicit"]).lower()
        facets = CASE_FACETS if view["explicit"].get("options") else FACETS
        decision = AskDecision(action="stop")
        for _facet, covered_by, question in facets:
            covered = any(re.search(rf"\b{re.escape(word)}", text) for word in covered_by)
            if not covered and not is_repeat(question, view.get("turns", [])):
                decision = AskDecision(action="ask", question=question)
                break
        prompt = render_task(view["explicit"]) + "\n\n" + dialogue_text(view.get("turns", []))
        return decision, [offline_call("asker", self.name, prompt, decision.question or "STOP", decision)]


def make_asker(spec: Component | BaseChatModel | str | None) -> Component:
    """``offline``/None → :class:`HeuristicAsker`; a model or model string → :class:`LLMAsker`."""
    if isinstance(spec, Component):
        return spec
    if spec is None or spec == "offline":
        return HeuristicAsker()
    return LLMAsker(spec)
