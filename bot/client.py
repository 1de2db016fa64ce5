"""The Discord bot: a ``commands.Bot`` that owns Settings, the Retriever and bot state.

``setup_hook`` builds the retriever (the model is loaded before the bot reports ready),
adds the cogs it was given (``bot/app.py`` names them) and syncs slash commands. All
reads of the index run in worker threads (``health.IndexHealth``), so the event loop —
and with it the gateway heartbeat — never waits on the model or the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import discord
from discord.ext import commands

from index import Retriever, Settings, open_feedback, open_retriever

from .endpoints import OpsServer
from .feedback import FeedbackStore
from .health import IndexHealth
from .limiter import OpenQuestions, QuestionLimiter
from .metrics import BotMetrics
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
        self.owns_retriever = retriever is None  # then close closes its store
        self.cooldowns = Cooldowns(settings.cooldown_seconds)
        self.conversations = Conversations()
        self.questions = QuestionLimiter(settings.max_concurrent)  # FIFO: knows who waits
        self.open_questions = OpenQuestions()  # drain waits for them; then closed to new ones
        self.metrics = BotMetrics()
        self.metrics.watch(
            gateway_latency=lambda: self.latency,
            in_flight=lambda: self.questions.in_flight,
            waiting=lambda: self.questions.waiting,
        )
        self.ops = OpsServer(self, settings.http_addr) if settings.http_addr else None
        self.feedback = FeedbackStore(open_feedback(settings))
        # Every read of the index goes through it: outages become a short reply, logged once.
        self.index_health = IndexHealth(self.probe_index)
        # Scheduled re-syncs and /sources add/remove; one sync at a time (its lock).
        self.refresher = Refresher(
            settings, self._embedder, reload=self._reload, on_finish=self.metrics.sync_finished
        )

    async def setup_hook(self) -> None:
        if self.ops is not None:  # first: /healthz answers while the model loads
            await self.ops.start()
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

    def probe_index(self) -> None:
        """A cheap read that fails while the index is unavailable (in a worker thread)."""
        assert self.retriever is not None
        self.retriever.store.version()

    def scope_counts(self) -> dict[str, tuple[int, int]]:
        """Articles and passages per scope (in a worker thread)."""
        assert self.retriever is not None
        return self.retriever.view.scope_counts()

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

    @property
    def stopping(self) -> bool:
        return self.open_questions.closed

    def asking(self) -> contextlib.AbstractContextManager[None]:
        """Around the handling of one question, to its delivered answer; raises Stopping
        (the "restarting" reply) once the bot is stopping."""
        if self.stopping:
            self.metrics.refused.inc()
        return self.open_questions.open()

    async def drain(self, timeout: float) -> bool:
        """Stop taking questions and wait up to ``timeout`` seconds for those in hand
        (answered or queued) to be delivered; False when some were still open."""
        self.open_questions.closed = True
        log.info("stopping: %d question(s) to finish first", self.open_questions.count)
        try:
            await asyncio.wait_for(self.open_questions.wait_idle(), timeout)
        except TimeoutError:
            log.warning("stopping: %d question(s) left unanswered", self.open_questions.count)
            return False
        return True

    async def close(self) -> None:
        self.open_questions.closed = True
        await self.refresher.stop()
        await self.index_health.stop()
        await super().close()
        if self.ops is not None:
            await self.ops.stop()
        self.feedback.close()
        if self.owns_retriever and self.retriever is not None:
            await asyncio.to_thread(self.retriever.store.close)  # PostgreSQL: its pool
