"""Questions in hand: the cap on those answered at once (ARTICLEBOT_MAX_CONCURRENT), as a
FIFO queue that knows how many wait (so an asker can be told where theirs stands), and the
count of questions between arrival and delivered answer (what a stopping bot waits for)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

OnQueued = Callable[[int], Awaitable[None]]


class QuestionLimiter:
    """At most ``capacity`` holders at once; the others wait in arrival order.

    ``slot(on_queued)`` calls ``on_queued(ahead)`` when the question has to wait, where
    ``ahead`` counts every question before it: those being answered and those queued
    earlier. A cancelled waiter leaves the queue without taking a slot.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @contextlib.asynccontextmanager
    async def slot(self, on_queued: OnQueued | None = None) -> AsyncIterator[None]:
        await self._acquire(on_queued)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, on_queued: OnQueued | None) -> None:
        if self.in_flight < self.capacity and not self._waiters:
            self.in_flight += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            if on_queued is not None:
                await on_queued(self.in_flight + len(self._waiters) - 1)
            await turn  # _release hands its slot over: in_flight stays counted
        except BaseException:
            self._give_up(turn)
            raise

    def _give_up(self, turn: asyncio.Future[None]) -> None:
        if turn in self._waiters:
            self._waiters.remove(turn)
        elif turn.done() and not turn.cancelled():
            self._release()  # the slot was handed over just as the waiter left

    def _release(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes to the next in line
                return
        self.in_flight -= 1


class Stopping(Exception):
    """The bot is stopping: the question is not taken (the asker is told to ask again)."""


class OpenQuestions:
    """Questions from arrival until their answer is delivered (queued ones included)."""

    def __init__(self) -> None:
        self.count = 0
        self.closed = False  # no new questions: the bot is stopping
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def open(self) -> Iterator[None]:
        """Raises Stopping once ``closed``."""
        if self.closed:
            raise Stopping("the bot is restarting")
        self.count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.count -= 1
            if not self.count:
                self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()
