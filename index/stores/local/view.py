"""``LocalView``: a published generation for reading, from any thread."""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...types import FileRecord, Filters, PassageRow, StoredSentence, WebState
from . import dense
from . import web as web_sql
from .generations import DB_NAME
from .schema import connect_readonly
from .snapshot import Snapshot

if TYPE_CHECKING:
    import numpy as np


class LocalView:
    """A published generation for reading: SQLite (one read-only connection per thread:
    sqlite3 objects are not shared across threads) and FAISS, loaded once."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.manifest = snapshot.manifest
        self._local = threading.local()
        # A filtered question asks for the same ids in its dense and its lexical search.
        self._allowed_ids = functools.lru_cache(maxsize=64)(self._matching_ids)

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
        if allowed is not None:
            where += " AND rowid IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(allowed)))
        sql = (
            "SELECT rowid, -bm25(passages_fts, 1.0, 0.5) AS score FROM passages_fts "
            f"WHERE {where} ORDER BY bm25(passages_fts, 1.0, 0.5) LIMIT {int(k)}"
        )
        return [(int(r[0]), float(r[1])) for r in self.conn().execute(sql, params)]

    def document_frequency(self, word: str) -> int:
        sql = "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?"
        return int(self.conn().execute(sql, (f'"{word}"',)).fetchone()[0])

    def _matching_ids(self, filters: Filters | None) -> frozenset[int] | None:
        """Passage ids of the articles ``filters`` allow (None: no filter)."""
        if not filters:
            return None
        clauses: list[str] = []
        params: list[Any] = []
        if filters.source:
            clauses.append(_source_clause(filters.source, params))
        if filters.date_from:
            clauses.append("a.date >= ?")
            params.append(filters.date_from)
        if filters.date_to:
            clauses.append("a.date <= ?")
            params.append(filters.date_to + "\uffff")  # inclusive of timestamps on that day
        sql = (
            "SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE "
            + " AND ".join(clauses)
        )
        return frozenset(int(r[0]) for r in self.conn().execute(sql, params))

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

    def articles_page(self, offset: int, limit: int) -> tuple[int, list[tuple[str, str | None]]]:
        conn = self.conn()
        total = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        rows = conn.execute(
            "SELECT title, date FROM articles ORDER BY title LIMIT ? OFFSET ?", (limit, offset)
        )
        return int(total), [(r[0], r[1]) for r in rows]

    def matching_articles(self, text: str, limit: int) -> list[tuple[str, str]]:
        like = f"%{text}%"
        rows = self.conn().execute(
            "SELECT DISTINCT title, coalesce(path, url, '') FROM articles "
            "WHERE title LIKE ? OR path LIKE ? OR source LIKE ? ORDER BY title LIMIT ?",
            (like, like, like, limit),
        )
        return [(r[0], r[1]) for r in rows]

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
