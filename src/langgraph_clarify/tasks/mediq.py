"""``mediq``: MediQ cases.

E = question + the first context sentence (what the patient says up front) + options; I = the
remaining context sentences (region "context"); gold = ``answer_idx``. The hidden sentences carry
the implicit part; procedure, output_spec and notes stay empty. Id: ``mediq-<id>`` (required).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .errors import RowError, id_part, validate
from .schema import MaskedTask
from .text import hide, text_of


class _MediqRow(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    question: str
    context: list[str]
    options: dict[str, str] = Field(default_factory=dict)
    answer_idx: str | None = None


def convert(row: dict[str, Any]) -> MaskedTask:
    """One MediQ case as a task."""
    ident = id_part(row, "id")
    if ident is None:
        raise RowError("id", "missing")
    r = validate(_MediqRow, row)
    question = r.question.strip()
    if not question:
        raise RowError("question", "empty")
    context = [c.strip() for c in r.context if c.strip()]
    return MaskedTask(
        id=f"mediq-{ident}",
        field="medicine",
        source="mediq",
        objective=question,
        input=f"Patient: {context[0]}" if context else "",
        options={k.strip(): v.strip() for k, v in r.options.items()},
        hidden=hide([("context", c) for c in context[1:]]),
        gold_answer=text_of(r.answer_idx) or None,
    )
