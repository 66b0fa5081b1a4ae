"""Writers draft the final output from the explicit part and the dialogue (never the hidden part)."""

from __future__ import annotations

import re

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from . import prompts
from .llm import Component, LLMComponent, ModelCall, messages, offline_call
from .oracle import ABSTAIN
from .state import DialogueView, dialogue_text, render_task
from .tasks import split_sentences

_HEADING = re.compile(r"^([A-Z][\w &/'-]{1,60}?):\s+(.+)$")


def writer_prompt(view: DialogueView) -> list[BaseMessage]:
    hint = prompts.WRITER_ANSWER_HINT if view["explicit"].get("options") else ""
    user = prompts.WRITER_USER.format(
        task=render_task(view["explicit"]), dialogue=dialogue_text(view.get("turns", [])), answer_hint=hint
    )
    return messages(prompts.WRITER_SYSTEM, user)


class LLMWriter(LLMComponent):
    role = "writer"

    def prompt(self, view: DialogueView) -> list[BaseMessage]:
        return writer_prompt(view)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class ExtractiveWriter(Component):
    """Offline writer: a structured outline built only from the explicit part and the answers.

    Answer sentences shaped "Heading: description" become sections; the rest become requirements.
    For multiple-choice tasks it picks the option sharing most words with the case and answers.
    """

    name = "offline-extractive-writer"

    def run(self, view: DialogueView) -> tuple[str, list[ModelCall]]:
        explicit = view["explicit"]
        answers = [t["answer"] for t in view.get("turns", []) if t["answer"] and t["answer"] != ABSTAIN]
        sections: list[str] = []
        requirements: list[str] = []
        for sentence in dict.fromkeys(s for answer in answers for s in split_sentences(answer)):
            match = _HEADING.match(sentence)
            if match:
                sections.append(f"## {match.group(1)}\n{match.group(2)}")
            else:
                requirements.append(sentence)
        lines = [f"# {explicit['objective']}"]
        if explicit.get("input"):
            lines.append("## Input\n" + explicit["input"].strip())
        if requirements:
            lines.append("## Approach and requirements\n" + "\n".join(f"- {r}" for r in requirements))
        lines.extend(sections)
        if explicit.get("options"):
            context = _words(explicit.get("input", "") + " " + " ".join(answers))
            letter = max(sorted(explicit["options"]), key=lambda k: len(_words(explicit["options"][k]) & context))
            lines.append(f"The answer is {letter}.")
        draft = "\n\n".join(lines)
        prompt = render_task(explicit) + "\n\n" + dialogue_text(view.get("turns", []))
        return draft, [offline_call("writer", self.name, prompt, draft)]


def make_writer(spec: Component | BaseChatModel | str | None) -> Component:
    if isinstance(spec, Component):
        return spec
    if spec is None or spec == "offline":
        return ExtractiveWriter()
    return LLMWriter(spec)
