"""The index itself: /sources list, add and remove, and /about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands

from index import ArticlebotError, FetchError, IndexBusyError, IndexReport, check_public, check_url

from .base import NO_MENTIONS, IndexCog
from .refresh import added_text, sync_status
from .render import CONTENT_LIMIT, escape, safe

SOURCES_PAGE = 10


class SourcesCog(IndexCog):
    """What is indexed and how fresh it is; operators add and remove web sources."""

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
