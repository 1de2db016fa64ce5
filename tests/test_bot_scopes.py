"""Each Discord server has its own sources: the real bot, two servers (A and B) on the fake.

A member with Manage Server adds and removes web sources for that server only; the bot's
application owner (the fake's ``user_id``) for every server (shared). An answer in a server
(/ask, @mention, "More quotes"), /sources list, /ask's autocomplete and /about see the
shared articles and that server's own, never another server's. On the local store and on
PostgreSQL; a real web site on 127.0.0.1 serves the feeds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import discord
import pytest
from pydantic import SecretStr

from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings

from . import pg_cluster as fixtures
from .bot_helpers import (
    _answer_of,
    _autocomplete_interaction,
    _bot_settings,
    _callback_path,
    _embed,
    serving,
)
from .fake_discord import FakeDiscord
from .helpers import ARTICLE_A, ARTICLE_B, ARTICLE_C, HashEmbedder, write
from .web_server import Site

pg_cluster, pg_url = fixtures.pg_cluster, fixtures.pg_url

Json = dict[str, Any]
QUESTION_YUKOS = "How much did Rosneft pay for the Yugansk unit?"  # A's feed
QUESTION_SHARED = "How much did TimeWarner quarterly profits jump?"  # the shared folder
YUKOS_QUOTE = "Rosneft bought the Yugansk unit"
YUKOS_TITLE = "Yukos unit buyer faces loan claim"
SHARED_QUOTE = "TimeWarner jumped 76%"
MANAGE_SERVER = discord.Permissions(manage_guild=True).value
STORIES = {"/news/yukos": ARTICLE_C, "/news/dollar": ARTICLE_B}


class World:
    """Two servers on the fake, each with an admin (Manage Server there only)."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.guild_a, self.channel_a = fake.guild_id, fake.channel_id
        self.guild_b, self.channel_b = fake.add_guild("Server B")
        self.admin_a, self.admin_b = fake.add_user("anna"), fake.add_user("bert")
        fake.grant(self.admin_a, MANAGE_SERVER, guild_id=self.guild_a)
        fake.grant(self.admin_b, MANAGE_SERVER, guild_id=self.guild_b)
        self.owner = fake.user_id  # the bot's application owner


def _page(story: str) -> str:
    title, _, body = story.strip().partition("\n\n")
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        + "".join(f"<p>{p}</p>" for p in body.split("\n\n") if p.strip())
        + "</article></body></html>"
    )


def _feed(site: Site, name: str, path: str) -> str:
    """Serve the stories and a feed ``name`` listing the one at ``path``; the feed's URL."""
    for where, story in STORIES.items():
        site.route(where, _page(story))
    title = STORIES[path].strip().splitlines()[0]
    item = f"<item><title>{title}</title><link>{site.url(path)}</link></item>"
    rss = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>{item}</channel></rss>'
    return site.route(f"/{name}.xml", rss, content_type="application/rss+xml")


def _library(settings: Settings) -> Retriever:
    """The shared corpus: one article from a folder (no web sources yet)."""
    embedder = HashEmbedder(dimension=1024)
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    run_index(settings, embedder)
    return Retriever(settings, embedder)


def _local(tmp_path: Path, **update: Any) -> Settings:
    values: dict[str, Any] = {"allow_private_urls": True, "fetch_delay": 0.0, **update}
    return _bot_settings(tmp_path / "index", tmp_path / "corpus", **values)


# --- talking to the bot in a channel ---------------------------------------------------------------


async def _command(
    fake: FakeDiscord, name: str, options: Json | None, user: int, channel: int | None
) -> tuple[Json, Json]:
    """Dispatch a slash command in ``channel`` (None: the user's DM); interaction, callback."""
    since = len(fake.requests)
    interaction = fake.interaction_create_slash(
        name, options, user_id=user, channel_id=channel, dm=channel is None
    )
    fake.dispatch("INTERACTION_CREATE", interaction)
    callback = await fake.wait_for_request_async("POST", _callback_path(interaction), since=since)
    assert callback.status == 200, callback.response
    return interaction, dict(callback.json)


