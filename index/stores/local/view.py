"""``LocalView``: a published generation for reading, from any thread."""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...types import SHARED, FileRecord, Filters, PassageRow, StoredSentence, WebState
from . import dense
from . import web as web_sql
from .generations import DB_NAME
from .schema import connect_readonly
from .scopes import Allowed, PassageScopes, has_scopes, scope_clause, scope_counts
from .snapshot import Snapshot

if TYPE_CHECKING:
    import numpy as np


#: A lexical search lists this many allowed ids at most in its SQL; past it, it filters
#: the ranked rows instead.
LISTED_IDS_MAX = 2000


class LocalView:
    """A published generation for reading: SQLite (one read-only connection per thread:
    sqlite3 objects are not shared across threads) and FAISS, loaded once."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.manifest = snapshot.manifest
        self._local = threading.local()
        # A filtered question asks for the same ids in its dense and its lexical search,
        # and each server asks with its own scopes, question after question.
        self._allowed_ids = functools.lru_cache(maxsize=256)(self._matching_ids)

    def warm_up(self) -> None:
        """Load the vectors now: the first question should not wait for them."""
        _ = self.snapshot.vectors
        dense.single_threaded_faiss()

    @property
    def version(self) -> str:
        return self.snapshot.dir.name

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_readonly(self.snapshot.dir / DB_NAME)
            self._local.conn = conn
        return conn

    # --- retrieval -----------------------------------------------------------------------
    def dense(self, vector: np.ndarray, k: int, filters: Filters | None) -> list[tuple[int, float]]:
        return dense.search(self.snapshot.vectors, vector, k, self._allowed_ids(filters))

    def lexical(self, words: list[str], k: int, filters: Filters | None) -> list[tuple[int, float]]:
        """FTS5's BM25 over passage text (weight 1) and article title (0.5); words ORed."""
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        where, params = "passages_fts MATCH ?", [match]
        allowed = self._allowed_ids(filters)
        few = allowed is not None and len(allowed) <= LISTED_IDS_MAX
        if allowed is not None and few:
            where += " AND rowid IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(allowed.ids()))
        sql = (
            "SELECT rowid, -bm25(passages_fts, 1.0, 0.5) AS score FROM passages_fts "
            f"WHERE {where} ORDER BY bm25(passages_fts, 1.0, 0.5)"
        )
        if allowed is None or few:
            sql += f" LIMIT {int(k)}"
            return [(int(r[0]), float(r[1])) for r in self.conn().execute(sql, params)]
        # Many allowed: filter the ranked rows as they come, rather than list them all.
        out: list[tuple[int, float]] = []
        for rowid, score in self.conn().execute(sql, params):
            if rowid in allowed:
                out.append((int(rowid), float(score)))
                if len(out) == k:
                    break
        return out

    def document_frequency(self, word: str) -> int:
        sql = "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?"
        return int(self.conn().execute(sql, (f'"{word}"',)).fetchone()[0])

    def _matching_ids(self, filters: Filters | None) -> Allowed | None:
        """Passage ids of the articles ``filters`` allow (None: no filter)."""
        import numpy as np

        if not filters:
            return None
        scoped = self._scope_ids(filters.scopes)
        params: list[Any] = []
        clauses: list[str] = []
        if filters.source:
            clauses.append(_source_clause(filters.source, params))
        if filters.date_from:
            clauses.append("a.date >= ?")
            params.append(filters.date_from)
        if filters.date_to:
            clauses.append("a.date <= ?")
            params.append(filters.date_to + "\uffff")  # inclusive of timestamps on that day
        if not clauses:
            return scoped
        sql = (
            "SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE "
            + " AND ".join(clauses)
        )
        rows = self.conn().execute(sql, params).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if scoped is not None:
            ids = scoped.within(ids)
        return Allowed.of(ids)

    def _scope_ids(self, scopes: frozenset[str] | None) -> Allowed | None:
        """The passages of ``scopes`` (None: no restriction, as when all are shared)."""
        if scopes is None or (not self._scoped and SHARED in scopes):
            return None
        if not self._scoped:
            return Allowed.of(_no_ids())
        return self._passage_scopes.allowed(scopes)

    @functools.cached_property
    def _passage_scopes(self) -> PassageScopes:
        return PassageScopes.read(self.conn())

    def _scope_sql(self, scopes: frozenset[str] | None, params: list[Any]) -> str | None:
        """The condition on articles ``a`` for ``scopes`` (None: no condition needed)."""
        if scopes is None:
            return None
        if not self._scoped:  # every article is shared
            return None if SHARED in scopes else "0"
        return scope_clause(scopes, params)

    @functools.cached_property
    def _scoped(self) -> bool:
        return has_scopes(self.conn())

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn().execute(
            'SELECT p.id, p.article_id, p.start, p."end", p.text, a.title, a.path, a.url, '
            "a.date, a.author, a.source FROM passages p JOIN articles a ON a.id = p.article_id "
            f"WHERE p.id IN ({marks})",
            list(ids),
        )
        return {int(r[0]): PassageRow(*r) for r in rows}

    def article_texts(self, ids: set[str]) -> dict[str, str]:
        marks = ",".join("?" * len(ids))
        sql = f"SELECT id, text FROM articles WHERE id IN ({marks})"
        return {r[0]: r[1] for r in self.conn().execute(sql, list(ids))}

    def sentences(self, passage_ids: Sequence[int]) -> dict[int, list[StoredSentence]]:
        import numpy as np

        if not passage_ids:
            return {}
        marks = ",".join("?" * len(passage_ids))
        rows = self.conn().execute(
            f'SELECT passage_id, start, "end", ordinal, vector FROM sentences '
            f"WHERE passage_id IN ({marks}) ORDER BY passage_id, ordinal",
            list(passage_ids),
        )
        out: dict[int, list[StoredSentence]] = {}
        for pid, start, end, ordinal, blob in rows:
            vector = np.frombuffer(blob, dtype=np.float16)
            out.setdefault(pid, []).append(StoredSentence(pid, start, end, ordinal, vector))
        return out

    # --- what it holds --------------------------------------------------------------------
    def roots(self) -> list[str]:
        return [r[0] for r in self.conn().execute("SELECT path FROM roots ORDER BY path")]

    def files(self) -> dict[str, FileRecord]:
        rows = self.conn().execute("SELECT path, size, mtime_ns, sha256 FROM files")
        return {r[0]: FileRecord(r[0], r[1], r[2], r[3]) for r in rows}

    def web_state(self) -> WebState:
        return web_sql.read_state(self.conn())

    def web_article_counts(self) -> dict[str, int]:
        return web_sql.article_counts(self.conn())

    def articles_page(
        self, offset: int, limit: int, scopes: frozenset[str] | None = None
    ) -> tuple[int, list[tuple[str, str | None]]]:
        conn = self.conn()
        params: list[Any] = []
        where = "WHERE " + scope if (scope := self._scope_sql(scopes, params)) else ""
        total = self._article_count(scopes)
        rows = conn.execute(
            f"SELECT title, date FROM articles a {where} ORDER BY title LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return int(total), [(r[0], r[1]) for r in rows]

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one view per generation, closed with it
    def _article_count(self, scopes: frozenset[str] | None) -> int:
        params: list[Any] = []
        where = "WHERE " + scope if (scope := self._scope_sql(scopes, params)) else ""
        sql = f"SELECT count(*) FROM articles a {where}"
        return int(self.conn().execute(sql, params).fetchone()[0])

    def matching_articles(
        self, text: str, limit: int, scopes: frozenset[str] | None = None
    ) -> list[tuple[str, str]]:
        like = f"%{text}%"
        params: list[Any] = [like, like, like]
        scope = self._scope_sql(scopes, params)
        rows = self.conn().execute(
            "SELECT DISTINCT title, coalesce(path, url, '') FROM articles a "
            "WHERE (title LIKE ? OR path LIKE ? OR source LIKE ?) "
            + (f"AND {scope} " if scope else "")
            + "ORDER BY title LIMIT ?",
            [*params, limit],
        )
        return [(r[0], r[1]) for r in rows]

    def scope_counts(self) -> dict[str, tuple[int, int]]:
        return scope_counts(self.conn())

    def size_on_disk(self) -> int:
        return self.snapshot.size_on_disk()

    def verify(self) -> None:
        self.snapshot.verify()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self.snapshot.close()


def _source_clause(pattern: str, params: list[Any]) -> str:
    if any(c in pattern for c in "*?["):
        params.extend([pattern] * 3 + [pattern.lower()])
        return "(a.path GLOB ? OR a.url GLOB ? OR a.source GLOB ? OR lower(a.source) GLOB ?)"
    absolute = str(Path(pattern).expanduser().resolve()) if pattern[0] in "/~." else pattern
    relative = "*/" + pattern.strip("/") + ("/*" if pattern.endswith("/") else "*")
    params.extend([absolute, absolute, relative, pattern, pattern, pattern.lower()])
    return (
        "(substr(a.path, 1, length(?)) = ? OR a.path GLOB ? "
        "OR substr(a.url, 1, length(?)) = ? OR lower(a.source) = ?)"
    )


def _no_ids() -> np.ndarray:
    import numpy as np

    return np.zeros(0, dtype=np.int64)
