"""What the bot's end-to-end test modules share: bot settings, a built library, the fake's
fixtures, and helpers that dispatch /ask and read its replies.

The fixtures are bound by name in each test module that uses them (as tests/pg_cluster.py's)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.app import make_bot
from bot.client import ArticleBot
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings

from .fake_discord import FakeDiscord, RecordedRequest, running
from .helpers import HashEmbedder, write

Json = dict[str, Any]

# What discord.py serialises for AllowedMentions.none() (interaction responses, follow-ups),
# and for message.reply(..., mention_author=False) on top of it.
NO_PINGS: Json = {"parse": []}


NO_PINGS_REPLY: Json = {"parse": [], "replied_user": False}


QUESTION_YUKOS = "How much did Rosneft pay for the Yugansk unit?"


def _bot_settings(index_dir: Path, corpus: Path, **update: Any) -> Settings:
    """Settings for a bot under test; every bot setting explicit (no ARTICLEBOT_* leaks)."""
    values: dict[str, Any] = {
        "index_dir": index_dir,
        "corpus": [corpus],
        "chunk_tokens": 40,
        # Bag-of-words hash vectors give lower cosines than a sentence model: own threshold.
        "abstain_below": 0.005,
        "model": "test/hash-embedder",
        "backend": "torch",  # the manifest of a HashEmbedder index records no backend
        "discord_token": None,
        "guild_ids": [],
        "allowed_guild_ids": [],
        "channel_ids": [],
        "allow_dms": True,
        "cooldown_seconds": 0.0,
        "max_concurrent": 4,
        "answer_in_thread": False,
    }
    values.update(update)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _build(settings: Settings, files: dict[str, str], embedder: HashEmbedder) -> Retriever:
    for name, text in files.items():
        write(settings.corpus[0] / name, text)
    run_index(settings, embedder)
    return Retriever(settings, embedder)


@contextlib.asynccontextmanager
async def serving(
    fake: FakeDiscord, settings: Settings, retriever: Retriever
) -> AsyncIterator[ArticleBot]:
    """The real ArticleBot, connected to the fake and ready, with its commands synced."""
    bot = make_bot(settings, sync=True, retriever=retriever, guild_ready_timeout=0.1)
    async with running(bot, fake.token):
        sync = await fake.wait_for_request_async(
            "PUT", rf"/applications/{fake.application_id}/commands"
        )
        assert {c["name"] for c in sync.json} == {"ask", "sources", "about"}
        yield bot


def _callback_path(interaction: Json) -> str:
    return rf"/interactions/{interaction['id']}/[^/]+/callback"


def _webhook_path(fake: FakeDiscord, interaction: Json) -> str:
    return rf"/webhooks/{fake.application_id}/{re.escape(interaction['token'])}"


async def _ask(
    fake: FakeDiscord, question: str, *, user_id: int | None = None, **options: Any
) -> tuple[Json, RecordedRequest]:
    """Dispatch /ask; return the interaction and its (first) callback request."""
    since = len(fake.requests)
    interaction = fake.interaction_create_slash(
        "ask", {"question": question, **options}, user_id=user_id
    )
    fake.dispatch("INTERACTION_CREATE", interaction)
    callback = await fake.wait_for_request_async("POST", _callback_path(interaction), since=since)
    assert callback.status == 200, callback.response
    return interaction, callback


async def _answer_of(fake: FakeDiscord, interaction: Json, since: int = 0) -> RecordedRequest:
    followup = await fake.wait_for_request_async(
        "POST", _webhook_path(fake, interaction), since=since
    )
    assert followup.status == 200, followup.response
    return followup


def _embed(body: Json) -> Json:
    embeds = body.get("embeds") or []
    assert len(embeds) == 1, body
    return dict(embeds[0])


def _field(embed: Json, name: str) -> str:
    return next(f["value"] for f in embed.get("fields") or [] if f["name"] == name)


def _autocomplete_interaction(
    fake: FakeDiscord, question: str, source: str, channel: int | None = None
) -> Json:
    """An APPLICATION_COMMAND_AUTOCOMPLETE (type 4) interaction for /ask's source option.

    The fake accepts autocomplete callbacks (type 8) but has no public builder for these
    interactions, so this registers one through its private ``_register_interaction``.
    """
    command = next(c for c in fake.commands() if c["name"] == "ask")
    data = {
        "id": command["id"],
        "name": "ask",
        "type": 1,
        "options": [
            {"name": "question", "type": 3, "value": question},
            {"name": "source", "type": 3, "value": source, "focused": True},
        ],
    }
    channel = fake.channel_id if channel is None else channel
    guild = int(fake.channel_payload(channel)["guild_id"])
    with fake._lock:
        return fake._register_interaction(4, data, fake.user_id, channel, guild, locale="en-US")


def _answers(fake: FakeDiscord, since: int = 0) -> list[RecordedRequest]:
    """Answers delivered to interactions: follow-ups, and edits of the original response
    (how a question that waited behind the concurrency cap gets its answer)."""
    return [
        r
        for r in fake.requests_matching(since=since)
        if re.search(r"/webhooks/\d+/[^/]+(/messages/@original)?$", r.path)
        and r.method in ("POST", "PATCH")
        and isinstance(r.json, dict)
        and r.json.get("embeds")
    ]


async def _delivered(fake: FakeDiscord, interaction: Json, since: int = 0) -> RecordedRequest:
    """The answer to ``interaction``, as a follow-up or as an edit of the queued notice."""
    path = _webhook_path(fake, interaction)

    def find() -> RecordedRequest | None:
        return next((r for r in _answers(fake, since) if re.match(path, r.path)), None)

    answer = await fake.wait_until_async(find)
    assert answer.status == 200, answer.response
    return answer
