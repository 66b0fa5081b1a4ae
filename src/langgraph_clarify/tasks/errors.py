"""Located task-file errors, and the checks that turn bad values into them.

Converters raise :class:`RowError` (field and reason; they do not know the file or the line) and the
loader adds the location, so every problem surfaces as one :class:`TaskFileError` line a user can
act on, never as a JSONDecodeError, a pydantic traceback or a crash when the text is printed later.
"""

from __future__ import annotations

import re
import sys
from typing import Any, TypeAlias

from pydantic import BaseModel, ValidationError


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


class RowError(Exception):
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


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages ("got integer")."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _loc(loc: tuple[int | str, ...]) -> str:
    """A field path as messages print it: ``task.task_notes``, ``checklist[1]``, ``options.A``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate(model: type[BaseModel], row: dict[str, Any]) -> Any:
    """Validate ``row``; the first pydantic error becomes a RowError naming its field."""
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
            reason = f"{err['msg']} (got {json_type(err.get('input'))})"
        raise RowError(_loc(tuple(err["loc"])) or None, reason) from None


def id_part(row: dict[str, Any], key: str) -> str | None:
    """An id given as a string or an integer (DOLOMITES and MediQ use integers); None when absent."""
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RowError(key, f"expected a string or an integer (got {json_type(value)})")
    if not str(value).strip():
        raise RowError(key, "empty")
    return str(value).strip()


class LongInt:
    """Stands in for a JSON integer with more digits than Python converts (``sys.get_int_max_str_digits``).

    ``json.loads`` raises a bare ValueError for such a number, without saying where it is; parsing
    again with this as ``parse_int`` lets :func:`check_values` name the field.
    """

    __slots__ = ("digits",)

    def __init__(self, digits: str):
        self.digits = digits

    @classmethod
    def parse(cls, digits: str) -> int | LongInt:
        try:
            return int(digits)
        except ValueError:
            return cls(digits)


_SURROGATE = re.compile("[\ud800-\udfff]")

# A path to a value as a chain (parent, key), so a step costs O(1) however deep the row is nested.
_Path: TypeAlias = tuple["_Path", int | str] | None


def _field_name(path: _Path) -> str | None:
    """The path as a field name; a lone surrogate in a key is shown as its escape, so it prints."""
    parts: list[int | str] = []
    while path is not None:
        path, key = path
        parts.append(key)
    return _loc(tuple(reversed(parts))).encode("utf-8", "backslashreplace").decode("utf-8") or None


def _bad_value(value: object) -> str | None:
    """Why a JSON value cannot be used, or None."""
    if isinstance(value, str):
        m = _SURROGATE.search(value)
        if m:
            return (
                f"lone surrogate \\u{ord(m.group()):04x} at character {m.start() + 1} "
                "(not valid Unicode text; a \\ud800-\\udfff escape must be one half of a pair)"
            )
        return None
    limit = sys.get_int_max_str_digits()
    if isinstance(value, LongInt):
        digits = len(value.digits.lstrip("-"))
        return f"integer with {digits} digits (Python reads at most {limit}; write it as a string)"
    # An int of at most 3 * limit bits has fewer than `limit` digits; only longer ones need the real test.
    if isinstance(value, int) and limit and value.bit_length() > 3 * limit:
        try:
            str(value)
        except ValueError:
            return f"integer with more than {limit} digits (Python prints at most {limit}; use a string)"
    return None


def check_values(row: Any) -> None:
    """Reject text and numbers that would crash later (printing, hashing, id building), naming the field.

    Walks the whole row without recursion (a row nested as deep as JSON allows must not exhaust
    Python's recursion limit), in document order so the first bad value is the one reported. Keys
    are checked too: they become field names in messages.
    """
    stack: list[tuple[_Path, Any]] = [(None, row)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                where: _Path = (path, key)
                reason = _bad_value(key)
                if reason:
                    raise RowError(_field_name(where), f"key: {reason}")
                stack.append((where, item))
        elif isinstance(value, list):
            stack.extend(((path, k), item) for k, item in reversed(list(enumerate(value))))
        else:
            reason = _bad_value(value)
            if reason:
                raise RowError(_field_name(path), reason)
