"""Sentence and checklist splitting: how the implicit text of a task becomes citable hidden sentences.

Every function here takes time linear in its input: patterns are either matched at one given
position or scan forward over text they never revisit. In particular no pattern may retry a run of
blanks from each of its positions (the old one-regex inline-bullet pattern did: 100 k spaces in a
field took 23 s, a 1 MB field never finished).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .schema import HiddenSentence, Region

# A list marker at the start of a line: "* ", "- ", "• ", "1. ", "2) " (group 1 is the indent).
_LINE_ITEM = re.compile(r"([ \t]*)(?:[*\-•]|\d{1,2}[.)])[ \t]+(?=\S)")
# Where a sentence ends inside a paragraph (AskBench splits a text into the same pieces).
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“(\[*A-Z0-9])")
_MARKUP = re.compile(r"\*\*|__|`")
_WHITESPACE = re.compile(r"\s+")
_WORD_CHAR = re.compile(r"\w")

# Inline list markers (see _inline_markers); each pattern is matched at one position only.
_BLANKS = re.compile(r"[ \t]*")
_INLINE_START = re.compile(r"[ \t•*]")
_STAR_BULLET = re.compile(r"\*(?!\*)[ \t]*(?=[A-Z\"'“\[]|\*\*)")
_NUMBER_AFTER_SENTENCE = re.compile(r"\d{1,2}[.)][ \t]+(?=[A-Za-z\"'“(\[])")
_DASH_AFTER_SENTENCE = re.compile(r"-[ \t]+(?=[A-Z])")
_SENTENCE_PUNCT = ".!?;:"


def clean(text: str) -> str:
    """Drop markdown emphasis and collapse whitespace."""
    return _WHITESPACE.sub(" ", _MARKUP.sub("", text)).strip()


def text_of(value: str | None) -> str:
    """An optional text field, stripped ("" when absent)."""
    return (value or "").strip()


def _blank_end(text: str, pos: int) -> int:
    """The end of the run of spaces and tabs starting at ``pos``."""
    m = _BLANKS.match(text, pos)
    return m.end() if m else pos


def _inline_markers(body: str) -> Iterator[tuple[int, int, bool]]:
    """(start, end, is_dash) of each list marker inside one line, left to right, never overlapping.

    The markers: "•" with the blanks on both sides; a "*" bullet at the start or after whitespace
    (" * Title", "*Title"; never "**bold**" or "x * y"); "2. "/"2) " or "- " (a sub-point) right
    after the end of a sentence ("... papers. 2. Proper citation"), blanks before them included.
    A run of blanks is measured once, from its first position: none of its later positions can
    start a marker that its first one does not.
    """
    n = len(body)
    found = _INLINE_START.search(body)
    while found:
        i = found.start()
        pos = i + 1
        if body[i] == "*":
            star = _STAR_BULLET.match(body, i) if i == 0 or body[i - 1].isspace() else None
            if star:
                yield i, star.end(), False
                pos = star.end()
        else:
            j = _blank_end(body, i)
            if j < n and body[j] == "•":
                pos = _blank_end(body, j + 1)
                yield i, pos, False
            else:  # body[i] is a blank: the run is a marker only as "<punct> 2. " or "<punct> - "
                pos = j
                if i > 0 and body[i - 1] in _SENTENCE_PUNCT:
                    marker = _NUMBER_AFTER_SENTENCE.match(body, j)
                    dash = marker is None
                    if dash:
                        marker = _DASH_AFTER_SENTENCE.match(body, j)
                    if marker:
                        pos = marker.end()
                        yield i, pos, dash
        found = _INLINE_START.search(body, pos)


def _chunks(text: str) -> list[tuple[int, bool, str]]:
    """Paragraphs and list items of ``text`` as (indent, is_item, text), markers removed.

    Lines without a marker continue the current chunk (soft wraps); a blank line ends it. Real
    DOLOMITES specs put whole lists on one line ("* A: ... * B: ..."), hence the inline markers.
    """
    lines: list[tuple[int, bool, list[str]]] = []  # (indent, is_item, parts joined by spaces)
    open_chunk = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            open_chunk = False
            continue
        m = _LINE_ITEM.match(line)
        if m:
            lines.append((len(m.group(1).expandtabs(4)), True, [line[m.end() :]]))
        elif open_chunk:
            lines[-1][2].append(line.strip())
        else:
            wide = line.expandtabs(4)
            lines.append((len(wide) - len(wide.lstrip()), False, [line.strip()]))
        open_chunk = True
    out: list[tuple[int, bool, str]] = []
    for indent, is_item, parts in lines:
        body = " ".join(parts)
        # Inline "- x" after a sentence is a sub-point ("... for each topic: - Definitions - Examples").
        start, level, item = 0, indent, is_item
        for m_start, m_end, dash in _inline_markers(body):
            if body[start:m_start].strip():
                out.append((level, item, body[start:m_start].strip()))
            start, item = m_end, True
            level = indent + 1 if dash else indent
        if body[start:].strip():
            out.append((level, item, body[start:].strip()))
    return out


def _is_item_text(piece: str) -> bool:
    return len(piece) > 1 and _WORD_CHAR.search(piece) is not None


def split_sentences(text: str) -> list[str]:
    """Split text into sentences; list items (on their own line or inline) also end a sentence.

    A short heading that ends with a colon ("Best practices:") is joined to the sentence after
    it, so it never stands alone as an uninformative hidden sentence.
    """
    out: list[str] = []
    carry = ""
    for _indent, _is_item, body in _chunks(text):
        for piece in SENTENCE_END.split(body):
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
    items: list[list[str]] = []  # the parts of each item, joined at the end (appending is linear)
    seen_item = False
    for indent, is_item, body in chunks:
        piece = clean(body).lstrip("*-• ").strip()
        if not _is_item_text(piece):
            continue
        if not is_item and not seen_item and piece.endswith(":"):
            continue  # "The report must contain:" introduces the list
        if indent > base and items and (is_item or seen_item):  # sub-bullet or indented continuation
            sep = " " if items[-1][-1].endswith((":", ";", ",", ".", "!", "?")) else "; "
            items[-1] += [sep, piece]
            continue
        seen_item = seen_item or is_item
        items.append([piece])
    return ["".join(parts) for parts in items]


def hide(regions: list[tuple[Region, str]]) -> list[HiddenSentence]:
    """Index the sentences of the implicit regions, in order, from 0."""
    out: list[HiddenSentence] = []
    for region, text in regions:
        for sentence in split_sentences(text):
            out.append(HiddenSentence(index=len(out), text=sentence, region=region))
    return out
