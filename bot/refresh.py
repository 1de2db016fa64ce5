"""Keeping the index fresh from inside the bot: scheduled re-syncs and /sources add/remove.

One ``Refresher`` per bot. Every sync runs ``run_index`` in a worker thread (it fetches
pages and embeds passages: seconds to minutes), never on the event loop, so the gateway
heartbeat and the answers go on meanwhile. One sync at a time: an ``asyncio.Lock`` that
the schedule and the commands share. A scheduled tick that finds a sync running is
skipped, not queued; a command waits for its turn. The answering side needs no telling:
the ``Retriever`` switches to a new index generation on its next query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from index import (
    SHARED,
    ArticlebotError,
    ConfigError,
    FileFailure,
    IndexBusyError,
    IndexReport,
    Settings,
    run_index,
)

from .render import safe

log = logging.getLogger("articlebot.bot")

FIRST_FAILURES = 5  # failures kept per sync, for /about and the command replies


@dataclass(frozen=True)
class SyncResult:
    """What one finished sync did, kept small: the full report can list thousands of files."""

    finished: datetime
    seconds: float
    summary: str
    added: int
    updated: int
    removed: int
    failed: int
    failures: tuple[FileFailure, ...]  # the first few
    skipped: int  # pages robots.txt disallows: shown, not failures
    sources: tuple[str, ...]  # the web sources after the sync
    generation: int | None
    trigger: str  # "schedule" or "command"

    @classmethod
    def of(cls, report: IndexReport, trigger: str) -> SyncResult:
        return cls(
            finished=datetime.now(UTC),
            seconds=report.seconds,
            summary=report.summary(),
            added=report.added,
            updated=report.updated,
            removed=report.removed,
            failed=len(report.failed),
            failures=tuple(report.failed[:FIRST_FAILURES]),
            skipped=len(report.skipped_urls),
            sources=tuple(report.sources),
            generation=report.generation,
            trigger=trigger,
        )


Indexer = Callable[..., IndexReport]


class Refresher:
    """Runs syncs one at a time and remembers how the last one went.

    ``interval`` is in seconds (default: ``settings.refresh_minutes`` × 60; 0 = no
    schedule). ``embedder`` is a callable so the bot can hand over the retriever's
    embedder once it is loaded. ``indexer`` defaults to ``run_index`` (looked up at each
    sync, so a test can wrap it). ``reload`` runs in the same worker thread after each
    sync: the bot opens the new generation there, not on the event loop. ``on_finish``
    hears of every finished sync: its trigger, and whether it succeeded (the metrics).
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Callable[[], Any],
        *,
        interval: float | None = None,
        indexer: Indexer | None = None,
        reload: Callable[[], object] | None = None,
        on_finish: Callable[[str, bool], object] | None = None,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._indexer = indexer
        self._reload = reload
        self._on_finish = on_finish or (lambda trigger, ok: None)
        self.interval = settings.refresh_minutes * 60 if interval is None else interval
        self.lock = asyncio.Lock()
        self.last_started: datetime | None = None
        self.last_finished: datetime | None = None
        self.last_report: SyncResult | None = None
        self.last_error: str | None = None  # of the last sync, if it failed
        self.next_due: datetime | None = None
        self.skipped = 0  # scheduled ticks skipped because a sync was running
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    @property
    def running(self) -> bool:
        return self.lock.locked()

    # --- one sync -----------------------------------------------------------------------------
    async def sync_now(
        self,
        urls: Sequence[str] = (),
        remove_urls: Sequence[str] = (),
        *,
        scope: str = SHARED,
        trigger: str = "command",
    ) -> IndexReport:
        """Sync every source (plus ``urls``, minus ``remove_urls``, both ``scope``'s: shared
        or a server's id) in a worker thread, after any sync already running. Raises what
        ``run_index`` raises (ConfigError for a URL ``scope`` does not hold or past its cap,
        IndexBusyError when a CLI run holds the writer lock); the outcome is recorded either
        way."""
        async with self.lock:
            self.last_started = datetime.now(UTC)
            started = time.monotonic()
            try:
                report = await asyncio.to_thread(self._run, list(urls), list(remove_urls), scope)
            except BaseException as exc:
                # A command refused (a URL its server does not hold, a cap) ran no sync: its
                # user is told, and /about in every server must not show another's URLs.
                if not (trigger == "command" and isinstance(exc, ConfigError)):
                    self.last_finished = datetime.now(UTC)
                    self.last_error = _describe(exc)
                    self._on_finish(trigger, False)
                raise
            self.last_finished = datetime.now(UTC)
            self.last_error = None
            self.last_report = SyncResult.of(report, trigger)
            self._on_finish(trigger, True)
            log.info(
                "sync (%s) finished in %.1f s: %s",
                trigger,
                time.monotonic() - started,
                report.summary(),
            )
            return report

    def _run(self, urls: list[str], remove_urls: list[str], scope: str) -> IndexReport:
        """In the worker thread: the sync, then the switch to what it published."""
        indexer = self._indexer or run_index
        report = indexer(
            self.settings, self._embedder(), urls=urls, remove_urls=remove_urls, scope=scope
        )
        if self._reload is not None:
            try:
                self._reload()
            except Exception:  # the next question retries the switch
                log.warning("could not open the new index generation", exc_info=True)
        return report

    async def tick(self) -> IndexReport | None:
        """One scheduled sync: skipped when one is running; errors are logged, not raised."""
        if self.lock.locked():
            self.skipped += 1
            log.info("scheduled sync skipped: a sync is still running")
            return None
        try:
            return await self.sync_now(trigger="schedule")
        except IndexBusyError as exc:
            log.warning("scheduled sync skipped: %s", exc)
        except asyncio.CancelledError:
            raise
        except ArticlebotError as exc:  # e.g. PostgreSQL unreachable: one line, no traceback
            log.warning("scheduled sync failed: %s", " ".join(str(exc).split()))
        except Exception:
            log.exception("scheduled sync failed")
        return None

    # --- the schedule ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the schedule (nothing when the interval is 0). Call on the running loop."""
        if not self.enabled or self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="articlebot-refresh")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self.next_due = None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _loop(self) -> None:
        while True:
            # Fixed delay between the end of one tick and the next: a slow sync never
            # makes the schedule fire back to back.
            self.next_due = datetime.now(UTC) + timedelta(seconds=self.interval)
            await asyncio.sleep(self.interval)
            self.next_due = None
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - tick() already catches everything
                log.exception("refresh loop error")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    text = str(exc).strip()
    if isinstance(exc, ArticlebotError) and text:
        return text  # written for the operator already
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- what the bot shows ------------------------------------------------------------------------
def sync_status(refresher: Refresher, visible: Collection[str] | None = None) -> str:
    """/about's lines on syncing: the last sync, the next one. Bounded (under ~1,200
    characters) and escaped: failure paths and reasons come from the web. ``visible``: the
    web sources the asker sees (None: all); failed pages of other sites are not named."""
    from discord.utils import format_dt

    lines: list[str] = []
    if refresher.running and refresher.last_started is not None:
        lines.append(f"**Sync:** running, started {format_dt(refresher.last_started, 'R')}")
    last = refresher.last_report
    if last is not None:
        lines.append(
            f"**Last sync:** {format_dt(last.finished, 'R')} ({last.trigger}) — "
            f"added {last.added} · updated {last.updated} · removed {last.removed} · "
            f"failed {last.failed}"
            + (f" · skipped {last.skipped} (robots.txt)" if last.skipped else "")
        )
        lines.extend(_failure_lines(last, visible))
    if refresher.last_error is not None and refresher.last_finished is not None:
        lines.append(
            f"**Last sync failed:** {format_dt(refresher.last_finished, 'R')} — "
            f"{safe(refresher.last_error, 300, inline=True)}"
        )
    if last is None and refresher.last_error is None and not refresher.running:
        lines.append("**Last sync:** none since the bot started")
    if not refresher.enabled:
        lines.append("**Next sync:** automatic refresh off (ARTICLEBOT_REFRESH_MINUTES)")
    else:
        every = f"every {refresher.interval / 60:g} min"
        when = format_dt(refresher.next_due, "R") if refresher.next_due else "after this one"
        lines.append(f"**Next sync:** {when} ({every})")
    return "\n".join(lines)


