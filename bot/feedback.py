"""👍/👎 feedback on answers, kept in SQLite beside the index (read by `articlebot eval`)."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

from index.answers import Answer

log = logging.getLogger("articlebot.bot")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    quotes TEXT NOT NULL,          -- JSON list of {text, article_id, start, end}
    user_hash TEXT NOT NULL,       -- sha256 of the user id: no raw Discord ids stored
    vote INTEGER NOT NULL,         -- +1 or -1
    created_at REAL NOT NULL
)
"""


class FeedbackStore:
    """Votes in ``feedback.sqlite``. When it cannot be written (a read-only index folder:
    replicas serving a shared index), feedback is off and the bot still answers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.off_reason: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(_SCHEMA)
            conn.commit()
            self._conn = conn
        except (OSError, sqlite3.Error) as exc:
            self.off_reason = f"cannot write {path} ({exc})"
            log.warning("feedback is off: %s", self.off_reason)

    @property
    def enabled(self) -> bool:
        return self._conn is not None

    def record(self, answer: Answer, user_id: int, vote: int) -> bool:
        """Store a vote; False when feedback is off."""
        if self._conn is None:
            return False
        quotes = [
            {"text": q.text, "article_id": q.article_id, "start": q.start, "end": q.end}
            for q in answer.quotes
        ]
        user_hash = hashlib.sha256(f"articlebot:{user_id}".encode()).hexdigest()
        with self._lock:
            self._conn.execute(
                "INSERT INTO feedback (question, quotes, user_hash, vote, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    answer.question,
                    json.dumps(quotes),
                    user_hash,
                    1 if vote > 0 else -1,
                    time.time(),
                ),
            )
            self._conn.commit()
        return True

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
