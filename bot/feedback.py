"""👍/👎 feedback on answers: the bot's side (which answer, which user); where votes are
kept is the store's business (``index.stores.feedback``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from index import Answer, FeedbackLog, SqliteFeedback


class FeedbackStore:
    """Votes on answers. When they cannot be written (a read-only index folder: replicas
    serving a shared index), feedback is off and the bot still answers."""

    def __init__(self, log: FeedbackLog | Path) -> None:
        self.log = SqliteFeedback(log) if isinstance(log, Path) else log

    @property
    def enabled(self) -> bool:
        return self.log.off_reason is None and self.log.writable

    @property
    def off_reason(self) -> str | None:
        return self.log.off_reason

    def record(self, answer: Answer, user_id: int, vote: int) -> bool:
        """Store a vote; False when feedback is off."""
        if not self.enabled:
            return False
        quotes = [
            {"text": q.text, "article_id": q.article_id, "start": q.start, "end": q.end}
            for q in answer.quotes
        ]
        user_hash = hashlib.sha256(f"articlebot:{user_id}".encode()).hexdigest()
        return self.log.record(answer.question, quotes, user_hash, vote)

    def close(self) -> None:
        self.log.close()
