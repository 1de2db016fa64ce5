"""Answering a question, top to bottom.

One generation of the index is pinned for the whole question (``Retriever.pin``),
then: correct the spelling -> retrieve passages -> gather their sentences as candidates
-> score them with the answer model -> re-order its best few with the re-ranking pair
-> decide whether the articles cover the question (else abstain) -> choose 1-3 quotes
-> cite them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ..errors import EmptyQuestionError
from ..retrieval import HEAD, Generation, Mode, Retriever
from ..types import Filters, Hit, Span
from .citation import cite
from .evidence import evidence_features
from .features import Candidate, sentence_candidates
from .markup import NO_WORDS, strip_markup
from .model import AnswerModels, load_models, rerank_passages, score, sigmoid
from .query_terms import QueryTerms, query_terms
from .quotes import choose_quotes, excluded
from .rerank import rerank_best
from .result import Answer


@dataclass(frozen=True)
class Ranked:
    """Passages re-ordered by their best sentence, and the scored sentences, best first."""

    hits: list[Hit]
    candidates: list[Candidate]
    query: QueryTerms
    timings: dict[str, float]
    texts: dict[str, str]  # the texts of the head passages' articles, by id
    corrected: tuple[tuple[str, str], ...] = ()  # typos fixed in the query: (typed, fixed)
    head: int = HEAD  # how many of ``hits`` the answer model re-orders
    text: str = ""  # the query as searched (typos fixed): what the encoders embed


def answer(
    retriever: Retriever,
    question: str,
    filters: Filters | None = None,
    *,
    context: tuple[str, ...] = (),
    exclude: tuple[Span, ...] = (),
    mode: Mode = "hybrid",
    models: AnswerModels | None = None,
) -> Answer:
    """Answer ``question`` from the index; ``context`` holds earlier questions of a
    conversation (most recent last); ``exclude`` lists ``(article_id, start, end)`` spans
    already shown, so "More quotes" pages to new text only; ``models`` replaces the
    shipped answer and evidence models (cross-validation). Discord markup is left out
    first (``markup``): a question with no words left raises EmptyQuestionError."""
    question = strip_markup(valid_text(question))
    if not question.strip():
        raise EmptyQuestionError(NO_WORDS)
    context = tuple(c for c in (strip_markup(valid_text(c)) for c in context) if c.strip())
    models = models or load_models()
    started = time.perf_counter()
    query = " ".join((*context[-2:], question)) if context else question
    gen = retriever.pin()
    ranked = rank(retriever, query, HEAD, filters, mode, question=question, models=models, gen=gen)
    hits, timings, texts = ranked.hits, ranked.timings, ranked.texts
    follows = context[-1] if context else None
    t = time.perf_counter()
    covered = coverage_probability(question, ranked, models)
    # Lexical-only mode (evaluation) has no cosine to judge evidence by: it never abstains.
    if not ranked.candidates or (
        mode != "lexical" and covered < retriever.settings.abstain_threshold
    ):
        timings["total"] = _ms(started)
        closest = tuple(dict.fromkeys(h.title for h in hits))[:3]
        return Answer(question, (), (), True, closest, timings, follows, ranked.corrected)
    shown = [c for c in ranked.candidates if not excluded(c, exclude)]
    chosen = choose_quotes(shown, texts)
    timings["quotes"] = _ms(t)
    quotes, sources = cite(chosen, texts)
    timings["total"] = _ms(started)
    return Answer(question, quotes, sources, False, (), timings, follows, ranked.corrected)


def rank(
    retriever: Retriever,
    query: str,
    k: int = 10,
    filters: Filters | None = None,
    mode: Mode = "hybrid",
    *,
    question: str | None = None,
    models: AnswerModels | None = None,
    gen: Generation | None = None,
) -> Ranked:
    """Top ``k`` passages, the head re-ordered by their best sentence as the answer
    model scores it, and those scored sentences (best first). ``question`` is the
    current question when ``query`` adds earlier ones; ``models`` replaces the shipped
    ones (cross-validation)."""
    ranked = gather(retriever, query, k, filters, mode, question=question, gen=gen)
    models = models or load_models()
    t = time.perf_counter()
    cands = score(ranked.candidates, models.sentence)
    if mode != "lexical":

        def cosines_of(top: list[Candidate]) -> list[float] | None:
            texts = [ranked.texts[c.hit.article_id][c.start : c.end] for c in top]
            cosines = retriever.pair_cosines(ranked.text, texts)
            return None if cosines is None else cosines.tolist()

        cands = rerank_best(cands, models.rerank, cosines_of)
    head = rerank_passages(ranked.hits[: ranked.head], cands)
    timings = {**ranked.timings, "rank": ranked.timings["rank"] + _ms(t)}
    hits = (head + ranked.hits[ranked.head :])[: max(k, ranked.head)]
    return replace(ranked, hits=hits, candidates=cands, timings=timings)


def gather(
    retriever: Retriever,
    query: str,
    k: int = 10,
    filters: Filters | None = None,
    mode: Mode = "hybrid",
    *,
    question: str | None = None,
    gen: Generation | None = None,
) -> Ranked:
    """Top ``k`` passages in first-stage order and the sentences of the head with their
    features, unscored (what the answer model is fitted on). Typos in ``query`` and
    ``question`` are corrected first (``index.spelling``)."""
    gen = gen or retriever.pin()
    fixed = gen.correct(query)
    # Without earlier questions the query is the question: corrected once.
    own = fixed if question in (None, query) else gen.correct(question)
    query = fixed.text
    question = None if question is None else own.text
    corrected = dict(fixed.changes) | dict(own.changes)
    hits, depth, timings = retriever.first_stage(gen, query, max(k, HEAD), filters, mode)
    t = time.perf_counter()
    head = hits[:depth]
    terms = query_terms(gen, query, question)
    cands: list[Candidate] = []
    texts: dict[str, str] = {}
    if head:
        texts = gen.view.article_texts({h.article_id for h in head})
        stored = gen.view.sentences([h.passage_id for h in head])
        vector = tuned = None
        if mode != "lexical":
            vector, tuned = retriever.query_vector(query), retriever.tuned_vector(query)
        cands = sentence_candidates(question or query, vector, head, texts, stored, terms, tuned)
    timings["rank"] = _ms(t)
    return Ranked(hits, cands, terms, timings, texts, tuple(corrected.items()), depth, query)


def coverage_probability(question: str, ranked: Ranked, models: AnswerModels) -> float:
    """How likely the articles answer the question (0-1), from the evidence model."""
    if not ranked.candidates:
        return 0.0
    features = evidence_features(
        question, ranked.hits, ranked.candidates, ranked.texts, ranked.query
    )
    return sigmoid(models.evidence.scores([features])[0])


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


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)
