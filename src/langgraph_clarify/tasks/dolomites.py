"""``dolomites``: DOLOMITES examples, nested or flat.

Nested ``{example_id, example_input, task: {task_objective, task_procedure, task_input,
task_output, task_notes}}`` or flat ``{field, task_objective, ..., example_input,
example_output}``. E = objective + example input (the input spec when the example is empty);
I = procedure + output spec + notes, the split the paper uses: what users say versus what they
rarely say but the ideal output depends on.

Id: ``dolomites-<example_id>``, else ``dolomites-<id>``, else derived from the content
(:func:`~.schema.content_id` of the objective, procedure, input spec, output spec, notes and example
input), so a file without ids keeps its ids when it is filtered or reordered.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import RowError, id_part, validate
from .schema import MaskedTask, content_id
from .text import hide, split_items, text_of

_STRICT = ConfigDict(strict=True, extra="ignore")


class _Template(BaseModel):
    model_config = _STRICT

    task_objective: str
    task_procedure: str | None = None
    task_input: str | None = None
    task_output: str | None = None
    task_notes: str | None = None


class _Nested(BaseModel):
    model_config = _STRICT

    task: _Template
    example_input: str | None = None
    field: str | None = None


class _Flat(_Template):
    example_input: str | None = None
    field: str | None = None


# All 309 shared examples carry this template heading (as a line of its own); it is not part of what the user
# says, and left in, "Sections" would read as if the user had already described the sections. Matched against
# a line stripped of spaces and tabs: a pattern with blank runs on both ends would retry them quadratically.
_INPUT_HEADER = re.compile(r'"?\**[ \t]*Input Sections[ \t]*\**"?', re.I)


def _drop_input_header(text: str) -> str:
    """``text`` without the lines that are only the "Input Sections" heading."""
    return "\n".join(line for line in text.split("\n") if not _INPUT_HEADER.fullmatch(line.strip(" \t")))


def convert(row: dict[str, Any]) -> MaskedTask:
    """One DOLOMITES row (either layout) as a task."""
    r: _Nested | _Flat
    t: _Template
    if "task" in row:
        nested: _Nested = validate(_Nested, row)
        r, t, prefix = nested, nested.task, "task."
    else:
        r = t = validate(_Flat, row)
        prefix = ""
    ident = id_part(row, "example_id") or id_part(row, "id")
    objective = text_of(t.task_objective)
    if not objective:
        raise RowError(f"{prefix}task_objective", "empty")
    procedure, output, notes = text_of(t.task_procedure), text_of(t.task_output), text_of(t.task_notes)
    hidden = hide([("procedure", procedure), ("output", output), ("notes", notes)])
    if not hidden:
        raise RowError(
            f"{prefix}task_procedure", "no hidden sentences: task_procedure, task_output and task_notes are empty"
        )
    example, spec = text_of(r.example_input), text_of(t.task_input)
    content = [objective, procedure, spec, output, notes, example]
    return MaskedTask(
        id=f"dolomites-{ident}" if ident else content_id("dolomites", content),
        field=text_of(r.field),
        source="dolomites",
        objective=objective,
        input=_drop_input_header(example).strip() or spec,
        procedure=procedure,
        output_spec=output,
        notes=notes,
        hidden=hidden,
        checklist=split_items(output),
    )
