"""Scopes in the local store: which articles and passages a set of scopes may read.

An article's scopes are those of the web sources that list its page; an article no source
lists (read from a file) is shared. Retrieval filters passages with an ``Allowed`` set: a
bitmap by passage id, which FAISS searches through and the lexical search checks.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...types import SHARED
from .web import PAGE_SCOPES

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Allowed:
    """The passage ids a filtered question may read: ``mask[id]`` for a membership test,
    ``bits`` (the mask packed, little-endian) for FAISS's bitmap selector."""

    mask: np.ndarray
    bits: np.ndarray
    count: int

    @classmethod
    def of(cls, ids: np.ndarray) -> Allowed:
        import numpy as np

        mask = np.zeros(int(ids.max()) + 1 if len(ids) else 0, dtype=bool)
        mask[ids] = True
        return cls(mask, np.packbits(mask, bitorder="little"), len(ids))

    def __len__(self) -> int:
        return self.count

    def __contains__(self, passage_id: int) -> bool:
        return 0 <= passage_id < len(self.mask) and bool(self.mask[passage_id])

    def ids(self) -> list[int]:
        import numpy as np

        return [int(i) for i in np.flatnonzero(self.mask)]

    def selector(self) -> Any:
        """A FAISS selector of these ids (it reads ``bits``, which this object keeps)."""
        import faiss

        return faiss.IDSelectorBitmap(len(self.bits), faiss.swig_ptr(self.bits))  # n: bytes


def scope_clause(scopes: frozenset[str], params: list[Any]) -> str:
    """An SQL condition on ``a`` (articles): the article belongs to one of ``scopes``."""
    marks = ",".join("?" * len(scopes))
    params.extend(sorted(scopes))
    in_scope = f"a.file IN (SELECT page FROM ({PAGE_SCOPES}) WHERE scope IN ({marks}))"
    if SHARED not in scopes:
        return f"({in_scope})"
    return f"(coalesce(a.file, '') NOT IN (SELECT page FROM web_listed) OR {in_scope})"


def has_scopes(conn: sqlite3.Connection) -> bool:
    """Whether any article belongs to a scope other than shared (else a scope filter that
    includes shared allows everything, and costs nothing)."""
    if not _has_web_tables(conn):
        return False  # a generation written before web sources or scopes: all shared
    row = conn.execute(
        f"SELECT 1 FROM ({PAGE_SCOPES}) WHERE scope != ? LIMIT 1", (SHARED,)
    ).fetchone()
    return row is not None


def scope_counts(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """Articles and passages per scope; an article of two scopes counts in both."""
    scoped = f"LEFT JOIN ({PAGE_SCOPES}) ps ON ps.page = a.file" if _has_web_tables(conn) else ""
    scope = "coalesce(ps.scope, ?)" if scoped else "?"
    rows = conn.execute(
        "SELECT scope, count(*), sum(n) FROM ("
        f"SELECT DISTINCT a.id, {scope} AS scope, coalesce(pc.n, 0) AS n FROM articles a "
        f"{scoped} LEFT JOIN (SELECT article_id, count(*) AS n FROM passages "
        "GROUP BY article_id) pc ON pc.article_id = a.id) GROUP BY scope",
        (SHARED,),
    )
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}


def _has_web_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
        "AND name IN ('web_listed', 'web_scopes')"
    ).fetchone()
    return int(row[0]) == 2
