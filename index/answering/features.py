"""Features of each candidate sentence, cheap at question time.

A sentence's MiniLM cosine to the question (sentence vectors are stored at index time,
so this is one dot product), its share of the question's rare words, its passage's
retrieval scores, its neighbours' scores (the answer often follows the sentence that
restates the question), where it sits in the article, whether it holds the kind of
thing the question asks for and whether the question's words sit near it.
Word overlap alone picks the sentence that repeats the question; people's questions are
paraphrased, so the model leans on the cosine and on what the question asks for.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..text import terms
from ..types import Hit, StoredSentence
from .lexicons import (
    ANSWER_TYPES,
    NUMBER,
    new_answer_types,
    new_subtypes,
    question_subtypes,
    question_types,
)
from .nearness import nearness
from .query_terms import QueryTerms

if TYPE_CHECKING:
    import numpy as np

_QUOTE_MARKS = ('"', "“", "”")


_SENTENCE_END = re.compile(r"[.!?\"'”’)]$")


#: Per-sentence features, in the order the model's weights follow.
SENTENCE_FEATURES = (
    "fused",  # passage's fused retrieval score, relative to the best passage
    "rank",  # 1 / (1 + passage rank)
    "passage_dense",  # passage cosine to the question
    "passage_lexical",  # passage BM25, relative to the best
    "coverage",  # share of the question's IDF mass found in the sentence
    "cosine",  # sentence cosine to the question
    "cosine_gap",  # cosine minus the best candidate's cosine
    "passage_best_coverage",
    "passage_best_cosine",
    "lead",  # the article's first sentence (news leads restate the story)
    "position",  # offset in the article, 0 (start) to 1 (end)
    "title_coverage",  # share of the question's IDF mass in the article's title
    "article_coverage",  # ... anywhere in the article: the story the question is about
    "length",  # log characters
    "unfinished",  # no sentence-final punctuation: a heading or a fragment
    "novelty",  # share of the sentence's words that the question does not use
    *(f"fits_{t}" for t in ANSWER_TYPES),  # asked for, and new to the question
    *(f"lacks_{t}" for t in ANSWER_TYPES),  # asked for, and nothing new of it
    "new_number",  # a "how much" question and a number the question does not hold
    "fits_subtype",  # asks for a percentage / sum of money / duration / time, and has one
    "lacks_subtype",  # asks for one of those, and has none new
    "answers_who",  # a "who" question, and the question's words beside a new name
    "answer_near",  # the question's words within NEAR_WORDS of what it asks for (nearness)
    "phrase",  # longest run of the question's words (stopwords too) found in order
    "quoted",  # reported speech
    "previous_coverage",
    "next_coverage",
    "previous_cosine",
    "next_cosine",
    "has_previous",
    "has_next",
    "tuned_cosine",  # sentence cosine to the tuned question vector (index.embedding.tuning)
    "tuned_cosine_gap",  # tuned cosine minus the best candidate's (as cosine_gap)
)

#: The re-ranking stage's features (``rerank``), per sentence of the answer model's best.
RERANK_FEATURES = (
    "answer_score",  # the answer model's log-odds
    "pair_cosine",  # cosine between the re-ranking pair's question and sentence vectors
    "pair_cosine_gap",  # that cosine minus the best one among the re-ranked
)


@dataclass(frozen=True)
class Candidate:
    """A sentence that may answer: its span, features and the model's score (log-odds)."""

    hit: Hit
    start: int
    end: int
    features: tuple[float, ...]
    score: float = 0.0

    @property
    def coverage(self) -> float:
        return self.features[SENTENCE_FEATURES.index("coverage")]


def sentence_candidates(
    question: str,
    vector: np.ndarray | None,
    hits: Sequence[Hit],
    texts: Mapping[str, str],
    sentences: Mapping[int, Sequence[StoredSentence]],
    query: QueryTerms,
    tuned: np.ndarray | None = None,
) -> list[Candidate]:
    """Every stored sentence of ``hits`` with its features, in passage order (unscored).
    ``tuned`` is the question's vector from the tuned question encoder, where there is
    one; without it ``tuned_cosine`` is the plain cosine."""
    rows = [
        (rank, hit, s, texts[hit.article_id][s.start : s.end])
        for rank, hit in enumerate(hits)
        if hit.article_id in texts
        for s in sentences.get(hit.passage_id, ())
    ]
    if not rows:
        return []
    cosines = _cosines(vector, [s.vector for _, _, s, _ in rows])
    tuned_cosines = cosines if tuned is None else _cosines(tuned, [s.vector for *_, s, _ in rows])
    coverages = [query.coverage(set(terms(text))) for _, _, _, text in rows]
    context = _Context(question, hits, query, cosines, coverages, rows, tuned_cosines)
    return [
        Candidate(hit, s.start, s.end, context.features(i, rank, hit, s, text, texts))
        for i, (rank, hit, s, text) in enumerate(rows)
    ]


