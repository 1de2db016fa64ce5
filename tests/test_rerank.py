"""The re-ranking stage (index.answering.rerank): the answer model's best sentences
re-scored with the pair's cosine, in the answer model's units; the shipped pair and its
weights; and the pipeline calling it with the retriever's pair."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from index.answering import LinearModel, load_models, rank
from index.answering.features import Candidate
from index.answering.rerank import RERANK_DEPTH, RERANK_FEATURES, rerank, rerank_rows
from index.embedding import make_rerank_embedders
from index.embedding.onnx_runtime import OnnxEmbedder
from index.embedding.tuning import (
    LORA_DOWN,
    LORA_UP,
    RERANK_QUESTION_PATH,
    RERANK_SENTENCE_PATH,
    load_tuning,
)
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings
from index.types import Hit

from .helpers import ARTICLE_A, ARTICLE_B, TURKEY, HashEmbedder, write


def stage(answer: float, pair: float, gap: float = 0.0) -> LinearModel:
    """A re-ranking model with these weights on standardised features (scale 1 / 0.1 / 0.1):
    with equal weights, 0.1 of cosine counts as 1 of answer score."""
    return LinearModel(RERANK_FEATURES, (0.0, 0.5, -0.1), (1.0, 0.1, 0.1), (answer, pair, gap), -1)


def cands(scores: list[float]) -> list[Candidate]:
    hit = Hit(1, "a", "T", 0, 100, "text", 1.0, None, None)
    return [Candidate(hit, 10 * i, 10 * i + 5, (), s) for i, s in enumerate(scores)]


def test_rows_hold_the_score_the_cosine_and_its_gap_to_the_best() -> None:
    assert rerank_rows([2.0, 1.0], [0.3, 0.5]) == [(2.0, 0.3, 0.3 - 0.5), (1.0, 0.5, 0.0)]


def test_a_pair_that_adds_nothing_leaves_the_order_as_it_was() -> None:
    scored = cands([3.0, 2.0, 1.0])
    out = rerank(scored, [0.1, 0.9, 0.5], stage(answer=2.0, pair=0.0))
    assert [(c.start, c.score) for c in out] == [(0, 3.0), (10, 2.0), (20, 1.0)]


def test_the_pair_reorders_the_best_few_and_each_place_keeps_its_score() -> None:
    scored = cands([3.0, 2.5, 1.0, 0.5])
    # +0.3 cosine outweighs 0.5 of answer score here; 1.5 of it does not.
    out = rerank(scored, [0.5, 0.8, 0.5], stage(answer=1.0, pair=1.0))
    assert [c.start for c in out] == [10, 0, 20, 30]  # the fourth was not re-ranked
    assert [c.score for c in out] == [3.0, 2.5, 1.0, 0.5]  # the quote margins see these
    out = rerank(scored, [0.5, 0.3, 0.8], stage(answer=1.0, pair=1.0))
    assert [c.start for c in out] == [20, 0, 10, 30]
    out = rerank(scored, [0.5, 0.3, 0.6], stage(answer=1.0, pair=1.0))
    assert [c.start for c in out] == [0, 20, 10, 30]  # 0.1 of cosine doesn't beat 2.0


def test_the_shipped_stage_trusts_both_the_answer_model_and_the_pair() -> None:
    model = load_models().rerank
    assert model is not None and model.features == RERANK_FEATURES
    assert model.coef[0] > 0 and model.coef[1] > 0


@pytest.mark.parametrize("path", [RERANK_QUESTION_PATH, RERANK_SENTENCE_PATH])
def test_the_shipped_pair_is_small_and_has_a_low_rank_change_per_weight(path) -> None:  # type: ignore[no-untyped-def]
    tuning = load_tuning(path)
    assert path.stat().st_size < 2_000_000
    assert tuning.base == "sentence-transformers/all-MiniLM-L6-v2"
    assert len([n for n in tuning.deltas if n.endswith((LORA_DOWN, LORA_UP))]) == 2 * 6 * 6


def test_the_two_towers_differ_and_exist_only_for_the_bundled_model(settings: Settings) -> None:
    question, sentence = load_tuning(RERANK_QUESTION_PATH), load_tuning(RERANK_SENTENCE_PATH)
    assert question.digest != sentence.digest
    pair = make_rerank_embedders(settings)
    assert pair is not None and all(isinstance(e, OnnxEmbedder) for e in pair)
    assert make_rerank_embedders(settings.model_copy(update={"model": "someone/other"})) is None


def test_rank_reorders_the_best_sentences_by_the_retrievers_pair(settings: Settings) -> None:
    embedder = HashEmbedder(dimension=1024)
    for name, text in [("a.txt", ARTICLE_A), ("b.txt", ARTICLE_B), ("t.md", TURKEY)]:
        write(settings.corpus[0] / name, text)
    run_index(settings, embedder)
    retriever = Retriever(settings, embedder)
    question = "Who is trying to mend relations between Turkey and Israel?"
    without = rank(retriever, question, models=replace(load_models(), rerank=None))
    retriever.set_rerank_embedders((embedder, embedder))
    # A stage that follows the pair's cosine almost alone.
    models = replace(load_models(), rerank=stage(answer=0.01, pair=5.0))
    ranked = rank(retriever, question, models=models)
    top = without.candidates[:RERANK_DEPTH]
    texts = [without.texts[c.hit.article_id][c.start : c.end] for c in top]
    cosines = embedder.embed(texts) @ embedder.embed([question])[0]
    expected = top[int(np.argmax(cosines))]
    assert expected is not top[0]  # else the stage would have nothing to show
    assert (ranked.candidates[0].hit.passage_id, ranked.candidates[0].start) == (
        expected.hit.passage_id,
        expected.start,
    )
    assert {(c.hit.passage_id, c.start) for c in ranked.candidates} == {
        (c.hit.passage_id, c.start) for c in without.candidates
    }
