"""Build a platform-neutral ``Answer``: verbatim quotes, each cited to its article, or an
honest "the articles don't cover this".

Sentences of the top passages are scored against the question (the question's words,
weighted by rarity in the index, found in the sentence, plus the passage's retrieval
score); the best 1-3 become quotes, and adjacent chosen sentences merge into one.
Every quote is an exact span of the stored article text — checked here, not assumed.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote as percent_encode

from .retriever import Filters, Hit, Mode, Retriever
from .sentences import sentence_spans
from .text import query_words, stem, terms

Span = tuple[str, int, int]  # (article_id, start, end)
_BULLET = re.compile(r"[-*•·▪–]\s+")
MAX_QUOTES = 3
CANDIDATE_PASSAGES = 6
# Sentence score = LEXICAL_WEIGHT * (share of the question's IDF mass in the sentence)
# + the rest * (its passage's fused retrieval score, relative to the best). The values
# below were chosen on benchmarks/quality.py (BBC + SQuAD), see benchmarks/README.md.
LEXICAL_WEIGHT = 0.5
COVERAGE_WEIGHT = 0.3  # in the abstention evidence (see ``evidence``)
GROW_RATIO = 0.5  # a neighbour sentence this relevant (relative) joins the quote
MAX_RUN_CHARS = 400  # a quote may grow to a short run of sentences up to this length


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
        return out


@dataclass(frozen=True)
class _Candidate:
    hit: Hit
    start: int
    end: int
    score: float
    coverage: float = 0.0


def answer(
    retriever: Retriever,
    question: str,
    filters: Filters | None = None,
    *,
    context: tuple[str, ...] = (),
    exclude: tuple[Span, ...] = (),
    mode: Mode = "hybrid",
) -> Answer:
    """Answer ``question`` from the index; ``context`` holds earlier questions of a
    conversation (most recent last); ``exclude`` lists ``(article_id, start, end)`` spans
    already shown, so "More quotes" pages to new text only."""
    started = time.perf_counter()
    query = " ".join((*context[-2:], question)) if context else question
    hits, timings = retriever.search_timed(query, CANDIDATE_PASSAGES, filters, mode)
    follows = context[-1] if context else None
    t = time.perf_counter()
    weights = _term_weights(retriever, query, question)
    texts = retriever.article_texts({h.article_id for h in hits}) if hits else {}
    ranked = rank_sentences(hits, texts, weights)
    # Lexical-only mode (evaluation) has no cosine to judge evidence by: it never abstains.
    if not ranked or (
        mode != "lexical" and evidence(hits, ranked) < retriever.settings.abstain_threshold
    ):
        timings["total"] = _ms(started)
        closest = tuple(dict.fromkeys(h.title for h in hits))[:3]
        return Answer(question, (), (), True, closest, timings, follows)
    chosen = choose_quotes([c for c in ranked if not _excluded(c, exclude)], texts)
    timings["quotes"] = _ms(t)
    quotes, sources = cite(chosen, texts)
    timings["total"] = _ms(started)
    return Answer(question, quotes, sources, False, (), timings, follows)


def evidence(hits: list[Hit], ranked: list[_Candidate]) -> float:
    """How well the articles cover the question: the best passage's cosine similarity plus
    COVERAGE_WEIGHT x the largest share of the question's rare words found in one sentence.
    Off-topic questions can reach a fair cosine with some passage, but rarely both."""
    best_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
    best_coverage = max((c.coverage for c in ranked), default=0.0)
    return best_dense + COVERAGE_WEIGHT * best_coverage


def rank_sentences(
    hits: list[Hit], texts: dict[str, str], weights: dict[str, float]
) -> list[_Candidate]:
    """Every sentence of the candidate passages, best first."""
    total = sum(weights.values()) or 1.0
    top = max((h.score for h in hits), default=1.0) or 1.0
    seen: set[tuple[str, int]] = set()
    out = []
    for hit in hits:
        text = texts.get(hit.article_id)
        if text is None:  # the index moved to a new generation mid-question
            continue
        relevance = hit.score / top
        for start, end in sentence_spans(text, hit.start, hit.end):
            if bullet := _BULLET.match(text, start, end):  # quote the item, not its marker
                start = bullet.end()
            if start >= end or (hit.article_id, start) in seen:
                continue
            seen.add((hit.article_id, start))
            words = set(terms(text[start:end]))
            coverage = sum(w for t, w in weights.items() if t in words) / total
            score = LEXICAL_WEIGHT * coverage + (1 - LEXICAL_WEIGHT) * relevance
            out.append(_Candidate(hit, start, end, score, coverage))
    out.sort(key=lambda c: c.score, reverse=True)
    return out


def choose_quotes(ranked: list[_Candidate], texts: dict[str, str]) -> list[_Candidate]:
    """The best sentences, each grown into a short run with a strong neighbour, merged
    where they touch."""
    by_start = {(c.hit.article_id, c.start): c for c in ranked}
    chosen: list[_Candidate] = []
    for cand in ranked:
        if len(chosen) == MAX_QUOTES:
            break
        if chosen and cand.score < 0.5 * chosen[0].score:
            break
        if any(_overlaps(cand, c) for c in chosen):
            continue
        chosen.append(_grow(cand, ranked, texts[cand.hit.article_id]))
    return _merge_adjacent(chosen, texts, by_start)


def _grow(cand: _Candidate, ranked: list[_Candidate], text: str) -> _Candidate:
    """Join the best touching neighbour sentence (before or after, in the same paragraph)
    when it is at least half as relevant and the run stays short: the answer to a question
    often sits next to the sentence that repeats the question's words."""
    for other in ranked:  # best first
        if other.hit.article_id != cand.hit.article_id or other.score < GROW_RATIO * cand.score:
            continue
        lo, hi = (cand, other) if other.start >= cand.end else (other, cand)
        gap = text[lo.end : hi.start]
        touching = lo.end <= hi.start and gap.strip() == "" and "\n" not in gap
        if touching and hi.end - lo.start <= MAX_RUN_CHARS:
            return _Candidate(cand.hit, lo.start, hi.end, cand.score, cand.coverage)
    return cand


