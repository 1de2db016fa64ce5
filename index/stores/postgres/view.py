"""``PostgresView``: the committed state, read through the store's pool."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import IndexDamagedError
from ...types import SHARED, FileRecord, Filters, PassageRow, StoredSentence, WebState
from . import lexical
from . import web as web_sql
from .vectors import vector_text

if TYPE_CHECKING:
    import numpy as np

    from .pool import Connections


class PostgresView:
    """The committed state, read through the store's pool. ``version`` is the generation
    when the view was opened; each query reads the latest commit."""

    def __init__(self, store: Connections) -> None:
        self.store = store
        with store.reading() as conn:
            rows = conn.execute("SELECT key, value FROM manifest").fetchall()
        self.manifest: dict[str, Any] = {r[0]: r[1] for r in rows}
        self._version = str(self.manifest.get("generation"))
        self._scoped = self._has_scopes()

    def _has_scopes(self) -> bool:
        """Whether any article belongs to a scope other than shared (else a filter that
        includes shared allows everything, and costs nothing)."""
        with self.store.reading() as conn:
            row = conn.execute(
                "SELECT to_regclass('article_scopes') IS NOT NULL AND EXISTS "
                "(SELECT 1 FROM article_scopes WHERE scope <> %s)",
                (SHARED,),
            ).fetchone()
        return bool(row and row[0])

    @property
    def version(self) -> str:
        return self._version

    def warm_up(self) -> None:
        with self.store.reading() as conn:
            conn.execute("SELECT 1")

    # --- retrieval -----------------------------------------------------------------------
    def dense(self, vector: np.ndarray, k: int, filters: Filters | None) -> list[tuple[int, float]]:
        where, params = self._filter_sql(filters)
        join = "JOIN articles a ON a.id = p.article_id" if where else ""
        sql = (
            "SELECT p.id, p.embedding <#> %s::vector AS distance FROM passages p "
            f"{join} {where} ORDER BY distance LIMIT {int(k)}"
        )
        with self.store.reading() as conn:
            rows = conn.execute(sql, [vector_text(vector), *params]).fetchall()
        # <#> is the negative inner product; relaxed_order may leave a near-sorted list.
        return sorted(((int(r[0]), -float(r[1])) for r in rows), key=lambda r: -r[1])

    def lexical(self, words: list[str], k: int, filters: Filters | None) -> list[tuple[int, float]]:
        """BM25 as FTS5 computes it (``lexical.bm25_sql``) over the postings table."""
        idf = self._idf(sorted({lexical.lexeme(w) for w in words} - {""}))
        if not idf:
            return []
        where, params = self._filter_sql(filters)
        avg = float(self.manifest.get("avg_length") or 1.0)
        sql = lexical.bm25_sql(where, k, avg)
        with self.store.reading() as conn:
            rows = conn.execute(sql, [list(idf), list(idf.values()), *params]).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def _idf(self, terms: list[str]) -> dict[str, float]:
        if not terms:
            return {}
        n_docs = int(self.manifest.get("passages", 0))
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT term, df FROM term_stats WHERE term = ANY(%s) AND df > 0", (terms,)
            ).fetchall()
        return lexical.idf(n_docs, [(r[0], r[1]) for r in rows])

    def document_frequency(self, word: str) -> int:
        with self.store.reading() as conn:
            row = conn.execute(
                "SELECT df FROM term_stats WHERE term = %s", (lexical.lexeme(word),)
            ).fetchone()
        return int(row[0]) if row else 0

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        if not ids:
            return {}
        with self.store.reading() as conn:
            rows = conn.execute(
                'SELECT p.id, p.article_id, p.start, p."end", p.text, a.title, a.path, a.url, '
                "a.date, a.author, a.source FROM passages p JOIN articles a "
                "ON a.id = p.article_id WHERE p.id = ANY(%s)",
                (list(ids),),
            ).fetchall()
        return {int(r[0]): PassageRow(*r) for r in rows}

    def article_texts(self, ids: set[str]) -> dict[str, str]:
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT id, text FROM articles WHERE id = ANY(%s)", (list(ids),)
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def sentences(self, passage_ids: Sequence[int]) -> dict[int, list[StoredSentence]]:
        import numpy as np

        if not passage_ids:
            return {}
        with self.store.reading() as conn:
            rows = conn.execute(
                'SELECT passage_id, start, "end", ordinal, vector FROM sentences '
                "WHERE passage_id = ANY(%s) ORDER BY passage_id, ordinal",
                (list(passage_ids),),
            ).fetchall()
        out: dict[int, list[StoredSentence]] = {}
        for pid, start, end, ordinal, blob in rows:
            vector = np.frombuffer(bytes(blob), dtype=np.float16)
            out.setdefault(int(pid), []).append(
                StoredSentence(int(pid), start, end, ordinal, vector)
            )
        return out

    # --- what it holds ----------------------------------------------------------------------
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.store.reading() as conn:
            return conn.execute(sql, params).fetchall()

    def roots(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT path FROM roots ORDER BY path")]

    def files(self) -> dict[str, FileRecord]:
        rows = self._rows("SELECT path, size, mtime_ns, sha256 FROM files")
        return {r[0]: FileRecord(r[0], int(r[1]), int(r[2]), r[3]) for r in rows}

    def web_state(self) -> WebState:
        return web_sql.read_state(self._rows)

    def web_article_counts(self) -> dict[str, int]:
        return web_sql.article_counts(self._rows)

    def articles_page(
        self, offset: int, limit: int, scopes: frozenset[str] | None = None
    ) -> tuple[int, list[tuple[str, str | None]]]:
        params: list[Any] = []
        where = "WHERE " + scope if (scope := self._scope_sql(scopes, params)) else ""
        total = self._article_count(scopes)
        rows = self._rows(
            f"SELECT title, date FROM articles a {where} ORDER BY title LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        return int(total), [(r[0], r[1]) for r in rows]

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one view per generation, closed with it
    def _article_count(self, scopes: frozenset[str] | None) -> int:
        params: list[Any] = []
        where = "WHERE " + scope if (scope := self._scope_sql(scopes, params)) else ""
        return int(self._rows(f"SELECT count(*) FROM articles a {where}", params)[0][0])

    def matching_articles(
        self, text: str, limit: int, scopes: frozenset[str] | None = None
    ) -> list[tuple[str, str]]:
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params: list[Any] = [like, like, like]
        scope = self._scope_sql(scopes, params)
        rows = self._rows(
            "SELECT DISTINCT title, coalesce(path, url, '') FROM articles a WHERE (title ILIKE %s "
            "OR path ILIKE %s OR source ILIKE %s) "
            + (f"AND {scope} " if scope else "")
            + "ORDER BY title LIMIT %s",
            [*params, limit],
        )
        return [(r[0], r[1]) for r in rows]

    def scope_counts(self) -> dict[str, tuple[int, int]]:
        if not self._scoped:  # every article is shared
            articles = int(self.manifest.get("articles", 0))
            return {SHARED: (articles, int(self.manifest.get("passages", 0)))} if articles else {}
        rows = self._rows(
            "SELECT s.scope, count(DISTINCT s.article_id), count(p.id) FROM article_scopes s "
            "LEFT JOIN passages p ON p.article_id = s.article_id GROUP BY s.scope"
        )
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def _scope_sql(self, scopes: frozenset[str] | None, params: list[Any]) -> str | None:
        """The condition on articles ``a`` for ``scopes`` (None: no condition needed)."""
        if scopes is None:
            return None
        if not self._scoped:  # every article is shared
            return None if SHARED in scopes else "false"
        params.append(sorted(scopes))
        return (
            "EXISTS (SELECT 1 FROM article_scopes s WHERE s.article_id = a.id "
            "AND s.scope = ANY(%s))"
        )

    def _filter_sql(self, filters: Filters | None) -> tuple[str, list[Any]]:
        """A WHERE clause on ``a`` (articles) for the filters, like the local store's."""
        clauses: list[str] = []
        params: list[Any] = []
        if filters and (scope := self._scope_sql(filters.scopes, params)):
            clauses.append(scope)
        if filters and filters.source:
            clauses.append(_source_clause(filters.source, params))
        if filters and filters.date_from:
            clauses.append("a.date >= %s")
            params.append(filters.date_from)
        if filters and filters.date_to:
            clauses.append("a.date <= %s")
            params.append(filters.date_to + "\uffff")
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    def size_on_disk(self) -> int:
        return int(self._rows("SELECT pg_database_size(current_database())")[0][0])

    def verify(self) -> None:
        counts = self._rows(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages)"
        )
        articles, passages = (int(x) for x in counts[0])
        if (articles, passages) != (self.manifest.get("articles"), self.manifest.get("passages")):
            raise IndexDamagedError(
                f"The PostgreSQL index holds {articles} articles and {passages} passages but "
                f"its manifest says {self.manifest.get('articles')} and "
                f"{self.manifest.get('passages')}. Run `articlebot index --repair`."
            )

    def close(self) -> None:
        """The pool is the store's, shared by the views of a process."""


def _glob_to_regex(pattern: str) -> str:
    out = []
    for ch in pattern:
        out.append({"*": ".*", "?": "."}.get(ch, re.escape(ch)))
    return "^" + "".join(out) + "$"


def _source_clause(pattern: str, params: list[Any]) -> str:
    if any(c in pattern for c in "*?["):
        rx = _glob_to_regex(pattern)
        params.extend([rx, rx, rx, rx.lower()])
        return "(a.path ~ %s OR a.url ~ %s OR a.source ~ %s OR lower(a.source) ~ %s)"
    absolute = str(Path(pattern).expanduser().resolve()) if pattern[0] in "/~." else pattern
    relative = _glob_to_regex("*/" + pattern.strip("/") + ("/*" if pattern.endswith("/") else "*"))
    params.extend([absolute, relative, pattern, pattern.lower()])
    return (
        "(starts_with(a.path, %s) OR a.path ~ %s OR starts_with(a.url, %s) OR lower(a.source) = %s)"
    )
