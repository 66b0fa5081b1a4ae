"""``native``: our own schema; the bundled ``data/tasks.jsonl`` uses it.

::

    id           str, required, unique in the file, e.g. "software-incident-postmortem"
    field        str, the domain, e.g. "software engineering"
    objective    str, required, non-empty         explicit: what the user asks for
    input        str                              explicit: the concrete facts of this instance
    procedure    str                              implicit, region "procedure": steps, expertise
    output_spec  str                              implicit, region "output": required sections,
                                                  format, length, audience; a bullet list gives
                                                  one checklist item per bullet
    notes        str                              implicit, region "notes"
    options      dict[str, str], optional         explicit: multiple-choice options
    checklist    list[str], optional              overrides the items derived from output_spec
    gold_answer  str, optional                    e.g. the correct option letter
    source       str, optional (default "native")

Unknown keys are an error (a typo must not silently drop a field), and a row must give at least
one hidden sentence.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import RowError, validate
from .schema import MaskedTask
from .text import hide, split_items


class _NativeRow(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    id: str
    field: str = ""
    objective: str
    input: str = ""
    procedure: str = ""
    output_spec: str = ""
    notes: str = ""
    options: dict[str, str] = Field(default_factory=dict)
    checklist: list[str] | None = None
    gold_answer: str | None = None
    source: str = "native"


def convert(row: dict[str, Any]) -> MaskedTask:
    """One native row as a task."""
    r = validate(_NativeRow, row)
    if not r.id.strip():
        raise RowError("id", "empty")
    if not r.objective.strip():
        raise RowError("objective", "empty")
    hidden = hide([("procedure", r.procedure), ("output", r.output_spec), ("notes", r.notes)])
    if not hidden:
        raise RowError("procedure", "no hidden sentences: procedure, output_spec and notes are all empty")
    if r.checklist is not None:
        if not r.checklist:
            raise RowError("checklist", "empty list (omit the key to derive items from output_spec)")
        for k, item in enumerate(r.checklist):
            if not item.strip():
                raise RowError(f"checklist[{k}]", "empty item")
        checklist = [item.strip() for item in r.checklist]
    else:
        checklist = split_items(r.output_spec)
    return MaskedTask(
        id=r.id.strip(),
        field=r.field.strip(),
        source=r.source.strip() or "native",
        objective=r.objective.strip(),
        input=r.input.strip(),
        options=r.options,
        procedure=r.procedure.strip(),
        output_spec=r.output_spec.strip(),
        notes=r.notes.strip(),
        hidden=hidden,
        checklist=checklist,
        gold_answer=r.gold_answer.strip() if r.gold_answer is not None else None,
    )
