"""Everyday English word frequencies: pyspellchecker's English list (160k words counted
in subtitles and books). Two uses: whether a word is English at all (a word the articles
lack but English has is not a typo: ``index.spelling``), and how common it is, a prior
for the weight of a question's words (``Retriever.query_terms``): in a small index
"things" and "relations" are equally rare, in English they are not."""

from __future__ import annotations

import gzip
import json
import math
from functools import cache
from importlib import resources

#: Words in a passage, for the share of passages that would hold a word of a given
#: frequency (passages are ~100-200 words).
PASSAGE_WORDS = 100


@cache
def counts() -> dict[str, int]:
    """Lower-case word -> count. Loaded once per process (a fraction of a second); the list
    leaves out common misspellings ("goverment", "suposed")."""
    data = resources.files("spellchecker") / "resources" / "en.json.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
        return {str(w): int(n) for w, n in json.load(text).items()}


@cache
def _total() -> int:
    return sum(counts().values())


def is_word(word: str) -> bool:
    """Whether ``word`` (lower case) is an English word."""
    return word in counts()


def passage_share(word: str) -> float:
    """The share of passages of everyday English expected to hold ``word`` (lower case):
    ~0.07 for "things", ~0.001 for "relations", 0 for a name the list lacks."""
    return 1.0 - math.exp(-PASSAGE_WORDS * counts().get(word, 0) / _total())
