"""The bot keeps its index fresh: /sources add|remove|list and the scheduled re-sync.

End to end, as in test_bot.py: the real ``ArticleBot`` against ``FakeDiscord``, a real
index (``HashEmbedder``), and a real HTTP server on 127.0.0.1 (``site``) serving an RSS
feed and its article pages. Nothing of the bot or the indexer is mocked.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import bot.refresh as refresh_module
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings
from index.stores.local.lock import writer_lock

from .bot_helpers import (
    NO_PINGS,
    _answer_of,
    _ask,
    _bot_settings,
    _build,
    _callback_path,
    _embed,
    serving,
)
from .fake_discord import FakeDiscord, RecordedRequest
from .helpers import ARTICLE_A, ARTICLE_B, ARTICLE_C, HashEmbedder
from .web_server import Site

Json = dict[str, Any]

ZANZIBAR = """Spice islands report

The Zanzibar clove spice harvest was early this year, and the growers sold it quickly.
"""
STORIES = {"/news/yukos": ARTICLE_C, "/news/dollar": ARTICLE_B, "/news/spice": ZANZIBAR}
DATE = "Mon, 10 Jan 2005 09:00:00 GMT"
QUESTION_YUKOS = "How much did Rosneft pay for the Yugansk unit?"
QUESTION_SPICE = "When was the Zanzibar clove spice harvest?"


def _page(story: str) -> str:
    title, _, body = story.strip().partition("\n\n")
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n") if p.strip())
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<article><h1>{title}</h1>{paragraphs}</article></body></html>"
    )


def _rss(site: Site, paths: list[str]) -> str:
    items = "".join(
        f"<item><title>{STORIES[p].strip().splitlines()[0]}</title><link>{site.url(p)}</link>"
        f"<pubDate>{DATE}</pubDate></item>"
        for p in paths
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Example News</title><link>{site.url('/')}</link>{items}</channel></rss>"
    )


def _serve(site: Site, paths: list[str], **options: Any) -> str:
    """Serve the pages and a feed that lists ``paths``; returns the feed's URL."""
    for path, story in STORIES.items():
        site.route(path, _page(story), **options)
    return site.route("/feed.xml", _rss(site, paths), content_type="application/rss+xml")


def _settings(tmp_path: Path, **update: Any) -> Settings:
    values: dict[str, Any] = {"allow_private_urls": True, "fetch_delay": 0.0}
    values.update(update)
    return _bot_settings(tmp_path / "index", tmp_path / "corpus", **values)


def _library(settings: Settings) -> Retriever:
    """An index of one local article (no web sources yet)."""
    return _build(settings, {"a.txt": ARTICLE_A}, HashEmbedder(dimension=1024))


async def _command(
    fake: FakeDiscord,
    name: str,
    options: dict[str, Any] | None = None,
    *,
    user_id: int | None = None,
    dm: bool = False,
) -> tuple[Json, RecordedRequest]:
    """Dispatch a slash command (``"sources add"``); the interaction and its callback."""
    since = len(fake.requests)
    interaction = fake.interaction_create_slash(name, options, user_id=user_id, dm=dm)
    fake.dispatch("INTERACTION_CREATE", interaction)
    callback = await fake.wait_for_request_async("POST", _callback_path(interaction), since=since)
    assert callback.status == 200, callback.response
    return interaction, callback


async def _private_reply(fake: FakeDiscord, name: str, options: dict[str, Any], **kw: Any) -> str:
    """Run an add/remove command; its one ephemeral answer (direct or after a defer)."""
    interaction, callback = await _command(fake, name, options, **kw)
    if callback.json["type"] == 4:  # answered at once
        data = callback.json["data"]
        assert data["flags"] == 64 and data["allowed_mentions"] == NO_PINGS
        return str(data["content"])
    assert callback.json["type"] == 5 and callback.json["data"]["flags"] == 64  # ephemeral defer
    followup = await fake.wait_for_request_async(
        "POST", rf"/webhooks/{fake.application_id}/{re.escape(interaction['token'])}", timeout=20
    )
    assert followup.status == 200, followup.response
    assert followup.json["flags"] == 64 and followup.json["allowed_mentions"] == NO_PINGS
    message = fake.get_message(int(followup.response["id"]))
    assert message is not None and message["flags"] & 64  # only the operator sees it
    return str(followup.json["content"])


async def _answer_text(fake: FakeDiscord, question: str) -> str:
    interaction, _ = await _ask(fake, question)
    return str(_embed((await _answer_of(fake, interaction)).json)["description"])


async def _listed_titles(fake: FakeDiscord) -> str:
    _, callback = await _command(fake, "sources list")
    assert callback.json["type"] == 4 and callback.json["data"]["flags"] == 64
    return str(callback.json["data"]["embeds"][0]["description"])


