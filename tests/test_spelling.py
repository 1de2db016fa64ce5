"""Typo correction against the index's words (index.spelling), with a word-count table
standing in for the index (the retriever's own use is tested in test_answers.py)."""

from __future__ import annotations

import pytest

from index.spelling import correct, variants

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
