"""BM25 in SQL, as FTS5's ``bm25()`` computes it for the local store: the terms FTS5 would
make (folded, Porter-stemmed), the postings a passage adds to ``passage_terms``, and the
query over them (k1 1.2, b 0.75; text weight 1, title 0.5; IDF log((N - n + 0.5) / (n + 0.5))).

A postings join reads only the question's terms; ``ts_rank_cd`` has no IDF, and a
``tsvector`` scan unnesting every candidate's lexemes was too slow (see benchmarks/README.md).
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

from ...text import STOPWORDS, fold

K1, B = 1.2, 0.75  # FTS5's bm25() defaults
TITLE_WEIGHT = 0.5
_WORD = re.compile(r"\w+")


@functools.cache
def _porter() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("porter")


@functools.lru_cache(maxsize=200_000)
def lexeme(word: str) -> str:
    """The term a word is indexed and searched under: folded and Porter-stemmed, as FTS5's
    ``porter unicode61 remove_diacritics 2`` tokenizer makes it (the local store's)."""
    return str(_porter().stemWord(fold(word)))


def postings(text: str, title: str) -> tuple[dict[str, tuple[int, int]], int]:
    """Term -> (frequency in the text, in the title), and the length in words of both.
    Stopwords count in the length but get no postings: questions never search them."""
    body = _WORD.findall(fold(text))
    head = _WORD.findall(fold(title))
    freqs: dict[str, list[int]] = {}
    for column, words in ((0, body), (1, head)):
        for word in words:
            if word not in STOPWORDS:
                freqs.setdefault(lexeme(word), [0, 0])[column] += 1
    capped = {t: (min(b, 32767), min(h, 32767)) for t, (b, h) in freqs.items()}
    return capped, len(body) + len(head)


def idf(n_docs: int, document_frequencies: list[tuple[str, int]]) -> dict[str, float]:
    """FTS5's IDF: log((N - n + 0.5) / (n + 0.5)), at least 1e-6."""
    return {
        term: max(1e-6, math.log((n_docs - df + 0.5) / (df + 0.5)))
        for term, df in document_frequencies
    }


def bm25_sql(where: str, k: int, avg_length: float) -> str:
    """FTS5's bm25(): per term, idf * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgD)),
    f = text frequency + 0.5 * title frequency, D = words in text and title. Parameters:
    the terms, their IDFs, then those of ``where`` (a clause on articles ``a``)."""
    join = "JOIN passages p ON p.id = t.passage_id JOIN articles a ON a.id = p.article_id"
    freq = f"(t.tf_body + {TITLE_WEIGHT} * t.tf_title)"
    return (
        f"SELECT t.passage_id, sum(q.idf * {freq} * {K1 + 1} / ({freq} + {K1} * "
        f"(1 - {B} + {B} * t.length / {avg_length}))) AS score FROM passage_terms t "
        "JOIN unnest(%s::text[], %s::float8[]) AS q (term, idf) ON q.term = t.term "
        f"{join if where else ''} {where} "
        f"GROUP BY t.passage_id ORDER BY score DESC LIMIT {int(k)}"
    )
