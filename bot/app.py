"""Assembling the bot: the client (``client.ArticleBot``) with its cogs, and running it.

Kept apart from ``client`` so that the client never imports the cogs that use it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import discord

from index import ConfigError, Settings, check_compatible, open_store

from .ask import AskCog
from .base import on_app_command_error
from .client import ArticleBot
from .health import one_line
from .logs import setup_logging
from .sources import SourcesCog

log = logging.getLogger("articlebot.bot")


def make_bot(settings: Settings, **options: Any) -> ArticleBot:
    """The articlebot client with its commands and listeners (``options``: ArticleBot's)."""
    bot = ArticleBot(settings, cogs=[AskCog, SourcesCog], **options)
    bot.tree.on_error = on_app_command_error  # type: ignore[method-assign]
    return bot


def check_index(settings: Settings) -> None:
    """Fail before connecting when there is no usable index (cheap: no model load), with
    one clear line (an ArticlebotError: the CLI prints it and exits with code 2)."""
    store = open_store(settings, read=True)
    try:
        store.check_reachable()  # at once, with the reason, before a pool would retry
        view = store.open_view()
        try:
            check_compatible(view.manifest, settings.model, backend=settings.effective_backend)
        finally:
            view.close()
    except _database_errors() as exc:  # one the store did not translate (a bad URL...)
        raise ConfigError(f"Cannot read the index: {one_line(exc)}") from None
    finally:
        store.close()  # the bot's retriever opens its own connections


def _database_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - no PostgreSQL extra: nothing of it to catch
        return ()
    return (psycopg.Error,)


def quiet_libraries() -> None:
    """psycopg's pool logs every connection it hands out (INFO) and every failed reconnect
    (a WARNING of two lines, every few seconds while PostgreSQL is down); the bot logs an
    outage once itself (``health.IndexHealth``)."""
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


def run_bot(settings: Settings, *, sync: bool = False) -> int:
    if settings.discord_token is None or not settings.discord_token.get_secret_value():
        raise ConfigError(
            "No Discord token. Set ARTICLEBOT_DISCORD_TOKEN in the environment or .env "
            "(README: 'Running the Discord bot')."
        )
    quiet_libraries()
    check_index(settings)
    token = settings.discord_token.get_secret_value()
    setup_logging(settings.log_format, secrets=[token])
    bot = make_bot(settings, sync=sync)
    try:
        asyncio.run(serve(bot, token))
    except discord.LoginFailure:
        raise ConfigError(
            "Discord rejected the token in ARTICLEBOT_DISCORD_TOKEN. Copy the bot token again "
            "from the Developer Portal (Bot → Reset Token)."
        ) from None
    except discord.PrivilegedIntentsRequired as exc:  # pragma: no cover - we ask for none
        raise ConfigError(str(exc)) from None
    return 0


DRAIN_SECONDS = 10.0  # answers in flight get this long to be delivered after SIGTERM
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve(bot: ArticleBot, token: str, *, drain_seconds: float = DRAIN_SECONDS) -> None:
    """Run the bot until it closes. SIGTERM or SIGINT stops it gently: no new questions,
    those in hand delivered (up to ``drain_seconds``), then closed; a second signal
    closes it at once."""
    loop = asyncio.get_running_loop()
    stops: list[asyncio.Task[None]] = []

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stops:
            log.warning("%s again: closing now", name)
            stops.append(loop.create_task(bot.close()))
            return
        log.info("%s: finishing the answers in flight, then closing", name)
        stops.append(loop.create_task(_stop(bot, drain_seconds)))

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        async with bot:
            await bot.start(token)
        await asyncio.gather(*stops)
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


async def _stop(bot: ArticleBot, drain_seconds: float) -> None:
    await bot.drain(drain_seconds)
    await bot.close()


__all__ = ["check_index", "make_bot", "quiet_libraries", "run_bot", "serve"]
