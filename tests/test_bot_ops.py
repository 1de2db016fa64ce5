"""Running the bot for operators: /healthz, /readyz and /metrics over real HTTP, JSON logs,
the "queued" notice at the concurrency cap, and SIGTERM (drain, then close).

The real ``ArticleBot`` against ``FakeDiscord``, a real SQLite + FAISS index and the
``HashEmbedder``; a few tests hold ``bot.ask.answer`` on an Event (a slow model)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import bot.ask as ask_module
from bot.app import make_bot, serve
from bot.base import RESTARTING
from bot.client import ArticleBot
from bot.logs import setup_logging
from index.errors import ConfigError, IndexBusyError
from index.retrieval import Retriever
from index.settings import Settings
from index.stores import open_store

from .bot_helpers import (
    QUESTION_YUKOS,
    Json,
    _answer_of,
    _answers,
    _ask,
    _bot_settings,
    _build,
    _callback_path,
    _delivered,
    _embed,
    _webhook_path,
    serving,
)
from .fake_discord import FakeDiscord, running
from .helpers import ARTICLE_A, ARTICLE_B, ARTICLE_C, REPO, TURKEY, HashEmbedder

QUESTION_OFF_TOPIC = "zebra xylophone quilting"
FILES = {"a.txt": ARTICLE_A, "b.txt": ARTICLE_B, "c.txt": ARTICLE_C, "turkey.md": TURKEY}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Retriever]:
    root = tmp_path_factory.mktemp("ops")
    settings = _bot_settings(root / "index", root / "corpus", http_addr="127.0.0.1:0")
    return settings, _build(settings, FILES, HashEmbedder(dimension=1024))


def _url(bot: ArticleBot, path: str) -> str:
    assert bot.ops is not None
    return f"http://127.0.0.1:{bot.ops.port}{path}"


async def _get(bot: ArticleBot, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(_url(bot, path))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


class Held:
    """``bot.ask.answer`` held until the test releases it (a slow model, in the thread)."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.real = ask_module.answer

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.release()
        assert self.release.wait(10), "the test never released the answer"
        return self.real(*args, **kwargs)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.acquire, True, 5), "no answer started"


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    hold = Held()
    monkeypatch.setattr(ask_module, "answer", hold)
    try:
        yield hold
    finally:
        hold.release.set()  # never leave a worker thread waiting


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("addr", ["9108", "localhost", ":9108", "host:99999", "host:port"])
def test_bad_http_addr_is_one_clear_line(addr: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from index.cli import build_settings

    monkeypatch.setenv("ARTICLEBOT_HTTP_ADDR", addr)
    with pytest.raises(ConfigError) as raised:
        build_settings(__import__("argparse").Namespace())
    message = str(raised.value)
    assert "ARTICLEBOT_HTTP_ADDR" in message and "HOST:PORT" in message and "\n" not in message


def test_http_addr_forms() -> None:
    def addr(value: str) -> str | None:
        return Settings(_env_file=None, http_addr=value).http_addr  # type: ignore[call-arg]

    assert addr("127.0.0.1:9108") == "127.0.0.1:9108"
    assert addr("[::1]:9108") == "[::1]:9108"
    assert addr("  ") is None  # empty in .env: off


# --- health and readiness ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_readyz_is_503_until_connected_then_200(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    bot = make_bot(settings, sync=True, retriever=retriever, guild_ready_timeout=0.1)
    assert bot.ops is not None
    await bot.ops.start()  # as setup_hook does first thing, before the gateway connects
    try:
        assert (await _get(bot, "/healthz")).status_code == 200
        before = await _get(bot, "/readyz")
        assert before.status_code == 503
        assert "not connected to the Discord gateway" in before.text
        async with running(bot, fake.token):
            ready = await _get(bot, "/readyz")
            assert (ready.status_code, ready.text) == (200, "ready\n")
            port = bot.ops.port
    finally:
        await bot.close()
    with pytest.raises(httpx.ConnectError):  # close stopped the server
        async with httpx.AsyncClient(timeout=2) as client:
            await client.get(f"http://127.0.0.1:{port}/healthz")


@pytest.mark.asyncio
async def test_readyz_is_503_while_the_index_is_unavailable(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    settings = _bot_settings(tmp_path / "index", tmp_path / "corpus", http_addr="127.0.0.1:0")
    retriever = _build(settings, FILES, HashEmbedder(dimension=1024))
    moved = tmp_path / "moved"
    async with serving(fake, settings, retriever) as bot:
        assert (await _get(bot, "/readyz")).status_code == 200
        settings.index_dir.rename(moved)
        try:
            down = await _get(bot, "/readyz")
            assert down.status_code == 503 and "index unavailable" in down.text, down.text
            assert (await _get(bot, "/healthz")).status_code == 200  # alive all the same
        finally:
            moved.rename(settings.index_dir)
        # The index probe (every 2 s) sees it back; then /readyz reads it again.
        for _ in range(40):
            if (await _get(bot, "/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("/readyz stayed 503 after the index came back")


# --- metrics -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_metrics_count_questions_votes_and_syncs(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    async with serving(fake, settings, retriever) as bot:
        interaction, _ = await _ask(fake, QUESTION_YUKOS)
        answered = await _answer_of(fake, interaction)
        interaction, _ = await _ask(fake, QUESTION_OFF_TOPIC)
        await _answer_of(fake, interaction)
        click = fake.interaction_create_component(
            _custom_id(answered.json, "👍"), message=int(answered.response["id"])
        )
        fake.dispatch("INTERACTION_CREATE", click)
        await fake.wait_for_request_async("POST", _callback_path(click))
        await bot.refresher.sync_now()  # a command's sync: the corpus again
        with pytest.raises(ConfigError):  # a URL that is no source: refused, no sync
            await bot.refresher.sync_now(remove_urls=["https://nowhere.example/"])
        with open_store(settings).writer_lock(), pytest.raises(IndexBusyError):
            await bot.refresher.sync_now()  # another writer holds the index: a failed sync
        scraped = await _get(bot, "/metrics")

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(scraped.text)
    assert samples[("articlebot_questions_total", (("outcome", "answered"),))] == 1
    assert samples[("articlebot_questions_total", (("outcome", "declined"),))] == 1
    assert samples[("articlebot_questions_total", (("outcome", "error"),))] == 0
    assert samples[("articlebot_answer_latency_seconds_count", ())] == 2
    assert samples[("articlebot_feedback_votes_total", (("vote", "up"),))] == 1
    assert samples[("articlebot_feedback_votes_total", (("vote", "down"),))] == 0
    assert samples[("articlebot_syncs_total", (("trigger", "command"),))] == 2
    assert samples[("articlebot_sync_failures_total", (("trigger", "command"),))] == 1
    assert samples[("articlebot_syncs_total", (("trigger", "schedule"),))] == 0
    assert samples[("articlebot_questions_in_flight", ())] == 0
    assert samples[("articlebot_questions_queued", ())] == 0
    assert ("articlebot_gateway_latency_seconds", ()) in samples
    assert samples[("articlebot_articles", (("scope", "shared"),))] == len(FILES)
    passages = samples[("articlebot_passages", (("scope", "shared"),))]
    assert passages == retriever.passage_count() > len(FILES)


def _custom_id(body: Json, emoji: str) -> str:
    for row in body.get("components") or []:
        for button in row.get("components", []):
            if (button.get("emoji") or {}).get("name") == emoji:
                return str(button["custom_id"])
    raise AssertionError(f"no {emoji} button in {body}")


# --- logs --------------------------------------------------------------------------------------


@contextlib.contextmanager
def json_logs(token: str) -> Iterator[io.StringIO]:
    """The JSON handler ``run_bot`` installs, writing to a buffer; removed afterwards."""
    root = logging.getLogger()
    level, stream = root.level, io.StringIO()
    handler = setup_logging("json", secrets=[token], stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def _question_line(fake: FakeDiscord, settings: Settings, retriever: Retriever) -> Json:
    with json_logs(fake.token) as stream:
        async with serving(fake, settings, retriever):
            interaction, _ = await _ask(fake, QUESTION_YUKOS)
            await _answer_of(fake, interaction)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]  # each one parses
    assert lines and all({"time", "level", "logger", "event"} <= line.keys() for line in lines)
    assert all(datetime.fromisoformat(line["time"]).utcoffset() is not None for line in lines)
    assert any(line["logger"].startswith("discord") for line in lines)  # discord.py's too
    assert fake.token not in stream.getvalue()
    questions = [line for line in lines if "outcome" in line]
    assert len(questions) == 1  # one structured line per question
    return questions[0]


@pytest.mark.asyncio
async def test_json_logs_one_line_per_question_without_its_text(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    line = await _question_line(fake, settings, retriever)
    assert line["outcome"] == "answered" and line["level"] == "INFO"
    assert line["server_id"] == fake.guild_id and line["channel_id"] == fake.channel_id
    assert isinstance(line["latency"], float) and line["latency"] >= 0
    assert "question" not in line and "Rosneft" not in json.dumps(line)


@pytest.mark.asyncio
async def test_json_logs_hold_the_question_with_log_questions(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    settings = settings.model_copy(update={"log_questions": True})
    line = await _question_line(fake, settings, retriever)
    assert line["question"] == QUESTION_YUKOS


# --- busy: the queued notice -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_queued_notice_then_the_answer(
    fake: FakeDiscord, library: tuple[Settings, Retriever], held: Held
) -> None:
    settings, retriever = library
    settings = settings.model_copy(update={"max_concurrent": 1})
    async with serving(fake, settings, retriever):
        since = len(fake.requests)
        first, _ = await _ask(fake, QUESTION_YUKOS)
        await held.wait_entered()  # the one slot is taken
        second, _ = await _ask(fake, QUESTION_YUKOS)
        notice = await fake.wait_for_request_async(
            "PATCH", _webhook_path(fake, second) + "/messages/@original", since=since
        )
        assert notice.json["content"] == "queued: 1 question ahead; your answer follows."
        mention = fake.message_create(f"{fake.bot_mention} {QUESTION_YUKOS}")
        fake.dispatch("MESSAGE_CREATE", mention)
        reply = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )
        assert reply.json["content"] == "queued: 2 questions ahead; your answer follows."
        notice_id = int(reply.response["id"])
        held.release.set()

        assert _embed((await _answer_of(fake, first, since)).json)["title"] == QUESTION_YUKOS
        edited = await _delivered(fake, second, since)  # in place of its notice
        assert edited.method == "PATCH" and _embed(edited.json)["title"] == QUESTION_YUKOS
        assert edited.json["content"] is None  # the notice text is gone
        await fake.wait_for_request_async(
            "DELETE", rf"/channels/{fake.channel_id}/messages/{notice_id}", since=since
        )
    answers = [
        r
        for r in fake.requests_matching(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )
        if r.json.get("embeds")
    ]
    assert len(answers) == 1 and answers[0].json["message_reference"]["message_id"] == int(
        mention["id"]
    )
    assert fake.get_message(notice_id) is None


# --- stopping: SIGTERM -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def served(fake: FakeDiscord, bot: ArticleBot) -> AsyncIterator[asyncio.Task[None]]:
    """``serve`` (what run_bot runs, signal handlers included) on this test's loop."""
    since = len(fake.requests)
    task = asyncio.create_task(serve(bot, fake.token, drain_seconds=5))
    try:
        await fake.wait_for_request_async(
            "PUT", rf"/applications/{fake.application_id}/commands", since=since
        )
        await fake.wait_until_async(lambda: bot.is_ready() or None)
        yield task
    finally:
        if not task.done():
            await bot.close()
        await asyncio.wait_for(task, 10)


@pytest.mark.asyncio
async def test_sigterm_delivers_the_answer_in_flight_then_closes(
    fake: FakeDiscord, library: tuple[Settings, Retriever], held: Held
) -> None:
    settings, retriever = library
    bot = make_bot(settings, sync=True, retriever=retriever, guild_ready_timeout=0.1)
    async with served(fake, bot) as task:
        since = len(fake.requests)
        interaction, _ = await _ask(fake, QUESTION_YUKOS)
        await held.wait_entered()
        os.kill(os.getpid(), signal.SIGTERM)
        await fake.wait_until_async(lambda: bot.stopping or None)
        assert (await _get(bot, "/readyz")).text == "not ready: stopping\n"

        _late, callback = await _ask(fake, QUESTION_YUKOS)  # a question during the drain
        assert callback.json["type"] == 4 and callback.json["data"]["content"] == RESTARTING
        assert callback.json["data"]["flags"] == 64  # only the asker sees it
        mention = fake.message_create(f"{fake.bot_mention} {QUESTION_YUKOS}")
        fake.dispatch("MESSAGE_CREATE", mention)
        refusal = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )
        assert refusal.json["content"] == RESTARTING
        assert not task.done()  # still waiting for the answer in flight

        held.release.set()
        answer = await _answer_of(fake, interaction, since)
        assert _embed(answer.json)["title"] == QUESTION_YUKOS
        await asyncio.wait_for(task, 10)  # serve returns: run_bot exits 0
    assert task.result() is None and bot.is_closed()
    assert len(_answers(fake, since)) == 1  # the late question was not answered
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers removed


@pytest.mark.asyncio
async def test_drain_gives_up_after_its_timeout(
    fake: FakeDiscord, library: tuple[Settings, Retriever], held: Held
) -> None:
    settings, retriever = library
    async with serving(fake, settings, retriever) as bot:
        await _ask(fake, QUESTION_YUKOS)
        await held.wait_entered()
        assert await bot.drain(0.2) is False  # the answer is still held
        assert bot.stopping and bot.open_questions.count == 1
        held.release.set()
        assert await bot.drain(5) is True


@pytest.mark.asyncio
async def test_a_taken_port_is_one_clear_line(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        settings = settings.model_copy(update={"http_addr": addr})
        bot = make_bot(settings, retriever=retriever, guild_ready_timeout=0.1)
        with pytest.raises(ConfigError, match=f"Cannot serve ARTICLEBOT_HTTP_ADDR={addr}"):
            await asyncio.wait_for(serve(bot, fake.token), 10)
    assert bot.is_closed()


# --- the real `articlebot bot` process -----------------------------------------------------------

RUN_BOT = (
    "import sys, discord.gateway, discord.http, yarl\n"
    "discord.http.Route.BASE = sys.argv[1]\n"  # what FakeDiscord.redirect does in-process
    "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[2])\n"
    "from index.cli import main\n"
    "sys.exit(main(['bot']))\n"
)


@pytest.mark.slow
def test_articlebot_bot_answers_logs_json_and_exits_0_on_sigterm(
    fake: FakeDiscord, corpus_index: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "idx"
    shutil.copytree(corpus_index / "idx", index_dir)  # the bot writes its command marker
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "ARTICLEBOT_INDEX_DIR": str(index_dir),
        "ARTICLEBOT_DISCORD_TOKEN": fake.token,
        "ARTICLEBOT_LOG_FORMAT": "json",
        "ARTICLEBOT_COOLDOWN_SECONDS": "0",
    }
    command = [sys.executable, "-c", RUN_BOT, fake.base_url, fake.gateway_url]
    with subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True) as bot:
        try:
            fake.wait_for_ready(timeout=120)  # the model loads first
            fake.wait_for_request("PUT", rf"/applications/{fake.application_id}/commands")
            interaction = fake.interaction_create_slash("ask", {"question": "Who met Erdoğan?"})
            fake.dispatch("INTERACTION_CREATE", interaction)
            answer = fake.wait_for_request("POST", _webhook_path(fake, interaction), timeout=30)
            assert answer.status == 200 and _embed(answer.json)
            bot.send_signal(signal.SIGTERM)
            assert bot.wait(30) == 0
        finally:
            if bot.poll() is None:
                bot.kill()
        stderr = bot.stderr.read() if bot.stderr else ""
    lines = [json.loads(line) for line in stderr.splitlines()]  # nothing but JSON lines
    assert any(line["event"].startswith("SIGTERM") for line in lines)
    (question,) = [line for line in lines if "outcome" in line]
    assert question["outcome"] in ("answered", "declined") and "question" not in question
    assert fake.token not in stderr
