"""What the two cogs share: reading the index off the event loop, and the replies to a
failure (the one place errors of commands, buttons and @mentions are turned into text)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from .health import UNAVAILABLE, IndexUnavailable
from .limiter import Stopping

if TYPE_CHECKING:
    from .client import ArticleBot

log = logging.getLogger("articlebot.bot")
NO_MENTIONS = discord.AllowedMentions.none()
APOLOGY = "Sorry, something went wrong while answering. Please try again in a moment."
RESTARTING = "The bot is restarting; please ask again in a minute."
P = ParamSpec("P")
T = TypeVar("T")


class IndexCog(commands.Cog):
    """A cog that reads the index: every read goes through ``read`` (IndexHealth.call), in
    a worker thread, raising IndexUnavailable when the index cannot be read (PostgreSQL
    down, a damaged index), which ``error_reply`` turns into a short reply. Nothing touches
    the index on the event loop: even ``retriever.view`` asks the store for its version."""

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot
        self.settings = bot.settings

    @property
    def retriever(self) -> Any:
        assert self.bot.retriever is not None
        return self.bot.retriever

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.bot.index_health.call(fn, *args, **kwargs)

    def _freshness(self, articles: int | None = None) -> str:
        """In a worker thread (``retriever.view`` reads the store's version). ``articles``:
        the count to show (a server's own set); None: the whole index's."""
        m = self.retriever.view.manifest
        built = str(m.get("built_at", "?")).replace("T", " ").replace("Z", " UTC")
        count = m.get("articles", 0) if articles is None else articles
        return f"{count:,} articles · index built {built}"


async def send_private(interaction: discord.Interaction, text: str) -> None:
    """Send ``text`` as an ephemeral message, also after a public "thinking…" defer.

    After ``defer(thinking=True)`` Discord makes the first follow-up an edit of the public
    loading message and ignores ``ephemeral=True``; deleting that message first makes the
    follow-up a new message that only the user sees.
    """
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return
    with contextlib.suppress(discord.HTTPException):
        original = await interaction.original_response()
        if original.flags.loading:
            await original.delete()
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def apologise(interaction: discord.Interaction, error: Exception) -> None:
    """The reply to a slash command or button that failed, seen only by its user."""
    text = error_reply(error, f"error in {interaction.command and interaction.command.name}")
    try:
        await send_private(interaction, text)
    except discord.HTTPException:
        log.warning("could not send the apology for interaction %s", interaction.id)


async def on_app_command_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    """The command tree's error handler (``bot/app.py`` installs it), for every cog."""
    await apologise(interaction, error)


def error_reply(error: BaseException, what: str) -> str:
    """The reply to a question or command that failed, after logging ``what`` happened.

    The index being unavailable is no bug of the bot: a short reply, and no log here
    (IndexHealth logged the cause once, when the outage began). Anything else: the
    apology, and the traceback in the log.
    """
    original = getattr(error, "original", error)  # app_commands.CommandInvokeError wraps it
    if isinstance(original, Stopping):
        return RESTARTING
    if isinstance(original, IndexUnavailable):
        log.debug("%s: the index is unavailable (%s)", what, original)
        return UNAVAILABLE
    log.error("%s", what, exc_info=error)
    return APOLOGY
