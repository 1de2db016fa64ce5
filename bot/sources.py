"""The index itself: /sources list, add and remove, and /about.

Each server sees the shared sources and its own (index.reading_scopes); a member with
Manage Server changes that server's own, the bot's application owner the shared ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands

from index import (
    SHARED,
    ArticlebotError,
    FetchError,
    IndexBusyError,
    IndexReport,
    check_public,
    check_url,
    reading_scopes,
)

from .base import NO_MENTIONS, IndexCog
from .refresh import added_text, sync_status
from .render import CONTENT_LIMIT, escape, safe

SOURCES_PAGE = 10
REFUSED_HERE = (
    "/sources is not available in this server: it is not one of the bot's allowed servers "
    "(ARTICLEBOT\\_ALLOWED\\_GUILD\\_IDS)."
)


@dataclass(frozen=True)
class Holdings:
    """What a server (or a DM) is answered from: shared articles and the server's own."""

    articles: int  # shared and own together (one listed by both counts once)
    own_articles: int
    shared_passages: int
    own_passages: int
    web_sources: frozenset[str]  # those the server sees: shared and its own

    def lines(self) -> str:
        """/about's counts; a server's own shown apart (its passages are not the shared ones)."""
        if not self.own_articles:
            return f"**Articles:** {self.articles:,}\n**Passages:** {self.shared_passages:,}\n"
        return (
            f"**Articles:** {self.articles:,} ({self.own_articles:,} of them this server's)\n"
            f"**Passages:** {self.shared_passages:,} shared · {self.own_passages:,} this "
            "server's\n"
        )


