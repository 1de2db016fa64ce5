"""The bot's HTTP endpoints for operators (ARTICLEBOT_HTTP_ADDR): ``/healthz``,
``/readyz`` and ``/metrics``, served by aiohttp on the bot's own event loop.

Nothing here blocks the loop: the index is read through ``IndexHealth`` (a worker
thread), and the Prometheus text is rendered in a worker thread too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from aiohttp import web

from index.settings import host_port

from .health import IndexHealth, IndexUnavailable
from .metrics import BotMetrics

log = logging.getLogger("articlebot.bot")

READ_TIMEOUT = 5.0  # seconds a probe of the index may take before /readyz says 503
SCOPES_MAX_AGE = 30.0  # seconds the per-scope counts are reused between scrapes


class Served(Protocol):
    """What the endpoints read of the bot (``client.ArticleBot``)."""

    metrics: BotMetrics
    index_health: IndexHealth

    @property
    def stopping(self) -> bool: ...

    def is_closed(self) -> bool: ...

    def is_ready(self) -> bool: ...

    def probe_index(self) -> None: ...

    def scope_counts(self) -> dict[str, tuple[int, int]]: ...


class OpsServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` on ``addr`` (HOST:PORT; port 0: any free
    one, see ``port``). ``start`` and ``stop`` may be called more than once."""

    def __init__(self, bot: Served, addr: str) -> None:
        self.bot = bot
        self.host, self._port = host_port(addr)
        self._runner: web.AppRunner | None = None
        self._scopes_lock = asyncio.Lock()

    @property
    def port(self) -> int:
        """The port it listens on (the one the OS chose, for port 0)."""
        if self._runner is not None and self._runner.addresses:
            return int(self._runner.addresses[0][1])
        return self._port

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._port).start()
        except OSError as exc:
            await runner.cleanup()
            from index import ConfigError

            raise ConfigError(
                f"Cannot serve ARTICLEBOT_HTTP_ADDR={self.host}:{self._port}: {exc.strerror}. "
                "Choose a free port, or unset it."
            ) from None
        self._runner = runner
        log.info("health and metrics on http://%s:%d/metrics", self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # --- the endpoints --------------------------------------------------------------------------
    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        problem = self._not_connected() or await self._index_problem()
        if problem:
            return web.Response(status=503, text=f"not ready: {problem}\n")
        return web.Response(text="ready\n")

    async def metrics(self, request: web.Request) -> web.Response:
        if self.bot.is_ready():  # the index is loaded (setup_hook) before the bot is ready
            await self._refresh_scopes()
        body, content_type = await asyncio.to_thread(self.bot.metrics.render)
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    # --- helpers --------------------------------------------------------------------------------
    def _not_connected(self) -> str | None:
        if self.bot.stopping:
            return "stopping"
        if self.bot.is_closed() or not self.bot.is_ready():
            return "not connected to the Discord gateway"
        return None

    async def _index_problem(self) -> str | None:
        try:
            await asyncio.wait_for(self.bot.index_health.call(self.bot.probe_index), READ_TIMEOUT)
        except IndexUnavailable as exc:
            return f"index unavailable: {exc}"
        except TimeoutError:
            return f"index unavailable: no answer in {READ_TIMEOUT:g} s"
        return None

    async def _refresh_scopes(self) -> None:
        """Count articles and passages per scope at most every SCOPES_MAX_AGE seconds (in
        a worker thread; while the index is unavailable the last counts stay)."""
        async with self._scopes_lock:  # scrapes that arrive together count once
            scopes, now = self.bot.metrics.scopes, time.monotonic()
            if scopes.updated is not None and now - scopes.updated < SCOPES_MAX_AGE:
                return
            try:
                counts = await asyncio.wait_for(
                    self.bot.index_health.call(self.bot.scope_counts), READ_TIMEOUT
                )
            except (IndexUnavailable, TimeoutError):
                return
            scopes.update(counts, now)


__all__ = ["OpsServer"]
