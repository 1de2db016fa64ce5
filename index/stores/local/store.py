"""``LocalStore``: the ``Store`` of an index folder (the default store)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from ...types import WebSource
from . import web as web_sql
from .generations import DB_NAME, current_generation_dir, index_exists, remove_abandoned
from .lock import writer_lock
from .schema import connect_readonly
from .snapshot import Snapshot
from .view import LocalView
from .writer import LocalWriter


class LocalStore:
    """SQLite + FAISS generations in ``index_dir`` (the default store)."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir

    def exists(self) -> bool:
        return index_exists(self.index_dir)

    def version(self) -> str:
        return current_generation_dir(self.index_dir).name

    def open_view(self) -> LocalView:
        snapshot = Snapshot.open(self.index_dir)
        try:
            return LocalView(snapshot)
        except BaseException:
            snapshot.close()
            raise

    def writer_lock(self) -> contextlib.AbstractContextManager[None]:
        return writer_lock(self.index_dir)

    def open_writer(self, *, fresh: bool) -> LocalWriter:
        return LocalWriter(self.index_dir, fresh=fresh)

    def remembered_sources(self) -> tuple[list[str], list[WebSource]]:
        """Read straight from the database: a rebuild or repair must not depend on the
        rest of the index (the vectors) being sound."""
        if not index_exists(self.index_dir):
            return [], []
        try:
            conn = connect_readonly(current_generation_dir(self.index_dir) / DB_NAME)
        except Exception:
            return [], []
        try:
            roots = [r[0] for r in conn.execute("SELECT path FROM roots ORDER BY path")]
            return roots, web_sql.remembered(conn)
        except sqlite3.Error:
            return [], []
        finally:
            conn.close()

    def cleanup(self) -> None:
        remove_abandoned(self.index_dir)

    def check_reachable(self) -> None:
        """Nothing to reach: a missing or damaged folder is reported by ``open_view``."""

    def close(self) -> None:
        """Nothing held: each view closes its own connections."""
