"""Hybrid retrieval over a real index (SQLite FTS5 + FAISS) with the fast test embedder."""

from __future__ import annotations

import itertools
import threading

import pytest

import index.answering.query_terms as query_terms_module
from index.answering import gather
from index.answering.query_terms import query_terms
from index.indexing import run_index
from index.retrieval import Retriever, diversify
from index.settings import Settings
from index.text import stem
from index.types import Filters, Hit

from .helpers import ARTICLE_A, ARTICLE_B, ARTICLE_C, FOOTBALL, TURKEY, HashEmbedder, write


@pytest.fixture
def retriever(settings: Settings, embedder: HashEmbedder) -> Retriever:
    corpus = settings.corpus[0]
    write(corpus / "business" / "a.txt", ARTICLE_A)
    write(corpus / "business" / "b.txt", ARTICLE_B)
    write(corpus / "business" / "c.txt", ARTICLE_C)
    write(corpus / "world" / "turkey.md", TURKEY)
    write(corpus / "sport" / "football.txt", "Chelsea football news\n\n" + FOOTBALL)
    write(
        corpus / "sport" / "other.txt",
        "Another club story\n\n"
        + "The football club Arsenal won the league match after a late goal by their striker.",
    )
    write(corpus / "copies" / "a-copy.txt", ARTICLE_A)  # the same article syndicated twice
    run_index(settings, embedder)
    return Retriever(settings, embedder)


def test_hybrid_scores_are_reported(retriever: Retriever) -> None:
    hits = retriever.search("TimeWarner quarterly profits", k=5)
    assert hits[0].title == "Ad sales boost Time Warner profit"
    assert hits[0].dense is not None and hits[0].lexical is not None and hits[0].score > 0
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


def test_accent_and_case_folding(retriever: Retriever) -> None:
    for query in ("Erdogan", "ERDOGAN", "erdoğan"):
        hits = retriever.search(query, k=3)
        assert hits and "Erdoğan" in hits[0].text, query
    assert retriever.lexical_only("Erdogan", 1)


def test_titles_are_searchable(retriever: Retriever) -> None:
    ids = retriever.lexical_only("Yukos unit buyer", 3)
    assert ids
    hits = retriever.search("Yukos unit buyer", 3)
    assert hits[0].title == "Yukos unit buyer faces loan claim"


def test_near_duplicate_passages_are_collapsed(retriever: Retriever) -> None:
    hits = retriever.search("TimeWarner quarterly profits jumped", k=10)
    texts = [" ".join(h.text.lower().split()) for h in hits]
    assert len(texts) == len(set(texts))
    assert len({h.path for h in hits if "Quarterly profits" in h.text}) == 1


def test_one_article_does_not_fill_every_slot(retriever: Retriever) -> None:
    hits = retriever.search("football club striker goal league match", k=4)
    titles = [h.title for h in hits]
    assert titles.count("Chelsea football news") <= 2
    assert "Another club story" in titles


def test_one_relevant_article_may_fill_the_slots(
    settings: Settings, embedder: HashEmbedder
) -> None:
    write(settings.corpus[0] / "only.txt", "Chelsea football news\n\n" + FOOTBALL)
    run_index(settings, embedder)
    hits = Retriever(settings, embedder).search("football goal", k=5)
    assert len(hits) >= 3 and {h.title for h in hits} == {"Chelsea football news"}


def _hits(articles: str) -> list[Hit]:
    """Hits in score order, one per letter: the letter names the article."""
    return [
        Hit(i, a, a, 0, 1, f"{a}{i}", 1.0 - i / 100, None, None) for i, a in enumerate(articles)
    ]


def test_a_high_third_passage_of_one_article_joins_the_head() -> None:
    # Article A holds the top three passages: the cap moves A's third below the other
    # stories, but it was among the first four by score, so it is re-ranked too.
    hits, depth = diversify(_hits("AAABCDEFG"), k=4, head=4)
    assert [h.passage_id for h in hits[:4]] == [0, 1, 3, 4]  # A, A, B, C
    assert depth == 5 and hits[4].passage_id == 2
    assert [h.passage_id for h in hits] == [0, 1, 3, 4, 2]
    # Without such a passage the head is as deep as asked.
    hits, depth = diversify(_hits("AABCDAEFG"), k=4, head=4)
    assert depth == 4 and [h.passage_id for h in hits] == [0, 1, 2, 3]


