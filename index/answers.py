"""Build a platform-neutral ``Answer``: verbatim quotes, each cited to its article, or an
honest "the articles don't cover this".

The sentences of the top passages are scored by the answer model (``ranking``: their
cosine to the question, the question's rare words they hold, what the question asks for,
their passage's retrieval scores); the best 1-3 become quotes, and adjacent chosen
sentences merge into one. An evidence model decides whether to answer at all.
Every quote is an exact span of the stored article text — checked here, not assumed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote as percent_encode

from .ranking import (
    Candidate,
    LinearModel,
    Models,
    QueryTerms,
    evidence_features,
    load_models,
    sigmoid,
)
from .retriever import Mode, Retriever
from .spelling import CHAT
from .types import Filters, Hit

Span = tuple[str, int, int]  # (article_id, start, end)
MAX_QUOTES = 3
CANDIDATE_PASSAGES = 6
# Scores are the answer model's log-odds (index/ranking.py). The margins below were
# chosen on benchmarks/quality.py (BBC dev questions + SQuAD), see benchmarks/README.md.
GROW_MARGIN = 3.0  # a neighbour sentence scoring this close joins the quote
MAX_GROW = 2  # neighbours a quote may take in (both sides: +2 / +3 points, see README)
QUOTE_MARGIN = 3.0  # a further quote must score this close to the first
MAX_RUN_CHARS = 400  # a quote may grow to a short run of sentences up to this length
MAX_QUOTE_CHARS = 2 * MAX_RUN_CHARS  # ... and two runs that touch merge up to this length


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


def answer(
    retriever: Retriever,
    question: str,
    filters: Filters | None = None,
    *,
    context: tuple[str, ...] = (),
    exclude: tuple[Span, ...] = (),
    mode: Mode = "hybrid",
    models: Models | None = None,
) -> Answer:
    """Answer ``question`` from the index; ``context`` holds earlier questions of a
    conversation (most recent last); ``exclude`` lists ``(article_id, start, end)`` spans
    already shown, so "More quotes" pages to new text only; ``models`` replaces the
    shipped answer and evidence models (cross-validation)."""
    models = models or load_models()
    question = valid_text(question)
    context = tuple(valid_text(c) for c in context)
    started = time.perf_counter()
    query = " ".join((*context[-2:], question)) if context else question
    ranked = retriever.rank(
        query, CANDIDATE_PASSAGES, filters, mode, question=question, models=models
    )
    hits, timings = ranked.hits, ranked.timings
    follows = context[-1] if context else None
    t = time.perf_counter()
    texts = ranked.texts
    covered = coverage_probability(
        question, hits, ranked.candidates, texts, ranked.query, models.evidence
    )
    # Lexical-only mode (evaluation) has no cosine to judge evidence by: it never abstains.
    if not ranked.candidates or (
        mode != "lexical" and covered < retriever.settings.abstain_threshold
    ):
        timings["total"] = _ms(started)
        closest = tuple(dict.fromkeys(h.title for h in hits))[:3]
        return Answer(question, (), (), True, closest, timings, follows, ranked.corrected)
    shown = [c for c in ranked.candidates if not _excluded(c, exclude)]
    chosen = choose_quotes(shown, texts)
    timings["quotes"] = _ms(t)
    quotes, sources = cite(chosen, texts)
    timings["total"] = _ms(started)
    return Answer(question, quotes, sources, False, (), timings, follows, ranked.corrected)


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: bytes that were not UTF-8 (a shell argument decoded with
    surrogate escapes) become U+FFFD instead of failing the tokenizer."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:  # the original bytes back, each bad one replaced
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # lone surrogates from elsewhere
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def coverage_probability(
    question: str,
    hits: list[Hit],
    cands: list[Candidate],
    texts: dict[str, str],
    query: QueryTerms,
    model: LinearModel,
) -> float:
    """How likely the articles answer the question (0-1), from the evidence model: the
    best passage and sentence cosines, how much of the question's rare words the best
    sentence and the top article hold, and words or numbers that nothing holds.
    Off-topic news questions share names with the corpus; rarely all of these."""
    if not cands:
        return 0.0
    features = evidence_features(question, hits, cands, texts, query)
    return sigmoid(model.scores([features])[0])


def choose_quotes(ranked: list[Candidate], texts: dict[str, str]) -> list[Candidate]:
    """The best sentences (scored best first), each grown into a short run with a strong
    neighbour, merged where they touch. Later quotes must score within QUOTE_MARGIN of the
    first: a weak third quote only dilutes the answer. Two runs that merge count as one
    quote, so the next best sentence still gets the third place."""
    chosen: list[Candidate] = []
    quotes: list[Candidate] = []
    for cand in ranked:
        if len(quotes) == MAX_QUOTES:
            break
        if chosen and cand.score < chosen[0].score - QUOTE_MARGIN:
            break
        if any(_overlaps(cand, c) for c in chosen):
            continue
        run = _grow(cand, ranked, texts[cand.hit.article_id])
        merged = _merge_adjacent([*chosen, run], texts)
        if merged is not None:  # None: it would repeat a quote's text in an overlong one
            chosen.append(run)
            quotes = merged
    return quotes


def _grow(cand: Candidate, ranked: list[Candidate], text: str) -> Candidate:
    """Join touching neighbour sentences (before or after, in the same paragraph), best
    first, up to MAX_GROW, while each scores within GROW_MARGIN of this one and the run
    stays short: the answer to a question often sits next to the sentence that repeats
    the question's words, or is split over two sentences ("He argued that ...")."""
    run = cand
    for _ in range(MAX_GROW):
        grown = _grow_once(run, cand.score - GROW_MARGIN, ranked, text)
        if grown is None:
            break
        run = grown
    return run


