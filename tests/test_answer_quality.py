"""Answers with the real model on all of BBC News beside the sample article: the README's
question leads with the sentence that answers it, not the one sharing the most words,
and news-like questions the articles don't cover are declined.

One index of ~2,200 articles is built once for the module (about 5 minutes here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.answering import answer, rank
from index.answering.features import SENTENCE_FEATURES
from index.embedding import make_embedder, make_question_embedder, make_rerank_embedders
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings

from .helpers import BBC, REPO, seed_models

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BBC.exists(), reason="shared BBC data not present"),
]

README_QUESTION = "Who is trying to mend relations between Turkey and Israel?"


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, exported_models: Path) -> Retriever:
    index_dir = tmp_path_factory.mktemp("bbc") / "index"
    seed_models(index_dir, exported_models)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        index_dir=index_dir,
        corpus=[BBC, REPO / "corpus"],
        device="cpu",
    )
    embedder = make_embedder(settings)
    report = run_index(settings, embedder)
    assert report.added > 2000 and not report.failed
    # As the CLI and the bot answer: with the tuned question encoder.
    return Retriever(
        settings,
        embedder,
        question_embedder=make_question_embedder(settings),
        rerank_embedders=make_rerank_embedders(settings),
    )


def _text(retriever: Retriever, article_id: str, start: int, end: int) -> str:
    return retriever.view.article_texts({article_id})[article_id][start:end]


def test_readme_question_leads_with_the_answer_not_the_most_overlap(
    retriever: Retriever,
) -> None:
    ranked = rank(retriever, README_QUESTION, 6, question=README_QUESTION)
    coverage = SENTENCE_FEATURES.index("coverage")
    most_overlap = max(ranked.candidates, key=lambda c: c.features[coverage])
    overlap_text = _text(
        retriever, most_overlap.hit.article_id, most_overlap.start, most_overlap.end
    )
    assert "Aliyev" not in overlap_text  # word overlap alone would lead with another sentence

    ans = answer(retriever, README_QUESTION)
    assert not ans.abstained
    assert "Azeri President Ilham Aliyev is trying to mend relations" in ans.quotes[0].text
    assert Path(ans.sources[0].path or "").name == "aliyev-turkey-israel.md"


@pytest.mark.parametrize(
    "question",
    [
        "Which team won the 2022 World Cup final in Qatar?",
        "How many followers does Taylor Swift have on Instagram?",
        "what did nasa's artemis ii crew do on their moon flyby",
    ],
)
def test_news_like_questions_the_articles_do_not_cover_are_declined(
    retriever: Retriever, question: str
) -> None:
    assert answer(retriever, question).abstained


def test_paraphrased_question_is_answered_from_the_right_article(retriever: Retriever) -> None:
    ans = answer(
        retriever, "why did the gaming firm valve lock thousands of players out of half-life 2"
    )
    assert not ans.abstained
    assert any("obtained illegally" in q.text for q in ans.quotes)


def test_typos_in_the_readme_question_are_corrected_with_bbc_beside_it(
    retriever: Retriever,
) -> None:
    # A letter left out ("tryng") and two letters swapped ("relatoins"), typed lower case.
    ans = answer(retriever, "who is tryng to mend relatoins between turkey and israel")
    assert dict(ans.corrected) == {"tryng": "trying", "relatoins": "relations"}
    assert not ans.abstained
    assert "Aliyev is trying to mend relations" in ans.quotes[0].text
