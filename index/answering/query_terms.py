"""The question's words and their weights (IDF, with everyday English as a prior)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .. import english
from ..retrieval import Generation
from ..text import query_words, stem

#: Passages of everyday English counted beside the index's own in a word's IDF
#: (``index.english``): a few articles' worth, so it decides the weights over one
#: article and moves them by a few percent over thousands of passages.
PRIOR_PASSAGES = 200


@dataclass(frozen=True)
class QueryTerms:
    """The question's words with their IDF weights, and the share of that weight in words
    that no passage of the index holds."""

    weights: Mapping[str, float]
    unknown: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.weights.values()) or 1.0

    def coverage(self, words: set[str]) -> float:
        return sum(w for t, w in self.weights.items() if t in words) / self.total


def query_terms(gen: Generation, query: str, question: str | None = None) -> QueryTerms:
    """IDF of each query word by its passage frequency, with everyday English as a
    prior (PRIOR_PASSAGES); words of ``question`` (the current one, when ``query``
    also holds earlier questions) count double. Also the share of that weight in
    words no passage holds: questions about what the articles never mention
    ("Twitter", "2018") are likely not covered."""
    own = {stem(w) for w in query_words(question or query)}
    n = gen.passage_count() + PRIOR_PASSAGES
    weights: dict[str, float] = {}
    unknown = 0.0
    for word in query_words(query):
        df = gen.document_frequency(word)
        # A small index alone makes every word it lacks rarer than its own topic's
        # words: over one article, "fix" and "things" would outweigh "Turkey".
        df_prior = df + PRIOR_PASSAGES * english.passage_share(word)
        idf = math.log(1 + (n - df_prior + 0.5) / (df_prior + 0.5))
        key = stem(word)
        weight = idf * (1.0 if key in own else 0.5)
        if weight > weights.get(key, 0.0):
            weights[key] = weight
        if df == 0:
            unknown += weight
    total = sum(weights.values())
    return QueryTerms(weights, unknown / total if total else 0.0)
