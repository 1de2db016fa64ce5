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


def test_a_correction_must_be_in_more_than_one_passage() -> None:
    assert correct("galagher", lambda w: 1 if w == "gallagher" else 0).changes == ()
    assert correct("galagher", lambda w: 2 if w == "gallagher" else 0).text == "gallagher"
