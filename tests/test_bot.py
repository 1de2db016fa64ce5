"""End-to-end tests of the Discord bot: the real ``ArticleBot`` (real discord.py, a real
SQLite + FAISS index over a small corpus, the fast ``HashEmbedder``) against ``FakeDiscord``.

Nothing of the bot is mocked; a few tests wrap ``bot.ask.answer`` (to fail once, or to be
slow) and that is all. Any ERROR from the ``discord`` logger fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bot.ask as ask_module
from bot.app import run_bot
from bot.base import APOLOGY
from bot.render import DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, FIELD_VALUE_LIMIT, TITLE_LIMIT, escape
from index.answering import answer as build_answer
from index.errors import ArticlebotError, ConfigError, IndexMissingError
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings

from .bot_helpers import (
    NO_PINGS,
    NO_PINGS_REPLY,
    QUESTION_YUKOS,
    Json,
    _answer_of,
    _answers,
    _ask,
    _autocomplete_interaction,
    _bot_settings,
    _build,
    _callback_path,
    _delivered,
    _embed,
    _field,
    _webhook_path,
    serving,
)
from .fake_discord import FakeDiscord, RecordedRequest
from .helpers import ARTICLE_A, ARTICLE_B, ARTICLE_C, FOOTBALL, TURKEY, HashEmbedder, write

# --- the corpus -------------------------------------------------------------------------------

PINGS = """Moderator pings the whole server

