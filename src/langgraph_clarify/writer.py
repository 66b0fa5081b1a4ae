"""Writers draft the final output from the explicit part and the dialogue (never the hidden part)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage

from . import prompts
from .llm import DEFAULT_TIMEOUT, Check, Component, LLMComponent, ModelCall, message_text, messages, offline_call
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


#: A reply of at least this many words copied verbatim from the prompt is an echo, not a draft.
ECHO_WORDS = 8


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def check_draft(reply: AIMessage, prompt: Sequence[BaseMessage]) -> None:
    """Reject what is not a draft: an empty reply, one cut off at the token limit, or the prompt echoed
    back (the whole reply, at least ``ECHO_WORDS`` words, is a verbatim run of the prompt)."""
    text = message_text(reply)
    if not text.strip():
        raise ValueError("empty draft")
    if reply.response_metadata.get("finish_reason") == "length":
        raise ValueError("draft cut off at the token limit (finish_reason=length)")
    body = _norm(text)
    given = _norm(" ".join(message_text(m) for m in prompt))
    if len(body.split()) >= ECHO_WORDS and body in given:
        raise ValueError("the draft only repeats the prompt")


class LLMWriter(LLMComponent):
    """Any chat model drafting from the task and the dialogue; a non-draft reply is retried, then fails
    the episode with the reason (an empty or echoed draft is never scored)."""

    role = "writer"

    def prompt(self, view: DialogueView) -> list[BaseMessage]:
        return writer_prompt(view)

    def check(self, view: DialogueView) -> Check:
        prompt = self.prompt(view)
        return lambda reply: check_draft(reply, prompt)


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
        return draft, [offline_call("writer", self.name, writer_prompt(view), draft)]


def make_writer(
    spec: Component | BaseChatModel | str | None,
    *,
    sampling: dict[str, Any] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> Component:
    """``offline``/None → :class:`ExtractiveWriter`; a model or model string → :class:`LLMWriter`."""
    if isinstance(spec, Component):
        return spec
    if spec is None or spec == "offline":
        return ExtractiveWriter()
    return LLMWriter(spec, sampling=sampling, timeout=timeout)
