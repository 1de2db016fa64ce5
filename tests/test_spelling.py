"""Typo correction against the index's words (index.spelling), with a word-count table
standing in for the index (the retriever's own use is tested in test_answers.py)."""

from __future__ import annotations

import pytest

from index.english import counts as english_counts
from index.english import is_word as is_english
from index.spelling import correct, expand_chat, variants

FREQUENCY = {
    "supposed": 26,
    "successful": 339,
    "gallagher": 6,
    "curtis": 10,
    "curris": 18,
    "laptop": 40,
    "began": 110,
    "vegas": 31,
    "phone": 346,
    "ship": 50,
    "want": 900,
    "government": 1200,
    "trying": 300,
    "resent": 4,
    "mcilroy": 3,
}


def frequency(word: str) -> int:
    return FREQUENCY.get(word, 0)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("suposed", "supposed"),  # a doubled letter typed once
        ("succesful", "successful"),
        ("cutris", "curtis"),  # two letters swapped
        ("laptpo", "laptop"),
        ("shjp", "ship"),  # a neighbouring key
        ("lapptop", "laptop"),  # a letter doubled
        ("goverment", "government"),  # a letter left out
        ("tryng", "trying"),
        ("laptp", "laptop"),  # ... the last one
    ],
)
def test_common_typing_slips_are_one_variant_away(typed: str, meant: str) -> None:
    assert meant in variants(typed)


def test_variants_keep_the_first_letter() -> None:
    assert {v[0] for v in variants("iphone")} == {"i"}


def test_unknown_words_are_corrected_to_the_likeliest_known_variant() -> None:
    fixed = correct("when is the $100 laptop suposed to ship? Galagher said so", frequency)
    assert fixed.text == "when is the $100 laptop supposed to ship? Gallagher said so"
    assert fixed.changes == (("suposed", "supposed"), ("Galagher", "Gallagher"))
    # "Cutris" is one slip from "Curtis" (two letters swapped) and from the more frequent
    # "Curris" (a neighbouring key): the likelier slip wins.
    assert correct("Cutris", frequency).text == "Curtis"
    # Among variants of one kind of slip, the more frequent word.
    assert correct("laptip", lambda w: {"laptop": 40, "laptap": 41}.get(w, 0)).text == "laptap"


def test_known_short_and_unmatched_words_stay_as_typed() -> None:
    text = "Did vegan iphone owners vote on Brexit or ship? wasnt it"
    # "vegan" is one letter from "began" (its first) and "vegas" (n and s are not beside
    # each other); "iphone" would need its first letter dropped; "Brexit" has no known
    # neighbour; "Did" and "ship" are short or known; "wasnt" is "wasn't" (not "want").
    fixed = correct(text, frequency)
    assert fixed.text == text and fixed.changes == ()


def test_a_name_in_one_passage_is_a_correction() -> None:
    # "Hirst" in one passage, "heist" in many: the swap is the likelier slip.
    counts = {"hirst": 1, "heist": 30, "tanner": 1}
    assert correct("hrist", lambda w: counts.get(w, 0)).text == "hirst"
    # ... but not for a less likely slip: "tenner" is one vowel from a one-off "Tanner".
    assert correct("tenner", lambda w: counts.get(w, 0)).changes == ()


def test_only_a_letter_typed_twice_is_dropped() -> None:
    assert "until" in variants("untill")
    # Dropping any letter would turn real words the articles lack into others.
    assert "face" not in variants("facet") and "rest" not in variants("reset")


def test_a_correction_must_be_written_so_in_the_articles() -> None:
    # The lexical index counts by stem: a variant can look known without being a word.
    fixed = correct("Cutris", frequency, written=lambda word: word != "curtis")
    assert fixed.text == "Curris"
    assert correct("Cutris", frequency, written=lambda word: False).changes == ()


def test_a_letter_left_out_is_corrected() -> None:
    fixed = correct("who is tryng to help the goverment", frequency)
    assert fixed.text == "who is trying to help the government"


def test_english_words_the_articles_lack_are_not_typos() -> None:
    # "reset" is one letter from the articles' "resent", but it is a word.
    assert correct("How do I reset my router?", frequency).text == "How do I resent my router?"
    fixed = correct("How do I reset my router?", frequency, english=is_english)
    assert fixed.changes == ()
    assert correct("the goverment", frequency, english=is_english).text == "the government"


def test_the_english_word_list_holds_words_not_common_misspellings() -> None:
    words = english_counts().keys()
    assert len(words) > 100_000
    assert {"reset", "prune", "belies", "government", "supposed"} <= words
    assert not {"goverment", "suposed", "succesful", "untill", "recieve"} & words


def test_likelier_slips_are_tried_before_letters_left_out() -> None:
    looked_up: list[str] = []

    def counting(word: str) -> int:
        looked_up.append(word)
        return frequency(word)

    assert correct("suposed", counting).text == "supposed"
    # A doubled letter typed once was found: the ~180 "letter left out" variants were not
    # looked up.
    assert "suposedx" not in looked_up and len(looked_up) < 60
    looked_up.clear()
    assert correct("goverment", counting).text == "government"
    assert "govermenta" in looked_up


def test_corrections_keep_the_case_as_typed() -> None:
    assert correct("James McIllroy", frequency).text == "James McIlroy"
    assert correct("SUPOSED Suposed", frequency).text == "SUPPOSED Supposed"


def test_chat_shorthand_is_written_out() -> None:
    fixed = expand_chat("y did u pay ppl w/o asking, how much r the tickets b4 tax")
    assert fixed.text == (
        "why did you pay people without asking, how much are the tickets before tax"
    )
    assert dict(fixed.changes) == {
        "y": "why",
        "u": "you",
        "ppl": "people",
        "w/o": "without",
        "r": "are",
        "b4": "before",
    }
    assert expand_chat("Ppl say so").text == "People say so"


def test_shorthand_letters_inside_names_and_other_tokens_stay() -> None:
    text = "Did the U.S. R&B star make a U-turn on Generation Y? b/w photos, Y2K, you're"
    assert expand_chat(text).text == text and expand_chat(text).changes == ()


def test_shorthand_and_typos_are_corrected_together() -> None:
    fixed = correct("y is the goverment paying ppl", frequency)
    assert fixed.text == "why is the government paying people"
    assert fixed.changes == (("y", "why"), ("ppl", "people"), ("goverment", "government"))