async def _about(fake: FakeDiscord) -> str:
    _, callback = await _command(fake, "about")
    assert callback.json["type"] == 4 and callback.json["data"]["flags"] == 64
    embed = callback.json["data"]["embeds"][0]
    assert len(embed["description"]) <= 4096
    return str(embed["description"])


# --- /sources add, as an operator ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_admin_adds_a_feed_and_its_stories_are_answered(
    fake: FakeDiscord, site: Site, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    retriever = _library(settings)
    feed = _serve(site, ["/news/yukos", "/news/dollar"])
    async with serving(fake, settings, retriever) as bot:
        assert "Rosneft" not in await _answer_text(fake, QUESTION_YUKOS)
        about = await _about(fake)
        assert "**Web sources:** 0" in about
        assert "**Last sync:** none since the bot started" in about
        assert "automatic refresh off (ARTICLEBOT_REFRESH_MINUTES)" in about

        reply = await _private_reply(fake, "sources add", {"url": feed})
        assert reply.startswith(f"Added {feed}: 2 article(s) from it are indexed"), reply
        assert "added 2" in reply and "failed" not in reply

        # The answering side switched to the new generation by itself: no restart.
        assert "Rosneft bought the Yugansk unit for $9.3bn" in await _answer_text(
            fake, QUESTION_YUKOS
        )
        titles = await _listed_titles(fake)
        for title in ("Yukos unit buyer faces loan claim", "Dollar gains on Greenspan speech"):
            assert title in titles
        assert "Ad sales boost Time Warner profit" in titles  # the folder's article stays

        about = await _about(fake)
        assert "**Web sources:** 1" in about
        assert re.search(r"\*\*Last sync:\*\* <t:\d+:R> \(command\) — added 2 · ", about), about

        # Adding it again re-syncs: nothing new.
        site.reset()
        again = await _private_reply(fake, "sources add", {"url": feed})
        assert again.startswith(f"Re-synced {feed}: 2 article(s)") and "added 0" in again
        assert bot.refresher.last_report is not None and bot.refresher.last_report.added == 0


