"""The Discord bot: a ``commands.Bot`` that owns Settings, the Retriever and bot state.

``setup_hook`` builds the retriever (the model is loaded before the bot reports ready),
adds the cogs it was given (``bot/app.py`` names them) and syncs slash commands. All
reads of the index run in worker threads (``health.IndexHealth``), so the event loop —
and with it the gateway heartbeat — never waits on the model or the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import discord
from discord.ext import commands

from index import Retriever, Settings, open_feedback, open_retriever

from .feedback import FeedbackStore
from .health import IndexHealth
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
        cogs: Sequence[Callable[[ArticleBot], commands.Cog]] = (),
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
        self.cog_factories = list(cogs)  # added in setup_hook (bot/app.py names them)
        self.retriever: Retriever | None = retriever
        self.cooldowns = Cooldowns(settings.cooldown_seconds)
        self.conversations = Conversations()
        self.questions = asyncio.Semaphore(settings.max_concurrent)
        self.feedback = FeedbackStore(open_feedback(settings))
        # Every read of the index goes through it: outages become a short reply, logged once.
        self.index_health = IndexHealth(self._probe_index)
        # Scheduled re-syncs and /sources add/remove; one sync at a time (its lock).
        self.refresher = Refresher(settings, self._embedder, reload=self._reload)

    async def setup_hook(self) -> None:
        if self.retriever is None:
            self.retriever = await asyncio.to_thread(self._load_retriever)
        for make_cog in self.cog_factories:
            await self.add_cog(make_cog(self))
        await self._sync_commands()
        self.refresher.start()  # nothing when ARTICLEBOT_REFRESH_MINUTES is 0
        if self.refresher.enabled:
            log.info("sources re-synced every %g min", self.settings.refresh_minutes)

    def _embedder(self) -> Any:
        assert self.retriever is not None
        return self.retriever.embedder

    def _probe_index(self) -> None:
        """A cheap read that fails while the index is unavailable (in a worker thread)."""
        assert self.retriever is not None
        self.retriever.store.version()

    def _reload(self) -> None:
        """Open a newly published generation now (in the sync's worker thread), so the next
        question or /about does not load it on the event loop."""
        if self.retriever is not None:
            self.retriever.view  # noqa: B018 - the property switches to the new state

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
                # With the PostgreSQL store nothing else creates the local folder.
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(digest)
            except OSError as exc:  # a read-only index folder: sync again next start
                log.warning("cannot remember the command sync (%s)", exc)
            log.info("slash commands synced globally")

    async def on_ready(self) -> None:
        log.info("ready as %s in %d guild(s)", self.user, len(self.guilds))

    async def on_message(self, message: discord.Message, /) -> None:
        # No prefix commands: process_commands would take the first word of every
        # "@bot question" for a command name and log CommandNotFound as an ERROR.
        # Questions are AskCog's (its on_message listener).
        return

    async def close(self) -> None:
        await self.refresher.stop()
        await self.index_health.stop()
        await super().close()
        self.feedback.close()
