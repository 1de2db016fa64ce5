"""Word-level text normalisation shared by lexical search and quote scoring.

Matches what the FTS5 table does (``porter unicode61 remove_diacritics 2``) closely
enough for scoring: case- and accent-folded words, light suffix stripping.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "also",
        "did",
        "does",
        "tell",
        "said",
        "says",
        "much",
        "many",
        "one",
        "two",
        "whose",
        "yes",
        "get",
        "got",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    """Lower-case and strip diacritics: "Erdoğan" -> "erdogan"."""
    if text.isascii():  # nothing to decompose: most words, most of the time
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English suffix stripper (enough to match "relations" with "relation")."""
    for suffix, keep in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + keep
    return word


def terms(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Folded, stemmed content words of ``text`` in order."""
    words = _WORD.findall(fold(text))
    return [stem(w) for w in words if keep_stopwords or w not in STOPWORDS]


def term_spans(text: str) -> list[tuple[int, int, str]]:
    """Every word of ``text`` (stopwords too) as ``(start, end, term)``: its span in
    ``text`` and its folded, stemmed form, as ``terms`` gives it."""
    return [(m.start(), m.end(), stem(fold(m.group()))) for m in _WORD.finditer(text)]


def query_words(text: str) -> list[str]:
    """Distinct folded content words, for an FTS5 MATCH expression."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(fold(text)):
        if word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)
