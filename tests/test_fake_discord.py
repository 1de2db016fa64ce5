"""End-to-end tests of the fake Discord with the real discord.py client (nothing mocked)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import discord
import pytest
from discord.ext import commands

from tests.fake_discord import FakeDiscord, drain_tasks, running


class ArticleBot(commands.Bot):
    """A small bot with the flows the real bot will use."""

    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            guild_ready_timeout=0.1,
        )
        self.seen: list[discord.Message] = []

    async def setup_hook(self) -> None:
        @self.tree.command(name="ping", description="Replies with pong.")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await interaction.followup.send("pong", allowed_mentions=discord.AllowedMentions.none())

        @self.tree.command(name="menu", description="Shows a button.")
        async def menu(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pick one", view=PickView())

        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message)
        if message.author.bot or self.user is None or self.user not in message.mentions:
            return
        if "thread" in message.content:
            thread = await message.create_thread(name="Question")
            await thread.send("Let's talk here.")
        else:
            await message.reply("You rang?", mention_author=False)


class PickView(discord.ui.View):
    @discord.ui.button(label="Pick", custom_id="pick")
    async def pick(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(content="picked", view=None)


@pytest.mark.asyncio
async def test_slash_command_defer_then_followup(fake: FakeDiscord) -> None:
    bot = ArticleBot()
    async with running(bot, fake.token):
        # Requests are recorded just after their response is written: wait, don't just look.
        sync = await fake.wait_for_request_async(
            "PUT", rf"/applications/{fake.application_id}/commands"
        )
        assert sorted(c["name"] for c in sync.json) == ["menu", "ping"]
        assert {c["name"] for c in fake.commands()} == {"menu", "ping"}
        assert fake.intents == discord.Intents.default().value

        since = len(fake.requests)
        interaction = fake.interaction_create_slash("ping")
        fake.dispatch("INTERACTION_CREATE", interaction)

        callback = await fake.wait_for_request_async(
            "POST", rf"/interactions/{interaction['id']}/[^/]+/callback", since=since
        )
        assert callback.status == 200
        assert callback.json["type"] == 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
        assert callback.query["with_response"] == "1"
        followup = await fake.wait_for_request_async(
            "POST", rf"/webhooks/{fake.application_id}/{interaction['token']}", since=since
        )
        assert followup.status == 200
        assert followup.json["content"] == "pong"
        assert followup.json["allowed_mentions"] == {"parse": []}
        assert followup.time >= callback.time

        # The first follow-up after a "thinking" defer replaces the loading message.
        original = fake.get_message(int(callback.response["resource"]["message"]["id"]))
        assert original is not None
        assert original["content"] == "pong"
        assert original["flags"] == 0


@pytest.mark.asyncio
async def test_reply_to_mention_references_the_message(fake: FakeDiscord) -> None:
    bot = ArticleBot()
    async with running(bot, fake.token):
        since = len(fake.requests)
        fake.dispatch("MESSAGE_CREATE", fake.message_create("no mention, no content intent"))
        question = fake.message_create(f"{fake.bot_mention} what is new?")
        fake.dispatch("MESSAGE_CREATE", question)

        reply = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages", since=since
        )
        assert reply.status == 200
        assert reply.json["content"] == "You rang?"
        assert reply.json["message_reference"]["message_id"] == int(question["id"])
        assert reply.json["allowed_mentions"]["replied_user"] is False
        assert len(fake.requests_matching("POST", r"/channels/\d+/messages", since=since)) == 1

        # Without the message-content intent only the mention carries content.
        await fake.wait_until_async(lambda: len(bot.seen) >= 3)  # both + the bot's echoed reply
        assert [m.content for m in bot.seen[:2]] == ["", question["content"]]
        assert bot.seen[2].author == bot.user
        assert bot.seen[2].reference is not None
        assert bot.seen[2].reference.message_id == int(question["id"])


@pytest.mark.asyncio
async def test_thread_from_message(fake: FakeDiscord) -> None:
    bot = ArticleBot()
    async with running(bot, fake.token):
        question = fake.message_create(f"{fake.bot_mention} thread please")
        fake.dispatch("MESSAGE_CREATE", question)
        created = await fake.wait_for_request_async(
            "POST", rf"/channels/{fake.channel_id}/messages/{question['id']}/threads"
        )
        assert created.json["name"] == "Question"
        posted = await fake.wait_for_request_async("POST", rf"/channels/{question['id']}/messages")
        assert posted.json["content"] == "Let's talk here."
        assert posted.status == 200


@pytest.mark.asyncio
async def test_button_on_interaction_response(fake: FakeDiscord) -> None:
    bot = ArticleBot()
    async with running(bot, fake.token):
        command = fake.interaction_create_slash("menu")
        fake.dispatch("INTERACTION_CREATE", command)
        sent = await fake.wait_for_request_async(
            "POST", rf"/interactions/{command['id']}/[^/]+/callback"
        )
        assert sent.json["type"] == 4  # CHANNEL_MESSAGE_WITH_SOURCE
        assert sent.json["data"]["components"][0]["components"][0]["custom_id"] == "pick"
        message_id = int(sent.response["interaction"]["response_message_id"])

        click = fake.interaction_create_component("pick", message=message_id)
        fake.dispatch("INTERACTION_CREATE", click)
        update = await fake.wait_for_request_async(
            "POST", rf"/interactions/{click['id']}/[^/]+/callback"
        )
        assert update.status == 200
        assert update.json["type"] == 7  # UPDATE_MESSAGE
        message = fake.get_message(message_id)
        assert message is not None
        assert message["content"] == "picked"
        assert message["components"] == []


@pytest.mark.asyncio
async def test_wrong_token_is_a_login_failure(fake: FakeDiscord) -> None:
    bot = ArticleBot()
    with pytest.raises(discord.LoginFailure):
        await bot.start("not-the-token")
    await bot.close()
    login = await fake.wait_for_request_async("GET", "/users/@me")
    assert login.status == 401
    assert login.headers["Authorization"] == "Bot not-the-token"


@pytest.mark.asyncio
@pytest.mark.parametrize("fake", [{"check_rest_auth": False}], indirect=True)
async def test_wrong_token_is_rejected_by_the_gateway(fake: FakeDiscord) -> None:
    bot = ArticleBot()
    with pytest.raises(discord.ConnectionClosed) as raised:
        await asyncio.wait_for(bot.start("not-the-token"), 5)
    await bot.close()
    await drain_tasks()
    assert raised.value.code == 4004
    assert fake.identify_payloads[-1]["token"] == "not-the-token"


@pytest.mark.asyncio
@pytest.mark.parametrize("fake", [{"heartbeat_interval_ms": 500}], indirect=True)
async def test_heartbeats_follow_the_interval(fake: FakeDiscord) -> None:
    bot = ArticleBot()
    async with running(bot, fake.token):
        await asyncio.sleep(2.0)
        beats = fake.heartbeat_times()
        gap = fake.max_heartbeat_gap()
    assert len(beats) >= 4
    assert 0.4 <= gap <= 0.8, gap


@pytest.mark.asyncio
@pytest.mark.parametrize("fake", [{"heartbeat_interval_ms": 500}], indirect=True)
async def test_blocked_loop_shows_as_heartbeat_gap(fake: FakeDiscord) -> None:
    bot = ArticleBot()
    async with running(bot, fake.token):
        first = len(fake.heartbeat_times())
        await fake.wait_until_async(lambda: len(fake.heartbeat_times()) > first)
        time.sleep(1.5)  # a blocking call on the bot's loop, as a CPU-bound handler would be
        await fake.wait_until_async(lambda: len(fake.heartbeat_times()) > first + 2)
    assert fake.max_heartbeat_gap() >= 1.3


@pytest.mark.asyncio
async def test_reconnect_resumes_the_session(fake: FakeDiscord) -> None:
    bot = ArticleBot()
    async with running(bot, fake.token):
        fake.request_reconnect()
        await fake.wait_until_async(
            lambda: len(fake.connections) == 2 and fake.connections[1].ready
        )
        resumed = fake.connections[1]
        assert [p["op"] for p in resumed.received if p["op"] != 1] == [6]  # RESUME, no IDENTIFY
        assert resumed.session_id == fake.connections[0].session_id

        interaction = fake.interaction_create_slash("ping")
        fake.dispatch("INTERACTION_CREATE", interaction)
        followup = await fake.wait_for_request_async(
            "POST", rf"/webhooks/{fake.application_id}/{interaction['token']}"
        )
        assert followup.json["content"] == "pong"
