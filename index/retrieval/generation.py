"""One published generation of the index, pinned for the length of one question.

Everything a question reads (word frequencies for spelling and weights, passages,
sentences, article texts) comes from the same generation, even when the indexer
publishes a new one meanwhile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .. import english
from ..spelling import Correction
from ..spelling import correct as correct_spelling
from ..stores.base import IndexView
from ..text import fold, query_words
from .cache import LRU

COMMON_SHARE = 0.1  # lexical search ignores words found in more than this share of passages
#: Passages of a correction's stem searched for the word as spelt (``written``).
WRITTEN_CHECKED = 20
#: Word document frequencies kept per generation: bounded, since a bot's questions bring
#: ever new words (see benchmarks/README.md for the memory it saves).
DF_CACHE = 20_000


@dataclass
class Generation:
    """A published state (``view``) and what is cached about it."""

    view: IndexView
    df_cache: LRU[str, int] = field(default_factory=lambda: LRU(DF_CACHE))

    @property
    def version(self) -> str:
        return self.view.version

    def passage_count(self) -> int:
        return int(self.view.manifest.get("passages", 0))

    def document_frequency(self, word: str) -> int:
        """Passages containing ``word`` (as the lexical index sees it), cached."""
        df = self.df_cache.get(word)
        if df is None:
            df = self.view.document_frequency(word)
            self.df_cache.put(word, df)
        return int(df)

    def written(self, word: str) -> bool:
        """Whether passages hold ``word`` spelt so, not only a word of its stem (the
        lexical index's frequencies are by stem: "facte" would count as "fact")."""
        ids = [pid for pid, _ in self.view.lexical([word], WRITTEN_CHECKED, None)]
        word = re.escape(fold(word))
        # A possessive typed without its apostrophe ("ferrys") is written "ferry's".
        possessive = rf"|\b{word[:-1]}['\u2019]s\b" if word.endswith("s") else ""
        spelt = re.compile(rf"\b{word}\b{possessive}")
        rows = self.view.passages(ids).values()
        return any(spelt.search(fold(f"{r.title} {r.text}")) for r in rows)

    def correct(self, text: str) -> Correction:
        """``text`` with words no passage holds replaced by the index's nearest known
        spelling, where there is one (``index.spelling``)."""
        return correct_spelling(text, self.document_frequency, self.written, english.is_word)

    def lexical_words(self, query: str) -> list[str]:
        """The query's content words, without those in more than COMMON_SHARE of all
        passages (they rank nothing and make BM25 score a large share of the index)
        unless only such words are known: a word no passage holds matches nothing, so
        "Aliyev U.S. talks" over one article still searches for "aliyev"."""
        words = query_words(query)
        limit = COMMON_SHARE * max(1, self.passage_count())
        df = {w: self.document_frequency(w) for w in words}
        known = [w for w in words if df[w] > 0]
        rare = [w for w in known if df[w] <= limit]
        return rare or known or words
