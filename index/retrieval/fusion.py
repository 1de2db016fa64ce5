"""Dense and lexical candidates fused into one ranking: a weighted sum of min-max
normalised scores (measured better than reciprocal rank fusion: see
benchmarks/README.md), duplicates dropped, and a cap per article."""

from __future__ import annotations

import re

from ..types import Hit

#: Weight of the dense score in the fusion (lexical gets the rest); see benchmarks/README.md.
DENSE_WEIGHT = 0.4
PER_ARTICLE = 2  # passages of one article before others get a turn
#: The passages whose sentences answers are chosen from (the answer model re-orders
#: them, with any that PER_ARTICLE pushed out of them: ``diversify``).
HEAD = 6


def fuse_scores(
    dense: list[tuple[int, float]], lexical: list[tuple[int, float]], dense_weight: float
) -> dict[int, float]:
    """Weighted sum of each retriever's scores, min-max normalised over its candidates
    (a passage missing from one list gets 0 from it)."""
    fused: dict[int, float] = {}
    for scores, weight in ((dense, dense_weight), (lexical, 1.0 - dense_weight)):
        if not scores:
            continue
        high = max(s for _, s in scores)
        low = min(s for _, s in scores)
        span = high - low
        for pid, score in scores:
            normalised = (score - low) / span if span > 0 else 1.0
            fused[pid] = fused.get(pid, 0.0) + weight * normalised
    return fused


def dedupe(hits: list[Hit]) -> list[Hit]:
    """Drop passages whose text (case, spacing and punctuation aside) was already seen."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = re.sub(r"\W+", " ", hit.text.lower()).strip()
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


def diversify(hits: list[Hit], k: int, head: int = HEAD) -> tuple[list[Hit], int]:
    """Top ``k`` with at most PER_ARTICLE passages per article, unless too few articles;
    and the head to re-rank: the first ``head`` of those, then any passage among the
    first ``head`` by score that the cap pushed out of them (returned after the head,
    so the list may be longer than ``k``). The cap keeps other stories in view, but a
    third passage of one article that both retrievers rank high is often the one that
    answers (see benchmarks/README.md)."""
    first: list[Hit] = []
    rest: list[Hit] = []
    per_article: dict[str, int] = {}
    for hit in hits:
        n = per_article.get(hit.article_id, 0)
        (first if n < PER_ARTICLE else rest).append(hit)
        per_article[hit.article_id] = n + 1
    ordered = first + rest
    kept = {h.passage_id for h in ordered[:head]}
    pushed = [h for h in hits[:head] if h.passage_id not in kept]
    moved = {h.passage_id for h in pushed}
    tail = [h for h in ordered[head:] if h.passage_id not in moved]
    depth = min(head, len(ordered)) + len(pushed)
    return (ordered[:head] + pushed + tail)[: max(k, depth)], depth
