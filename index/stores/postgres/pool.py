"""Connections to the server: one-off ones (the writer, its lock, a reachability check) and
the readers' pool, with the errors a caller gets when the server is down or the tables gone."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ...errors import IndexDamagedError, IndexMissingError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

EF_SEARCH = 128  # as the local HNSW index (recall vs latency: benchmarks/README.md)
POOL_WAIT = 5.0  # seconds a reader waits for a connection before "unavailable"


class Connections(Protocol):
    """What the view and the writer ask of the store: a connection of their own, or one
    of the readers' pool for a moment."""

    def connect(self, url: str | None = None) -> psycopg.Connection[Any]: ...

    def reading(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]: ...


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    return re.sub(r"//[^@/]*@", "//", url)


def connect_error(url: str, exc: Exception) -> IndexMissingError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return IndexMissingError(
        f"Cannot reach PostgreSQL at {redact(url)} ({reason}). Check ARTICLEBOT_DATABASE_URL; "
        "`python -m index.devtools.pgserver start` runs a local one."
    )


def connect(url: str) -> psycopg.Connection[Any]:
    import psycopg

    try:
        return psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise connect_error(url, exc) from None


def open_pool(url: str) -> ConnectionPool:
    from psycopg_pool import ConnectionPool

    # One plain connection first: an unreachable server fails in milliseconds with
    # one clear line, not after the pool's 15 s of retries and warnings.
    connect(url).close()
    # The pool logs each failed reconnect as a multi-line warning; the store reports
    # an outage itself (IndexMissingError), once per caller.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=8,
        configure=_configure,
        kwargs={"connect_timeout": 10},
        timeout=POOL_WAIT,
        open=False,
    )
    try:
        pool.open(wait=True, timeout=15)
    except Exception as exc:
        pool.close()
        raise connect_error(url, exc) from None
    return pool


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.autocommit = True
    with contextlib.suppress(Exception):  # before pgvector 0.8: no iterative scan
        conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        conn.execute("SET hnsw.iterative_scan = relaxed_order")


@contextlib.contextmanager
def reading(pool: ConnectionPool, url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection of ``pool`` (to ``url``), with the server's errors as the store's."""
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        with pool.connection() as conn:
            yield conn
    except psycopg.errors.UndefinedTable as exc:
        # Tables gone from an index that was built: damaged, not missing.
        reason = str(exc).strip().splitlines()[0]
        raise IndexDamagedError(
            f"The PostgreSQL index is damaged ({reason}). Run `articlebot index --repair` "
            "or restore the database from a backup."
        ) from None
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise connect_error(url, exc) from None
