"""Assembling the bot: the client (``client.ArticleBot``) with its cogs, and running it.

Kept apart from ``client`` so that the client never imports the cogs that use it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord

from index.errors import ConfigError
from index.settings import Settings
from index.stores import open_store
from index.stores.base import check_compatible

from .client import ArticleBot
from .cog import AskCog


def make_bot(settings: Settings, **options: Any) -> ArticleBot:
    """The articlebot client with its commands and listeners (``options``: ArticleBot's)."""
    return ArticleBot(settings, cogs=[AskCog], **options)


def check_index(settings: Settings) -> None:
    """Fail before connecting when there is no usable index (cheap: no model load)."""
    view = open_store(settings, read=True).open_view()
    try:
        check_compatible(view.manifest, settings.model, backend=settings.effective_backend)
    finally:
        view.close()


def run_bot(settings: Settings, *, sync: bool = False) -> int:
    if settings.discord_token is None or not settings.discord_token.get_secret_value():
        raise ConfigError(
            "No Discord token. Set ARTICLEBOT_DISCORD_TOKEN in the environment or .env "
            "(README: 'Running the Discord bot')."
        )
    check_index(settings)
    discord.utils.setup_logging(level=logging.INFO)
    bot = make_bot(settings, sync=sync)
    try:
        asyncio.run(_run(bot, settings.discord_token.get_secret_value()))
    except discord.LoginFailure:
        raise ConfigError(
            "Discord rejected the token in ARTICLEBOT_DISCORD_TOKEN. Copy the bot token again "
            "from the Developer Portal (Bot → Reset Token)."
        ) from None
    except discord.PrivilegedIntentsRequired as exc:  # pragma: no cover - we ask for none
        raise ConfigError(str(exc)) from None
    return 0


async def _run(bot: ArticleBot, token: str) -> None:
    async with bot:
        await bot.start(token)


__all__ = ["make_bot", "run_bot"]