async def _private(fake: FakeDiscord, name: str, url: str, user: int, channel: int | None) -> str:
    """/sources add|remove: its one ephemeral reply (at once, or after a defer)."""
    interaction, callback = await _command(fake, name, {"url": url}, user, channel)
    if callback["type"] == 4:
        assert callback["data"]["flags"] == 64
        return str(callback["data"]["content"])
    followup = await fake.wait_for_request_async(
        "POST", rf"/webhooks/{fake.application_id}/{re.escape(interaction['token'])}", timeout=20
    )
    assert followup.status == 200 and followup.json["flags"] == 64, followup.response
    return str(followup.json["content"])


async def _ask(fake: FakeDiscord, question: str, channel: int | None) -> tuple[Json, Json]:
    """/ask in ``channel``: the answer's message (its id) and its embed, as one text."""
    interaction, callback = await _command(
        fake, "ask", {"question": question}, fake.user_id, channel
    )
    assert callback["type"] == 5
    answer = await _answer_of(fake, interaction)
    return dict(answer.response), answer.json


def _text(body: Json) -> str:
    """An answer's quotes and cited titles."""
    embed = _embed(body)
    return embed["description"] + "".join(f["value"] for f in embed.get("fields") or [])


async def _more_quotes(fake: FakeDiscord, message: Json, body: Json) -> list[str]:
    """Click "More quotes" under an answer until there are none; the answers it brought."""
    button = next(
        c["custom_id"]
        for row in body.get("components") or []
        for c in row["components"]
        if c.get("label") == "More quotes"
    )
    brought: list[str] = []
    for _ in range(8):
        click = fake.interaction_create_component(button, message=int(message["id"]))
        fake.dispatch("INTERACTION_CREATE", click)
        extra = await _answer_of(fake, click)
        if not extra.json.get("embeds"):
            return brought
        brought.append(_text(extra.json))
    raise AssertionError("More quotes never ran out")


async def _mention(fake: FakeDiscord, question: str, channel: int) -> str:
    since = len(fake.requests)
    message = fake.message_create(f"{fake.bot_mention} {question}", channel_id=channel)
    fake.dispatch("MESSAGE_CREATE", message)
    reply = await fake.wait_for_request_async("POST", rf"/channels/{channel}/messages", since=since)
    return _text(reply.json)


async def _listed(fake: FakeDiscord, world: World, channel: int | None) -> str:
    _, callback = await _command(fake, "sources list", None, world.owner, channel)
    assert callback["type"] == 4 and callback["data"]["flags"] == 64
    embed = callback["data"]["embeds"][0]
    return f"{embed['description']}\n{embed['footer']['text']}"


async def _about(fake: FakeDiscord, world: World, channel: int | None) -> str:
    _, callback = await _command(fake, "about", None, world.owner, channel)
    return str(callback["data"]["embeds"][0]["description"])


async def _completions(fake: FakeDiscord, current: str, channel: int) -> list[str]:
    """/ask's source autocomplete in ``channel``: the names offered."""
    completion = _autocomplete_interaction(fake, QUESTION_YUKOS, current, channel)
    fake.dispatch("INTERACTION_CREATE", completion)
    callback = await fake.wait_for_request_async("POST", _callback_path(completion))
    assert callback.status == 200 and callback.json["type"] == 8
    return [c["name"] for c in callback.json["data"]["choices"]]


# --- A's sources are A's ------------------------------------------------------------------------------


