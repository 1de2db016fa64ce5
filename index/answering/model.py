"""The answer model: standardised logistic regressions over the sentence and evidence
features, fitted by ``benchmarks/fit_ranker.py`` and shipped as ``answer_model.json``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ..types import Hit
from .evidence import EVIDENCE_FEATURES
from .features import RERANK_FEATURES, SENTENCE_FEATURES, Candidate

MODEL_FILE = "answer_model.json"


@dataclass(frozen=True)
class LinearModel:
    """Standardise, then logistic regression: ``score = coef · (x - mean) / scale + b``."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearModel:
        return cls(
            tuple(data["features"]),
            tuple(data["mean"]),
            tuple(data["scale"]),
            tuple(data["coef"]),
            float(data["intercept"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
        }

    def scores(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Log-odds for each row of features."""
        import numpy as np

        if not rows:
            return []
        x = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        return [float(v) for v in x @ np.asarray(self.coef) + self.intercept]


@dataclass(frozen=True)
class AnswerModels:
    sentence: LinearModel  # log-odds that a sentence answers the question
    evidence: LinearModel  # log-odds that the articles answer the question
    rerank: LinearModel | None = None  # the re-ranking stage (``rerank``); None: none


@cache
def load_models() -> AnswerModels:
    """The fitted models shipped with the package (``answer_model.json``)."""
    raw = json.loads(
        resources.files(__package__ or "index.answering").joinpath(MODEL_FILE).read_text("utf-8")
    )
    return models_from_json(raw)


def models_from_json(raw: Mapping[str, Any]) -> AnswerModels:
    """The models of an ``answer_model.json``, checked against this version's features."""
    rerank = raw.get("rerank")
    models = AnswerModels(
        LinearModel.from_json(raw["sentence"]),
        LinearModel.from_json(raw["evidence"]),
        LinearModel.from_json(rerank) if rerank else None,
    )
    if models.sentence.features != SENTENCE_FEATURES:
        raise RuntimeError(f"{MODEL_FILE} was fitted on other sentence features: refit it.")
    if models.evidence.features != EVIDENCE_FEATURES:
        raise RuntimeError(f"{MODEL_FILE} was fitted on other evidence features: refit it.")
    if models.rerank is not None and models.rerank.features != RERANK_FEATURES:
        raise RuntimeError(f"{MODEL_FILE} was fitted on other re-ranking features: refit it.")
    return models


def score(cands: list[Candidate], model: LinearModel) -> list[Candidate]:
    """``cands`` with their scores, best first."""
    scored = [
        Candidate(c.hit, c.start, c.end, c.features, s)
        for c, s in zip(cands, model.scores([c.features for c in cands]), strict=True)
    ]
    scored.sort(key=lambda c: c.score, reverse=True)
    return scored


def rerank_passages(hits: list[Hit], scored: Sequence[Candidate]) -> list[Hit]:
    """Hits ordered by their best sentence's score: a passage that holds the answering
    sentence beats one that only shares the question's words. Hits without scored
    sentences keep their place after those with."""
    best: dict[int, float] = {}
    for c in scored:
        best.setdefault(c.hit.passage_id, c.score)  # scored is best first

    def key(i: int) -> tuple[bool, float, int]:
        pid = hits[i].passage_id
        return (pid not in best, -best.get(pid, 0.0), i)

    return [hits[i] for i in sorted(range(len(hits)), key=key)]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))
