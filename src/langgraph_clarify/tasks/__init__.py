"""Masked tasks: what the asker may see (explicit) and what only the user knows (implicit).

A task is split the way the paper splits DOLOMITES: the explicit part E = <objective, input> is
what users typically say; the implicit part I = <procedure, output spec, notes> is what they rarely
say but the ideal output depends on. I is split into hidden sentences with stable indices so an
oracle can cite them and rewards can count them.

Task files are JSON Lines (one object per line; blank lines are ignored). :func:`load_tasks` reads
four formats, detected from the keys of the first row or named with ``format=``; each is
documented in the module that implements it:

- ``native`` (:mod:`.native`): our own schema; the bundled ``data/tasks.jsonl`` uses it.
- ``dolomites`` (:mod:`.dolomites`): DOLOMITES examples, nested or flat.
- ``mediq`` (:mod:`.mediq`): MediQ cases; the hidden part is the patient facts beyond the first.
- ``askbench`` (:mod:`.askbench`): AskBench AskMind items; the hidden part is what was removed.

Every task has an id unique in its file. Rows that carry one keep it (with a format prefix);
AskBench rows and DOLOMITES rows without ``example_id``/``id`` get an id derived from their content
(:func:`.schema.content_id`), never from a line number, so it survives filtering and reordering.

Every problem in a file is reported as a :class:`TaskFileError` naming the file, the line and the
field, never as a raw traceback; that includes text that would crash later (lone surrogates) and
numbers Python cannot convert. Splitting and loading take time linear in the input (:mod:`.text`).
"""

from __future__ import annotations

from .askbench import parse_answer, split_options
from .errors import TaskFileError
from .reading import (
    TaskSet,
    bundled_tasks_path,
    detect_format,
    load_askbench,
    load_bundled,
    load_dolomites,
    load_mediq,
    load_native,
    load_tasks,
    parse_row,
)
from .schema import FORMATS, HiddenSentence, MaskedTask, Region, TaskFormat
from .text import clean, hide, split_items, split_sentences

__all__ = [
    "FORMATS",
    "HiddenSentence",
    "MaskedTask",
    "Region",
    "TaskFileError",
    "TaskFormat",
    "TaskSet",
    "bundled_tasks_path",
    "clean",
    "detect_format",
    "hide",
    "load_askbench",
    "load_bundled",
    "load_dolomites",
    "load_mediq",
    "load_native",
    "load_tasks",
    "parse_answer",
    "parse_row",
    "split_items",
    "split_options",
    "split_sentences",
]
