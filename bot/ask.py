"""Questions: /ask, @mentions, DMs and follow-ups, and the buttons under an answer."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from index import Answer, Filters, answer, reading_scopes
from index.answering import NO_WORDS, strip_markup

from .base import NO_MENTIONS, IndexCog, apologise, error_reply, send_private
from .health import IndexUnavailable, one_line
from .limiter import OnQueued
from .notices import InteractionNotice, ReplyNotice
from .render import render_answer, shorten, to_discord

log = logging.getLogger("articlebot.bot")


@dataclass(frozen=True)
class Asked:
    """Where a question was asked, for its log line (no user ids: they are personal)."""

    server_id: int | None
    channel_id: int | None

    @classmethod
    def of(cls, interaction: discord.Interaction) -> Asked:
        return cls(interaction.guild_id, interaction.channel_id)


class AnswerView(discord.ui.View):
    """Buttons under an answer: more quotes for the same question, and 👍 / 👎 feedback."""

    def __init__(self, cog: AskCog, result: Answer, filters: Filters | None) -> None:
        super().__init__(timeout=15 * 60)
        self.cog, self.result, self.filters = cog, result, filters
        self.shown = tuple((q.article_id, q.start, q.end) for q in result.quotes)
        if result.abstained:
            self.remove_item(self.more)

    @discord.ui.button(label="More quotes", style=discord.ButtonStyle.secondary)
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        with self.cog.bot.asking():
            await interaction.response.defer(thinking=True)
            context = (self.result.follows,) if self.result.follows else ()
            notice = InteractionNotice(interaction)
            extra, fresh = await self.cog.run_answer(
                self.result.question,
                self.filters,
                context,
                self.shown,
                asked=Asked.of(interaction),
                on_queued=notice,
            )
            if extra.abstained or not extra.quotes:
                await notice.retract()
                await send_private(interaction, "No more quotes for this question.")
                return
            self.shown += tuple((q.article_id, q.start, q.end) for q in extra.quotes)
            await notice.deliver(embed=self.cog.embed_for(extra, fresh))

    @discord.ui.button(emoji="👍", style=discord.ButtonStyle.secondary)
    async def like(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._vote(interaction, +1)

    @discord.ui.button(emoji="👎", style=discord.ButtonStyle.secondary)
    async def dislike(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await self._vote(interaction, -1)

    async def _vote(self, interaction: discord.Interaction, vote: int) -> None:
        self.cog.bot.metrics.votes.labels(vote="up" if vote > 0 else "down").inc()
        stored = await asyncio.to_thread(
            self.cog.bot.feedback.record, self.result, interaction.user.id, vote
        )
        reply = "Thanks for the feedback!" if stored else "Feedback is switched off here."
        await interaction.response.send_message(reply, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await apologise(interaction, error)


class AskCog(IndexCog):
    """/ask, and questions in @mentions, DMs and replies to an answer (follow-ups)."""

    async def run_answer(
        self,
        question: str,
        filters: Filters | None,
        context: tuple[str, ...] = (),
        exclude: tuple[tuple[str, int, int], ...] = (),
        *,
        asked: Asked,
        on_queued: OnQueued | None = None,
    ) -> tuple[Answer, str]:
        """The answer, and the freshness line of the index it came from; counted in the
        metrics and logged (one line). ``on_queued(ahead)`` when it has to wait its turn."""
        started = time.monotonic()
        try:
            self.bot.index_health.check()  # in an outage: at once, not queued behind others
            async with self.bot.questions.slot(on_queued):  # a global cap on questions
                self.bot.metrics.queue_wait.observe(time.monotonic() - started)
                result = await self.read(self._answer, question, filters, context, exclude)
        except BaseException as exc:
            self._record(question, asked, "error", started, error=one_line(exc))
            raise
        self._record(question, asked, "declined" if result[0].abstained else "answered", started)
        return result

    def _record(
        self, question: str, asked: Asked, outcome: str, started: float, **fields: Any
    ) -> None:
        """The question's metrics and its structured log line."""
        latency = time.monotonic() - started
        self.bot.metrics.questions.labels(outcome=outcome).inc()
        self.bot.metrics.latency.observe(latency)
        fields.update(
            server_id=asked.server_id,
            channel_id=asked.channel_id,
            latency=round(latency, 3),
            outcome=outcome,
        )
        if self.settings.log_questions:
            fields["question"] = question
        log.info("question %s in %.2f s", outcome, latency, extra=fields)

    def _answer(
        self,
        question: str,
        filters: Filters | None,
        context: tuple[str, ...],
        exclude: tuple[tuple[str, int, int], ...],
    ) -> tuple[Answer, str]:
        result = answer(self.retriever, question, filters, context=context, exclude=exclude)
        scopes = filters.scopes if filters else None
        # The count of what this server reads, not of every server's articles.
        count = None if scopes is None else self.retriever.view.articles_page(0, 0, scopes)[0]
        return result, self._freshness(count)

    def embed_for(self, result: Answer, freshness: str) -> discord.Embed:
        return to_discord(render_answer(result, freshness))

    def allowed_here(self, guild_id: int | None, channel_id: int | None) -> bool:
        if guild_id is None:
            return self.settings.allow_dms
        guilds, channels = self.settings.allowed_guild_ids, self.settings.channel_ids
        return (not guilds or guild_id in guilds) and (not channels or channel_id in channels)

    # --- /ask -------------------------------------------------------------------------------
    @app_commands.command(name="ask", description="Ask the articles a question")
    @app_commands.describe(
        question="Your question", source="Only articles from this source or path"
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, 500],
        source: str | None = None,
    ) -> None:
        if not self.allowed_here(interaction.guild_id, interaction.channel_id):
            await interaction.response.send_message(
                "I don't answer questions here.", ephemeral=True
            )
            return
        question = strip_markup(question)
        if not question.strip():  # before the cooldown: it asked nothing
            await interaction.response.send_message(NO_WORDS, ephemeral=True)
            return
        with self.bot.asking():  # a stopping bot says "restarting" (apologise)
            await self._ask(interaction, question, source)

    async def _ask(
        self, interaction: discord.Interaction, question: str, source: str | None
    ) -> None:
        wait = self.bot.cooldowns.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(
                f"Please wait a moment: try again in {max(1, round(wait))} s.", ephemeral=True
            )
            return
        await interaction.response.defer(thinking=True)
        # Shared articles and this server's own (a DM: shared only), also for "More quotes".
        filters = Filters(source=source or None, scopes=reading_scopes(interaction.guild_id))
        notice = InteractionNotice(interaction)
        result, fresh = await self.run_answer(
            question, filters, asked=Asked.of(interaction), on_queued=notice
        )
        view = AnswerView(self, result, filters)
        message = await notice.deliver(embed=self.embed_for(result, fresh), view=view)
        self.bot.conversations.remember(message.id, (question,))

    @ask.autocomplete("source")
    async def source_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            rows = await self.read(
                self._matching_sources, current, reading_scopes(interaction.guild_id)
            )
        except IndexUnavailable:
            return []  # no choices; the question itself will say why
        return [app_commands.Choice(name=shorten(name, 100), value=value) for name, value in rows]

    def _matching_sources(self, current: str, scopes: frozenset[str]) -> list[tuple[str, str]]:
        rows = self.retriever.view.matching_articles(current, 25, scopes)
        out = []
        for title, where in rows:
            value = where if len(where) <= 100 else "*" + where[-99:]  # a glob on the tail
            out.append((title, value))
        return out

    # --- @mentions, DMs and follow-ups ----------------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.bot.user is None:
            return
        question, context = self._question_of(message)
        if not question:
            return
        if not (question := strip_markup(question)):  # only markup, e.g. "@bot @here"
            await message.reply(
                NO_WORDS, allowed_mentions=NO_MENTIONS, mention_author=False, delete_after=30
            )
            return
        try:
            with self.bot.asking():  # a stopping bot says "restarting" (error_reply)
                await self._answer_message(message, question, context)
        except Exception as exc:
            text = error_reply(exc, f"error answering message {message.id}")
            await message.reply(
                text, allowed_mentions=NO_MENTIONS, mention_author=False, delete_after=30
            )

    def _question_of(self, message: discord.Message) -> tuple[str, tuple[str, ...]]:
        assert self.bot.user is not None
        is_dm = message.guild is None
        mentioned = any(u.id == self.bot.user.id for u in message.mentions)
        if not (mentioned or is_dm) or not self.allowed_here(
            message.guild.id if message.guild else None, message.channel.id
        ):
            return "", ()
        text = re.sub(rf"<@!?{self.bot.user.id}>", " ", message.content)
        text = " ".join(text.split())
        ref = message.reference.message_id if message.reference else None
        context = self.bot.conversations.context_for(ref) or self.bot.conversations.context_for(
            message.channel.id
        )
        return text, context

    async def _answer_message(
        self, message: discord.Message, question: str, context: tuple[str, ...]
    ) -> None:
        wait = self.bot.cooldowns.retry_after(message.author.id)
        if wait:
            await message.reply(
                f"Please wait a moment: try again in {max(1, round(wait))} s.",
                allowed_mentions=NO_MENTIONS,
                mention_author=False,
                delete_after=min(wait, 30),
            )
            return
        notice = ReplyNotice(message)
        try:
            await self._reply_answer(message, question, context, notice)
        finally:
            await notice.retract()  # after the answer is out: no moment without either

    async def _reply_answer(
        self,
        message: discord.Message,
        question: str,
        context: tuple[str, ...],
        notice: ReplyNotice,
    ) -> None:
        asked = Asked(message.guild.id if message.guild else None, message.channel.id)
        filters = Filters(scopes=reading_scopes(asked.server_id))
        async with message.channel.typing():
            result, fresh = await self.run_answer(
                question, filters, context, asked=asked, on_queued=notice
            )
        view = AnswerView(self, result, filters)
        embed = self.embed_for(result, fresh)
        target = await self._thread_for(message, question)
        if target is not None:
            sent = await target.send(embed=embed, view=view, allowed_mentions=NO_MENTIONS)
            self.bot.conversations.remember(target.id, (*context, question))
        else:
            sent = await message.reply(
                embed=embed, view=view, allowed_mentions=NO_MENTIONS, mention_author=False
            )
        self.bot.conversations.remember(sent.id, (*context, question))

    async def _thread_for(self, message: discord.Message, question: str) -> discord.Thread | None:
        if not self.settings.answer_in_thread or not isinstance(
            message.channel, discord.TextChannel
        ):
            return None
        try:
            return await message.create_thread(name=shorten(question, 90) or "Question")
        except discord.HTTPException:
            return None  # no permission to create threads here: reply in the channel instead
