"""Masked tasks: what the asker may see (explicit) and what only the user knows (implicit).

A task is split the way the paper splits DOLOMITES: the explicit part E = <objective, input> is
what users typically say; the implicit part I = <procedure, output spec, notes> is what they rarely
say but the ideal output depends on. I is split into hidden sentences with stable indices so an
oracle can cite them and rewards can count them.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Region = Literal["procedure", "output", "notes", "context", "removed", "original"]


class HiddenSentence(BaseModel):
    """One sentence of the implicit part, citable by its index."""

    model_config = ConfigDict(frozen=True)

    index: int
    text: str
    region: Region


class ExplicitPart(BaseModel):
    """What the asker and the writer are allowed to see."""

    model_config = ConfigDict(frozen=True)

    objective: str
    input: str = ""
    field: str = ""
    options: dict[str, str] = Field(default_factory=dict)

    def render(self) -> str:
        parts = [f"Task: {self.objective}"]
        if self.input:
            parts.append(f"Input:\n{self.input}")
        if self.options:
            parts.append("Options:\n" + "\n".join(f"{k}. {v}" for k, v in self.options.items()))
        return "\n\n".join(parts)


class MaskedTask(BaseModel):
    """A task with its implicit part masked from the asker and writer."""

    model_config = ConfigDict(frozen=True)

    id: str
    field: str = ""
    source: str = "native"
    # explicit part
    objective: str
    input: str = ""
    options: dict[str, str] = Field(default_factory=dict)
    # implicit part
    procedure: str = ""
    output_spec: str = ""
    notes: str = ""
    hidden: list[HiddenSentence] = Field(default_factory=list)
    checklist: list[str] = Field(default_factory=list)
    gold_answer: str | None = None

    @property
    def explicit(self) -> ExplicitPart:
        return ExplicitPart(objective=self.objective, input=self.input, field=self.field, options=self.options)

    @property
    def explicit_text(self) -> str:
        return self.explicit.render()


_BULLET = re.compile(r"^\s*(?:[*\-•]|\d+[.)])\s+", re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[*A-Z0-9])")
_MARKUP = re.compile(r"\*\*|__|`")


def clean(text: str) -> str:
    """Drop markdown emphasis and collapse whitespace."""
    return re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()


def split_sentences(text: str) -> list[str]:
    """Split text into sentences; bullets and line breaks also end a sentence."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[*\-•]|\d+[.)])\s)|(?:^|\s)(?=\*\s)", text):
        block = _BULLET.sub("", block)
        for piece in _SENTENCE_END.split(block.replace("\n", " ")):
            piece = clean(piece).lstrip("*-• ").strip()
            if len(piece) > 1 and re.search(r"\w", piece):
                out.append(piece)
    return out


def split_items(text: str) -> list[str]:
    """Split an output specification into checklist items.

    Rule: if the spec is a bullet or numbered list, each bullet is one item (a required section
    with its description); otherwise each sentence is one item.
    """
    if _BULLET.search(text) or re.search(r"(?:^|\s)\*\s", text):
        parts = re.split(r"\n(?=\s*(?:[*\-•]|\d+[.)])\s)|(?:^|\s)(?=\*\s)", text)
        items = [clean(_BULLET.sub("", p)).lstrip("*-• ").strip() for p in parts]
        return [i for i in items if len(i) > 1 and re.search(r"\w", i)]
    return split_sentences(text)


def hide(regions: list[tuple[Region, str]]) -> list[HiddenSentence]:
    """Index the sentences of the implicit regions, in order, from 0."""
    out: list[HiddenSentence] = []
    for region, text in regions:
        for sentence in split_sentences(text):
            out.append(HiddenSentence(index=len(out), text=sentence, region=region))
    return out