@pytest.mark.asyncio
async def test_add_reports_failing_pages_escaped(
    fake: FakeDiscord, site: Site, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    retriever = _library(settings)
    feed = _serve(site, ["/news/yukos", "/news/dollar"])
    site.route("/news/dollar", "gone", status=404, content_type="text/plain")
    async with serving(fake, settings, retriever):
        reply = await _private_reply(fake, "sources add", {"url": feed})
    assert reply.startswith(f"Added {feed}: 1 article(s)"), reply
    assert "1 page(s) failed:" in reply and site.url("/news/dollar") in reply
    assert len(reply) <= 2000


@pytest.mark.asyncio
async def test_add_reports_pages_robots_txt_skips_not_as_failures(
    fake: FakeDiscord, site: Site, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    retriever = _library(settings)
    feed = _serve(site, ["/news/yukos", "/news/dollar"])
    site.route("/robots.txt", "User-agent: *\nDisallow: /news/dollar\n", content_type="text/plain")
    async with serving(fake, settings, retriever):
        reply = await _private_reply(fake, "sources add", {"url": feed})
        about = await _about(fake)
    assert reply.startswith(f"Added {feed}: 1 article(s)"), reply
    assert "1 page(s) skipped: the site's robots.txt disallows them." in reply
    assert "failed" not in reply
    assert "failed 0 · skipped 1 (robots.txt)" in about, about
    assert "/news/dollar" not in site.paths()


# --- who may add, and what ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_non_admin_cannot_add_or_remove(
    fake: FakeDiscord, site: Site, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    retriever = _library(settings)
    feed = _serve(site, ["/news/yukos"])
    mallory = fake.add_user("mallory")  # only @everyone's permissions, not the app owner
    async with serving(fake, settings, retriever) as bot:
        for name in ("sources add", "sources remove"):
            reply = await _private_reply(fake, name, {"url": feed}, user_id=mallory)
            assert reply.startswith("Only members with the Manage Server permission"), reply
            dm = await _private_reply(fake, name, {"url": feed}, user_id=mallory, dm=True)
            assert dm == reply
        # Everyone may still list.
        assert "Ad sales boost Time Warner profit" in await _listed_titles(fake)
        assert bot.refresher.last_started is None
    assert site.count() == 0  # nothing fetched


@pytest.mark.asyncio
async def test_private_address_refused_unless_allowed(
    fake: FakeDiscord, site: Site, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, allow_private_urls=False)
    retriever = _library(settings)
    feed = _serve(site, ["/news/yukos"])
    async with serving(fake, settings, retriever) as bot:
        reply = await _private_reply(fake, "sources add", {"url": feed})
        assert reply.startswith("Not added: 127.0.0.1 is a loopback address"), reply
        assert "ARTICLEBOT\\_ALLOW\\_PRIVATE\\_URLS" in reply  # escaped: no italics
        bad = await _private_reply(fake, "sources add", {"url": "ftp://example.com/feed"})
        assert bad.startswith("That is not a URL I can index: ftp:// URLs are not fetched")
        assert bot.refresher.last_started is None
    assert site.count() == 0


# --- /sources remove -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_remove_drops_the_articles(fake: FakeDiscord, site: Site, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    retriever = _library(settings)
    feed = _serve(site, ["/news/yukos", "/news/dollar"])
    # Indexed before the bot starts (in a thread: the web sync runs an event loop of its own).
    await asyncio.to_thread(run_index, settings, retriever.embedder, urls=[feed])
    async with serving(fake, settings, retriever):
        assert "Rosneft bought the Yugansk unit" in await _answer_text(fake, QUESTION_YUKOS)

        # The owner may manage sources from a DM too; an unknown URL is a clear error.
        unknown = await _private_reply(
            fake, "sources remove", {"url": site.url("/other.xml")}, dm=True
        )
        assert "is not an indexed web source" in unknown and feed in unknown, unknown

        reply = await _private_reply(fake, "sources remove", {"url": feed})
        assert reply == (
            f"Removed {feed} from the shared sources: 2 article(s) dropped; "
            "0 web source(s) left there."
        ), reply
        titles = await _listed_titles(fake)
        assert "Yukos unit buyer faces loan claim" not in titles
        assert "Ad sales boost Time Warner profit" in titles
        assert "Rosneft bought the Yugansk unit" not in await _answer_text(fake, QUESTION_YUKOS)
        assert "**Web sources:** 0" in await _about(fake)


# --- the schedule --------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("fake", [{"heartbeat_interval_ms": 250}], indirect=True)
async def test_scheduled_refresh_picks_up_new_stories(
    fake: FakeDiscord, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, refresh_minutes=0.02)  # every 1.2 s
    retriever = _library(settings)
    feed = _serve(site, ["/news/yukos"])
    await asyncio.to_thread(run_index, settings, retriever.embedder, urls=[feed])
    real = refresh_module.run_index
    on_loop: list[bool] = []
    running = threading.Event()

    def watched(*args: Any, **kwargs: Any) -> Any:
        try:  # the sync must run in a worker thread, never on the event loop
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        running.set()
        try:
            return real(*args, **kwargs)
        finally:
            running.clear()

    monkeypatch.setattr(refresh_module, "run_index", watched)
    async with serving(fake, settings, retriever) as bot:
        refresher = bot.refresher
        assert refresher.enabled and refresher.interval == pytest.approx(1.2)
        about = await _about(fake)
        assert re.search(r"\*\*Next sync:\*\* <t:\d+:R> \(every 0\.02 min\)", about), about
        assert "Zanzibar" not in await _answer_text(fake, QUESTION_SPICE)

        # A new story in the feed; its page is slow, so the sync takes a while.
        site.route("/news/spice", _page(ZANZIBAR), delay=1.0)
        site.route("/feed.xml", _rss(site, ["/news/yukos", "/news/spice"]))
        await fake.wait_until_async(lambda: running.is_set(), timeout=5)
        sync_started = time.monotonic()
        await fake.wait_until_async(
            lambda: refresher.last_report is not None and refresher.last_report.added == 1,
            timeout=10,
        )
        sync_ended = time.monotonic()
        await asyncio.sleep(0.3)  # one more heartbeat after the sync
        gap = fake.max_heartbeat_gap()
        beats = [t for t in fake.heartbeat_times() if sync_started <= t <= sync_ended]

        answer = await _answer_text(fake, QUESTION_SPICE)
        assert "The Zanzibar clove spice harvest was early this year" in answer
        about = await _about(fake)
        assert re.search(
            r"\*\*Last sync:\*\* <t:\d+:R> \(schedule\) — added 1 · updated 0 · removed 0 · "
            r"failed 0",
            about,
        ), about
        assert "**Web sources:** 1" in about

        # A tick that finds a sync running (a command's) is skipped, not queued.
        skipped = refresher.skipped
        async with refresher.lock:
            await fake.wait_until_async(lambda: refresher.skipped > skipped, timeout=5)
        assert "**Sync:** running" not in await _about(fake)

        # A CLI run holding the writer lock: the scheduled sync fails, is recorded, and
        # the schedule goes on.
        with writer_lock(settings.index_dir):
            await fake.wait_until_async(lambda: refresher.last_error is not None, timeout=5)
            assert "Another `articlebot index` is writing" in refresher.last_error
            about = await _about(fake)
            assert (
                "**Last sync failed:** <t:" in about and "Another \\`articlebot index\\`" in about
            )
        await fake.wait_until_async(lambda: refresher.last_error is None, timeout=5)

    assert on_loop and not any(on_loop)
    assert len(beats) >= 3  # the gap was measured while the sync ran
    assert gap < 1.0, f"max heartbeat gap {gap:.2f} s"
