"""Answers: verbatim quote spans, citations, text fragments, abstention, JSON shape."""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from typing import Any

import pytest

from index.answering import Answer, answer
from index.answering.citation import text_fragment_url
from index.answering.features import Candidate
from index.answering.quotes import MAX_QUOTE_CHARS, choose_quotes
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings
from index.types import Hit

from .helpers import ARTICLE_A, ARTICLE_B, ARTICLE_C, FOOTBALL, TURKEY, HashEmbedder, write


@pytest.fixture
def retriever(settings: Settings) -> Retriever:
    # Bag-of-words hash vectors give lower cosines than a sentence model, so the evidence
    # model (fitted on MiniLM) is far less sure: own threshold.
    settings = settings.model_copy(update={"abstain_below": 0.005})
    embedder = HashEmbedder(dimension=1024)
    corpus = settings.corpus[0]
    for name, text in [
        ("a.txt", ARTICLE_A),
        ("b.txt", ARTICLE_B),
        ("c.txt", ARTICLE_C),
        ("t.md", TURKEY),
        ("f.txt", "Chelsea football news\n\n" + FOOTBALL),
    ]:
        write(corpus / name, text)
    run_index(settings, embedder)
    return Retriever(settings, embedder)


def article_texts(retriever: Retriever) -> dict[str, str]:
    conn = retriever.view.conn()  # type: ignore[attr-defined]
    return {r[0]: r[1] for r in conn.execute("SELECT id, text FROM articles")}


def check_quotes(ans: Answer, texts: dict[str, str]) -> None:
    cited = {s.citation: s for s in ans.sources}
    assert sorted(cited) == list(range(1, len(cited) + 1))
    for q in ans.quotes:
        text = texts[q.article_id]
        assert text[q.start : q.end] == q.text  # verbatim, exact span
        assert q.start == 0 or not text[q.start - 1].isalnum()  # no word cut at the start
        assert q.end == len(text) or not text[q.end].isalnum()  # ... nor at the end
        assert cited[q.citation].article_id == q.article_id
    assert 1 <= len(ans.quotes) <= 3


def test_quotes_are_verbatim_for_many_questions(retriever: Retriever) -> None:
    # Word salad rarely looks covered: answer everything, this test is about the quotes.
    retriever.settings = retriever.settings.model_copy(update={"abstain_below": 0.0})
    texts = article_texts(retriever)
    words = sorted({w for t in texts.values() for w in re.findall(r"[A-Za-z]{4,}", t)})
    rng = random.Random(7)
    answered = 0
    for _ in range(150):
        question = " ".join(rng.sample(words, rng.randint(1, 5))) + "?"
        ans = answer(retriever, question)
        if not ans.abstained:
            answered += 1
            check_quotes(ans, texts)
    assert answered > 100


def test_best_sentence_is_quoted_and_cited(retriever: Retriever) -> None:
    ans = answer(retriever, "How much did Rosneft pay for the Yugansk unit?")
    assert not ans.abstained
    assert "Rosneft bought the Yugansk unit for $9.3bn" in ans.quotes[0].text
    assert ans.sources[0].title == "Yukos unit buyer faces loan claim"
    assert ans.sources[0].citation == ans.quotes[0].citation == 1
    check_quotes(ans, article_texts(retriever))


