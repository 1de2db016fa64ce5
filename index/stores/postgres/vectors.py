"""The passages' vectors in pgvector: their text form, the column's dimension, and the
HNSW index that serves dense search past a threshold (an exact scan below it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import psycopg

HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64
#: HNSW past this many passages when ARTICLEBOT_ANN_THRESHOLD is unset: PostgreSQL's exact
#: scan grows with the corpus far faster than FAISS's (see benchmarks/README.md).
DEFAULT_ANN_THRESHOLD = 10_000
#: The HNSW graph is built in memory; the server's default maintenance_work_mem makes a
#: large build crawl (see benchmarks/README.md).
HNSW_BUILD_MEMORY = 2**30


def vector_text(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def hnsw_build_memory(current_bytes: int) -> str | None:
    """The maintenance_work_mem to build HNSW with: at least 1 GB, and never less than
    what the operator set for the database or role (ALTER DATABASE ... SET
    maintenance_work_mem = '4GB' for a few million passages). None: keep the setting."""
    return "1GB" if current_bytes < HNSW_BUILD_MEMORY else None


def type_vectors(conn: psycopg.Connection[Any], dimension: int) -> None:
    """Give ``embedding`` its dimension (instant on an empty table): distances on a typed
    column need no cast per row, which made exact search much slower."""
    row = conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'passages'::regclass "
        "AND attname = 'embedding'"
    ).fetchone()
    if row is not None and int(row[0]) != dimension:
        conn.execute("DROP INDEX IF EXISTS passages_hnsw")
        conn.execute(f"ALTER TABLE passages ALTER COLUMN embedding TYPE vector({int(dimension)})")


def has_hnsw(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('passages_hnsw') IS NOT NULL").fetchone()
    return bool(row and row[0])


def build_hnsw(conn: psycopg.Connection[Any]) -> None:
    """Build the HNSW index (in the caller's transaction) on the typed column."""
    current = conn.execute(
        "SELECT pg_size_bytes(current_setting('maintenance_work_mem'))"
    ).fetchone()
    if (memory := hnsw_build_memory(int(current[0]) if current else 0)) is not None:
        conn.execute(f"SET LOCAL maintenance_work_mem = '{memory}'")
    conn.execute(
        "CREATE INDEX passages_hnsw ON passages USING hnsw (embedding vector_ip_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
    )