def _grow_once(
    run: Candidate, floor: float, ranked: list[Candidate], text: str
) -> Candidate | None:
    """``run`` joined with the best sentence scoring at least ``floor`` that touches it."""
    for other in ranked:  # best first
        if other.hit.article_id != run.hit.article_id or other.score < floor:
            continue
        if other.start < run.end and run.start < other.end:  # inside the run already
            continue
        lo, hi = (run, other) if other.start >= run.end else (other, run)
        gap = text[lo.end : hi.start]
        touching = lo.end <= hi.start and gap.strip() == "" and "\n" not in gap
        if touching and hi.end - lo.start <= MAX_RUN_CHARS:
            return replace(run, start=lo.start, end=hi.end)
    return None


def _excluded(cand: Candidate, spans: tuple[Span, ...]) -> bool:
    return any(a == cand.hit.article_id and s < cand.end and cand.start < e for a, s, e in spans)


def _overlaps(a: Candidate, b: Candidate) -> bool:
    return a.hit.article_id == b.hit.article_id and a.start < b.end and b.start < a.end


def _merge_adjacent(chosen: list[Candidate], texts: dict[str, str]) -> list[Candidate] | None:
    """Quotes of one article that touch or overlap joined into one (in the place of the
    better scored), until none do: a later run can grow into an earlier quote's
    sentences, which must not be shown twice, and a join can make two others touch.
    Touching quotes stay apart where one would exceed MAX_QUOTE_CHARS; overlapping ones
    can't, so then None."""
    merged: list[Candidate] = []
    for k, cand in enumerate(chosen):
        for i, prev in enumerate(merged):
            joined = _joined(prev, cand, texts[cand.hit.article_id])
            if joined is None:
                continue
            if joined.end - joined.start > MAX_QUOTE_CHARS:
                if _overlaps(prev, cand):
                    return None
                continue
            merged[i] = joined
            return _merge_adjacent(merged + chosen[k + 1 :], texts)
        merged.append(cand)
    return merged


def _joined(a: Candidate, b: Candidate, text: str) -> Candidate | None:
    """``a`` and ``b`` as one quote where they touch or overlap (None where they don't)."""
    if a.hit.article_id != b.hit.article_id:
        return None
    lo, hi = (a, b) if a.start <= b.start else (b, a)
    gap = text[lo.end : hi.start]  # empty where they overlap
    if gap.strip() or "\n" in gap:
        return None
    return replace(a, start=lo.start, end=max(lo.end, hi.end), score=max(a.score, b.score))


def cite(
    chosen: list[Candidate], texts: dict[str, str]
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


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
