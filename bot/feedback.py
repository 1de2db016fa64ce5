"""👍/👎 feedback on answers, kept in SQLite beside the index (read by `articlebot eval`)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

from index.answers import Answer

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
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()

    def record(self, answer: Answer, user_id: int, vote: int) -> None:
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

    def close(self) -> None:
        self._conn.close()
