"""The evidence that the articles cover the question at all: the abstention model's
features. Off-topic news questions share names with the corpus; rarely all of these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..text import terms
from ..types import Hit
from .features import SENTENCE_FEATURES, Candidate
from .lexicons import NUMBER
from .query_terms import QueryTerms

#: Per-question features of the abstention model.
EVIDENCE_FEATURES = (
    "best_dense",  # best passage cosine
    "best_coverage",  # best sentence's share of the question's IDF mass
    "unknown",  # share of the question's IDF mass in words no passage holds
    "top_article_coverage",  # share of it in the top article's candidates and title
    "missing_number",  # the question names a number no candidate holds
    "best_cosine",  # best sentence cosine
)


def evidence_features(
    question: str,
    hits: Sequence[Hit],
    cands: Sequence[Candidate],
    texts: Mapping[str, str],
    query: QueryTerms,
) -> tuple[float, ...]:
    """Question-level evidence that the articles answer it (see EVIDENCE_FEATURES)."""
    cos_at = SENTENCE_FEATURES.index("cosine")
    best_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
    best_coverage = max((c.coverage for c in cands), default=0.0)
    best_cosine = max((c.features[cos_at] for c in cands), default=0.0)
    top = cands[0].hit if cands else None
    words: set[str] = set()
    candidate_text = []
    for c in cands:
        sentence = texts[c.hit.article_id][c.start : c.end]
        candidate_text.append(sentence)
        if top is not None and c.hit.article_id == top.article_id:
            words.update(terms(sentence))
    if top is not None:
        words.update(terms(top.title))
    joined = " ".join(candidate_text)
    numbers = set(NUMBER.findall(question))
    missing = float(bool(numbers) and any(n not in joined for n in numbers))
    return (
        best_dense,
        best_coverage,
        query.unknown,
        query.coverage(words),
        missing,
        best_cosine,
    )
