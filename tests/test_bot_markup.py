"""Discord markup in a question, end to end: the real bot, the real bundled model over the
bundled corpus, against ``FakeDiscord``. Mentions, emoji and timestamps are left out of the
question; one that is nothing but markup gets a hint instead of an answer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index.retrieval import Retriever
from index.settings import Settings

from .bot_helpers import (
    NO_PINGS_REPLY,
    _answer_of,
    _ask,
    _bot_settings,
    _callback_path,
    _embed,
    serving,
)
from .fake_discord import FakeDiscord
from .helpers import REPO, seed_models

pytestmark = pytest.mark.slow

QUESTION = "who is the Azeri foreign minister?"
BAYRAMOV = "Azeri Foreign Minister Jeyhun Bayramov said"
HINT = "Ask a question in words: mentions, channels and emoji are left out."


@pytest.fixture(scope="module")
def bundled(
    tmp_path_factory: pytest.TempPathFactory, corpus_index: Path, exported_models: Path
) -> tuple[Settings, Retriever]:
    """The session's index of the bundled corpus, copied (the bot writes its feedback log
    into the index folder) with the model exports linked, read with the real model."""
    root = tmp_path_factory.mktemp("bundled")
    shutil.copytree(corpus_index / "idx", root / "idx", ignore=shutil.ignore_patterns("models"))
    seed_models(root / "idx", exported_models)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    settings = _bot_settings(
        root / "idx",
        REPO / "corpus",
        model=defaults.model,
        backend=defaults.backend,
        abstain_below=None,
    )
    return settings, Retriever(settings)


@pytest.mark.asyncio
async def test_mention_with_markup_is_answered_from_the_words(
    fake: FakeDiscord, bundled: tuple[Settings, Retriever]
) -> None:
    settings, retriever = bundled
    async with serving(fake, settings, retriever):
        since = len(fake.requests)
        message = fake.message_create(f"{fake.bot_mention} <@&123> @everyone {QUESTION}")
        fake.dispatch("MESSAGE_CREATE", message)
        reply = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )
        interaction, _ = await _ask(fake, f"<t:1700000000:R> {QUESTION} <:wave:42>")
        followup = await _answer_of(fake, interaction)
    for request in (reply, followup):
        embed = _embed(request.json)
        assert "don't seem to cover" not in embed["description"]
        assert BAYRAMOV in embed["description"]
        assert embed["title"] == QUESTION  # the question as answered, without the markup


@pytest.mark.asyncio
async def test_a_question_of_only_markup_gets_a_hint(
    fake: FakeDiscord, bundled: tuple[Settings, Retriever]
) -> None:
    settings, retriever = bundled
    async with serving(fake, settings, retriever):
        since = len(fake.requests)
        message = fake.message_create(f"{fake.bot_mention} <@&123> @here <#456>")
        fake.dispatch("MESSAGE_CREATE", message)
        reply = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )
        interaction = fake.interaction_create_slash("ask", {"question": "@everyone <@1>"})
        fake.dispatch("INTERACTION_CREATE", interaction)
        callback = await fake.wait_for_request_async("POST", _callback_path(interaction))
    assert reply.json["content"] == HINT and not reply.json.get("embeds")
    assert reply.json["message_reference"]["message_id"] == int(message["id"])
    assert reply.json["allowed_mentions"] == NO_PINGS_REPLY
    assert callback.json["type"] == 4  # a message at once: nothing to think about
    assert callback.json["data"]["flags"] == 64  # ephemeral: only the asker sees it
    assert callback.json["data"]["content"] == HINT