def test_an_answer_in_a_third_passage_of_the_top_article_is_quoted(
    settings: Settings, embedder: HashEmbedder
) -> None:
    settings = settings.model_copy(update={"chunk_tokens": 24})  # a passage a paragraph
    paragraphs = [
        "The harbour council met on Monday about the harbour plan and its harbour budget.",
        "The harbour council said the harbour plan was delayed by the harbour survey.",
        "Members of the harbour council voted 7-2 for the harbour plan after a debate.",
    ]
    write(settings.corpus[0] / "harbour.txt", "Harbour council plan\n\n" + "\n\n".join(paragraphs))
    for topic in ["parking", "library", "school", "bins", "parks", "roads"]:
        story = f"The council discussed {topic} plans on Monday."
        write(settings.corpus[0] / f"{topic}.txt", f"Council and {topic}\n\n{story}")
    run_index(settings, embedder)
    ranked = gather(Retriever(settings, embedder), "harbour council plan vote", 6)
    harbour = [h for h in ranked.hits if h.title == "Harbour council plan"]
    assert len(harbour) == 3  # the cap moved the third after the other stories ...
    assert ranked.head == 7  # ... but it is re-ranked with the first six
    assert any("voted 7-2" in c.hit.text for c in ranked.candidates)


def test_common_words_are_searched_when_the_others_are_unknown(retriever: Retriever) -> None:
    # "chelsea" is in most passages of this small index, so it alone would be dropped
    # as too common; beside a word no passage holds, it is all there is to search.
    assert retriever.document_frequency("chelsea") > 0.1 * retriever.passage_count()
    hits = retriever.search("Chelsea qwzxv", k=3)
    assert any(h.lexical is not None and h.title == "Chelsea football news" for h in hits)


def test_everyday_words_a_small_index_lacks_do_not_outweigh_its_topic(
    retriever: Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This index has a dozen passages, most about Chelsea; "things" is in none. By the
    # index alone "things" would be the question's rarest word and most of its weight.
    assert retriever.document_frequency("things") == 0
    question = "why are things going so well for the Chelsea striker"
    terms = query_terms(retriever.pin(), question)
    assert terms.weights[stem("chelsea")] > terms.weights[stem("things")]
    monkeypatch.setattr(query_terms_module, "PRIOR_PASSAGES", 0)  # the index alone
    alone = query_terms(retriever.pin(), question)
    assert alone.weights[stem("chelsea")] < alone.weights[stem("things")]
    assert terms.unknown < 0.5 < alone.unknown
    monkeypatch.undo()
    # A name English doesn't know keeps the weight of a word no passage holds.
    named = query_terms(retriever.pin(), "why are things going so well for Zorblatt")
    assert named.weights[stem("zorblatt")] > 2 * named.weights[stem("things")]


def test_filters_by_path_source_and_date(retriever: Retriever) -> None:
    sport = retriever.search("club", k=10, filters=Filters(source="sport/"))
    assert sport and all("/sport/" in (h.path or "") for h in sport)
    globbed = retriever.search("profits", k=10, filters=Filters(source="*/business/*"))
    assert globbed and all("/business/" in (h.path or "") for h in globbed)
    by_source = retriever.search("talks", k=10, filters=Filters(source="axios"))
    assert by_source and all(h.source == "Axios" for h in by_source)
    dated = retriever.search(
        "talks", k=10, filters=Filters(date_from="2020-12-01", date_to="2020-12-31")
    )
    assert [h.title for h in dated] == ["Turkey and Israel talks"] * len(dated) and dated
    assert retriever.search("talks", k=10, filters=Filters(date_from="2021-01-01")) == []
    assert retriever.search("profits", k=10, filters=Filters(source="nowhere/")) == []


def test_concurrent_searches_from_threads(retriever: Retriever) -> None:
    queries = ["football club", "Erdogan talks", "Yukos loan", "dollar euro Greenspan"] * 10
    expected = {q: [h.passage_id for h in retriever.search(q, 5)] for q in set(queries)}
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def work(i: int, q: str) -> None:
        try:
            results[i] = [h.passage_id for h in retriever.search(q, 5)]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, q)) for i, q in enumerate(queries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(results[i] == expected[q] for i, q in enumerate(queries))


def test_new_generation_is_picked_up_without_restart(
    retriever: Retriever, settings: Settings, embedder: HashEmbedder
) -> None:
    assert not any("Zanzibar" in h.text for h in retriever.search("Zanzibar spice harvest", 5))
    write(settings.corpus[0] / "new.txt", "Spice news\n\nThe Zanzibar spice harvest was early.")
    run_index(settings, embedder)
    hits = retriever.search("Zanzibar spice harvest", 5)
    assert hits and "Zanzibar" in hits[0].text


def test_empty_and_punctuation_queries(retriever: Retriever) -> None:
    assert isinstance(retriever.search("???", 5), list)
    assert isinstance(retriever.search('"AND OR NOT (', 5), list)


def test_a_story_indexed_twice_is_cited_from_the_copy_indexed_first(
    retriever: Retriever,
) -> None:
    # The two copies score exactly alike; the tie must not fall to FAISS's or the
    # lexical index's order, or answers would cite either copy from one query to the next.
    for query in ("TimeWarner quarterly profits jumped", "Time Warner AOL subscribers"):
        hits = [h for h in retriever.search(query, k=10) if "Quarterly profits" in h.text]
        assert hits and (hits[0].path or "").endswith("business/a.txt"), query
