"""Reading task files: JSON Lines in, tasks or one located :class:`TaskFileError` out."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import askbench, dolomites, mediq, native
from .errors import LongInt, RowError, TaskFileError, check_values, json_type
from .schema import FORMATS, MaskedTask

_CONVERTERS: dict[str, Callable[[dict[str, Any]], MaskedTask]] = {
    "native": native.convert,
    "dolomites": dolomites.convert,
    "mediq": mediq.convert,
    "askbench": askbench.convert,
}


def detect_format(first_row: dict[str, Any]) -> str:
    """Name the format of a row from its keys: "native", "dolomites", "mediq" or "askbench".

    Raises ValueError when the keys fit none of them.
    """
    if not isinstance(first_row, dict):
        raise ValueError(f"expected a JSON object, got {json_type(first_row)}")
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


def _check_format(format: str) -> None:
    if format not in _CONVERTERS:
        raise ValueError(f"unknown task format {format!r}; expected one of {FORMATS}")


def _check_row(row: Any) -> dict[str, Any]:
    """``row`` if it is an object whose values can all be used (see check_values); else a RowError."""
    if not isinstance(row, dict):
        hint = " (JSON Lines holds one object per line, not an array of them)" if isinstance(row, list) else ""
        raise RowError(None, f"expected a JSON object, got {json_type(row)}{hint}")
    check_values(row)
    return row


def _convert(row: dict[str, Any], format: str) -> MaskedTask:
    try:
        return _CONVERTERS[format](row)
    except RowError:
        raise
    except (ValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:  # a converter bug
        raise RowError(None, f"cannot read row as {format}: {type(exc).__name__}: {exc}") from None


def parse_row(row: dict[str, Any], format: str, *, line: int = 1, path: str = "<row>") -> MaskedTask:
    """Convert one already-parsed row (e.g. from a datasets.Dataset) into a MaskedTask."""
    _check_format(format)
    try:
        return _convert(_check_row(row), format)
    except RowError as exc:
        raise TaskFileError(path, line, exc.field, exc.reason) from None


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


def _not_json_lines(line: str) -> str:
    """The reason for a line that does not even start like a JSON object, with a guess at what it is."""
    if "\t" in line:
        guess = "this looks like TSV"
    elif "," in line:
        guess = "this looks like CSV"
    elif line.startswith("<"):
        guess = "this looks like XML or HTML"
    else:
        guess = f"the line starts with {line[:20]!r}"
    return f"not JSON Lines: each line must be one JSON object ({guess})"


def _invalid_json(text: str, exc: json.JSONDecodeError) -> str:
    line = text.strip()
    if not line.startswith(("{", "[")):
        return _not_json_lines(line)
    if line in ("{", "["):
        return f"invalid JSON: the line is only {line!r} (pretty-printed? JSON Lines needs each object on one line)"
    truncated = exc.pos >= len(text.rstrip()) or not line.endswith(("}", "]"))
    hint = " (the line ends early: truncated?)" if truncated else ""
    return f"invalid JSON: {exc.msg} at column {exc.colno}{hint}"


def _parse(text: str) -> Any:
    """``json.loads``, except that an integer longer than Python converts becomes a LongInt.

    For such a number json.loads raises a bare ValueError that names neither the column nor the
    field; parsed again this way, check_values can name the field.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:
        return json.loads(text, parse_int=LongInt.parse)


def _decode(raw: bytes) -> Any:
    """One line as a JSON value, or a RowError saying why it is none."""
    if b"\x00" in raw:  # never valid in JSON text; UTF-16 puts one beside every ASCII character
        raise RowError(None, "not UTF-8 text: the line holds NUL bytes (UTF-16? binary?); save the file as UTF-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RowError(None, f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}") from None
    try:
        return _parse(text)
    except json.JSONDecodeError as exc:
        raise RowError(None, _invalid_json(text, exc)) from None
    except RecursionError:
        raise RowError(None, "invalid JSON: nested too deeply") from None


def _detect(row: dict[str, Any]) -> str:
    try:
        return detect_format(row)
    except ValueError as exc:
        raise RowError(None, str(exc)) from None


def load_tasks(path: str | Path, format: str | None = None, *, skip_invalid: bool = False) -> TaskSet:
    """Load a JSONL task file in any supported format (detected from the first row's keys).

    With ``skip_invalid`` bad rows are recorded in ``TaskSet.skipped`` instead of raising; a file
    that gives no task at all still raises, since nothing downstream can run on it.
    """
    if format is not None:
        _check_format(format)
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
            row = _check_row(_decode(raw))
            row_format = fmt or _detect(row)
            task = _convert(row, row_format)
            if task.id in first_line:
                raise RowError("id", f"duplicate id {task.id!r} (first used on line {first_line[task.id]})")
        except RowError as exc:
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
    """Load a file in our own schema (see :mod:`.native`)."""
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