The moderator typed @everyone in the announcement channel to wake the whole server, in **bold** words and with a [link](http://evil.example) that hid its real target.

# heading lines like this one turn into huge titles in chat.

A ping such as <@&456> would alert a whole role at once.
"""

OTHER_CLUB = "Another club story\n\nThe football club Arsenal won the league match after a late goal by their striker."


def _glacier_paragraph(tag: str) -> str:
    """About 3,000 characters: one "sentence" without a single sentence break."""
    return (
        ", ".join(
            f"the glacier survey team measured crevasse {tag}{i} near the moraine ridge "
            "with ropes and ice screws"
            for i in range(30)
        )
        + "."
    )


LONG_TITLE = "Glacier survey notes " + " ".join(f"appendix{i}" for i in range(40))
GLACIER = f"---\ntitle: {LONG_TITLE}\n---\n" + "\n\n".join(
    _glacier_paragraph(tag) for tag in ("alpha", "beta", "gamma", "delta")
)

QUESTION_TURKEY = "What talks did Aliyev have with Erdoğan about Israel?"
QUESTION_FOOTBALL = "football club striker goal"
QUESTION_OFF_TOPIC = "zebra xylophone quilting"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Retriever]:
    """The shared index (built once per module) and its base settings."""
    root = tmp_path_factory.mktemp("library")
    settings = _bot_settings(root / "index", root / "corpus")
    files = {
        "business/a.txt": ARTICLE_A,
        "business/b.txt": ARTICLE_B,
        "business/c.txt": ARTICLE_C,
        "world/turkey.md": TURKEY,
        "sport/football.txt": "Chelsea football news\n\n" + FOOTBALL,
        "sport/other.txt": OTHER_CLUB,
        "misc/pings.txt": PINGS,
    }
    return settings, _build(settings, files, HashEmbedder(dimension=1024))


# --- helpers ------------------------------------------------------------------------------------


def _embed_text(embed: Json) -> str:
    """Every piece of text an embed shows."""
    parts = [embed.get("title") or "", embed.get("description") or ""]
    for f in embed.get("fields") or []:
        parts += [f["name"], f["value"]]
    parts.append((embed.get("footer") or {}).get("text") or "")
    parts.append((embed.get("author") or {}).get("name") or "")
    return "\n".join(parts)


def _embed_length(embed: Json) -> int:
    """Characters as Discord counts them against the 6,000 limit."""
    return (
        len(embed.get("title") or "")
        + len(embed.get("description") or "")
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields") or [])
        + len((embed.get("footer") or {}).get("text") or "")
        + len((embed.get("author") or {}).get("name") or "")
    )


def _buttons(body: Json) -> list[Json]:
    return [c for row in body.get("components") or [] for c in row.get("components", [])]


def _custom_id(body: Json, *, label: str | None = None, emoji: str | None = None) -> str:
    for button in _buttons(body):
        if (label is not None and button.get("label") == label) or (
            emoji is not None and (button.get("emoji") or {}).get("name") == emoji
        ):
            return str(button["custom_id"])
    raise AssertionError(f"no button {label or emoji} in {_buttons(body)}")


def _sent_bodies(fake: FakeDiscord, since: int = 0) -> list[tuple[RecordedRequest, Json]]:
    """Every message the bot sent or edited (channel messages, interaction responses and
    follow-ups), as (request, message body)."""
    out = []
    for request in fake.requests_matching(since=since):
        if not isinstance(request.json, dict) or request.method not in ("POST", "PATCH"):
            continue
        body = request.json
        if request.path.endswith("/callback"):
            body = body.get("data") or {}
        if "content" in body or "embeds" in body:
            out.append((request, body))
    return out


def _quote_blocks(description: str) -> list[str]:
    return [b for b in description.split("\n\n") if b.startswith(">")]


# --- 1. /ask ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ask_defers_then_answers_with_cited_quotes(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    async with serving(fake, settings, retriever):
        dispatched = time.monotonic()
        interaction, callback = await _ask(fake, QUESTION_YUKOS)
        assert callback.json["type"] == 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE ("thinking…")
        assert callback.time - dispatched < 1.0  # Discord allows 3 s
        followup = await _answer_of(fake, interaction)

    body = followup.json
    assert body["allowed_mentions"] == NO_PINGS  # what AllowedMentions.none() serialises
    embed = _embed(body)
    assert embed["title"] == QUESTION_YUKOS
    assert "Rosneft bought the Yugansk unit for $9.3bn" in embed["description"]
    assert "**[1]**" in embed["description"]
    assert all(
        line.startswith("> ") for b in _quote_blocks(embed["description"]) for line in b.split("\n")
    )
    sources = _field(embed, "Sources")
    assert sources.startswith("**[1]** Yukos unit buyer faces loan claim")
    assert "articles · index built" in embed["footer"]["text"]
    buttons = _buttons(body)
    assert buttons[0].get("label") == "More quotes"
    assert {(b.get("emoji") or {}).get("name") for b in buttons} >= {"👍", "👎"}
    # The follow-up replaced the "thinking…" message: one public answer, no loading flag.
    message = fake.get_message(int(callback.response["resource"]["message"]["id"]))
    assert message is not None and message["flags"] == 0 and message["embeds"] == [embed]


# --- 2. @mentions and DMs ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mention_and_dm_are_answered(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    async with serving(fake, settings, retriever):
        since = len(fake.requests)
        question = fake.message_create(f"{fake.bot_mention} {QUESTION_YUKOS}")
        fake.dispatch("MESSAGE_CREATE", question)
        reply = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )
        assert reply.status == 200
        assert reply.json["message_reference"]["message_id"] == int(question["id"])
        assert reply.json["allowed_mentions"] == NO_PINGS_REPLY  # not even the asker
        embed = _embed(reply.json)
        assert embed["title"] == QUESTION_YUKOS  # the mention is not part of the question
        assert "Rosneft bought the Yugansk unit" in embed["description"]
        assert _custom_id(reply.json, label="More quotes")
        assert fake.requests_matching("POST", rf"/channels/{fake.channel_id}/typing", since=since)

        since = len(fake.requests)
        dm = fake.message_create(QUESTION_TURKEY, dm=True)  # no mention needed in a DM
        fake.dispatch("MESSAGE_CREATE", dm)
        answer = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.dm_channel_id}/messages", since=since
        )
        assert answer.json["message_reference"]["message_id"] == int(dm["id"])
        assert "Aliyev raised the Israel-Turkey tensions" in _embed(answer.json)["description"]
        # A message that does not mention the bot is not a question.
        since = len(fake.requests)
        fake.dispatch("MESSAGE_CREATE", fake.message_create(QUESTION_YUKOS))
        fake.dispatch(
            "MESSAGE_CREATE", fake.message_create(f"{fake.bot_mention} {QUESTION_TURKEY}")
        )
        await fake.wait_for_request_async("POST", r"/channels/\d+/messages", since=since)
        assert len(fake.requests_matching("POST", r"/channels/\d+/messages", since=since)) == 1


@pytest.mark.asyncio
async def test_dms_off_are_not_answered(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    settings = settings.model_copy(update={"allow_dms": False})
    async with serving(fake, settings, retriever):
        since = len(fake.requests)
        fake.dispatch("MESSAGE_CREATE", fake.message_create(QUESTION_YUKOS, dm=True))
        interaction = fake.interaction_create_slash("ask", {"question": QUESTION_YUKOS}, dm=True)
        fake.dispatch("INTERACTION_CREATE", interaction)
        refusal = await fake.wait_for_request_async("POST", _callback_path(interaction))
        assert refusal.json["type"] == 4 and refusal.json["data"]["flags"] == 64
        assert refusal.json["data"]["content"] == "I don't answer questions here."
        # A guild question dispatched after the DM is answered; by then the DM was handled.
        fake.dispatch("MESSAGE_CREATE", fake.message_create(f"{fake.bot_mention} {QUESTION_YUKOS}"))
        await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )
        dm_channel = rf"/channels/{fake.dm_channel_id}/.*"
        assert fake.requests_matching("POST", dm_channel, since=since) == []
        assert fake.requests_matching("POST", r"/webhooks/.*", since=since) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("allow", ["other_guild", "other_channel"])
async def test_guild_and_channel_allowlists(
    fake: FakeDiscord, library: tuple[Settings, Retriever], allow: str
) -> None:
    settings, retriever = library
    other = fake.guild_id + 1 if allow == "other_guild" else fake.channel_id + 1
    key = "allowed_guild_ids" if allow == "other_guild" else "channel_ids"
    async with serving(fake, settings.model_copy(update={key: [other]}), retriever):
        since = len(fake.requests)
        interaction = fake.interaction_create_slash("ask", {"question": QUESTION_YUKOS})
        fake.dispatch("INTERACTION_CREATE", interaction)
        refusal = await fake.wait_for_request_async("POST", _callback_path(interaction))
        assert refusal.json["data"]["content"] == "I don't answer questions here."
        assert refusal.json["data"]["flags"] == 64
        fake.dispatch("MESSAGE_CREATE", fake.message_create(QUESTION_YUKOS, dm=True))
        await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.dm_channel_id}/messages", since=since
        )  # DMs still follow allow_dms
        assert fake.requests_matching("POST", r"/webhooks/.*", since=since) == []


# --- 3. safety ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mentions_and_markdown_are_neutralised(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    question = (
        "@everyone <@123> <@&456> what did the moderator type in the announcement channel, "
        "**bold** words and a [link](http://evil.example), heading lines with huge titles "
        "and a ping to alert a whole role?"
    )
    async with serving(fake, settings, retriever):
        since = len(fake.requests)
        interaction, _ = await _ask(fake, question)
        followup = await _answer_of(fake, interaction)
        mention = fake.message_create(f"{fake.bot_mention} {question}")
        fake.dispatch("MESSAGE_CREATE", mention)
        reply = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )

    sent = _sent_bodies(fake, since)
    assert len(sent) == 2
    for request, body in sent:
        assert body["allowed_mentions"] in (NO_PINGS, NO_PINGS_REPLY), request
        assert (request.response or {}).get("mentions", []) == []  # nobody was pinged
        assert not body.get("content")
    for request in (followup, reply):
        embed = _embed(request.json)
        text = _embed_text(embed)
        description = embed["description"]
        assert "The moderator typed @\u200beveryone in the announcement channel" in description
        assert "@everyone" not in text and "@here" not in text
        assert "<@" not in text  # user and role mentions are broken with a zero-width space
        # The question's own mentions were left out before answering (index.answering.markup).
        assert embed["title"].startswith("what did the moderator type")
        assert escape("<@123> <@&456> @here") == "<\u200b@123> <\u200b@&456> @\u200bhere"
        assert re.search(r"(?<!\\)\[link\]\(", text) is None  # no masked link
        assert "\\[link](http://evil.example)" in description
        assert "**bold**" not in text and "\\*\\*bold\\*\\*" in description
        # No quoted line can become a heading (which sentences get quoted is the
        # retriever's business; the escaping of a heading line itself is checked below).
        assert not re.search(r"(?m)^>\s*#", description)
        assert escape("# heading lines") == "\\# heading lines"
        assert "\\*\\*bold\\*\\*" in embed["title"]
        for block in _quote_blocks(description):
            assert all(line.startswith("> ") for line in block.split("\n"))
            assert block.endswith("**[1]**")
        assert description.count("**") % 2 == 0
        assert _field(embed, "Sources").startswith("**[1]** Moderator pings the whole server")


# --- 4. Discord's limits -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_long_answers_are_cut_within_discord_limits(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    # Passages of a few thousand characters, so that quotes are whole enormous sentences.
    settings = _bot_settings(tmp_path / "index", tmp_path / "corpus", chunk_tokens=2000)
    embedder = HashEmbedder(dimension=1024, max_tokens=4000)
    retriever = _build(settings, {"glacier.md": GLACIER, "a.txt": ARTICLE_A}, embedder)
    conn = retriever.view.conn()  # type: ignore[attr-defined]
    sql = "SELECT text FROM articles WHERE title = ?"
    article = conn.execute(sql, (LONG_TITLE,)).fetchone()[0]
    question = " ".join(
        ["glacier survey team measured crevasse alpha3 beta7 gamma9 delta2 moraine ridge"] * 7
    )[:500]
    uncut = build_answer(retriever, question)
    assert sum(len(q.text) for q in uncut.quotes) > DESCRIPTION_LIMIT  # too long as it is
    async with serving(fake, settings, retriever):
        interaction, _ = await _ask(fake, question)
        followup = await _answer_of(fake, interaction)

    body = followup.json
    embed = _embed(body)
    assert len(body.get("content") or "") <= 2000
    assert len(embed["title"]) <= TITLE_LIMIT
    assert embed["title"].endswith(" …") and question.startswith(embed["title"][:-2])
    assert len(embed["description"]) <= DESCRIPTION_LIMIT
    assert _embed_length(embed) <= EMBED_TOTAL_LIMIT
    assert all(len(f["value"]) <= FIELD_VALUE_LIMIT for f in embed["fields"])
    assert LONG_TITLE not in _field(embed, "Sources")  # shortened there too
    assert "Glacier survey notes appendix0" in _field(embed, "Sources")

    blocks = _quote_blocks(embed["description"])
    assert len(blocks) >= 2
    for block in blocks:
        lines = block.split("\n")
        assert all(line.startswith("> ") for line in lines)  # the block quote is intact
        text = "\n".join(line[2:] for line in lines)
        match = re.fullmatch(r"(?:… )?(?P<body>.+) … \*\*\[1\]\*\*", text, re.DOTALL)
        assert match, block  # cut, with an ellipsis, and the citation still bold
        cut = match["body"]
        assert 80 <= len(cut) <= 1000
        at = article.find(cut)
        assert at >= 0, cut  # a verbatim prefix of the article's sentence ...
        assert not article[at + len(cut)].isalnum()  # ... that ends at a word boundary
        assert at == 0 or not article[at - 1].isalnum()
    assert embed["description"].count("**") % 2 == 0


# --- 5. cooldown ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cooldown_is_per_user(fake: FakeDiscord, library: tuple[Settings, Retriever]) -> None:
    settings, retriever = library
    settings = settings.model_copy(update={"cooldown_seconds": 60.0})
    bob = fake.add_user("bob")
    async with serving(fake, settings, retriever):
        first, callback = await _ask(fake, QUESTION_YUKOS)
        assert callback.json["type"] == 5
        await _answer_of(fake, first)

        second, refused = await _ask(fake, QUESTION_TURKEY)
        assert refused.json["type"] == 4
        data = refused.json["data"]
        assert data["flags"] == 64  # ephemeral
        assert re.fullmatch(r"Please wait a moment: try again in (59|60) s\.", data["content"])
        assert data["allowed_mentions"] == NO_PINGS

        other, callback = await _ask(fake, QUESTION_TURKEY, user_id=bob)
        assert callback.json["type"] == 5
        answer = await _answer_of(fake, other)
        assert "Aliyev" in _embed(answer.json)["description"]
        assert fake.requests_matching("POST", _webhook_path(fake, second)) == []


# --- 6. source filter and autocomplete -----------------------------------------------------------


@pytest.mark.asyncio
async def test_source_filter_and_autocomplete(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    question = "club striker goal league match profits dollar"
    async with serving(fake, settings, retriever):
        interaction, _ = await _ask(fake, question, source="sport/")
        followup = await _answer_of(fake, interaction)
        sources = _field(_embed(followup.json), "Sources")
        lines = sources.split("\n")
        assert lines and all(("/sport/" in line) for line in lines), sources
        assert "Chelsea football news" in sources

        completion = _autocomplete_interaction(fake, question, "sport")
        fake.dispatch("INTERACTION_CREATE", completion)
        callback = await fake.wait_for_request_async("POST", _callback_path(completion))
        assert callback.status == 200 and callback.json["type"] == 8
        choices = callback.json["data"]["choices"]
        assert sorted(c["name"] for c in choices) == ["Another club story", "Chelsea football news"]
        assert all(len(c["value"]) <= 100 and c["value"].endswith(".txt") for c in choices)

        # A chosen value is a usable filter.
        chelsea = next(c["value"] for c in choices if c["name"] == "Chelsea football news")
        interaction, _ = await _ask(fake, question, source=chelsea)
        followup = await _answer_of(fake, interaction)
        sources = _field(_embed(followup.json), "Sources")
        assert sources.count("**[") == 1 and "Chelsea football news" in sources


# --- 7. abstention ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_off_topic_question_abstains(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    async with serving(fake, settings, retriever):
        interaction, _ = await _ask(fake, QUESTION_OFF_TOPIC)
        followup = await _answer_of(fake, interaction)
    embed = _embed(followup.json)
    assert "don't seem to cover" in embed["description"]
    assert "Closest articles:" in embed["description"]
    closest = [line[2:] for line in embed["description"].split("\n") if line.startswith("• ")]
    assert 1 <= len(closest) <= 3
    titles = {r[0] for r in retriever.view.conn().execute("SELECT title FROM articles")}  # type: ignore[attr-defined]
    assert set(closest) <= titles
    assert not embed.get("fields")  # no sources, no quotes
    labels = [b.get("label") for b in _buttons(followup.json)]
    assert "More quotes" not in labels
    assert len(_buttons(followup.json)) == 2  # 👍 and 👎 stay


# --- 8. an exception in a handler ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_handler_exception_apologises_and_recovers(
    fake: FakeDiscord,
    library: tuple[Settings, Retriever],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, retriever = library
    real = ask_module.answer
    calls = 0

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("index exploded")
        return real(*args, **kwargs)

    monkeypatch.setattr(ask_module, "answer", fails_once)
    caplog.set_level(logging.INFO, logger="articlebot.bot")
    async with serving(fake, settings, retriever):
        since = len(fake.requests)
        interaction, callback = await _ask(fake, QUESTION_YUKOS)
        assert callback.json["type"] == 5
        apology = await _answer_of(fake, interaction)
        assert apology.json["content"] == APOLOGY
        assert apology.json["flags"] == 64
        assert apology.json["allowed_mentions"] == NO_PINGS
        # Only the asker sees it: no public "thinking…" message is left behind, and the
        # apology is a new ephemeral message rather than an edit of the public one.
        loading = int(callback.response["resource"]["message"]["id"])
        assert fake.get_message(loading) is None
        apology_message = fake.get_message(int(apology.response["id"]))
        assert apology_message is not None and apology_message["flags"] & 64

        again, callback = await _ask(fake, QUESTION_YUKOS)
        assert callback.json["type"] == 5
        answer = await _answer_of(fake, again)
        assert "Rosneft bought the Yugansk unit" in _embed(answer.json)["description"]
        assert fake.requests_matching("POST", r"/channels/\d+/messages", since=since) == []

    errors = [
        r for r in caplog.records if r.name == "articlebot.bot" and r.levelno >= logging.ERROR
    ]
    assert len(errors) == 1
    assert errors[0].getMessage() == "error in ask"
    assert errors[0].exc_info is not None
    assert "index exploded" in caplog.text and "Traceback" in caplog.text


# --- 9. load ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("fake", [{"heartbeat_interval_ms": 250}], indirect=True)
async def test_concurrent_questions_keep_the_heartbeat(
    fake: FakeDiscord, library: tuple[Settings, Retriever], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, retriever = library
    settings = settings.model_copy(update={"cooldown_seconds": 0.0, "max_concurrent": 4})
    real = ask_module.answer
    lock = threading.Lock()
    in_flight = peak = 0
    on_loop: list[bool] = []

    def slow(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, peak
        try:  # the answer must run in a worker thread, never on the event loop
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            time.sleep(0.3)  # a slow model, in the worker thread
            return real(*args, **kwargs)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(ask_module, "answer", slow)
    users = [fake.add_user(f"user{i}") for i in range(20)]
    questions = [QUESTION_YUKOS, QUESTION_TURKEY, QUESTION_FOOTBALL, "dollar euro Greenspan"]
    async with serving(fake, settings, retriever):
        since = len(fake.requests)
        interactions = [
            fake.interaction_create_slash("ask", {"question": questions[i % 4]}, user_id=user)
            for i, user in enumerate(users)
        ]
        dispatched: dict[str, float] = {}

        def fire() -> None:  # from a thread: dispatch() waits for the fake's thread
            for interaction in interactions:
                dispatched[interaction["id"]] = time.monotonic()
                fake.dispatch("INTERACTION_CREATE", interaction)

        await asyncio.to_thread(fire)
        await fake.wait_until_async(lambda: len(_answers(fake, since)) >= 20, timeout=20)
        # Queued ones get theirs in place of the "queued" notice (an edit), the others
        # as a follow-up.
        followups = {
            i["id"]: await _delivered(fake, i, since) for i in interactions
        }  # fmt: skip
        await asyncio.sleep(0.3)  # one more heartbeat after the last answer
        gap = fake.max_heartbeat_gap()
        beats = fake.heartbeat_times()

    callbacks = fake.requests_matching("POST", r"/interactions/.*/callback", since=since)
    assert len(callbacks) == 20 and all(c.json["type"] == 5 and c.status == 200 for c in callbacks)
    assert all(_embed(f.json)["description"] for f in followups.values())
    assert on_loop == [False] * 20
    assert peak == 4  # max_concurrent caps the questions in flight
    latencies = sorted(followups[k].time - dispatched[k] for k in followups)
    start, end = min(dispatched.values()), max(f.time for f in followups.values())
    print(
        f"\n20 concurrent /ask (0.3 s per answer, max_concurrent 4, heartbeat 250 ms): "
        f"max heartbeat gap {gap * 1000:.0f} ms over {len(beats)} beats; answer latency "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms, "
        f"all 20 in {(end - start) * 1000:.0f} ms"
    )
    assert sum(start <= t <= end for t in beats) >= 4  # the gap was measured under load
    assert gap < 1.0
    assert latencies[-1] >= 1.2  # 5 rounds of 4: the cap really queued them


# --- 10. hot reload -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_new_index_generation_is_used_without_restart(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    settings = _bot_settings(tmp_path / "index", tmp_path / "corpus")
    embedder = HashEmbedder(dimension=1024)
    retriever = _build(settings, {"a.txt": ARTICLE_A, "c.txt": ARTICLE_C}, embedder)
    question = "When was the Zanzibar clove spice harvest?"
    async with serving(fake, settings, retriever):
        interaction, _ = await _ask(fake, question)
        before = _embed((await _answer_of(fake, interaction)).json)
        assert "Zanzibar" not in before["description"]
        assert before["footer"]["text"].startswith("2 articles")

        write(
            settings.corpus[0] / "spice.txt",
            "Spice islands report\n\nThe Zanzibar clove spice harvest was early this year.",
        )
        report = await asyncio.to_thread(run_index, settings, embedder)
        assert report is not None

        interaction, _ = await _ask(fake, question)
        after = _embed((await _answer_of(fake, interaction)).json)
    assert "The Zanzibar clove spice harvest was early this year." in after["description"]
    assert "Spice islands report" in _field(after, "Sources")
    assert after["footer"]["text"].startswith("3 articles")


# --- 11. follow-ups -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_reply_to_an_answer_is_a_follow_up(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    async with serving(fake, settings, retriever):
        since = len(fake.requests)
        first = fake.message_create(f"{fake.bot_mention} {QUESTION_TURKEY}")
        fake.dispatch("MESSAGE_CREATE", first)
        answer = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )
        answer_id = int(answer.response["id"])

        since = len(fake.requests)
        follow = fake.message_create(
            f"{fake.bot_mention} and until when did they drag on?", message_reference=answer_id
        )
        fake.dispatch("MESSAGE_CREATE", follow)
        reply = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )
    assert reply.json["message_reference"]["message_id"] == int(follow["id"])
    embed = _embed(reply.json)
    assert embed["title"] == "and until when did they drag on?"
    assert embed["description"].startswith(f"*Following up on:* {QUESTION_TURKEY}")
    assert "Those talks dragged on until 2016" in embed["description"]


# --- 12. buttons ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_bot_answers_when_feedback_cannot_be_written(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    feedback = settings.index_dir / "feedback.sqlite"
    if feedback.exists():
        feedback.unlink()
    feedback.mkdir()  # SQLite cannot open it: as with a read-only index folder
    try:
        async with serving(fake, settings, retriever) as bot:
            assert not bot.feedback.enabled
            interaction, _ = await _ask(fake, QUESTION_FOOTBALL)
            followup = await _answer_of(fake, interaction)
            assert "Chelsea striker" in _embed(followup.json)["description"]
            click = fake.interaction_create_component(
                _custom_id(followup.json, emoji="👍"), message=int(followup.response["id"])
            )
            fake.dispatch("INTERACTION_CREATE", click)
            reply = await fake.wait_for_request_async("POST", _callback_path(click))
            assert reply.json["data"]["content"] == "Feedback is switched off here."
    finally:
        feedback.rmdir()


@pytest.mark.asyncio
async def test_feedback_and_more_quotes_buttons(
    fake: FakeDiscord, library: tuple[Settings, Retriever]
) -> None:
    settings, retriever = library
    carol = fake.add_user("carol")
    async with serving(fake, settings, retriever) as bot:
        interaction, _ = await _ask(fake, QUESTION_FOOTBALL)
        followup = await _answer_of(fake, interaction)
        message_id = int(followup.response["id"])
        first = _embed(followup.json)["description"]

        click = fake.interaction_create_component(
            _custom_id(followup.json, emoji="👍"), message=message_id, user_id=carol
        )
        fake.dispatch("INTERACTION_CREATE", click)
        thanks = await fake.wait_for_request_async("POST", _callback_path(click))
        assert thanks.status == 200 and thanks.json["type"] == 4
        assert thanks.json["data"]["content"] == "Thanks for the feedback!"
        assert thanks.json["data"]["flags"] == 64

        more = fake.interaction_create_component(
            _custom_id(followup.json, label="More quotes"), message=message_id
        )
        fake.dispatch("INTERACTION_CREATE", more)
        deferred = await fake.wait_for_request_async("POST", _callback_path(more))
        assert deferred.json["type"] == 5
        extra = await _answer_of(fake, more)

        # Page on until there is nothing more: that notice is for the clicker only.
        for _ in range(8):
            more = fake.interaction_create_component(
                _custom_id(followup.json, label="More quotes"), message=message_id
            )
            fake.dispatch("INTERACTION_CREATE", more)
            deferred_again = await fake.wait_for_request_async("POST", _callback_path(more))
            last = await _answer_of(fake, more)
            if not last.json.get("embeds"):
                break
        assert last.json["content"] == "No more quotes for this question."
        assert last.json["flags"] == 64
        assert fake.get_message(int(deferred_again.response["resource"]["message"]["id"])) is None
        notice = fake.get_message(int(last.response["id"]))
        assert notice is not None and notice["flags"] & 64
        for request, body in _sent_bodies(fake):
            assert body.get("allowed_mentions") in (NO_PINGS, NO_PINGS_REPLY), request
        feedback_path = bot.feedback.log.path  # type: ignore[attr-defined]

    second = _embed(extra.json)["description"]
    assert extra.json["allowed_mentions"] == NO_PINGS
    assert "Chelsea striker scored goal number" in second
    old = set(re.findall(r"goal number (\d)", first))
    new = set(re.findall(r"goal number (\d)", second))
    assert new and old and old.isdisjoint(new)  # further quotes, not the same ones

    with contextlib.closing(sqlite3.connect(feedback_path)) as conn:
        rows = conn.execute(
            "SELECT question, quotes, user_hash, vote FROM feedback WHERE question = ?",
            (QUESTION_FOOTBALL,),
        ).fetchall()
        everything = conn.execute("SELECT * FROM feedback").fetchall()
    assert len(rows) == 1
    _, quotes, user_hash, vote = rows[0]
    assert vote == 1 and "Chelsea striker scored goal number" in quotes
    assert re.fullmatch(r"[0-9a-f]{64}", user_hash)
    assert str(carol) not in repr(everything)  # the raw Discord id is never stored


# --- 13. startup errors of `articlebot bot` ------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """run_bot() calls discord.utils.setup_logging(), which adds a root handler: undo it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def test_run_bot_without_token(library: tuple[Settings, Retriever]) -> None:
    settings, _ = library
    for token in (None, "   "):
        settings = _bot_settings(settings.index_dir, settings.corpus[0], discord_token=token)
        with pytest.raises(ConfigError, match="ARTICLEBOT_DISCORD_TOKEN"):
            run_bot(settings)


def test_run_bot_with_rejected_token(
    fake: FakeDiscord,
    library: tuple[Settings, Retriever],
    restore_logging: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "wrong.token-that-must-not-leak"
    settings = _bot_settings(library[0].index_dir, library[0].corpus[0], discord_token=secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as raised:
        run_bot(settings)
    message = str(raised.value)
    assert "Discord rejected the token" in message
    assert secret not in message and secret not in repr(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    login = fake.wait_for_request("GET", "/users/@me")
    assert login.status == 401 and login.headers["Authorization"] == f"Bot {secret}"
    assert fake.connections == []  # never reached the gateway
    captured = capsys.readouterr()
    assert secret not in caplog.text
    assert secret not in captured.out and secret not in captured.err


def test_run_bot_without_index(fake: FakeDiscord, tmp_path: Path, restore_logging: None) -> None:
    settings = _bot_settings(tmp_path / "no-index", tmp_path / "corpus", discord_token=fake.token)
    with pytest.raises(ArticlebotError) as raised:
        run_bot(settings)
    assert isinstance(raised.value, IndexMissingError)
    assert "articlebot index" in str(raised.value)
    assert fake.requests == [] and fake.connections == []  # failed before connecting
