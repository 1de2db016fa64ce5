"""The re-ranking stage: the answer model's best RERANK_DEPTH sentences re-scored with a
second opinion, the cosine of a pair of encoders fitted together on questions and the
sentences that answer them (``index.embedding.tuning``; ``benchmarks/fit_rerank_encoders.py``).

The answer model reads the sentences' stored vectors; the pair re-embeds the few
sentences that may win, so a question and its answer can meet even when they share no
words ("why did Hansen delay her comeback?" / "the wound has been slow to heal"). Its
linear model (``benchmarks/fit_ranker.py``) weighs the answer model's score against the
pair's cosine and that cosine's gap to the best one, and re-orders the few.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from .features import RERANK_FEATURES, Candidate
from .model import LinearModel

__all__ = ["RERANK_DEPTH", "RERANK_FEATURES", "rerank", "rerank_best", "rerank_rows"]

RERANK_DEPTH = 6  # sentences re-embedded per question: the cost of this stage


def rerank_best(
    scored: list[Candidate],
    model: LinearModel | None,
    cosines_of: Callable[[list[Candidate]], Sequence[float] | None],
) -> list[Candidate]:
    """``scored`` (best first) with its best RERANK_DEPTH re-ordered by ``model``, their
    pair cosines from ``cosines_of``; as it was without a model or cosines (None)."""
    if model is None or not scored:
        return scored
    cosines = cosines_of(scored[:RERANK_DEPTH])
    return scored if cosines is None else rerank(scored, cosines, model)


def rerank_rows(scores: Sequence[float], cosines: Sequence[float]) -> list[tuple[float, ...]]:
    """The re-ranking features of each sentence (see RERANK_FEATURES)."""
    best = max(cosines, default=0.0)
    return [(s, c, c - best) for s, c in zip(scores, cosines, strict=True)]


def rerank(
    scored: list[Candidate], cosines: Sequence[float], model: LinearModel
) -> list[Candidate]:
    """``scored`` (best first) with its first ``len(cosines)`` sentences put in ``model``'s
    order. Each place keeps the answer model's score it had: the stage decides which
    sentence comes first, not how many quotes follow (the quote margins were chosen on
    the answer model's scores; re-scoring the sentences themselves gave fewer, shorter
    quotes and lost answers, benchmarks/README.md)."""
    top = scored[: len(cosines)]
    new = model.scores(rerank_rows([c.score for c in top], cosines))
    order = sorted(range(len(top)), key=lambda i: -new[i])  # stable: ties keep their place
    moved = [replace(top[j], score=place.score) for place, j in zip(top, order, strict=True)]
    return moved + scored[len(top) :]
