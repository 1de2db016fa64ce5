"""Answering: a question in, verbatim cited quotes (or an honest abstention) out.

``pipeline.answer`` is the one orchestrator; the answer model's features
(``features``, ``lexicons``, ``nearness``, ``evidence``), its weights (``model``),
quote choice (``quotes``) and citation (``citation``) each live in a module of their own.
"""

from __future__ import annotations

from .markup import NO_WORDS, strip_markup
from .model import AnswerModels, LinearModel, load_models
from .pipeline import Ranked, answer, gather, rank, valid_text
from .result import Answer, Quote, Source

__all__ = [
    "NO_WORDS",
    "Answer",
    "AnswerModels",
    "LinearModel",
    "Quote",
    "Ranked",
    "Source",
    "answer",
    "gather",
    "load_models",
    "rank",
    "strip_markup",
    "valid_text",
]
