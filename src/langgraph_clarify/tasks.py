"""Masked tasks: what the asker may see (explicit) and what only the user knows (implicit).

A task is split the way the paper splits DOLOMITES: the explicit part E = <objective, input> is
what users typically say; the implicit part I = <procedure, output spec, notes> is what they rarely
say but the ideal output depends on. I is split into hidden sentences with stable indices so an
oracle can cite them and rewards can count them.

Task files are JSON Lines (one object per line; blank lines are ignored). :func:`load_tasks` reads
four formats, detected from the keys of the first row or named with ``format=``:

``native`` -- our own schema (the bundled ``data/tasks.jsonl`` uses it)::

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

  Unknown keys are an error, and a row must give at least one hidden sentence.

``dolomites`` -- DOLOMITES, nested ``{example_id, example_input, task: {task_objective,
task_procedure, task_input, task_output, task_notes}}`` or flat ``{field, task_objective, ...,
example_input, example_output}``. E = objective + example input (the input spec when the example
is empty); I = procedure + output spec + notes.

``mediq`` -- MediQ cases. E = question + the first context sentence (what the patient says up
front) + options; I = the remaining context sentences (region "context"); gold = ``answer_idx``.
For MediQ and AskBench the hidden sentences carry the implicit part; procedure, output_spec and
notes stay empty.

``askbench`` -- AskBench AskMind. E = the degraded question (options split off when present);
I = the sentences of ``degraded_info`` (region "removed") plus the sentences of the original
question that the degraded one lacks (region "original"); gold = the letter of ``expected_answer``.

Every problem in a file is reported as a :class:`TaskFileError` naming the file, the line and the
field, never as a raw traceback.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .state import Explicit, render_task

Region = Literal["procedure", "output", "notes", "context", "removed", "original"]
TaskFormat = Literal["native", "dolomites", "mediq", "askbench"]
FORMATS: tuple[str, ...] = ("native", "dolomites", "mediq", "askbench")


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


# --------------------------------------------------------------------------------------------
# Sentence and checklist splitting
# --------------------------------------------------------------------------------------------

# A list marker at the start of a line: "* ", "- ", "• ", "1. ", "2) " (group 1 is the indent).
_LINE_ITEM = re.compile(r"^([ \t]*)(?:[*\-•]|\d{1,2}[.)])[ \t]+(?=\S)")
# A list marker inside a line: "• ", a "*" bullet (" * Title", "*Title"; never "**bold**" or
# "x * y"), or "2. "/"2) "/"- " right after the end of a sentence ("... papers. 2. Proper citation").
_INLINE_ITEM = re.compile(
    r"[ \t]*•[ \t]*"
    r"|(?:^|(?<=\s))\*(?!\*)[ \t]*(?=[A-Z\"'“\[]|\*\*)"
    r"|(?<=[.!?;:])[ \t]+\d{1,2}[.)][ \t]+(?=[A-Za-z\"'“(\[])"
    r"|(?P<dash>(?<=[.!?;:])[ \t]+-[ \t]+(?=[A-Z]))"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“(\[*A-Z0-9])")
_MARKUP = re.compile(r"\*\*|__|`")


def clean(text: str) -> str:
    """Drop markdown emphasis and collapse whitespace."""
    return re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()


def _chunks(text: str) -> list[tuple[int, bool, str]]:
    """Paragraphs and list items of ``text`` as (indent, is_item, text), markers removed.

    Lines without a marker continue the current chunk (soft wraps); a blank line ends it. Real
    DOLOMITES specs put whole lists on one line ("* A: ... * B: ..."), hence the inline markers.
    """
    lines: list[list[Any]] = []  # [indent, is_item, text]
    open_chunk = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            open_chunk = False
            continue
        m = _LINE_ITEM.match(line)
        if m:
            lines.append([len(m.group(1).expandtabs(4)), True, line[m.end() :]])
        elif open_chunk:
            lines[-1][2] += " " + line.strip()
        else:
            lines.append([len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip()), False, line.strip()])
        open_chunk = True
    out: list[tuple[int, bool, str]] = []
    for indent, is_item, body in lines:
        # Inline "- x" after a sentence is a sub-point ("... for each topic: - Definitions - Examples").
        start, level, item = 0, indent, is_item
        for m in _INLINE_ITEM.finditer(body):
            if body[start : m.start()].strip():
                out.append((level, item, body[start : m.start()].strip()))
            start, item = m.end(), True
            level = indent + 1 if m.group("dash") else indent
        if body[start:].strip():
            out.append((level, item, body[start:].strip()))
    return out


def _is_item_text(piece: str) -> bool:
    return len(piece) > 1 and re.search(r"\w", piece) is not None


def split_sentences(text: str) -> list[str]:
    """Split text into sentences; list items (on their own line or inline) also end a sentence.

    A short heading that ends with a colon ("Best practices:") is joined to the sentence after
    it, so it never stands alone as an uninformative hidden sentence.
    """
    out: list[str] = []
    carry = ""
    for _indent, _is_item, body in _chunks(text):
        for piece in _SENTENCE_END.split(body):
            piece = clean(piece).lstrip("*-• ").strip()
            if not _is_item_text(piece):
                continue
            if carry:
                piece, carry = f"{carry} {piece}", ""
            if piece.endswith(":") and len(piece.split()) <= 4:
                carry = piece
                continue
            out.append(piece)
    if carry:
        out.append(carry)
    return out


def split_items(text: str) -> list[str]:
    """Split an output specification into checklist items.

    Rule: if the spec is a bullet or numbered list, each bullet is one item (a required section
    with its description); otherwise each sentence is one item. Sub-bullets (indented deeper than
    the first bullet) belong to their parent item; a lead-in line ending with ":" before the first
    bullet is a heading, not an item.
    """
    chunks = _chunks(text)
    if not any(is_item for _, is_item, _ in chunks):
        return split_sentences(text)
    base = min(indent for indent, is_item, _ in chunks if is_item)
    items: list[str] = []
    seen_item = False
    for indent, is_item, body in chunks:
        piece = clean(body).lstrip("*-• ").strip()
        if not _is_item_text(piece):
            continue
        if not is_item and not seen_item and piece.endswith(":"):
            continue  # "The report must contain:" introduces the list
        if indent > base and items and (is_item or seen_item):  # sub-bullet or indented continuation
            sep = " " if items[-1].endswith((":", ";", ",", ".", "!", "?")) else "; "
            items[-1] = f"{items[-1]}{sep}{piece}"
            continue
        seen_item = seen_item or is_item
        items.append(piece)
    return items


def hide(regions: list[tuple[Region, str]]) -> list[HiddenSentence]:
    """Index the sentences of the implicit regions, in order, from 0."""
    out: list[HiddenSentence] = []
    for region, text in regions:
        for sentence in split_sentences(text):
            out.append(HiddenSentence(index=len(out), text=sentence, region=region))
    return out


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class TaskFileError(ValueError):
    """A task file problem, located: ``tasks.jsonl:12: field 'objective': missing``.

    Loaders raise only this (never a JSONDecodeError or pydantic traceback) so a command line can
    print one line a user can act on.
    """

    def __init__(self, path: str, line: int | None = None, field: str | None = None, reason: str = "invalid"):
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason
        super().__init__(self.path, line, field, reason)

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        parts = [where]
        if self.field is not None:
            parts.append(f"field {self.field!r}")
        parts.append(self.reason)
        return ": ".join(parts)

    def __repr__(self) -> str:
        return f"TaskFileError({self!s})"


class _RowError(Exception):
    """A problem with one row, before the file and line are known."""

    def __init__(self, field: str | None, reason: str):
        super().__init__(field, reason)
        self.field = field
        self.reason = reason


_JSON_TYPES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validate(model: type[BaseModel], row: dict[str, Any]) -> Any:
    """Validate ``row``; the first pydantic error becomes a _RowError naming its field."""
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        kind = err["type"]
        if kind == "missing":
            reason = "missing"
        elif kind == "extra_forbidden":
            reason = "unknown key"
        else:
            reason = f"{err['msg']} (got {_json_type(err.get('input'))})"
        raise _RowError(_loc(tuple(err["loc"])) or None, reason) from None


def _text(value: str | None) -> str:
    return (value or "").strip()


def _id_part(row: dict[str, Any], key: str) -> str | None:
    """An id given as a string or an integer (DOLOMITES and MediQ use integers)."""
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _RowError(key, f"expected a string or an integer (got {_json_type(value)})")
    if not str(value).strip():
        raise _RowError(key, "empty")
    return str(value).strip()


# --------------------------------------------------------------------------------------------
# Row converters, one per format
# --------------------------------------------------------------------------------------------

_STRICT = ConfigDict(strict=True, extra="ignore")


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


def _native(row: dict[str, Any], line: int) -> MaskedTask:
    r = _validate(_NativeRow, row)
    if not r.id.strip():
        raise _RowError("id", "empty")
    if not r.objective.strip():
        raise _RowError("objective", "empty")
    hidden = hide([("procedure", r.procedure), ("output", r.output_spec), ("notes", r.notes)])
    if not hidden:
        raise _RowError("procedure", "no hidden sentences: procedure, output_spec and notes are all empty")
    if r.checklist is not None:
        if not r.checklist:
            raise _RowError("checklist", "empty list (omit the key to derive items from output_spec)")
        for k, item in enumerate(r.checklist):
            if not item.strip():
                raise _RowError(f"checklist[{k}]", "empty item")
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


class _DolomitesTemplate(BaseModel):
    model_config = _STRICT

    task_objective: str
    task_procedure: str | None = None
    task_input: str | None = None
    task_output: str | None = None
    task_notes: str | None = None


class _DolomitesNested(BaseModel):
    model_config = _STRICT

    task: _DolomitesTemplate
    example_input: str | None = None
    field: str | None = None


class _DolomitesFlat(_DolomitesTemplate):
    example_input: str | None = None
    field: str | None = None


# All 309 shared examples carry this template heading (as a line of its own); it is not part of what the user
# says, and left in, "Sections" would read as if the user had already described the sections.
_INPUT_HEADER = re.compile(r'^[ \t]*"?\**[ \t]*Input Sections[ \t]*\**"?[ \t]*(?:\n|$)', re.I | re.M)


def _dolomites(row: dict[str, Any], line: int) -> MaskedTask:
    nested = "task" in row
    if nested:
        r = _validate(_DolomitesNested, row)
        t, prefix = r.task, "task."
    else:
        r = t = _validate(_DolomitesFlat, row)
        prefix = ""
    ident = _id_part(row, "example_id") or _id_part(row, "id") or str(line)
    objective = _text(t.task_objective)
    if not objective:
        raise _RowError(f"{prefix}task_objective", "empty")
    output = _text(t.task_output)
    hidden = hide([("procedure", _text(t.task_procedure)), ("output", output), ("notes", _text(t.task_notes))])
    if not hidden:
        raise _RowError(
            f"{prefix}task_procedure", "no hidden sentences: task_procedure, task_output and task_notes are empty"
        )
    return MaskedTask(
        id=f"dolomites-{ident}",
        field=_text(r.field),
        source="dolomites",
        objective=objective,
        input=_INPUT_HEADER.sub("", _text(r.example_input)).strip() or _text(t.task_input),
        procedure=_text(t.task_procedure),
        output_spec=output,
        notes=_text(t.task_notes),
        hidden=hidden,
        checklist=split_items(output),
    )


class _MediqRow(BaseModel):
    model_config = _STRICT

    question: str
    context: list[str]
    options: dict[str, str] = Field(default_factory=dict)
    answer_idx: str | None = None


def _mediq(row: dict[str, Any], line: int) -> MaskedTask:
    ident = _id_part(row, "id")
    if ident is None:
        raise _RowError("id", "missing")
    r = _validate(_MediqRow, row)
    question = r.question.strip()
    if not question:
        raise _RowError("question", "empty")
    context = [c.strip() for c in r.context if c.strip()]
    return MaskedTask(
        id=f"mediq-{ident}",
        field="medicine",
        source="mediq",
        objective=question,
        input=f"Patient: {context[0]}" if context else "",
        options={k.strip(): v.strip() for k, v in r.options.items()},
        hidden=hide([("context", c) for c in context[1:]]),
        gold_answer=_text(r.answer_idx) or None,
    )


class _AskBenchRow(BaseModel):
    model_config = _STRICT

    degraded_question: str
    ori_question: str = ""
    degraded_info: str = ""
    expected_answer: str | int | float | None = None


_ANSWER_LETTER = re.compile(r"^(?:the\s+(?:correct\s+)?answer\s+is\s*:?\s*)?\(?([A-Z])\)?\s*\.?$", re.I)


def parse_answer(expected: str) -> str:
    """Gold letter: "The answer is B." -> "B"; anything without a letter pattern is kept (stripped)."""
    text = expected.strip()
    m = _ANSWER_LETTER.match(text)
    if m and (m.group(1).isupper() or len(text) > 3):
        return m.group(1).upper()
    return text


def split_options(question: str) -> tuple[str, dict[str, str]]:
    """Split trailing lettered options ("A. x" / "(A) x", one per line or inline) off a question.

    Only a run A, B, C, ... that starts after the question text and lasts to the end counts, so a
    stray "B." inside the stem is left alone. Returns (stem, options); no options -> (question, {}).
    """
    for start in reversed(list(re.finditer(r"(?:^|(?<=[\s\"?:.]))(\(A\)|A[.)])\s+", question))):
        paren = start.group(1).startswith("(")
        options: dict[str, str] = {}
        pos, letter, text_start = start.end(), "A", start.end()
        while True:
            nxt = chr(ord(letter) + 1)
            marker = rf"\({nxt}\)" if paren else rf"{nxt}[.)]"
            m = re.compile(rf"(?:^|(?<=\s)){marker}\s+").search(question, pos)
            if m is None:
                options[letter] = question[text_start:].strip().strip("\"'").strip()
                break
            options[letter] = question[text_start : m.start()].strip()
            letter, pos, text_start = nxt, m.end(), m.end()
        if len(options) >= 2 and all(options.values()) and all("\n" not in v for v in options.values()):
            stem = question[: start.start()].rstrip()
            stem = re.sub(r"(?:\n|^)\s*(?:options|answer choices|choices)\s*:?\s*$", "", stem, flags=re.I)
            return stem.rstrip(), options
    return question, {}


def _line_sentences(text: str) -> list[str]:
    """Sentences where every line break also ends one (AskBench lists lab values line by line)."""
    return split_sentences(re.sub(r"\n+", "\n\n", text))


def _askbench(row: dict[str, Any], line: int) -> MaskedTask:
    r = _validate(_AskBenchRow, row)
    degraded = r.degraded_question.strip()
    if not degraded:
        raise _RowError("degraded_question", "empty")
    stem, options = split_options(degraded)
    ori_stem, ori_options = split_options(r.ori_question.strip())
    have = clean(degraded)
    lacking = [s for s in _line_sentences(ori_stem) if clean(s) not in have]
    # An original option is lacking unless the degraded question offers it too (the option text
    # alone is no proof: "purple ball" may occur in the stem). "Option B: x", not "B. x": the
    # sentence splitter would cut "B." off as a sentence of its own.
    offered = {clean(v) for v in options.values()}
    for k, v in ori_options.items():
        if clean(v) not in offered and not re.search(rf"\(?{k}[.)]\s*{re.escape(clean(v))}", have):
            lacking.append(f"Option {k}: {v}")
    # The lacking sentences are already split; hide() would cut an option such as "Option B: x. y?"
    # into pieces, some of which the degraded question does contain.
    hidden = hide([("removed", r.degraded_info)])
    hidden += [HiddenSentence(index=len(hidden) + k, text=s, region="original") for k, s in enumerate(lacking)]
    expected = r.expected_answer
    return MaskedTask(
        id=f"askbench-{line}",
        field="askbench",
        source="askbench",
        objective=stem or degraded,
        options=options,
        hidden=hidden,
        gold_answer=(parse_answer(str(expected)) or None) if expected is not None else None,
    )


_CONVERTERS: dict[str, Callable[[dict[str, Any], int], MaskedTask]] = {
    "native": _native,
    "dolomites": _dolomites,
    "mediq": _mediq,
    "askbench": _askbench,
}


def detect_format(first_row: dict[str, Any]) -> str:
    """Name the format of a row from its keys: "native", "dolomites", "mediq" or "askbench".

    Raises ValueError when the keys fit none of them.
    """
    if not isinstance(first_row, dict):
        raise ValueError(f"expected a JSON object, got {_json_type(first_row)}")
    keys = set(first_row)
    if "task" in keys or "example_input" in keys or any(k.startswith("task_") for k in keys):
        return "dolomites"
    if keys & {"degraded_question", "ori_question", "degraded_info"}:
        return "askbench"
    if keys & {"question", "context", "answer_idx"}:
        return "mediq"
    if keys & {"objective", "procedure", "output_spec", "input", "notes", "checklist"}:
        return "native"
    shown = ", ".join(sorted(keys)[:8]) or "none"
    raise ValueError(f"cannot tell the task format from the keys ({shown}); pass format= one of {FORMATS}")


def parse_row(row: dict[str, Any], format: str, *, line: int = 1, path: str = "<row>") -> MaskedTask:
    """Convert one already-parsed row (e.g. from a datasets.Dataset) into a MaskedTask."""
    if format not in _CONVERTERS:
        raise ValueError(f"unknown task format {format!r}; expected one of {FORMATS}")
    try:
        return _convert(row, format, line)
    except _RowError as exc:
        raise TaskFileError(path, line, exc.field, exc.reason) from None


def _convert(row: Any, format: str, line: int) -> MaskedTask:
    if not isinstance(row, dict):
        raise _RowError(None, f"expected a JSON object, got {_json_type(row)}")
    try:
        return _CONVERTERS[format](row, line)
    except _RowError:
        raise
    except (ValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:  # a converter bug
        raise _RowError(None, f"cannot read row as {format}: {type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


@dataclass
class TaskSet:
    """The tasks of one file, plus the rows skipped with ``skip_invalid=True``."""

    path: str
    format: str
    tasks: list[MaskedTask] = field(default_factory=list)
    skipped: list[TaskFileError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[MaskedTask]:
        return iter(self.tasks)


def _decode(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _RowError(None, f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        stripped = text.rstrip()
        truncated = exc.pos >= len(stripped) or not stripped.endswith(("}", "]"))
        hint = " (the line ends early: truncated?)" if truncated else ""
        raise _RowError(None, f"invalid JSON: {exc.msg} at column {exc.colno}{hint}") from None
    except RecursionError:
        raise _RowError(None, "invalid JSON: nested too deeply") from None


def load_tasks(path: str | Path, format: str | None = None, *, skip_invalid: bool = False) -> TaskSet:
    """Load a JSONL task file in any supported format (detected from the first row's keys).

    With ``skip_invalid`` bad rows are recorded in ``TaskSet.skipped`` instead of raising; a file
    that gives no task at all still raises, since nothing downstream can run on it.
    """
    if format is not None and format not in _CONVERTERS:
        raise ValueError(f"unknown task format {format!r}; expected one of {FORMATS}")
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TaskFileError(name, None, None, f"cannot read file: {exc.strerror or exc}") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    fmt = format
    tasks: list[MaskedTask] = []
    skipped: list[TaskFileError] = []
    first_line: dict[str, int] = {}
    rows = 0
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        rows += 1
        try:
            row = _decode(raw)
            row_format = fmt
            if row_format is None:
                if not isinstance(row, dict):
                    raise _RowError(None, f"expected a JSON object, got {_json_type(row)}")
                try:
                    row_format = detect_format(row)
                except ValueError as exc:
                    raise _RowError(None, str(exc)) from None
            task = _convert(row, row_format, lineno)
            if task.id in first_line:
                raise _RowError("id", f"duplicate id {task.id!r} (first used on line {first_line[task.id]})")
        except _RowError as exc:
            err = TaskFileError(name, lineno, exc.field, exc.reason)
            if not skip_invalid:
                raise err from None
            skipped.append(err)
            continue
        fmt = row_format
        first_line[task.id] = lineno
        tasks.append(task)
    if rows == 0:
        raise TaskFileError(name, None, None, "no tasks")
    if not tasks:
        raise TaskFileError(name, None, None, f"no valid tasks ({len(skipped)} rows skipped; first: {skipped[0]})")
    return TaskSet(path=name, format=fmt or "", tasks=tasks, skipped=skipped)


def load_native(path: str | Path, *, skip_invalid: bool = False) -> TaskSet:
    """Load a file in our own schema (see the module docstring)."""
    return load_tasks(path, "native", skip_invalid=skip_invalid)


def load_dolomites(path: str | Path, *, skip_invalid: bool = False) -> TaskSet:
    """Load DOLOMITES examples, nested or flat layout."""
    return load_tasks(path, "dolomites", skip_invalid=skip_invalid)


def load_mediq(path: str | Path, *, skip_invalid: bool = False) -> TaskSet:
    """Load MediQ cases (hidden = patient facts beyond the first)."""
    return load_tasks(path, "mediq", skip_invalid=skip_invalid)


def load_askbench(path: str | Path, *, skip_invalid: bool = False) -> TaskSet:
    """Load AskBench AskMind items (hidden = what was removed from the question)."""
    return load_tasks(path, "askbench", skip_invalid=skip_invalid)


def bundled_tasks_path() -> Path:
    """The project's own task set shipped inside the package."""
    return Path(str(resources.files("langgraph_clarify").joinpath("data", "tasks.jsonl")))


def load_bundled() -> list[MaskedTask]:
    """The bundled tasks; they are ours (no third-party text), so they can ship with the wheel."""
    return load_tasks(bundled_tasks_path(), "native").tasks
