"""What a loaded task is: the explicit part the asker sees, the hidden sentences only the user knows."""

from __future__ import annotations

import hashlib
import json
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from ..state import Explicit, render_task

Region = Literal["procedure", "output", "notes", "context", "removed", "original"]
TaskFormat = Literal["native", "dolomites", "mediq", "askbench"]
FORMATS: tuple[str, ...] = get_args(TaskFormat)


class HiddenSentence(BaseModel):
    """One sentence of the implicit part, citable by its index."""

    model_config = ConfigDict(frozen=True)

    index: int
    text: str
    region: Region


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
    def explicit(self) -> Explicit:
        """The explicit part E, as graph state carries it."""
        explicit = Explicit(objective=self.objective, input=self.input, field=self.field)
        if self.options:
            explicit["options"] = dict(self.options)
        return explicit

    @property
    def explicit_text(self) -> str:
        return render_task(self.explicit)


def content_id(prefix: str, parts: list[str]) -> str:
    """``<prefix>-<12 hex>``: the first 12 hex digits of the SHA-1 of ``parts`` as compact ASCII JSON.

    For rows that carry no id of their own. Results, resumes and rollouts key on task ids, so an id
    must not move when a file is filtered or reordered (a line number would) and must be the same on
    every machine (``hash()`` is salted per process). Callers pass the stripped text fields that make
    up the task, in a fixed order; rows with the same content get the same id, which the loader
    reports as a duplicate naming both lines.
    """
    canonical = json.dumps(parts, separators=(",", ":"))
    return f"{prefix}-{hashlib.sha1(canonical.encode('ascii'), usedforsecurity=False).hexdigest()[:12]}"
