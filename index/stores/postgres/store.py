"""``PostgresStore``: the ``Store`` of a PostgreSQL database."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...errors import IndexBusyError, IndexMissingError
from ...types import SHARED, WebSource
from . import pool as pg_pool
from . import web as web_sql
from .migrations import LOCK_KEY
from .view import PostgresView
from .writer import PostgresWriter

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool


class PostgresStore:
    """``PostgresStore("postgresql://…", read_url=None)``: see the package docstring."""

    def __init__(self, url: str, *, read_url: str | None = None) -> None:
        self.url = url
        self.read_url = read_url or url
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()

    # --- connections ---------------------------------------------------------------------
    def connect(self, url: str | None = None) -> psycopg.Connection[Any]:
        return pg_pool.connect(url or self.url)

    def pool(self) -> ConnectionPool:
        """Readers' connections (a replica's, when one is set), opened once per process."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = pg_pool.open_pool(self.read_url)
        return self._pool

    @contextlib.contextmanager
    def reading(self) -> Iterator[psycopg.Connection[Any]]:
        with pg_pool.reading(self.pool(), self.read_url) as conn:
            yield conn

    def _missing(self) -> IndexMissingError:
        return IndexMissingError(
            f"No index in the PostgreSQL database {pg_pool.redact(self.url)}. "
            "Run `articlebot index` to build one."
        )

    # --- Store -------------------------------------------------------------------------------
    def exists(self) -> bool:
        with self.reading() as conn:
            row = conn.execute("SELECT to_regclass('manifest') IS NOT NULL").fetchone()
            if not row or not row[0]:
                return False
            return (
                conn.execute("SELECT 1 FROM manifest WHERE key = 'generation'").fetchone()
                is not None
            )

    def version(self) -> str:
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM manifest WHERE key = 'generation'").fetchone()
        if row is None:
            raise self._missing()
        return str(row[0])

    def open_view(self) -> PostgresView:
        if not self.exists():
            raise self._missing()
        return PostgresView(self)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """A session advisory lock on a connection of its own: a killed writer's lock goes
        with its connection."""
        import psycopg

        conn = self.connect()
        locked = False
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
            if not got or not got[0]:
                raise IndexBusyError(
                    "Another `articlebot index` is writing this index (PostgreSQL). Wait for "
                    "it to finish, then run again."
                )
            locked = True
            yield
        finally:
            # Unlocked before closing: the server frees a closed session's locks only when
            # its backend exits, which a writer starting right after can beat.
            if locked:
                with contextlib.suppress(psycopg.Error):  # a lost connection freed it already
                    conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
            conn.close()

    def open_writer(self, *, fresh: bool) -> PostgresWriter:
        return PostgresWriter(self, fresh=fresh)

    def remembered_sources(self) -> tuple[list[str], list[WebSource]]:
        try:
            with self.reading() as conn:
                roots = [r[0] for r in conn.execute("SELECT path FROM roots ORDER BY path")]
                urls = [r[0] for r in conn.execute("SELECT url FROM web_sources ORDER BY url")]
                scopes = web_sql.read_scopes(lambda sql: conn.execute(sql).fetchall())
        except Exception:
            return [], []
        shared = frozenset({SHARED})
        return roots, [WebSource(u, scopes=scopes.get(u, shared)) for u in urls]

    def cleanup(self) -> None:
        """Nothing to do: a killed writer's transaction was rolled back by the server."""

    def check_reachable(self) -> None:
        """One plain connection to the readers' server: an unreachable one fails at once
        with its reason ("Connection refused"), where the pool would retry for 15 s and
        report only that it timed out."""
        self.connect(self.read_url).close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