async def _check_isolation(fake: FakeDiscord, site: Site, settings: Settings) -> None:
    """A's admin adds a feed: answered, listed and offered in A, never in B or a DM."""
    world = World(fake)
    feed = _feed(site, "a-news", "/news/yukos")
    async with serving(fake, settings, _library(settings)):
        reply = await _private(fake, "sources add", feed, world.admin_a, world.channel_a)
        assert reply.startswith(f"Added {feed}: 1 article(s)"), reply
        assert "For this server only." in reply

        _, body = await _ask(fake, QUESTION_YUKOS, world.channel_a)
        assert YUKOS_QUOTE in _text(body) and YUKOS_TITLE in _text(body)
        assert YUKOS_QUOTE in await _mention(fake, QUESTION_YUKOS, world.channel_a)
        # "More quotes" on the shared question pages on into A's story in A...
        message, body = await _ask(fake, QUESTION_SHARED, world.channel_a)
        assert SHARED_QUOTE in _text(body)
        assert any(YUKOS_QUOTE in t for t in await _more_quotes(fake, message, body))

        _, body = await _ask(fake, QUESTION_YUKOS, world.channel_b)
        seen_in_b = [_text(body)]
        assert _embed(body)["footer"]["text"].startswith("1 articles ·")  # not A's too
        message, body = await _ask(fake, QUESTION_SHARED, world.channel_b)  # ...not in B
        assert SHARED_QUOTE in _text(body)
        seen_in_b += [_text(body), *await _more_quotes(fake, message, body)]
        seen_in_b.append(await _mention(fake, QUESTION_YUKOS, world.channel_b))
        seen_in_b.append(_text((await _ask(fake, QUESTION_YUKOS, None))[1]))  # a DM
        for text in seen_in_b:
            assert "Rosneft" not in text and YUKOS_TITLE not in text, text
        for channel in (world.channel_a, world.channel_b, None):  # the shared corpus
            assert SHARED_QUOTE in _text((await _ask(fake, QUESTION_SHARED, channel))[1])

        listed_a = await _listed(fake, world, world.channel_a)
        assert YUKOS_TITLE in listed_a and "2 articles" in listed_a
        listed_b = await _listed(fake, world, world.channel_b)
        assert YUKOS_TITLE not in listed_b and "1 articles" in listed_b
        assert "Ad sales boost Time Warner profit" in listed_b
        assert await _completions(fake, "Yukos", world.channel_a) == [YUKOS_TITLE]
        assert await _completions(fake, "Yukos", world.channel_b) == []
        about_a = await _about(fake, world, world.channel_a)
        assert "**Web sources:** 1" in about_a and "(1 of them this server's)" in about_a
        about_b = await _about(fake, world, world.channel_b)
        assert "**Web sources:** 0" in about_b and "**Articles:** 1\n" in about_b


@pytest.mark.asyncio
async def test_a_servers_source_is_answered_there_and_never_in_another(
    fake: FakeDiscord, site: Site, tmp_path: Path
) -> None:
    await _check_isolation(fake, site, _local(tmp_path))


@pytest.mark.asyncio
async def test_a_servers_source_is_answered_there_and_never_in_another_on_postgres(
    fake: FakeDiscord, site: Site, tmp_path: Path, pg_url: str
) -> None:
    settings = _local(tmp_path, database_url=SecretStr(pg_url))
    await _check_isolation(fake, site, settings)


# --- who may remove what ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_admin_removes_only_their_own_servers_sources(
    fake: FakeDiscord, site: Site, tmp_path: Path
) -> None:
    world = World(fake)
    settings = _local(tmp_path)
    a_feed = _feed(site, "a-news", "/news/yukos")
    shared_feed = _feed(site, "shared-news", "/news/dollar")
    async with serving(fake, settings, _library(settings)) as bot:
        assert "For this server only." in await _private(
            fake, "sources add", a_feed, world.admin_a, world.channel_a
        )
        # The application owner adds for everyone, also from inside a server.
        shared = await _private(fake, "sources add", shared_feed, world.owner, world.channel_a)
        assert "Shared: answered in every server." in shared, shared

        for url in (a_feed, shared_feed):
            refused = await _private(fake, "sources remove", url, world.admin_b, world.channel_b)
            assert refused == (
                f"{url} is not a web source of this server; the web sources are: (none)."
            ), refused
        refused = await _private(
            fake, "sources remove", shared_feed, world.admin_a, world.channel_a
        )
        assert refused.startswith(f"{shared_feed} is not a web source of this server"), refused
        assert a_feed in refused  # A's own, which A's admin may remove

        sources = bot.retriever.view.web_state().sources
        assert sources[a_feed].scopes == {str(world.guild_a)}
        assert sources[shared_feed].scopes == {"shared"}
        assert YUKOS_QUOTE in _text((await _ask(fake, QUESTION_YUKOS, world.channel_a))[1])
        dollar = "What did the Federal Reserve head say about the trade deficit?"
        assert "set to stabilise" in _text((await _ask(fake, dollar, world.channel_b))[1])
        # A refused request ran no sync: B's /about names none of A's sources.
        about_b = await _about(fake, world, world.channel_b)
        assert "Last sync failed" not in about_b and a_feed not in about_b

        removed = await _private(fake, "sources remove", a_feed, world.admin_a, world.channel_a)
        assert removed == (
            f"Removed {a_feed} from this server's sources: 1 article(s) dropped; "
            "0 web source(s) left there."
        ), removed
        assert "Rosneft" not in _text((await _ask(fake, QUESTION_YUKOS, world.channel_a))[1])


