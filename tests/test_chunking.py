"""Chunk invariants: exact spans, token limit, full coverage, bullets with their lead-in."""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunking import chunk_article, paragraph_spans
from index.sentences import sentence_spans
from index.types import Article

from .helpers import HashEmbedder

EMB = HashEmbedder()


def check_invariants(article: Article, target: int, limit: int) -> None:
    passages = chunk_article(article, EMB.count_tokens, target, limit)
    text = article.text
    covered = [False] * len(text)
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert EMB.count_tokens([p.text])[0] <= limit
        assert p.text == p.text.strip() and p.text
        for i in range(p.start, p.end):
            covered[i] = True
    missing = "".join(c for c, hit in zip(text, covered, strict=True) if not hit)
    assert missing.strip() == "", f"text not in any passage: {missing!r}"
    assert [p.ordinal for p in passages] == list(range(len(passages)))


words = st.text(alphabet="abcdefghij", min_size=1, max_size=12)
sentence = st.lists(words, min_size=1, max_size=40).map(lambda ws: " ".join(ws).capitalize() + ".")
paragraph = st.lists(sentence, min_size=1, max_size=12).map(" ".join)
bullet = st.lists(words, min_size=1, max_size=8).map(lambda ws: "- " + " ".join(ws))
block = st.one_of(paragraph, bullet, st.just("x" * 300))
document = st.lists(block, min_size=1, max_size=15).flatmap(
    lambda blocks: st.lists(
        st.sampled_from(["\n", "\n\n", "\n\n\n"]), min_size=len(blocks), max_size=len(blocks)
    ).map(lambda seps: "".join(b + s for b, s in zip(blocks, seps, strict=True)).strip())
)


@settings(max_examples=150, deadline=None)
@given(document, st.integers(min_value=5, max_value=80), st.integers(min_value=3, max_value=60))
def test_invariants_hold_for_any_document(text: str, target: int, limit: int) -> None:
    check_invariants(Article(key="k", title="t", text=text), target, limit)


def test_small_paragraphs_are_packed_up_to_target() -> None:
    text = "One two three.\n\nFour five six.\n\nSeven eight nine."
    passages = chunk_article(Article("k", "t", text), EMB.count_tokens, 8, 50)
    assert [p.text for p in passages] == ["One two three.\n\nFour five six.", "Seven eight nine."]


def test_bullet_list_stays_with_lead_in() -> None:
    text = "Intro line.\nThe list follows:\n- first item\n- second item\nAfter the list."
    spans = [text[a:b] for a, b in paragraph_spans(text)]
    assert spans == [
        "Intro line.",
        "The list follows:\n- first item\n- second item",
        "After the list.",
    ]
    passages = chunk_article(Article("k", "t", text), EMB.count_tokens, 9, 50)
    assert any(p.text == "The list follows:\n- first item\n- second item" for p in passages)


def test_long_paragraph_is_split_at_sentences_with_small_overlap() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(30)]
    text = " ".join(sentences)
    passages = chunk_article(Article("k", "t", text), EMB.count_tokens, 40, 40)
    assert len(passages) > 1
    for p in passages:  # every passage starts and ends on a sentence boundary
        assert p.text.startswith("Sentence") and p.text.endswith(".")
    overlaps = [a.end - b.start for a, b in itertools.pairwise(passages)]
    assert all(o > 0 for o in overlaps)  # one shared sentence
    assert all(o <= len(max(sentences, key=len)) for o in overlaps)  # and no more


def test_paragraphs_that_fit_are_never_overlapped() -> None:
    text = "\n\n".join(f"Paragraph {i} has a few words in it." for i in range(10))
    passages = chunk_article(Article("k", "t", text), EMB.count_tokens, 20, 40)
    for a, b in itertools.pairwise(passages):
        assert a.end <= b.start


def test_sentence_spans_respect_abbreviations_and_quotes() -> None:
    text = 'Mr. Smith went to Washington. He said: "It is done." Then U.S. officials left! Why?'
    got = [text[a:b] for a, b in sentence_spans(text)]
    assert got == [
        "Mr. Smith went to Washington.",
        'He said: "It is done."',
        "Then U.S. officials left!",
        "Why?",
    ]


def test_word_that_exceeds_window_is_cut() -> None:
    text = "Start. " + "-" * 200 + " end."
    check_invariants(Article("k", "t", text), 10, 10)
    assert all(
        re.search(r"\S", p.text)
        for p in chunk_article(Article("k", "t", text), EMB.count_tokens, 10, 10)
    )