def _failure_lines(last: SyncResult, visible: Collection[str] | None) -> list[str]:
    """The first failed pages of the last sync; with ``visible``, only files and pages of
    those sources' sites (a server must not learn what another one indexes)."""
    sites = None if visible is None else {_origin(u) for u in visible}
    shown = [
        f for f in last.failures if sites is None or "://" not in f.path or _origin(f.path) in sites
    ]
    lines = [
        f"• {safe(f.path, 120, inline=True)} — {safe(f.reason, 150, inline=True)}"
        for f in shown[:3]
    ]
    if sites is None and last.failed > 3:
        lines.append(f"• … and {last.failed - 3} more")
    return lines


def added_text(
    url: str, report: IndexReport, counts: dict[str, int], known: bool, where: str = ""
) -> str:
    """The reply to /sources add: what the source brought, and what failed for it;
    ``where``: a line on who sees it (shared or this server only)."""
    verb = "Re-synced" if known else "Added"
    lines = [
        f"{verb} {safe(url, 300, inline=True)}: {counts.get(url, 0)} article(s) from it are indexed "
        f"(this sync: added {report.added}, updated {report.updated}, "
        f"removed {report.removed})."
    ]
    if where:
        lines.append(where)
    run = report.web.get(url) or {}
    if run.get("error"):
        lines.append(f"The source failed: {safe(str(run['error']), 300, inline=True)}")
    site = _origin(url)
    skipped = sum(1 for s in report.skipped_urls if _origin(s.url) == site)
    if skipped:
        lines.append(f"{skipped} page(s) skipped: the site's robots.txt disallows them.")
    mine = [f for f in report.failed if _origin(f.path) == site]
    if mine:
        lines.append(f"{len(mine)} page(s) failed:")
    for shown, failure in enumerate(mine):
        line = (
            f"• {safe(failure.path, 150, inline=True)} — {safe(failure.reason, 200, inline=True)}"
        )
        if sum(len(x) + 1 for x in lines) + len(line) > REPLY_ROOM:
            lines.append(f"• … and {len(mine) - shown} more")
            break
        lines.append(line)
    return "\n".join(lines)


REPLY_ROOM = 1900  # of Discord's 2,000 characters a message, with room for the last line


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