class _CountingStore:
    """The real store, counting how often readers ask which generation is published."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.versions = 0

    def version(self) -> str:
        self.versions += 1
        return str(self._store.version())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_one_question_reads_one_generation(retriever: Retriever) -> None:
    counting = _CountingStore(retriever.store)
    pinned = Retriever(
        retriever.settings,
        retriever.embedder,
        counting,  # type: ignore[arg-type]
    )
    ans = answer(pinned, "How much did Rosneft pay for the Yugansk unit of Yukso?")
    assert ans.quotes and ans.corrected  # searched, corrected, scored and cited ...
    assert counting.versions == 1  # ... all from the one generation pinned for it
    answer(pinned, "Who chairs the harbour council?", context=("the vote on the plan",))
    assert counting.versions == 2


def test_a_generation_published_mid_question_is_not_mixed_in(
    retriever: Retriever, settings: Settings
) -> None:
    gen = retriever.pin()
    write(settings.corpus[0] / "d.txt", "Harbour council news\n\nThe harbour council met.")
    run_index(settings.model_copy(update={"abstain_below": 0.005}), HashEmbedder(dimension=1024))
    assert retriever.pin().version != gen.version  # a new generation is live ...
    # ... but the pinned generation still reads the old one, whole
    assert gen.view.version == gen.version
    assert "harbour council met" not in " ".join(
        h.text.lower() for h in retriever.first_stage(gen, "harbour council", 10, None, "hybrid")[0]
    )


def test_a_typo_is_corrected_before_searching(retriever: Retriever) -> None:
    clean = answer(retriever, "How much did Rosneft pay for the Yugansk unit of Yukos?")
    typed = answer(retriever, "How much did Rosneft pay for the Yugansk unit of Yukso?")
    assert typed.corrected == (("Yukso", "Yukos"),)
    assert typed.to_json()["corrected"] == {"Yukso": "Yukos"}
    assert typed.quotes[0].text == clean.quotes[0].text
    assert typed.question.endswith("of Yukso?")  # as asked
    assert clean.corrected == () and "corrected" not in clean.to_json()


def test_written_means_the_word_itself_not_only_its_stem(retriever: Retriever) -> None:
    assert retriever.written("yukos") and retriever.written("rosneft")
    assert retriever.document_frequency("yuko") > 0  # Porter: "yukos" -> "yuko"
    assert not retriever.written("yuko")


def test_adjacent_sentences_merge_into_one_quote(retriever: Retriever) -> None:
    ans = answer(retriever, "Aliyev Erdoğan call Israel-Turkey tensions talks dragged 2016 deal")
    texts = article_texts(retriever)
    for a in ans.quotes:
        for b in ans.quotes:
            if a is not b and a.article_id == b.article_id:
                gap = texts[a.article_id][min(a.end, b.end) : max(a.start, b.start)]
                assert gap.strip() or "\n" in gap  # touching quotes would have been merged


def test_text_fragment_link_for_articles_with_urls(retriever: Retriever) -> None:
    ans = answer(retriever, "Which Turkish president did Aliyev call?")
    source = next(s for s in ans.sources if s.url)
    assert source.link and source.link.startswith("https://www.axios.com/turkey-israel#:~:text=")


def test_text_fragment_encoding() -> None:
    url = text_fragment_url("https://e.com/a#old", "Short quote, with a-dash & more")
    assert url == "https://e.com/a#:~:text=Short%20quote%2C%20with%20a%2Ddash%20%26%20more"
    long = text_fragment_url("https://e.com/a", "one two three four five six seven eight nine ten")
    assert long == "https://e.com/a#:~:text=one%20two%20three%20four,seven%20eight%20nine%20ten"


def test_abstains_off_topic_and_lists_closest(retriever: Retriever) -> None:
    ans = answer(retriever, "zebra xylophone quilting")
    assert ans.abstained and ans.quotes == () and ans.sources == ()
    assert ans.closest and len(ans.closest) <= 3


def test_json_shape(retriever: Retriever) -> None:
    data = json.loads(json.dumps(answer(retriever, "TimeWarner profits December").to_json()))
    assert set(data) >= {"question", "abstained", "quotes", "sources", "timings_ms"}
    assert data["abstained"] is False and data["quotes"]
    quote = data["quotes"][0]
    assert set(quote) == {
        "text",
        "citation",
        "article_id",
        "title",
        "url",
        "path",
        "date",
        "start",
        "end",
        "score",
    }
    assert isinstance(quote["start"], int) and isinstance(quote["score"], float)
    assert quote["path"].endswith("a.txt")
    source = data["sources"][0]
    assert {"citation", "title", "url", "path", "date"} <= set(source)
    assert all(isinstance(v, float) for v in data["timings_ms"].values())


def test_more_quotes_pages_to_new_sentences(retriever: Retriever) -> None:
    first = answer(retriever, "football club striker goal")
    shown = tuple((q.article_id, q.start, q.end) for q in first.quotes)
    seen = set(shown)
    for _ in range(5):  # page until the articles run out: never the same text twice
        more = answer(retriever, "football club striker goal", exclude=shown)
        if more.abstained or not more.quotes:
            break
        for q in more.quotes:
            assert not any(a == q.article_id and s < q.end and q.start < e for a, s, e in seen)
            seen.add((q.article_id, q.start, q.end))
        shown += tuple((q.article_id, q.start, q.end) for q in more.quotes)
    assert len(seen) > len(first.quotes)


def test_follow_up_uses_earlier_question(retriever: Retriever) -> None:
    ans = answer(
        retriever,
        "and until when did they drag on?",
        context=("What talks did Aliyev have with Erdoğan about Israel?",),
    )
    assert not ans.abstained and ans.follows
    assert any("2016" in q.text for q in ans.quotes)


def _sentence_candidates(text: str, scores: list[float]) -> list[Candidate]:
    """One candidate per sentence of ``text`` (one article, one passage), best first."""
    hit = Hit(1, "a", "Title", 0, len(text), text, 1.0, 0.5, 1.0)
    spans = [(m.start(), m.end()) for m in re.finditer(r"[^.]+\.", text)]
    spans = [(s + len(text[s:e]) - len(text[s:e].lstrip()), e) for s, e in spans]
    cands = [Candidate(hit, s, e, (), score) for (s, e), score in zip(spans, scores, strict=True)]
    return sorted(cands, key=lambda c: -c.score)


def test_a_quote_grows_into_both_neighbours() -> None:
    """The answer is often split: the sentence that restates the question and the one
    after it ("He argued that ..."). Both neighbours within the margin join the quote;
    a far weaker one and anything past MAX_RUN_CHARS do not."""
    text = (
        "Tucker voted for a rise. He argued that growth was picking up. "
        "Housing was strong too. The bank meets again in May."
    )
    quotes = choose_quotes(_sentence_candidates(text, [2.0, 1.5, 0.5, -4.0]), {"a": text})
    assert text[quotes[0].start : quotes[0].end] == (
        "Tucker voted for a rise. He argued that growth was picking up. Housing was strong too."
    )
    long_text = "A short one. " + "Word " * 90 + "end. Another short one."
    quotes = choose_quotes(_sentence_candidates(long_text, [2.0, -1.5, -5.0]), {"a": long_text})
    assert text_of(quotes[0], long_text) == "A short one."


def test_quotes_that_merge_leave_room_for_another() -> None:
    """Two chosen runs that touch become one quote; the next best sentence still gets
    the third place (the answer is often there)."""
    text = (
        "Alpha opened. Beta came second. Gamma was third. Delta was fourth. "
        "Epsilon closed. Zeta was sixth. Eta was last."
    )
    # Alpha is too far above Beta to grow into it, Gamma is not: Gamma's run reaches
    # Alpha's, and the two merge. Epsilon and then Eta still get places of their own.
    scores = [2.0, -1.2, 1.5, -9.0, 1.0, -9.0, 0.5]
    quotes = choose_quotes(_sentence_candidates(text, scores), {"a": text})
    assert [text_of(q, text) for q in quotes] == [
        "Alpha opened. Beta came second. Gamma was third.",
        "Epsilon closed.",
        "Eta was last.",
    ]


def test_touching_quotes_stay_apart_rather_than_grow_overlong() -> None:
    long_one = "Alpha " + "word " * 100 + "end."  # 510 characters
    text = f"{long_one} Beta came second. Gamma " + "word " * 60 + "end. Delta was last."
    quotes = choose_quotes(_sentence_candidates(text, [2.0, -1.2, 1.5, 0.5]), {"a": text})
    # Gamma's run (Beta to Delta) reaches back to touch the long first sentence: joined,
    # the quote would pass MAX_QUOTE_CHARS, so they stay two quotes.
    assert [text_of(q, text)[:10] for q in quotes] == ["Alpha word", "Beta came "]
    assert text_of(quotes[1], text).endswith("Delta was last.")
    assert all(q.end - q.start <= MAX_QUOTE_CHARS for q in quotes)


def text_of(cand: Candidate, text: str) -> str:
    return text[cand.start : cand.end]


def test_corrections_are_shown_in_the_terminal_and_on_discord() -> None:
    from bot.render import render_answer as render_discord
    from index.answering import Quote, Source
    from index.terminal import render_answer as render_terminal

    quote = Quote("The laptop is supposed to ship in 2006.", "a1", 0, 39, 1.0, 1, False, False)
    source = Source(1, "a1", "$100 laptop", None, "/x/a.txt", None, None, None, None)
    ans = Answer("when is it suposed to ship", (quote,), (source,), False)
    ans = replace(ans, corrected=(("suposed", "supposed"),))
    assert render_terminal(ans).startswith("(searched for supposed (not suposed))\n")
    assert render_discord(ans).description.startswith("*Searched for:* supposed (not suposed)")
    plain = replace(ans, corrected=())
    assert "searched for" not in render_terminal(plain).lower()
    assert "Searched for" not in render_discord(plain).description
    # Shorthand written out is recorded (JSON) but not worth telling who typed it.
    chat = replace(ans, corrected=(("u", "you"), ("suposed", "supposed")))
    assert render_terminal(chat).startswith("(searched for supposed (not suposed))\n")
    assert chat.to_json()["corrected"] == {"u": "you", "suposed": "supposed"}
    only_chat = replace(ans, corrected=(("u", "you"),))
    assert "searched for" not in render_terminal(only_chat).lower()
    assert "Searched for" not in render_discord(only_chat).description
