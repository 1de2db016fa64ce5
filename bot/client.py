"""The Discord bot: a ``commands.Bot`` that owns Settings, the Retriever and bot state.

``setup_hook`` builds the retriever (the model is loaded before the bot reports ready),
loads the cog and syncs slash commands. All retrieval runs in worker threads, so the
event loop — and with it the gateway heartbeat — never waits on the model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

import discord
from discord.ext import commands

from index.errors import ArticlebotError, ConfigError
from index.retriever import Retriever, open_retriever
from index.settings import Settings
from index.store import Snapshot, check_compatible

from .feedback import FeedbackStore
from .refresh import Refresher
from .state import Conversations, Cooldowns

log = logging.getLogger("articlebot.bot")


class ArticleBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        *,
        sync: bool = False,
        retriever: Retriever | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),  # no privileged message-content intent needed
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            **options,
        )
        self.settings = settings
        self.force_sync = sync
        self.retriever: Retriever | None = retriever
        self.cooldowns = Cooldowns(settings.cooldown_seconds)
        self.conversations = Conversations()
        self.questions = asyncio.Semaphore(settings.max_concurrent)
        self.feedback = FeedbackStore(settings.index_dir / "feedback.sqlite")
        # Scheduled re-syncs and /sources add/remove; one sync at a time (its lock).
        self.refresher = Refresher(settings, self._embedder, reload=self._reload)

    async def setup_hook(self) -> None:
        if self.retriever is None:
            self.retriever = await asyncio.to_thread(self._load_retriever)
        from .cog import AskCog

        await self.add_cog(AskCog(self))
        await self._sync_commands()
        self.refresher.start()  # nothing when ARTICLEBOT_REFRESH_MINUTES is 0
        if self.refresher.enabled:
            log.info("sources re-synced every %g min", self.settings.refresh_minutes)

    def _embedder(self) -> Any:
        assert self.retriever is not None
        return self.retriever.embedder

    def _reload(self) -> None:
        """Open a newly published generation now (in the sync's worker thread), so the next
        question or /about does not load it on the event loop."""
        if self.retriever is not None:
            self.retriever.snapshot  # noqa: B018 - the property switches generations

    def _load_retriever(self) -> Retriever:
        retriever = open_retriever(self.settings)
        retriever.warm_up()  # load the model now, not on the first question
        log.info("index loaded: %s passages", retriever.passage_count())
        return retriever

    async def _sync_commands(self) -> None:
        if self.settings.guild_ids:
            for guild_id in self.settings.guild_ids:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
            log.info("slash commands synced to %d guild(s)", len(self.settings.guild_ids))
            return
        marker = self.settings.index_dir / "bot-commands.sha256"
        payload = json.dumps(
            [c.to_dict(self.tree) for c in self.tree.get_commands()], sort_keys=True, default=str
        )
        digest = hashlib.sha256(payload.encode()).hexdigest()
        if self.force_sync or not marker.exists() or marker.read_text() != digest:
            await self.tree.sync()  # global: may take a while to show up in Discord
            try:
                marker.write_text(digest)
            except OSError as exc:  # a read-only index folder: sync again next start
                log.warning("cannot remember the command sync (%s)", exc)
            log.info("slash commands synced globally")

    async def on_ready(self) -> None:
        log.info("ready as %s in %d guild(s)", self.user, len(self.guilds))

    async def on_message(self, message: discord.Message, /) -> None:
        # Fix: there are no prefix commands. commands.Bot.on_message would run
        # process_commands, which (prefix = the mention) takes the first word of every
        # "@bot question" as a command name and logs CommandNotFound as an ERROR with a
        # traceback. Questions are handled by AskCog's on_message listener instead.
        return

    async def close(self) -> None:
        await self.refresher.stop()
        await super().close()
        self.feedback.close()


def check_index(settings: Settings) -> None:
    """Fail before connecting when there is no usable index (cheap: no model load)."""
    snapshot = Snapshot.open(settings.index_dir)
    try:
        check_compatible(snapshot.manifest, settings.model, backend=settings.effective_backend)
    finally:
        snapshot.close()


def run_bot(settings: Settings, *, sync: bool = False) -> int:
    if settings.discord_token is None or not settings.discord_token.get_secret_value():
        raise ConfigError(
            "No Discord token. Set ARTICLEBOT_DISCORD_TOKEN in the environment or .env "
            "(README: 'Running the Discord bot')."
        )
    check_index(settings)
    discord.utils.setup_logging(level=logging.INFO)
    bot = ArticleBot(settings, sync=sync)
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


__all__ = ["ArticleBot", "ArticlebotError", "run_bot"]