def _excluded(cand: _Candidate, spans: tuple[Span, ...]) -> bool:
    return any(a == cand.hit.article_id and s < cand.end and cand.start < e for a, s, e in spans)


def _overlaps(a: _Candidate, b: _Candidate) -> bool:
    return a.hit.article_id == b.hit.article_id and a.start < b.end and b.start < a.end


def _merge_adjacent(
    chosen: list[_Candidate], texts: dict[str, str], by_start: dict[tuple[str, int], _Candidate]
) -> list[_Candidate]:
    merged: list[_Candidate] = []
    for cand in chosen:
        for i, prev in enumerate(merged):
            if prev.hit.article_id != cand.hit.article_id:
                continue
            lo, hi = (prev, cand) if prev.start <= cand.start else (cand, prev)
            gap = texts[cand.hit.article_id][lo.end : hi.start]
            if lo.end <= hi.start and gap.strip() == "" and "\n" not in gap:
                merged[i] = _Candidate(
                    prev.hit, lo.start, hi.end, max(lo.score, hi.score), prev.coverage
                )
                break
        else:
            merged.append(cand)
    return merged


def cite(
    chosen: list[_Candidate], texts: dict[str, str]
) -> tuple[tuple[Quote, ...], tuple[Source, ...]]:
    """Number articles in order of first quote; build quotes with verified spans."""
    numbers: dict[str, int] = {}
    sources: list[Source] = []
    quotes: list[Quote] = []
    for cand in chosen:
        text = texts[cand.hit.article_id]
        quoted = text[cand.start : cand.end]
        assert quoted and quoted == quoted.strip(), "a quote must be a trimmed span"
        hit = cand.hit
        if hit.article_id not in numbers:
            numbers[hit.article_id] = len(numbers) + 1
            link = text_fragment_url(hit.url, quoted) if hit.url else None
            sources.append(
                Source(
                    numbers[hit.article_id],
                    hit.article_id,
                    hit.title,
                    hit.url,
                    hit.path,
                    hit.date,
                    hit.author,
                    hit.source,
                    link,
                )
            )
        quotes.append(
            Quote(
                text=quoted,
                article_id=hit.article_id,
                start=cand.start,
                end=cand.end,
                score=cand.score,
                citation=numbers[hit.article_id],
                elided_before=_inside_paragraph(text, cand.start, before=True),
                elided_after=_inside_paragraph(text, cand.end, before=False),
            )
        )
    return tuple(quotes), tuple(sources)


def _inside_paragraph(text: str, pos: int, *, before: bool) -> bool:
    if before:
        return pos > 0 and text[:pos].rstrip(" \t")[-1:] not in ("", "\n")
    return pos < len(text) and text[pos:].lstrip(" \t")[:1] not in ("", "\n")


def text_fragment_url(url: str, quoted: str) -> str:
    """``url#:~:text=start,end`` (Text Fragments spec): a browser scrolls to the quote."""
    words = quoted.split()
    base = url.split("#", 1)[0]
    if len(words) <= 8:
        return f"{base}#:~:text={_fragment_part(' '.join(words))}"
    start, end = " ".join(words[:4]), " ".join(words[-4:])
    return f"{base}#:~:text={_fragment_part(start)},{_fragment_part(end)}"


def _fragment_part(text: str) -> str:
    # quote() leaves "-" alone, but in a text directive it is syntax and must be %2D.
    return percent_encode(text, safe="").replace("-", "%2D")


def _term_weights(retriever: Retriever, query: str, question: str) -> dict[str, float]:
    """IDF of each query word, by its document frequency in the FTS index. Words of the
    current question count double those of earlier questions in the conversation."""
    own = {stem(w) for w in query_words(question)}
    passages = retriever.passage_count()
    weights: dict[str, float] = {}
    for word in query_words(query):
        df = retriever.document_frequency(word)
        idf = math.log(1 + (passages - df + 0.5) / (df + 0.5))
        key = stem(word)
        weights[key] = max(weights.get(key, 0.0), idf * (1.0 if key in own else 0.5))
    return weights


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
