"""Which sentences become quotes: the best scored, each grown into a short run with a
strong neighbour, merged where they touch, and later quotes only when they score close
to the first."""

from __future__ import annotations

from dataclasses import replace

from ..types import Span
from .features import Candidate

# Scores are the answer model's log-odds; the margins were chosen on benchmarks/quality.py
# (see benchmarks/README.md).
MAX_QUOTES = 3
GROW_MARGIN = 3.0  # a neighbour sentence scoring this close joins the quote
MAX_GROW = 2  # neighbours a quote may take in
QUOTE_MARGIN = 3.0  # a further quote must score this close to the first
MAX_RUN_CHARS = 400  # a quote may grow to a short run of sentences up to this length
MAX_QUOTE_CHARS = 2 * MAX_RUN_CHARS  # ... and two runs that touch merge up to this length


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


def excluded(cand: Candidate, spans: tuple[Span, ...]) -> bool:
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
