"""The re-ranking stage as ``fit_ranker.py`` fits and cross-validates it
(``index.answering.rerank``): each train question's pair cosines, held out, from
``fit_rerank_encoders.py``'s folds, and the stage's linear model fitted on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.fit_rerank_encoders import COSINES, FOLD_DIR

COSINES_PATH = FOLD_DIR / COSINES


def attach_cosines(questions: list[Any], path: Path = COSINES_PATH) -> None:
    """Each question's held-out pair cosines (``q.pair``: (article id, start) -> cosine),
    from ``fit_rerank_encoders.py``'s run on the same questions."""
    if not path.is_file():
        raise SystemExit(f"No {path}: run benchmarks/fit_rerank_encoders.py first.")
    held = json.loads(path.read_text("utf-8"))
    for i, q in enumerate(questions):
        row = held.get(str(i))
        if row is None:
            continue
        if row["question"] != q.text:
            raise SystemExit(f"{path} was written for other questions: rerun its fitter.")
        q.pair = {(a, s): c for (a, s), c in zip(row["spans"], row["cosine"], strict=True)}


def ranked(q: Any, models: Any) -> list[Any]:
    """``q``'s candidates as the product ranks them with ``models``: scored, then
    re-ranked where the models have the stage and ``q`` its cosines."""
    from index.answering.model import score
    from index.answering.rerank import rerank_best

    cands = score(q.ranked.candidates, models.sentence)
    return rerank_best(
        cands, models.rerank, lambda top: None if q.pair is None else cosines(q, top)
    )


def cosines(q: Any, cands: list[Any]) -> list[float]:
    return [q.pair[(c.hit.article_id, c.start)] for c in cands]


def fit_rerank(questions: list[Any], sentence: Any, config: Any) -> Any:
    """The stage's model, pointwise over each answerable question's top RERANK_DEPTH
    sentences by ``sentence`` (None where no question has cosines)."""
    from benchmarks.fit_ranker import fit_linear, label_of, question_weight
    from index.answering.model import score
    from index.answering.rerank import RERANK_DEPTH, RERANK_FEATURES, rerank_rows

    rows: list[tuple[float, ...]] = []
    labels: list[bool] = []
    weights: list[float] = []
    for q in questions:
        if not q.answerable or q.pair is None or not q.ranked.candidates:
            continue
        top = score(q.ranked.candidates, sentence)[:RERANK_DEPTH]
        rows.extend(rerank_rows([c.score for c in top], cosines(q, top)))
        labels.extend(label_of(q, c) for c in top)
        weights.extend([question_weight(q, config)] * len(top))
    if not rows:
        return None
    return fit_linear(rows, labels, RERANK_FEATURES, config.sentence_c, weights)
