"""Small in-memory state of a running bot: per-user cooldowns and conversation memory."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass


class Cooldowns:
    """At most one question per ``seconds`` per user."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: dict[int, float] = {}

    def retry_after(self, user_id: int, now: float | None = None) -> float:
        """0 when the user may ask now (and records the ask); else seconds to wait."""
        now = time.monotonic() if now is None else now
        wait = self._last.get(user_id, -1e18) + self.seconds - now
        if wait > 0:
            return wait
        self._last[user_id] = now
        if len(self._last) > 10_000:  # forget users who asked long ago
            cutoff = now - self.seconds
            self._last = {u: t for u, t in self._last.items() if t > cutoff}
        return 0.0


@dataclass(frozen=True)
class Turn:
    questions: tuple[str, ...]  # the conversation so far, oldest first, this question last


class Conversations:
    """Which question each bot message (or bot-opened thread) answered, so a reply to it
    is a follow-up. Bounded: the oldest conversations are forgotten first."""

    MAX_TURNS = 3

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self._by_key: OrderedDict[int, Turn] = OrderedDict()

    def remember(self, key: int, questions: tuple[str, ...]) -> None:
        self._by_key[key] = Turn(questions[-self.MAX_TURNS :])
        self._by_key.move_to_end(key)
        while len(self._by_key) > self.capacity:
            self._by_key.popitem(last=False)

    def context_for(self, key: int | None) -> tuple[str, ...]:
        """Earlier questions of the conversation that ``key`` (message or thread id) belongs to."""
        if key is None or key not in self._by_key:
            return ()
        return self._by_key[key].questions
