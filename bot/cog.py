"""Slash commands (/ask, /sources, /about), @mentions, DMs, follow-ups and answer buttons."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from index.answers import Answer, answer
from index.errors import ArticlebotError, IndexBusyError
from index.indexing import IndexReport
from index.types import Filters
from index.web.fetch import FetchError, check_public, check_url

from .health import UNAVAILABLE, IndexUnavailable
from .refresh import added_text, sync_status
from .render import CONTENT_LIMIT, escape, render_answer, safe, shorten, to_discord

if TYPE_CHECKING:
    from .client import ArticleBot

log = logging.getLogger("articlebot.bot")
NO_MENTIONS = discord.AllowedMentions.none()
SOURCES_PAGE = 10
APOLOGY = "Sorry, something went wrong while answering. Please try again in a moment."
P = ParamSpec("P")
T = TypeVar("T")


async def send_private(interaction: discord.Interaction, text: str) -> None:
    """Send ``text`` as an ephemeral message, also after a public "thinking…" defer.

    Fix: after ``defer(thinking=True)`` Discord turns the first follow-up into an edit of
    the public loading message and ignores ``ephemeral=True``, so an apology (or "no more
    quotes") showed publicly in the channel. Delete the still-loading message first; the
    follow-up is then a new message that only the user sees.
    """
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return
    with contextlib.suppress(discord.HTTPException):
        original = await interaction.original_response()
        if original.flags.loading:
            await original.delete()
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


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
        await interaction.response.defer(thinking=True)
        context = (self.result.follows,) if self.result.follows else ()
        extra, fresh = await self.cog.run_answer(
            self.result.question, self.filters, context, self.shown
        )
        if extra.abstained or not extra.quotes:
            await send_private(interaction, "No more quotes for this question.")
            return
        self.shown += tuple((q.article_id, q.start, q.end) for q in extra.quotes)
        await interaction.followup.send(
            embed=self.cog.embed_for(extra, fresh), allowed_mentions=NO_MENTIONS
        )

    @discord.ui.button(emoji="👍", style=discord.ButtonStyle.secondary)
    async def like(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._vote(interaction, +1)

    @discord.ui.button(emoji="👎", style=discord.ButtonStyle.secondary)
    async def dislike(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await self._vote(interaction, -1)

    async def _vote(self, interaction: discord.Interaction, vote: int) -> None:
        stored = await asyncio.to_thread(
            self.cog.bot.feedback.record, self.result, interaction.user.id, vote
        )
        reply = "Thanks for the feedback!" if stored else "Feedback is switched off here."
        await interaction.response.send_message(reply, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await self.cog.apologise(interaction, error)


class AskCog(commands.Cog):
    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot
        self.settings = bot.settings
        bot.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]

    @property
    def retriever(self) -> Any:
        assert self.bot.retriever is not None
        return self.bot.retriever

    # --- reads of the index, off the event loop --------------------------------------------
    # Every one goes through ``read`` (IndexHealth.call): in a worker thread, and raising
    # IndexUnavailable when the index cannot be read (PostgreSQL down, a damaged index),
    # which ``error_reply`` turns into a short reply. Nothing here touches the index on the
    # event loop: even ``retriever.view`` asks the store for its version.
    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.bot.index_health.call(fn, *args, **kwargs)

    async def run_answer(
        self,
        question: str,
        filters: Filters | None,
        context: tuple[str, ...] = (),
        exclude: tuple[tuple[str, int, int], ...] = (),
    ) -> tuple[Answer, str]:
        """The answer, and the freshness line of the index it came from."""
        self.bot.index_health.check()  # in an outage: at once, not queued behind others
        async with self.bot.questions:  # a global cap on questions in flight
            return await self.read(self._answer, question, filters, context, exclude)

    def _answer(
        self,
        question: str,
        filters: Filters | None,
        context: tuple[str, ...],
        exclude: tuple[tuple[str, int, int], ...],
    ) -> tuple[Answer, str]:
        result = answer(self.retriever, question, filters, context=context, exclude=exclude)
        return result, self._freshness()

    def embed_for(self, result: Answer, freshness: str) -> discord.Embed:
        return to_discord(render_answer(result, freshness))

    def _freshness(self) -> str:
        """In a worker thread (``retriever.view`` reads the store's version)."""
        m = self.retriever.view.manifest
        built = str(m.get("built_at", "?")).replace("T", " ").replace("Z", " UTC")
        return f"{m.get('articles', 0):,} articles · index built {built}"

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
        wait = self.bot.cooldowns.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(
                f"Please wait a moment: try again in {max(1, round(wait))} s.", ephemeral=True
            )
            return
        await interaction.response.defer(thinking=True)
        filters = Filters(source=source) if source else None
        result, fresh = await self.run_answer(question, filters)
        view = AnswerView(self, result, filters)
        message = await interaction.followup.send(
            embed=self.embed_for(result, fresh), view=view, allowed_mentions=NO_MENTIONS, wait=True
        )
        self.bot.conversations.remember(message.id, (question,))

    @ask.autocomplete("source")
    async def source_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            rows = await self.read(self._matching_sources, current)
        except IndexUnavailable:
            return []  # no choices; the question itself will say why
        return [app_commands.Choice(name=shorten(name, 100), value=value) for name, value in rows]

    def _matching_sources(self, current: str) -> list[tuple[str, str]]:
        rows = self.retriever.view.matching_articles(current, 25)
        out = []
        for title, where in rows:
            value = where if len(where) <= 100 else "*" + where[-99:]  # a glob on the tail
            out.append((title, value))
        return out

    # --- /sources list|add|remove ------------------------------------------------------------
    # A group: Discord lets only a top-level command carry default_member_permissions, and
    # for a group it would hide /sources list too. So the group stays open and add/remove
    # check the member's permissions in code (authoritative either way).
    sources = app_commands.Group(name="sources", description="The indexed articles and sources")

    @sources.command(name="list", description="List the indexed articles")
    @app_commands.describe(page="Page number (10 articles a page)")
    async def sources_list(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 100000] = 1
    ) -> None:
        total, rows, fresh = await self.read(self._article_page, page)
        pages = max(1, -(-total // SOURCES_PAGE))
        lines = [
            f"{(page - 1) * SOURCES_PAGE + i + 1}. {safe(t, 120)}"
            + (f" ({safe(d, 30)})" if d else "")
            for i, (t, d) in enumerate(rows)
        ]
        embed = discord.Embed(
            title=f"Indexed articles — page {min(page, pages)}/{pages}",
            description="\n".join(lines) or "No articles on this page.",
        )
        embed.set_footer(text=fresh)
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    def _article_page(self, page: int) -> tuple[int, list[tuple[str, str | None]], str]:
        total, rows = self.retriever.view.articles_page((page - 1) * SOURCES_PAGE, SOURCES_PAGE)
        return total, rows, self._freshness()

    @sources.command(name="add", description="Index a feed, sitemap, site or page (admins)")
    @app_commands.describe(url="An http:// or https:// URL")
    async def sources_add(
        self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000]
    ) -> None:
        checked = await self._operator_url(interaction, url)
        if checked is None:
            return
        # Deferred before the address check: resolving a host has no deadline of its own,
        # and Discord wants the first response within 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        if not self.settings.allow_private_urls:
            try:
                await check_public(checked)
            except FetchError as exc:
                await self._reply(interaction, f"Not added: {safe(exc.reason, 1500, inline=True)}")
                return
        before = await self.read(self._web_sources)
        report = await self._sync(interaction, urls=[checked])
        if report is None:
            return
        counts = await self.read(self._web_article_counts)
        await self._reply(interaction, added_text(checked, report, counts, checked in before))

    @sources.command(name="remove", description="Stop indexing a web source (admins)")
    @app_commands.describe(url="The source's URL, as /about or `articlebot stats` shows it")
    async def sources_remove(
        self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000]
    ) -> None:
        checked = await self._operator_url(interaction, url)
        if checked is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self._sync(interaction, remove_urls=[checked])
        if report is None:
            return
        await self._reply(
            interaction,
            f"Removed {safe(checked, 300, inline=True)}: {report.removed} article(s) dropped; "
            f"{len(report.sources)} web source(s) left.",
        )

    async def _operator_url(self, interaction: discord.Interaction, url: str) -> str | None:
        """The URL, normalised, when the user may change sources and it is a web URL;
        else None, after telling them why (ephemerally)."""
        if not await self.is_operator(interaction):
            await interaction.response.send_message(
                "Only members with the Manage Server permission (or the bot's owner) can "
                "add or remove sources.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return None
        try:
            return check_url(url)
        except FetchError as exc:
            await interaction.response.send_message(
                f"That is not a URL I can index: {safe(exc.reason, 1500, inline=True)}",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return None

    async def is_operator(self, interaction: discord.Interaction) -> bool:
        """Manage Server in this guild, or the bot's application owner (also in DMs: the
        only one who may change sources from there)."""
        if interaction.guild_id is not None and interaction.permissions.manage_guild:
            return True
        return await self.bot.is_owner(interaction.user)

    async def _sync(
        self,
        interaction: discord.Interaction,
        urls: Sequence[str] = (),
        remove_urls: Sequence[str] = (),
    ) -> IndexReport | None:
        """Run a sync (after any one running: the interaction was deferred, which gives
        15 minutes); None after telling the user why it did not happen."""
        try:
            return await self.bot.refresher.sync_now(urls=urls, remove_urls=remove_urls)
        except IndexBusyError:
            text = (
                "Another index run (`articlebot index`) is writing the index right now; "
                "try again when it has finished."
            )
        except ArticlebotError as exc:  # ConfigError: an unknown URL to remove, a bad URL
            text = safe(str(exc), 1800)
        await self._reply(interaction, text)
        return None

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.followup.send(
            text[:CONTENT_LIMIT], ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    def _web_sources(self) -> set[str]:
        return set(self.retriever.view.web_state().sources)

    def _web_article_counts(self) -> dict[str, int]:
        return self.retriever.view.web_article_counts()

    def _about_facts(self) -> tuple[int, dict[str, Any]]:
        view = self.retriever.view
        return len(view.web_state().sources), view.manifest

    # --- /about ------------------------------------------------------------------------------
    @app_commands.command(name="about", description="What this bot knows and how fresh it is")
    async def about(self, interaction: discord.Interaction) -> None:
        # In a worker thread: that also opens a newly published generation, if any.
        web_sources, m = await self.read(self._about_facts)
        description = (
            "Answers with verbatim quotes from the indexed articles, each cited.\n\n"
            f"**Articles:** {m.get('articles', 0):,}\n**Passages:** {m.get('passages', 0):,}\n"
            f"**Model:** {escape(str(m.get('model')))}\n**Index:** {m.get('index_type')} · "
            f"generation {m.get('generation')}\n**Built:** {m.get('built_at')}\n"
            f"**Web sources:** {web_sources}\n" + sync_status(self.bot.refresher)
        )
        embed = discord.Embed(title="articlebot", description=description)
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    # --- @mentions, DMs and follow-ups ----------------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.bot.user is None:
            return
        question, context = self._question_of(message)
        if not question:
            return
        try:
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
        async with message.channel.typing():
            result, fresh = await self.run_answer(question, None, context)
        view = AnswerView(self, result, None)
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

    # --- errors ----------------------------------------------------------------------------------
    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await self.apologise(interaction, error)

    async def apologise(self, interaction: discord.Interaction, error: Exception) -> None:
        text = error_reply(error, f"error in {interaction.command and interaction.command.name}")
        try:
            await send_private(interaction, text)
        except discord.HTTPException:
            log.warning("could not send the apology for interaction %s", interaction.id)


def error_reply(error: BaseException, what: str) -> str:
    """The reply to a question or command that failed, after logging ``what`` happened:
    the one place errors of commands, buttons and @mentions are turned into text.

    The index being unavailable is no bug of the bot: a short reply, and no log here
    (IndexHealth logged the cause once, when the outage began). Anything else: the
    apology, and the traceback in the log.
    """
    original = getattr(error, "original", error)  # app_commands.CommandInvokeError wraps it
    if isinstance(original, IndexUnavailable):
        log.debug("%s: the index is unavailable (%s)", what, original)
        return UNAVAILABLE
    log.error("%s", what, exc_info=error)
    return APOLOGY