def _cosines(vector: np.ndarray | None, vectors: list[np.ndarray]) -> list[float]:
    import numpy as np

    if vector is None:  # lexical-only evaluation: no question vector
        return [0.0] * len(vectors)
    return [float(x) for x in np.stack(vectors).astype(np.float32) @ vector]


class _Context:
    """What features of one sentence need from the others: bests and neighbours."""

    def __init__(
        self,
        question: str,
        hits: Sequence[Hit],
        query: QueryTerms,
        cosines: list[float],
        coverages: list[float],
        rows: list[tuple[int, Hit, StoredSentence, str]],
        tuned_cosines: list[float],
    ) -> None:
        self.query = query
        self.tuned_cosines = tuned_cosines
        self.question = question
        self.types = question_types(question)
        self.subtypes = question_subtypes(question)
        self.question_words = set(terms(question))
        self.question_tokens = terms(question, keep_stopwords=True)
        self.question_numbers = set(NUMBER.findall(question))
        self.cosines, self.coverages = cosines, coverages
        self.best_cosine = max(cosines)
        self.best_tuned = max(tuned_cosines)
        self.top_fused = max((h.score for h in hits), default=1.0) or 1.0
        self.top_lexical = max((h.lexical or 0.0 for h in hits), default=1.0) or 1.0
        self.passage_best: dict[int, tuple[float, float]] = {}
        self._article_coverage: dict[str, float] = {}
        self.index_of: dict[tuple[int, int], int] = {}
        for i, (_, hit, s, _) in enumerate(rows):
            cov, cos = self.passage_best.get(hit.passage_id, (0.0, -1.0))
            self.passage_best[hit.passage_id] = (max(cov, coverages[i]), max(cos, cosines[i]))
            self.index_of[(hit.passage_id, s.ordinal)] = i

    def article_coverage(self, article_id: str, text: str) -> float:
        if article_id not in self._article_coverage:
            self._article_coverage[article_id] = self.query.coverage(set(terms(text)))
        return self._article_coverage[article_id]

    def _phrase_overlap(self, text: str) -> tuple[float, float]:
        """An answer sentence often says the question's own phrase with the answer in
        place of "who" or "what": "[Aliyev] is trying to mend relations between ..."."""
        words = terms(text, keep_stopwords=True)
        q = self.question_tokens
        if len(q) < 2 or not words:
            return 0.0, 0.0
        pairs = set(itertools.pairwise(words))
        q_pairs = list(itertools.pairwise(q))
        longest = run = 0
        for pair in q_pairs:
            run = run + 1 if pair in pairs else 0
            longest = max(longest, run)
        return longest / len(q_pairs), sum(p in pairs for p in q_pairs) / len(q_pairs)

    def features(
        self,
        i: int,
        rank: int,
        hit: Hit,
        s: StoredSentence,
        text: str,
        texts: Mapping[str, str],
    ) -> tuple[float, ...]:
        words = set(terms(text))
        found = new_answer_types(text, self.question)
        subtypes = new_subtypes(text, self.question, self.subtypes)
        numbers = set(NUMBER.findall(text))
        prev = self.index_of.get((hit.passage_id, s.ordinal - 1))
        nxt = self.index_of.get((hit.passage_id, s.ordinal + 1))
        best_cov, best_cos = self.passage_best[hit.passage_id]
        article = texts[hit.article_id]
        values = [
            hit.score / self.top_fused,
            1.0 / (1 + rank),
            hit.dense or 0.0,
            (hit.lexical or 0.0) / self.top_lexical,
            self.coverages[i],
            self.cosines[i],
            self.cosines[i] - self.best_cosine,
            best_cov,
            best_cos,
            float(s.ordinal == 0),
            s.start / max(1, len(article)),
            self.query.coverage(set(terms(hit.title))),
            self.article_coverage(hit.article_id, article),
            math.log1p(len(text)),
            float(not _SENTENCE_END.search(text)),
            len(words - self.question_words) / (len(words) or 1),
            *(float(t in self.types and t in found) for t in ANSWER_TYPES),
            *(float(t in self.types and t not in found) for t in ANSWER_TYPES),
            float("number" in self.types and bool(numbers - self.question_numbers)),
            float(bool(subtypes)),
            float(bool(self.subtypes) and not subtypes),
            self.coverages[i] * float("person" in self.types and "person" in found),
            nearness(text, self.question, self.types, self.subtypes, self.query),
            self._phrase_overlap(text)[0],
            float(any(mark in text for mark in _QUOTE_MARKS)),
            self.coverages[prev] if prev is not None else 0.0,
            self.coverages[nxt] if nxt is not None else 0.0,
            self.cosines[prev] if prev is not None else 0.0,
            self.cosines[nxt] if nxt is not None else 0.0,
            float(prev is not None),
            float(nxt is not None),
            self.tuned_cosines[i],
            self.tuned_cosines[i] - self.best_tuned,
        ]
        return tuple(values)
