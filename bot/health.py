"""Whether the index can be read right now: the one place where a store failure (PostgreSQL
unreachable or failing over, a damaged or missing index) becomes a short reply.

Every read of the index by the bot goes through ``IndexHealth.call``, in a worker thread.
A failure starts an *outage*: its cause is logged once, as one line (no traceback per
question), and from then on reads are refused at once (``IndexUnavailable``) instead of
each waiting for the database's timeouts. A background probe (``Store.version()``, in a
worker thread) watches for the index to come back; then reads go through again, and the
first one that succeeds ends the outage. No restart is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import cache
from typing import ParamSpec, TypeVar

from index import IndexDamagedError, IndexMissingError

log = logging.getLogger("articlebot.bot")

UNAVAILABLE = "The article index is temporarily unavailable; please try again in a minute."
PROBE_SECONDS = 2.0  # between probes while the index is unavailable

P = ParamSpec("P")
T = TypeVar("T")


class IndexUnavailable(Exception):
    """The index cannot be read now; ``str()`` is the cause, one line."""


@cache
def index_errors() -> tuple[type[BaseException], ...]:
    """What a read raises when the index, not the bot, is the problem. The stores turn
    PostgreSQL's connection errors into IndexMissingError; psycopg's own are here in case
    one gets through (OperationalError: connection, pool, failover; InternalError: corrupted
    data or index). psycopg is optional (the PostgreSQL extra)."""
    errors: list[type[BaseException]] = [IndexMissingError, IndexDamagedError]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - installed with the postgres extra
        pass
    else:
        errors += [psycopg.OperationalError, psycopg.InternalError]
    return tuple(errors)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class IndexHealth:
    """Reads of the index, off the event loop, with outages noticed and reported once.

    ``probe`` is a cheap read that fails while the index is unavailable (the bot passes
    its store's ``version``); it runs in a worker thread every ``probe_seconds``.
    """

    def __init__(
        self, probe: Callable[[], object], *, probe_seconds: float = PROBE_SECONDS
    ) -> None:
        self._probe = probe
        self.probe_seconds = probe_seconds
        self.cause: str | None = None  # of the outage in progress; None: available
        self.since: float | None = None  # when it began (monotonic)
        self.reachable = False  # the probe has read the index since the outage began
        self._epoch = 0  # moves on at each change of state
        self._task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        return self.cause is None

    def check(self) -> None:
        """Raise IndexUnavailable at once during an outage the probe has not seen end."""
        if self.cause is not None and not self.reachable:
            raise IndexUnavailable(self.cause)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread; IndexUnavailable when the index
        cannot be read (other exceptions pass through unchanged)."""
        self.check()
        epoch = self._epoch
        try:
            result = await asyncio.to_thread(fn, *args, **kwargs)
        except index_errors() as exc:
            self._failed(exc, epoch)
            raise IndexUnavailable(self.cause or one_line(exc)) from exc
        self._succeeded(epoch)
        return result

    # --- state --------------------------------------------------------------------------------
    def _failed(self, exc: BaseException, epoch: int) -> None:
        if epoch != self._epoch:
            return  # started before the last change of state: not news
        self._epoch += 1
        if self.cause is None:
            self.since = time.monotonic()
            log.warning("the article index is unavailable: %s", one_line(exc))
        # else: the probe read the index but a question still failed; same outage, no log.
        self.cause = one_line(exc)
        self.reachable = False
        self._start_probe()

    def _succeeded(self, epoch: int) -> None:
        if self.cause is None or epoch != self._epoch:
            return
        self._epoch += 1
        took = time.monotonic() - (self.since or time.monotonic())
        log.info("the article index is available again (unavailable for %.0f s)", took)
        self.cause, self.since, self.reachable = None, None, False

    # --- the probe ----------------------------------------------------------------------------
    def _start_probe(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._probe_loop(), name="articlebot-index-probe"
            )

    async def _probe_loop(self) -> None:
        while self.cause is not None and not self.reachable:
            await asyncio.sleep(self.probe_seconds)
            epoch = self._epoch
            try:
                await asyncio.to_thread(self._probe)
            except Exception as exc:  # still unavailable: any error, keep probing
                log.debug("index probe failed: %s", one_line(exc))
                continue
            if epoch == self._epoch and self.cause is not None:
                self._epoch += 1
                self.reachable = True  # let reads through; the first success ends it
                log.debug("index probe succeeded: letting reads through")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["UNAVAILABLE", "IndexHealth", "IndexUnavailable", "index_errors"]
