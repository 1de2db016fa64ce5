"""What an answer is: verbatim quotes, each cited to its article, or an honest "the
articles don't cover this" with the nearest titles. Platform-neutral: the terminal and
Discord render it; ``to_json`` is the documented shape of ``articlebot ask --json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..spelling import CHAT


@dataclass(frozen=True)
class Quote:
    text: str
    article_id: str
    start: int
    end: int
    score: float
    citation: int
    elided_before: bool  # the quote starts inside a paragraph: show "…" before it
    elided_after: bool


@dataclass(frozen=True)
class Source:
    citation: int
    article_id: str
    title: str
    url: str | None
    path: str | None
    date: str | None
    author: str | None
    source: str | None
    link: str | None  # url with a text fragment that scrolls to the first quote


@dataclass(frozen=True)
class Answer:
    question: str
    quotes: tuple[Quote, ...]
    sources: tuple[Source, ...]
    abstained: bool
    closest: tuple[str, ...] = ()  # titles of the nearest articles, shown when abstaining
    timings_ms: dict[str, float] = field(default_factory=dict)
    follows: str | None = None  # the earlier question this one follows up on
    corrected: tuple[tuple[str, str], ...] = ()  # typos fixed before searching: (typed, fixed)

    def corrections(self) -> str:
        """The typos corrected before searching, as "supposed (not suposed)"; chat
        shorthand written out ("u" -> "you") is in ``corrected`` but not worth telling
        the person who typed it. Empty when there is nothing to tell."""
        typos = [(t, f) for t, f in self.corrected if t.lower() not in CHAT]
        return ", ".join(f"{fixed} (not {typed})" for typed, fixed in typos)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape of ``articlebot ask --json``."""
        by_citation = {s.citation: s for s in self.sources}
        quotes = []
        for q in self.quotes:
            src = by_citation[q.citation]
            quotes.append(
                {
                    "text": q.text,
                    "citation": q.citation,
                    "article_id": q.article_id,
                    "title": src.title,
                    "url": src.url,
                    "path": src.path,
                    "date": src.date,
                    "start": q.start,
                    "end": q.end,
                    "score": round(q.score, 4),
                }
            )
        sources = [
            {
                "citation": s.citation,
                "title": s.title,
                "url": s.url,
                "path": s.path,
                "date": s.date,
                "author": s.author,
                "link": s.link,
            }
            for s in self.sources
        ]
        out = {
            "question": self.question,
            "abstained": self.abstained,
            "quotes": quotes,
            "sources": sources,
            "timings_ms": self.timings_ms,
        }
        if self.abstained:
            out["closest"] = list(self.closest)
        if self.follows:
            out["follows"] = self.follows
        if self.corrected:
            out["corrected"] = dict(self.corrected)
        return out