@pytest.mark.asyncio
async def test_a_url_two_servers_add_is_stored_once_and_removed_per_server(
    fake: FakeDiscord, site: Site, tmp_path: Path
) -> None:
    world = World(fake)
    settings = _local(tmp_path)
    feed = _feed(site, "news", "/news/yukos")
    async with serving(fake, settings, _library(settings)) as bot:
        for admin, channel in ((world.admin_a, world.channel_a), (world.admin_b, world.channel_b)):
            reply = await _private(fake, "sources add", feed, admin, channel)
            assert reply.startswith(f"Added {feed}: 1 article(s)"), reply  # not "Re-synced"
        view = bot.retriever.view
        assert view.web_state().sources[feed].scopes == {str(world.guild_a), str(world.guild_b)}
        assert view.articles_page(0, 10)[0] == 2  # the folder's article and the story, once
        for channel in (world.channel_a, world.channel_b):
            assert YUKOS_QUOTE in _text((await _ask(fake, QUESTION_YUKOS, channel))[1])

        removed = await _private(fake, "sources remove", feed, world.admin_a, world.channel_a)
        assert removed.startswith(f"Removed {feed} from this server's sources: 0 article(s)")
        assert removed.endswith("Others that added it keep it."), removed
        assert "Rosneft" not in _text((await _ask(fake, QUESTION_YUKOS, world.channel_a))[1])
        assert YUKOS_QUOTE in _text((await _ask(fake, QUESTION_YUKOS, world.channel_b))[1])
        assert bot.retriever.view.web_state().sources[feed].scopes == {str(world.guild_b)}


# --- where /sources works, and how much a server may add ---------------------------------------------


@pytest.mark.asyncio
async def test_sources_is_refused_outside_the_allowed_servers(
    fake: FakeDiscord, site: Site, tmp_path: Path
) -> None:
    world = World(fake)
    settings = _local(tmp_path, allowed_guild_ids=[world.guild_a])
    feed = _feed(site, "news", "/news/yukos")
    async with serving(fake, settings, _library(settings)) as bot:
        for user in (world.admin_b, world.owner):  # not even the owner, in that server
            for name in ("sources add", "sources remove"):
                reply = await _private(fake, name, feed, user, world.channel_b)
                assert reply.startswith("/sources is not available in this server"), reply
            _, listed = await _command(fake, "sources list", None, user, world.channel_b)
            assert listed["data"]["content"] == reply and listed["data"]["flags"] == 64
        assert bot.refresher.last_started is None and site.count() == 0
        assert "Ad sales boost" in await _listed(fake, world, world.channel_a)
        assert "Ad sales boost" in await _listed(fake, world, None)  # a DM is no server
        added = await _private(fake, "sources add", feed, world.admin_a, world.channel_a)
        assert added.startswith(f"Added {feed}"), added


@pytest.mark.asyncio
async def test_a_server_past_its_cap_is_told_so(
    fake: FakeDiscord, site: Site, tmp_path: Path
) -> None:
    world = World(fake)
    settings = _local(tmp_path, server_max_sources=1)
    first, second = _feed(site, "one", "/news/yukos"), _feed(site, "two", "/news/dollar")
    async with serving(fake, settings, _library(settings)) as bot:
        assert (
            await _private(fake, "sources add", first, world.admin_a, world.channel_a)
        ).startswith(f"Added {first}")
        refused = await _private(fake, "sources add", second, world.admin_a, world.channel_a)
        assert refused == (
            "This server would have 2 web sources; the most it may have is 1 "
            "(ARTICLEBOT\\_SERVER\\_MAX\\_SOURCES). Remove one first."
        ), refused
        assert second not in bot.retriever.view.web_state().sources
        # Another server and the shared sources have caps of their own.
        for user, channel in ((world.admin_b, world.channel_b), (world.owner, world.channel_a)):
            added = await _private(fake, "sources add", second, user, channel)
            assert added.startswith(f"Added {second}"), added
