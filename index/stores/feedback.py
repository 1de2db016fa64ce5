"""👍/👎 votes on the bot's answers: where they are kept follows the store, so that every
bot process of a PostgreSQL index shares one log (``articlebot eval --feedback`` reads it).

- local store: ``feedback.sqlite`` beside the index;
- PostgreSQL: the ``feedback`` table.

A log that cannot be written (a read-only index folder, a replica's read-only
connection) is off, with the reason: the bot still answers.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger("articlebot.bot")

#: One vote: the question, the quotes shown ({text, article_id, start, end}), a hash of
#: the user (no raw Discord ids are stored) and +1 or -1.
Row = tuple[str, list[dict[str, Any]], int]

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    quotes TEXT NOT NULL,          -- JSON list of {text, article_id, start, end}
    user_hash TEXT NOT NULL,       -- sha256 of the user id: no raw Discord ids stored
    vote INTEGER NOT NULL,         -- +1 or -1
    created_at REAL NOT NULL
)
"""


class FeedbackLog(Protocol):
    off_reason: str | None

    @property
    def writable(self) -> bool:
        """Whether ``record`` can store votes (a log opened only to read cannot)."""
        ...

    def record(
        self, question: str, quotes: list[dict[str, Any]], user_hash: str, vote: int
    ) -> bool:
        """Store a vote; False when the log is off."""
        ...

    def rows(self) -> list[Row]: ...

    def close(self) -> None: ...


class SqliteFeedback:
    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.off_reason: str | None = None
        if not create:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(_SQLITE_SCHEMA)
            conn.commit()
            self._conn = conn
        except (OSError, sqlite3.Error) as exc:
            self.off_reason = f"cannot write {path} ({exc})"
            log.warning("feedback is off: %s", self.off_reason)

    @property
    def writable(self) -> bool:
        return self._conn is not None

    def record(
        self, question: str, quotes: list[dict[str, Any]], user_hash: str, vote: int
    ) -> bool:
        if self._conn is None:
            return False
        with self._lock:
            self._conn.execute(
                "INSERT INTO feedback (question, quotes, user_hash, vote, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (question, json.dumps(quotes), user_hash, 1 if vote > 0 else -1, time.time()),
            )
            self._conn.commit()
        return True

    def rows(self) -> list[Row]:
        if not self.path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT question, quotes, vote FROM feedback ORDER BY id")
            return [(r[0], json.loads(r[1]), int(r[2])) for r in rows]
        finally:
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class PostgresFeedback:
    """Votes in the index database's ``feedback`` table (the writer's URL: a replica
    cannot take writes)."""

    def __init__(self, url: str) -> None:
        from .postgres import PostgresStore

        self.store = PostgresStore(url)
        self.off_reason: str | None = None
        self._lock = threading.Lock()

    @property
    def writable(self) -> bool:
        return True

    def record(
        self, question: str, quotes: list[dict[str, Any]], user_hash: str, vote: int
    ) -> bool:
        with self._lock, self.store.connect() as conn:
            conn.execute(
                "INSERT INTO feedback (question, quotes, user_hash, vote, created_at) "
                "VALUES (%s, %s::jsonb, %s, %s, %s)",
                (question, json.dumps(quotes), user_hash, 1 if vote > 0 else -1, time.time()),
            )
        return True

    def rows(self) -> list[Row]:
        with self.store.connect() as conn:
            rows = conn.execute("SELECT question, quotes, vote FROM feedback ORDER BY id")
            return [(r[0], list(r[1]), int(r[2])) for r in rows]

    def close(self) -> None:
        self.store.close()


def open_feedback(settings: Settings, *, create: bool = True) -> FeedbackLog:
    """The feedback log of the configured store (``create``: the bot writes; eval reads)."""
    if settings.database_url:
        return PostgresFeedback(settings.database_url.get_secret_value())
    return SqliteFeedback(settings.index_dir / "feedback.sqlite", create=create)
