"""``askbench``: AskBench AskMind items.

E = the degraded question (options split off when present); I = the sentences of
``degraded_info`` (region "removed") plus the sentences of the original question that the degraded
one lacks (region "original"); gold = the letter of ``expected_answer``. The hidden sentences carry
the implicit part; procedure, output_spec and notes stay empty.

Id: ``askbench-<12 hex>``, derived from the content (:func:`~.schema.content_id` of the stripped
degraded and original questions): stable when the file is filtered or reordered, and unchanged when
a gold answer or the description of what was removed is corrected later.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import RowError, validate
from .schema import HiddenSentence, MaskedTask, content_id
from .text import SENTENCE_END, clean, hide, split_sentences

# Where an option run may start: "A." / "A)" / "(A)" at the start or after whitespace, a quote, "?", ":" or ".".
_FIRST_MARKER = re.compile(r"(?:^|(?<=[\s\"?:.]))(\(A\)|A[.)])\s+")
# Any later marker, "(B)" (group 1) or "B." / "B)" (group 2), at the start or after whitespace.
_MARKER = re.compile(r"(?:^|(?<=\s))(?:\(([A-Z])\)|([A-Z])[.)])\s+")
_QUOTES = re.compile(r"[\"']*")
_SPACES = re.compile(r"\s*")
_HEADING = re.compile(r"(?:options|answer choices|choices)\Z", re.I)
_ANSWER_LETTER = re.compile(r"^(?:the\s+(?:correct\s+)?answer\s+is\s*(?::\s*)?)?\(?([A-Z])\)?\s*\.?$", re.I)


def parse_answer(expected: str) -> str:
    """Gold letter: "The answer is B." -> "B"; anything without a letter pattern is kept (stripped)."""
    text = expected.strip()
    m = _ANSWER_LETTER.match(text)
    if m and (m.group(1).isupper() or len(text) > 3):
        return m.group(1).upper()
    return text


def _skip(pattern: re.Pattern[str], text: str, pos: int, end: int) -> int:
    """The end of ``pattern`` (a starred character class) matched at ``pos``, not beyond ``end``."""
    m = pattern.match(text, pos, max(pos, end))
    return m.end() if m else pos


class _OptionScan:
    """The option markers and line breaks of one question, found once, for look-ups by position.

    :func:`split_options` tries each "A." from the last one back. Searching for that try's B, C, ...
    afresh and slicing out each option's text took time quadratic in the number of markers (10,000
    "A. " took 19 s); here a try is at most 25 bisections, and whether an option is non-empty and on
    one line is decided from positions alone. Text is sliced only for the run that is returned.
    """

    def __init__(self, question: str):
        self.text = question
        self.newlines = [m.start() for m in re.finditer("\n", question)]
        self.markers: dict[tuple[bool, str], tuple[list[int], list[int]]] = {}  # (paren, letter) -> starts, ends
        for m in _MARKER.finditer(question):
            letter = m.group(1) or m.group(2)
            if letter != "A":  # runs start at _FIRST_MARKER matches; only B and later are looked up
                starts, ends = self.markers.setdefault((m.group(1) is not None, letter), ([], []))
                starts.append(m.start())
                ends.append(m.end())
        # The last option is text[s:].strip().strip("\"'").strip(): its right end does not depend on s.
        self.end1 = len(question.rstrip())
        self.end2 = len(question[: self.end1].rstrip("\"'"))
        self.end3 = len(question[: self.end2].rstrip())
        self._blank_start: dict[int, int] = {}
        self._last_ok: dict[int, bool] = {}

    def next_marker(self, paren: bool, letter: str, pos: int) -> tuple[int, int] | None:
        """(start, end) of the first ``letter`` marker at or after ``pos``."""
        starts, ends = self.markers.get((paren, letter), ([], []))
        k = bisect_left(starts, pos)
        return (starts[k], ends[k]) if k < len(starts) else None

    def _one_line(self, start: int, end: int) -> bool:
        """No line break in text[start:end]."""
        k = bisect_left(self.newlines, start)
        return k == len(self.newlines) or self.newlines[k] >= end

    def option_ok(self, start: int, end: int) -> bool:
        """text[start:end].strip() is non-empty and on one line; ``start`` ends a marker, ``end`` starts one.

        A marker ends after its whitespace and the next one starts after whitespace, so the option
        is text[start:b] with b where the whitespace before ``end`` begins.
        """
        if end <= start:
            return False
        b = self._blank_start.get(end)
        if b is None:  # each marker's whitespace is walked once, however many runs reach the marker
            b = end
            while b > 0 and self.text[b - 1].isspace():
                b -= 1
            self._blank_start[end] = b
        return self._one_line(start, b)

    def last_option_ok(self, start: int) -> bool:
        """text[start:].strip().strip("\"'").strip() is non-empty and on one line."""
        ok = self._last_ok.get(start)
        if ok is None:
            text = self.text
            s1 = _skip(_SPACES, text, start, self.end1)
            s2 = _skip(_QUOTES, text, s1, self.end2)
            s3 = _skip(_SPACES, text, s2, self.end3)
            ok = s3 < self.end3 and self._one_line(s3, self.end3)
            self._last_ok[start] = ok
        return ok

    def run(self, first: int, first_end: int) -> list[tuple[str, int, int]] | None:
        """The options (letter, start, end) of the run the "A" marker at text[first:first_end] starts, if valid.

        Valid: at least two options, each non-empty and on one line. Letters stop at Z.
        """
        paren = self.text[first] == "("
        spans: list[tuple[str, int, int]] = []
        letter, start = "A", first_end
        while letter < "Z":
            nxt = chr(ord(letter) + 1)
            marker = self.next_marker(paren, nxt, start)
            if marker is None:
                break
            if not self.option_ok(start, marker[0]):
                return None
            spans.append((letter, start, marker[0]))
            letter, start = nxt, marker[1]
        if not spans or not self.last_option_ok(start):
            return None
        spans.append((letter, start, len(self.text)))
        return spans


def _drop_heading(stem: str) -> str:
    """``stem`` (right-stripped) without a last line that only says "Options:", "Choices" or "Answer choices"."""
    body = stem[:-1].rstrip() if stem.endswith(":") else stem
    m = _HEADING.search(body, max(0, len(body) - len("answer choices")))
    if m is None:
        return stem
    before = len(body[: m.start()].rstrip())
    if before == 0:
        return ""
    cut = stem.find("\n", before, m.start())
    return stem[:cut] if cut >= 0 else stem


def split_options(question: str) -> tuple[str, dict[str, str]]:
    """Split trailing lettered options ("A. x" / "(A) x", one per line or inline) off a question.

    Only a run A, B, C, ... that starts after the question text and lasts to the end counts, so a
    stray "B." inside the stem is left alone; the last "A" that starts such a run wins. Returns
    (stem, options); no options -> (question, {}).
    """
    firsts = [(m.start(), m.end()) for m in _FIRST_MARKER.finditer(question)]
    if not firsts:
        return question, {}
    scan = _OptionScan(question)
    for first, first_end in reversed(firsts):
        spans = scan.run(first, first_end)
        if spans is None:
            continue
        *inner, (last_letter, last_start, _) = spans
        options = {letter: question[start:end].strip() for letter, start, end in inner}
        options[last_letter] = question[last_start:].strip().strip("\"'").strip()
        return _drop_heading(question[:first].rstrip()).rstrip(), options
    return question, {}


def _line_sentences(text: str) -> list[str]:
    """Sentences where every line break also ends one (AskBench lists lab values line by line)."""
    return split_sentences(re.sub(r"\n+", "\n\n", text))


class _AskBenchRow(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    degraded_question: str
    ori_question: str = ""
    degraded_info: str = ""
    expected_answer: str | int | float | None = None


_DIRECT_SEARCH_BUDGET = 1 << 22  # needles x text characters up to which one plain search per needle is fastest
_WIDTHS = (8, 4, 2)  # window widths of the filter; at most three bitmaps per text


class _Windows:
    """Which substrings of one width a text has: a Bloom filter (two bits per hash) over all its windows.

    "No" is exact; a false "maybe" (under 1 in 250 at 32 or more bits per window) only costs a search.
    """

    def __init__(self, text: str, width: int):
        self.width = width
        self.mask = (1 << (32 * max(1, len(text))).bit_length()) - 1
        self.bits = bytearray((self.mask >> 3) + 1)
        for i in range(len(text) - width + 1):
            for b in self._bits(text[i : i + width]):
                self.bits[b >> 3] |= 1 << (b & 7)

    def _bits(self, window: str) -> tuple[int, int]:
        h = hash(window)
        return h & self.mask, (h >> 32) & self.mask

    def lacks_one_of(self, needle: str) -> bool:
        """Whether some window of ``needle`` (at least ``width`` long) is certainly not in the text."""
        for i in range(len(needle) - self.width + 1):
            for b in self._bits(needle[i : i + self.width]):
                if not self.bits[b >> 3] & (1 << (b & 7)):
                    return True
        return False


def _absent(needles: list[str], text: str) -> list[bool]:
    """``[needle not in text for needle in needles]``, without a full search of ``text`` per needle.

    One search per needle is quadratic (a 1 MB original question against a 1 MB degraded one took
    46 s), so above a small budget each needle is decided by the first of these that applies:

    - it is one of the sentence-like pieces ``text`` splits into (each a substring): present;
    - it has a window (8 characters; 4 or 2 for a shorter needle) that ``text`` has nowhere: absent;
    - a search from where the previous needle was found (the original's sentences recur in the
      degraded question in order), then one before that point.

    A full search is left only for needles out of order that are not whole pieces of ``text``, and
    for the rare false "maybe" of the window filter.
    """
    if len(needles) * len(text) <= _DIRECT_SEARCH_BUDGET:
        return [needle not in text for needle in needles]
    pieces: set[str] = set()
    for piece in SENTENCE_END.split(text):
        pieces.update((piece, piece.lstrip("*-• ").strip()))
    windows: dict[int, _Windows] = {}
    known: dict[str, bool] = {}
    cursor = 0
    for needle in needles:
        if needle in known:
            continue
        if needle in pieces:
            known[needle] = False
            continue
        width = next((w for w in _WIDTHS if len(needle) >= w), 0)
        if width and width not in windows:
            windows[width] = _Windows(text, width)
        if width and windows[width].lacks_one_of(needle):
            known[needle] = True
            continue
        at = text.find(needle, cursor)
        if at < 0:
            at = text.find(needle, 0, cursor + len(needle) - 1)
        if at >= 0:
            cursor = at + len(needle)
        known[needle] = at < 0
    return [known[needle] for needle in needles]


def _offers(have: str, letter: str, option: str) -> bool:
    """Whether ``have`` (cleaned text: single spaces) lists ``option`` under ``letter``: "B. x", "(B) x", "B)x"."""
    return any(f"{letter}{mark}{space}{option}" in have for mark in ".)" for space in ("", " "))


def convert(row: dict[str, Any]) -> MaskedTask:
    """One AskMind item as a task."""
    r = validate(_AskBenchRow, row)
    degraded = r.degraded_question.strip()
    if not degraded:
        raise RowError("degraded_question", "empty")
    original = r.ori_question.strip()
    stem, options = split_options(degraded)
    ori_stem, ori_options = split_options(original)
    have = clean(degraded)
    sentences = _line_sentences(ori_stem)
    lacking = [s for s, absent in zip(sentences, _absent([clean(s) for s in sentences], have), strict=True) if absent]
    # An original option is lacking unless the degraded question offers it too (the option text
    # alone is no proof: "purple ball" may occur in the stem). "Option B: x", not "B. x": the
    # sentence splitter would cut "B." off as a sentence of its own.
    offered = {clean(v) for v in options.values()}
    for k, v in ori_options.items():
        if clean(v) not in offered and not _offers(have, k, clean(v)):
            lacking.append(f"Option {k}: {v}")
    # The lacking sentences are already split; hide() would cut an option such as "Option B: x. y?"
    # into pieces, some of which the degraded question does contain.
    hidden = hide([("removed", r.degraded_info)])
    hidden += [HiddenSentence(index=len(hidden) + k, text=s, region="original") for k, s in enumerate(lacking)]
    expected = r.expected_answer
    return MaskedTask(
        id=content_id("askbench", [degraded, original]),
        field="askbench",
        source="askbench",
        objective=stem or degraded,
        options=options,
        hidden=hidden,
        gold_answer=(parse_answer(str(expected)) or None) if expected is not None else None,
    )
