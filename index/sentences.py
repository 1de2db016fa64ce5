"""Sentence boundaries as character spans (no model, no downloads).

A rule-based splitter is enough for news prose and keeps spans exact: it never
changes the text, it only says where sentences start and end.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? (or …) plus closing quotes/brackets, before whitespace and
# a character that can start a sentence.
_BOUNDARY = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9À-ÖØ-Þ])""")
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "gov",
        "sen",
        "rep",
        "rev",
        "hon",
        "inc",
        "ltd",
        "co",
        "corp",
        "vs",
        "etc",
        "no",
        "fig",
        "al",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.s",
        "u.k",
        "e.g",
        "i.e",
    ]
)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans ``[s, e)`` of the sentences in ``text[start:end]``, trimmed of whitespace.

    Line breaks always end a sentence: a bullet or a heading is its own unit.
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        cut = line_start
        for m in _BOUNDARY.finditer(line.group()):
            stop = line_start + m.end()
            if _is_abbreviation(text, cut, line_start + m.start()):
                continue
            spans.append((cut, stop))
            cut = stop
        spans.append((cut, line_start + len(line.group())))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s[0] < s[1]]


def _is_abbreviation(text: str, sentence_start: int, dot: int) -> bool:
    """True when the period at ``dot`` closes an abbreviation or an initial ("J. Smith")."""
    if text[dot] != ".":
        return False
    word = re.search(r"([\w.]+)$", text[sentence_start:dot])
    if not word:
        return False
    token = word.group(1).lower()
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


_BULLET = re.compile(r"[-*•·▪–]\s+")


def quote_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The sentences of ``text[start:end]`` as they can be quoted: a bullet item without
    its marker. The index embeds exactly these spans, and answers quote them."""
    out = []
    for a, b in sentence_spans(text, start, end):
        if bullet := _BULLET.match(text, a, b):
            a = bullet.end()
        if a < b:
            out.append((a, b))
    return out