def _where(scope: str) -> str:
    return "Shared: answered in every server." if scope == SHARED else "For this server only."


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
        if await self._refused_here(interaction):
            return
        scopes = reading_scopes(interaction.guild_id)
        total, rows, fresh = await self.read(self._article_page, page, scopes)
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

    def _article_page(
        self, page: int, scopes: frozenset[str]
    ) -> tuple[int, list[tuple[str, str | None]], str]:
        offset = (page - 1) * SOURCES_PAGE
        total, rows = self.retriever.view.articles_page(offset, SOURCES_PAGE, scopes)
        return total, rows, self._freshness(total)

    @sources.command(name="add", description="Index a feed, sitemap, site or page (admins)")
    @app_commands.describe(url="An http:// or https:// URL")
    async def sources_add(
        self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000]
    ) -> None:
        acting = await self._operator_url(interaction, url)
        if acting is None:
            return
        scope, checked = acting
        # Deferred before the address check: resolving a host has no deadline of its own,
        # and Discord wants the first response within 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        if not self.settings.allow_private_urls:
            try:
                await check_public(checked)
            except FetchError as exc:
                await self._reply(interaction, f"Not added: {safe(exc.reason, 1500, inline=True)}")
                return
        before = await self.read(self._scope_sources, scope)
        report = await self._sync(interaction, scope, urls=[checked])
        if report is None:
            return
        counts = await self.read(self._web_article_counts)
        text = added_text(checked, report, counts, checked in before, _where(scope))
        await self._reply(interaction, text)

    @sources.command(name="remove", description="Stop indexing a web source (admins)")
    @app_commands.describe(url="The source's URL, as /about or `articlebot stats` shows it")
    async def sources_remove(
        self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000]
    ) -> None:
        acting = await self._operator_url(interaction, url)
        if acting is None:
            return
        scope, checked = acting
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self._sync(interaction, scope, remove_urls=[checked])
        if report is None:
            return
        left = len(await self.read(self._scope_sources, scope))
        whose = "the shared sources" if scope == SHARED else "this server's sources"
        await self._reply(
            interaction,
            f"Removed {safe(checked, 300, inline=True)} from {whose}: {report.removed} "
            f"article(s) dropped; {left} web source(s) left there."
            + (" Others that added it keep it." if checked in report.sources else ""),
        )

    async def _refused_here(self, interaction: discord.Interaction) -> bool:
        """Whether /sources is off in this server (outside ARTICLEBOT_ALLOWED_GUILD_IDS,
        when that is set), after telling the user so."""
        allowed = self.settings.allowed_guild_ids
        if interaction.guild_id is None or not allowed or interaction.guild_id in allowed:
            return False
        await interaction.response.send_message(
            REFUSED_HERE, ephemeral=True, allowed_mentions=NO_MENTIONS
        )
        return True

    async def _operator_url(
        self, interaction: discord.Interaction, url: str
    ) -> tuple[str, str] | None:
        """The scope the user changes and the URL, normalised, when the user may change
        sources here and it is a web URL; else None, after telling them why (ephemerally)."""
        if await self._refused_here(interaction):
            return None
        scope = await self.acting_scope(interaction)
        if scope is None:
            await interaction.response.send_message(
                "Only members with the Manage Server permission (or the bot's owner) can "
                "add or remove sources.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return None
        try:
            return scope, check_url(url)
        except FetchError as exc:
            await interaction.response.send_message(
                f"That is not a URL I can index: {safe(exc.reason, 1500, inline=True)}",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return None

    async def acting_scope(self, interaction: discord.Interaction) -> str | None:
        """Whose sources the user changes: the shared ones for the bot's application owner
        (anywhere, also in a DM: the only one who may change sources from there), this
        server's own for a member with Manage Server; None: neither."""
        if await self.bot.is_owner(interaction.user):
            return SHARED
        if interaction.guild_id is not None and interaction.permissions.manage_guild:
            return str(interaction.guild_id)
        return None

    async def _sync(
        self,
        interaction: discord.Interaction,
        scope: str,
        urls: Sequence[str] = (),
        remove_urls: Sequence[str] = (),
    ) -> IndexReport | None:
        """Run a sync for ``scope`` (after any one running: the interaction was deferred,
        which gives 15 minutes); None after telling the user why it did not happen."""
        try:
            return await self.bot.refresher.sync_now(
                urls=urls, remove_urls=remove_urls, scope=scope
            )
        except IndexBusyError:
            text = (
                "Another index run (`articlebot index`) is writing the index right now; "
                "try again when it has finished."
            )
        # ConfigError: a URL to remove that this scope does not hold, a server's cap, a bad URL
        except ArticlebotError as exc:
            text = safe(str(exc), 1800)
        await self._reply(interaction, text)
        return None

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.followup.send(
            text[:CONTENT_LIMIT], ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    def _scope_sources(self, scope: str) -> set[str]:
        """The web sources ``scope`` holds (others may hold them too)."""
        sources = self.retriever.view.web_state().sources
        return {url for url, source in sources.items() if scope in source.scopes}

    def _web_article_counts(self) -> dict[str, int]:
        return self.retriever.view.web_article_counts()

    def _about_facts(self, guild_id: int | None) -> tuple[Holdings, dict[str, Any]]:
        view = self.retriever.view
        scopes, own = reading_scopes(guild_id), "" if guild_id is None else str(guild_id)
        counts = view.scope_counts()
        sources = view.web_state().sources.values()
        holdings = Holdings(
            articles=view.articles_page(0, 0, scopes)[0],
            own_articles=counts.get(own, (0, 0))[0],
            shared_passages=counts.get(SHARED, (0, 0))[1],
            own_passages=counts.get(own, (0, 0))[1],
            web_sources=frozenset(s.url for s in sources if s.scopes & scopes),
        )
        return holdings, view.manifest

    # --- /about ------------------------------------------------------------------------------
    @app_commands.command(name="about", description="What this bot knows and how fresh it is")
    async def about(self, interaction: discord.Interaction) -> None:
        # In a worker thread: that also opens a newly published generation, if any.
        held, m = await self.read(self._about_facts, interaction.guild_id)
        description = (
            "Answers with verbatim quotes from the indexed articles, each cited.\n\n"
            + held.lines()
            + f"**Model:** {escape(str(m.get('model')))}\n**Index:** {m.get('index_type')} · "
            f"generation {m.get('generation')}\n**Built:** {m.get('built_at')}\n"
            f"**Web sources:** {len(held.web_sources)}\n"
            + sync_status(self.bot.refresher, held.web_sources)
        )
        embed = discord.Embed(title="articlebot", description=description)
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS
        )
