"""A small fake Discord (REST API + gateway websocket) for end-to-end tests of discord.py bots.

The fake runs an aiohttp server on ``127.0.0.1`` on its *own* thread with its *own* event loop,
so a bot that blocks its event loop cannot stall the fake (which is what makes heartbeat-gap
measurements meaningful). A real :class:`discord.Client` / ``commands.Bot`` talks to it after
:meth:`FakeDiscord.redirect` has pointed discord.py's REST base URL and default gateway at it.

Typical use::

    with FakeDiscord(heartbeat_interval_ms=500) as fake, fake.redirect():
        bot = MyBot(intents=discord.Intents.default(), guild_ready_timeout=0.1)
        ...  # run ``bot.start(fake.token)`` in asyncio, wait until ready
        fake.dispatch("INTERACTION_CREATE", fake.interaction_create_slash("ping"))
        request = await fake.wait_for_request_async("POST", r"/webhooks/\\d+/[^/]+")

What is modelled (enough for bots that use slash commands, components, messages and threads):

* REST: ``/users/@me``, ``/oauth2/applications/@me``, application command sync (global and
  guild), interaction callbacks (``?with_response`` semantics, ack-once, 3 s deadline),
  interaction webhooks (follow-ups, ``@original``), channel messages (JSON and multipart),
  typing, reactions, threads, DM channels and a few look-ups. Every request is recorded (after
  its response has been written) as a :class:`RecordedRequest`. Unknown routes get a JSON 404.
* Gateway: HELLO, IDENTIFY (token check: close 4004; privileged intents: close 4014), READY,
  GUILD_CREATE, HEARTBEAT/ACK (receive times recorded), RESUME (RESUMED or INVALID_SESSION),
  REQUEST_GUILD_MEMBERS and event injection with :meth:`FakeDiscord.dispatch`. Without the
  message-content intent, message content is stripped as Discord does (unless the bot is
  mentioned, the message is a DM, or the bot wrote it).

Note: a wrong token is rejected by ``GET /users/@me`` with 401 (discord.py raises
:class:`discord.LoginFailure`); with ``check_rest_auth=False`` it reaches the gateway, which
closes with 4004 and discord.py raises :class:`discord.ConnectionClosed` (``code == 4004``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web
from discord.ext import commands
from multidict import CIMultiDict

__all__ = [
    "ATTACHMENT_SIZE_LIMIT",
    "EVERYONE_PERMISSIONS",
    "FakeDiscord",
    "GatewayConnection",
    "RecordedFile",
    "RecordedRequest",
    "drain_tasks",
    "running",
]

Json = dict[str, Any]
_T = TypeVar("_T")

_log = logging.getLogger("fake_discord")

API_PREFIX: Final = "/api/v10"
GATEWAY_PATH: Final = "/gateway"
DISCORD_EPOCH_MS: Final = 1_420_070_400_000
ATTACHMENT_SIZE_LIMIT: Final = 10 * 1024 * 1024
"""Upload limit reported in interactions (``attachment_size_limit``) and enforced on uploads."""

EVERYONE_PERMISSIONS: Final[int] = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    add_reactions=True,
    use_external_emojis=True,
    use_application_commands=True,
).value
"""Permissions of the guild's @everyone role (the text channel has no overwrites)."""

# Gateway opcodes.
_OP_DISPATCH: Final = 0
_OP_HEARTBEAT: Final = 1
_OP_IDENTIFY: Final = 2
_OP_PRESENCE: Final = 3
_OP_VOICE_STATE: Final = 4
_OP_RESUME: Final = 6
_OP_RECONNECT: Final = 7
_OP_REQUEST_MEMBERS: Final = 8
_OP_INVALID_SESSION: Final = 9
_OP_HELLO: Final = 10
_OP_HEARTBEAT_ACK: Final = 11

# Intent bits that matter here.
_INTENT_GUILD_MEMBERS: Final = 1 << 1
_INTENT_GUILD_PRESENCES: Final = 1 << 8
_INTENT_MESSAGE_CONTENT: Final = 1 << 15
_PRIVILEGED_INTENTS: Final = (
    _INTENT_GUILD_MEMBERS | _INTENT_GUILD_PRESENCES | _INTENT_MESSAGE_CONTENT
)

# Application flags: GATEWAY_PRESENCE_LIMITED, GATEWAY_GUILD_MEMBERS_LIMITED,
# GATEWAY_MESSAGE_CONTENT_LIMITED (the "enabled in the developer portal" flags of unverified bots).
_APP_FLAGS_PRIVILEGED: Final = (1 << 13) | (1 << 15) | (1 << 19)

# Message flags.
_FLAG_EPHEMERAL: Final = 1 << 6
_FLAG_LOADING: Final = 1 << 7

# Interaction types and the callback types Discord accepts for each of them.
_INTERACTION_APP_COMMAND: Final = 2
_INTERACTION_COMPONENT: Final = 3
_ALLOWED_CALLBACKS: Final[Mapping[int, frozenset[int]]] = {
    2: frozenset({4, 5, 9, 12}),  # application command
    3: frozenset({4, 5, 6, 7, 9, 12}),  # message component
    4: frozenset({8}),  # autocomplete
    5: frozenset({4, 5, 6, 7}),  # modal submit
}

_POLL_INTERVAL: Final = 0.05  # seconds between re-checks of a wait_until() condition
_MENTION_RE: Final = re.compile(r"<@!?(\d+)>")
_TRUE_QUERY_VALUES: Final = frozenset({"1", "true", "True"})


@dataclass(frozen=True)
class RecordedFile:
    """A file part of a multipart request (``files[n]``)."""

    field_name: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    """One REST request as the fake saw it, recorded after its response was written.

    ``path`` is relative to the API root (``/channels/1/messages``, no ``/api/v10``); ``json`` is
    the parsed JSON body, or the parsed ``payload_json`` part of a multipart body (``None`` when
    there was no body).
    """

    method: str
    path: str
    query: Mapping[str, str]
    json: Any
    files: tuple[RecordedFile, ...]
    headers: Mapping[str, str]
    status: int
    response: Any
    time: float
    """``time.monotonic()`` when the response had been written."""


@dataclass
class GatewayConnection:
    """One gateway websocket as the fake sees it (read it, don't modify it)."""

    id: int
    ws: web.WebSocketResponse = field(repr=False)
    session_id: str | None = None
    intents: int | None = None
    shard: list[int] | None = None
    identify: Json | None = field(default=None, repr=False)
    heartbeats: list[float] = field(default_factory=list, repr=False)
    """``time.monotonic()`` receive times of the HEARTBEAT (op 1) payloads."""
    received: list[Json] = field(default_factory=list, repr=False)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def ready(self) -> bool:
        """Whether the connection identified (or resumed) and gets dispatches."""
        return self.session_id is not None and not self.ws.closed


@dataclass
class _Session:
    session_id: str
    intents: int
    shard: list[int] | None
    seq: int = 0


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    channel_id: int
    guild_id: int | None
    created: float
    message_id: int | None = None  # the message a component is attached to
    acknowledged: bool = False
    response_type: int | None = None
    original_id: int | None = None
    webhook_message_ids: set[int] = field(default_factory=set)


@dataclass
class _Request:
    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any
    files: tuple[RecordedFile, ...]
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Work to do once the response is out (gateway events that Discord sends after REST)."""


@dataclass(frozen=True)
class _Reply:
    status: int
    body: Any = None  # None: empty body (204)


_Handler = Callable[[_Request], _Reply]


def _json_response(body: Any, status: int = 200) -> web.Response:
    """JSON response with ``Content-Type: application/json`` exactly.

    discord.py only decodes a body as JSON when the header is exactly that; aiohttp's
    ``json_response`` appends ``; charset=utf-8``.
    """
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _error(status: int, code: int, message: str) -> _Reply:
    return _Reply(status, {"message": message, "code": code})


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _snowflake_time(snowflake: int) -> datetime:
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, tz=UTC)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _callback_response(
    record: _Interaction, callback_type: int | None, message: Json | None
) -> Json:
    """The body of a callback's reply with ``?with_response=true``."""
    flags = int(message.get("flags") or 0) if message else 0
    response: Json = {
        "interaction": {
            "id": str(record.id),
            "type": record.type,
            "activity_instance_id": None,
            "response_message_id": message["id"] if message else None,
            "response_message_loading": bool(flags & _FLAG_LOADING),
            "response_message_ephemeral": bool(flags & _FLAG_EPHEMERAL),
        }
    }
    if message is not None:
        response["resource"] = {"type": callback_type, "message": copy.deepcopy(message)}
    return response


class FakeDiscord:
    """A fake Discord REST API and gateway for one bot, one guild and one text channel (more
    guilds: :meth:`add_guild`).

    Ids of the fixed world: :attr:`bot_user_id`, :attr:`application_id`, :attr:`guild_id`
    (also the @everyone role id), :attr:`channel_id` (text channel ``#general``), :attr:`user_id`
    (a human member, guild owner and application owner) and :attr:`dm_channel_id` (the DM between
    the bot and that user). More users: :meth:`add_user`.

    All public methods are thread-safe. The blocking waits (``wait_for_*`` without ``_async``)
    must not be called from a thread that runs an asyncio loop (they would block the bot).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        heartbeat_interval_ms: int = 41_250,
        interaction_timeout: float | None = 3.0,
        check_rest_auth: bool = True,
        allow_privileged_intents: bool = True,
        echo_messages: bool = True,
        bot_name: str = "ArticleBot",
        user_name: str = "alice",
        guild_name: str = "Fake Guild",
        channel_name: str = "general",
    ) -> None:
        """Configure the fake; nothing runs before :meth:`start`.

        Args:
            token: The bot token; IDENTIFY (and REST, see ``check_rest_auth``) accept only this.
                A random one when not given.
            heartbeat_interval_ms: Interval sent in HELLO.
            interaction_timeout: Seconds a bot has for the initial interaction response (Discord:
                3); later callbacks get 404 "Unknown interaction". ``None``: no deadline.
            check_rest_auth: Whether REST requires ``Authorization: Bot <token>`` (401 otherwise).
            allow_privileged_intents: Whether IDENTIFY may ask for members / presences /
                message content; when not, the gateway closes with 4014.
            echo_messages: Whether messages the bot creates (channel messages, non-ephemeral
                interaction responses and follow-ups) come back as MESSAGE_CREATE, as on Discord.
            bot_name: User name of the bot. user_name: of the human user.
            guild_name: Name of the guild. channel_name: of its text channel.

        The options stay public attributes of the same names and may be changed later.
        """
        self.token: str = token if token is not None else f"fake.{secrets.token_urlsafe(24)}"
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_timeout = interaction_timeout
        self.check_rest_auth = check_rest_auth
        self.allow_privileged_intents = allow_privileged_intents
        self.echo_messages = echo_messages

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._async_wakers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._last_snowflake = 0

        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._connections: list[GatewayConnection] = []
        self._all_connections: list[GatewayConnection] = []
        self._sessions: dict[str, _Session] = {}
        self._connection_ids = 0

        self._users: dict[int, Json] = {}
        self._members: dict[int, Json] = {}
        self._channels: dict[int, Json] = {}
        self._messages: dict[int, Json] = {}
        self._attachments: dict[int, bytes] = {}
        self._commands: dict[int | None, list[Json]] = {}
        self._interactions: dict[int, _Interaction] = {}
        self._interactions_by_token: dict[str, _Interaction] = {}

        self.application_id: int = self._new_id()
        self.bot_user_id: int = self.application_id  # like Discord: the bot user shares the id
        self.guild_id: int = self._new_id()
        self.channel_id: int = self._new_id()
        self.user_id: int = self._new_id()
        self.dm_channel_id: int = self._new_id()
        self.guild_name = guild_name
        self._guild_joined_at = _iso(datetime.now(UTC))
        self._guild_names: dict[int, str] = {self.guild_id: guild_name}
        self._granted: dict[tuple[int, int], int] = {}  # (guild, user): permissions

        self._add_user(self.bot_user_id, bot_name, bot=True)
        self._add_user(self.user_id, user_name, bot=False)
        self._channels[self.channel_id] = {
            "id": str(self.channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": channel_name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "default_auto_archive_duration": 1440,
            "flags": 0,
        }
        self._channels[self.dm_channel_id] = self._dm_channel(self.dm_channel_id, self.user_id)

        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = [
            (method, re.compile(pattern), handler)
            for method, pattern, handler in [
                ("GET", r"/gateway(/bot)?", self._get_gateway),
                ("GET", r"/users/@me", self._get_me),
                ("GET", r"/users/(?P<user_id>\d+)", self._get_user),
                ("POST", r"/users/@me/channels", self._create_dm),
                ("GET", r"/(oauth2/)?applications/@me", self._get_application),
                ("GET", r"/applications/(?P<app>\d+)(/guilds/(?P<guild>\d+))?/commands",
                 self._get_commands),
                ("PUT", r"/applications/(?P<app>\d+)(/guilds/(?P<guild>\d+))?/commands",
                 self._put_commands),
                ("POST", r"/applications/(?P<app>\d+)(/guilds/(?P<guild>\d+))?/commands",
                 self._post_command),
                ("DELETE",
                 r"/applications/(?P<app>\d+)(/guilds/(?P<guild>\d+))?/commands/(?P<cmd>\d+)",
                 self._delete_command),
                ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback",
                 self._interaction_callback),
                ("POST", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)", self._webhook_execute),
                ("GET", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
                 self._webhook_get_message),
                ("PATCH",
                 r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
                 self._webhook_edit_message),
                ("DELETE",
                 r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
                 self._webhook_delete_message),
                ("GET", r"/guilds/(?P<guild>\d+)", self._get_guild),
                ("GET", r"/guilds/(?P<guild>\d+)/members/(?P<user_id>\d+)", self._get_member),
                ("GET", r"/channels/(?P<cid>\d+)", self._get_channel),
                ("POST", r"/channels/(?P<cid>\d+)/typing", self._typing),
                ("GET", r"/channels/(?P<cid>\d+)/messages", self._get_messages),
                ("POST", r"/channels/(?P<cid>\d+)/messages", self._create_message),
                ("GET", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._get_message),
                ("PATCH", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._edit_message),
                ("DELETE", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", self._delete_message),
                ("PUT", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)/reactions/[^/]+/@me",
                 self._reaction),
                ("DELETE", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)/reactions(/.*)?",
                 self._reaction),
                ("POST", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)/threads",
                 self._create_thread),
                ("POST", r"/channels/(?P<cid>\d+)/threads", self._create_thread),
            ]
        ]  # fmt: skip

        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeDiscord:
        """Start the server thread and wait until it listens; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("FakeDiscord already started")
        self._thread = threading.Thread(target=self._run, name="fake-discord", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("FakeDiscord did not start within 10 s")
        if self._startup_error is not None:
            raise RuntimeError("FakeDiscord failed to start") from self._startup_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close all websockets, stop the server and its loop, join the thread (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(timeout)
            except Exception:
                _log.exception("fake discord: error during shutdown")
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """TCP port the fake listens on (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """REST base URL, the value for ``discord.http.Route.BASE``."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Gateway URL (also READY's ``resume_gateway_url``)."""
        return f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}"

    @contextlib.contextmanager
    def redirect(self) -> Iterator[FakeDiscord]:
        """Point discord.py (process-wide) at this fake; restores the originals on exit."""
        route_cls = discord.http.Route
        ws_cls = discord.gateway.DiscordWebSocket
        old_base, old_gateway = route_cls.BASE, ws_cls.DEFAULT_GATEWAY
        route_cls.BASE = self.base_url
        ws_cls.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield self
        finally:
            route_cls.BASE = old_base
            ws_cls.DEFAULT_GATEWAY = old_gateway

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:
            self._startup_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get(GATEWAY_PATH, self._gateway)
        app.router.add_get("/attachments/{aid}/{filename}", self._get_attachment)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def _shutdown(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"shutting down"), 2)
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        """Wake sync and async waiters; call with or without the lock."""
        with self._lock:
            self._changed.notify_all()
            wakers = list(self._async_wakers)
        for loop, event in wakers:
            with contextlib.suppress(RuntimeError):  # loop closed
                loop.call_soon_threadsafe(event.set)

    def wait_until(self, check: Callable[[], _T | None], timeout: float = 5.0) -> _T:
        """Block until ``check()`` returns something truthy; returns that value.

        ``check`` runs under the fake's lock, after every change the fake sees (request, heartbeat,
        connection) and at least every 50 ms, so it may also look at other state (the bot's).
        Raises :class:`TimeoutError`. Not for use on a thread that runs an asyncio loop.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("wait_until() called on the fake's own thread")
        if _running_loop() is not None:
            raise RuntimeError(
                "wait_until() would block the running event loop; use the _async one"
            )
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = check()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout} s")
                self._changed.wait(min(remaining, _POLL_INTERVAL))

    async def wait_until_async(self, check: Callable[[], _T | None], timeout: float = 5.0) -> _T:
        """Async twin of :meth:`wait_until`: waits without blocking the caller's loop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        event = asyncio.Event()
        waker = (loop, event)
        with self._lock:
            self._async_wakers.append(waker)
        try:
            while True:
                event.clear()
                with self._lock:
                    result = check()
                if result:
                    return result
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, _POLL_INTERVAL))
        finally:
            with self._lock:
                self._async_wakers.remove(waker)

    # ------------------------------------------------------------------ recorded requests

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of all recorded REST requests, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> list[str]:
        """Internal errors of the fake (handler exceptions, protocol errors); should stay empty."""
        with self._lock:
            return list(self._errors)

    def requests_matching(
        self,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        since: int = 0,
    ) -> list[RecordedRequest]:
        """Recorded requests (from index ``since``) matching method, path and predicate.

        ``path`` is a regex that must match the whole path (without ``/api/v10``).
        """
        pattern = re.compile(path) if isinstance(path, str) else path
        with self._lock:
            candidates = self._requests[since:]
        return [
            request
            for request in candidates
            if (method is None or request.method == method.upper())
            and (pattern is None or pattern.fullmatch(request.path) is not None)
            and (predicate is None or predicate(request))
        ]

    def _first_match(
        self,
        method: str | None,
        path: str | re.Pattern[str] | None,
        predicate: Callable[[RecordedRequest], bool] | None,
        since: int,
    ) -> Callable[[], RecordedRequest | None]:
        def check() -> RecordedRequest | None:
            found = self.requests_matching(method, path, predicate, since=since)
            return found[0] if found else None

        return check

    def wait_for_request(
        self,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        timeout: float = 5.0,
        since: int = 0,
    ) -> RecordedRequest:
        """Block until a matching request is recorded (see :meth:`requests_matching`).

        Returns the first match at or after index ``since`` (``len(fake.requests)`` taken earlier
        waits for a new one). Raises :class:`TimeoutError`.
        """
        return self.wait_until(self._first_match(method, path, predicate, since), timeout)

    async def wait_for_request_async(
        self,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        timeout: float = 5.0,
        since: int = 0,
    ) -> RecordedRequest:
        """Async twin of :meth:`wait_for_request` (use it from the bot's loop)."""
        return await self.wait_until_async(
            self._first_match(method, path, predicate, since), timeout
        )

    # ------------------------------------------------------------------ gateway observations

    @property
    def connections(self) -> list[GatewayConnection]:
        """All gateway connections ever accepted, oldest first."""
        with self._lock:
            return list(self._all_connections)

    @property
    def identify_payloads(self) -> list[Json]:
        """The ``d`` of every IDENTIFY received (accepted or not), oldest first."""
        with self._lock:
            return [
                copy.deepcopy(payload["d"])
                for conn in self._all_connections
                for payload in conn.received
                if payload.get("op") == _OP_IDENTIFY
            ]

    @property
    def intents(self) -> int | None:
        """Intents of the most recent accepted IDENTIFY (None before one)."""
        with self._lock:
            sessions = list(self._sessions.values())
        return sessions[-1].intents if sessions else None

    def heartbeat_times(self) -> list[float]:
        """``time.monotonic()`` receive times of all heartbeats, over all connections."""
        with self._lock:
            return sorted(t for conn in self._all_connections for t in conn.heartbeats)

    def max_heartbeat_gap(self) -> float:
        """Largest gap in seconds between consecutive heartbeats of one connection (0.0 if <2).

        discord.py heartbeats from a helper thread but sends on the bot's loop, so a blocked loop
        shows up here as a gap much larger than the heartbeat interval.
        """
        with self._lock:
            gaps = [
                later - earlier
                for conn in self._all_connections
                for earlier, later in itertools.pairwise(conn.heartbeats)
            ]
        return max(gaps, default=0.0)

    def wait_for_ready(self, timeout: float = 5.0) -> GatewayConnection:
        """Block until some connection has been sent READY (or RESUMED); returns it."""
        return self.wait_until(self._ready_connection, timeout)

    async def wait_for_ready_async(self, timeout: float = 5.0) -> GatewayConnection:
        """Async twin of :meth:`wait_for_ready`."""
        return await self.wait_until_async(self._ready_connection, timeout)

    def _ready_connection(self) -> GatewayConnection | None:
        with self._lock:
            return next((conn for conn in reversed(self._connections) if conn.ready), None)

    # ------------------------------------------------------------------ event injection

    def dispatch(self, event: str, data: Mapping[str, Any], *, timeout: float = 5.0) -> None:
        """Send an op 0 dispatch ``event`` to every ready connection; returns once written.

        Thread-safe (call it from the test's thread or the bot's loop; it waits a moment for the
        fake's thread). Sequence numbers increment per session. MESSAGE_CREATE/UPDATE content is
        stripped for connections without the message-content intent, as Discord does. Raises
        :class:`RuntimeError` when no connection is ready.
        """
        loop = self._loop
        if loop is None or not loop.is_running():
            raise RuntimeError("FakeDiscord is not running")
        if threading.current_thread() is self._thread:
            raise RuntimeError("dispatch() called on the fake's own thread")
        future = asyncio.run_coroutine_threadsafe(self._broadcast(event, dict(data)), loop)
        if future.result(timeout) == 0:
            raise RuntimeError(f"no ready gateway connection to dispatch {event} to")

    def request_reconnect(self, *, timeout: float = 5.0) -> None:
        """Send op 7 RECONNECT to every ready connection (the client should RESUME)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            raise RuntimeError("FakeDiscord is not running")
        future = asyncio.run_coroutine_threadsafe(self._send_reconnect(), loop)
        future.result(timeout)

    async def _send_reconnect(self) -> None:
        with self._lock:
            connections = [conn for conn in self._connections if conn.ready]
        for conn in connections:
            await self._send(conn, {"op": _OP_RECONNECT, "d": None})

    async def _broadcast(self, event: str, data: Json) -> int:
        """Dispatch to all ready connections; returns how many got it."""
        with self._lock:
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and "id" in data:
                self._messages.setdefault(int(data["id"]), copy.deepcopy(data))
            connections = [conn for conn in self._connections if conn.ready]
        sent = 0
        for conn in connections:
            payload = self._visible_to(conn, event, data)
            if await self._send_dispatch(conn, event, payload):
                sent += 1
        return sent

    def _visible_to(self, conn: GatewayConnection, event: str, data: Json) -> Json:
        """What Discord would send this connection (message content intent rules)."""
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            return data
        if conn.intents is not None and conn.intents & _INTENT_MESSAGE_CONTENT:
            return data
        author_id = _as_int((data.get("author") or {}).get("id"))
        mentioned = any(
            _as_int(user.get("id")) == self.bot_user_id for user in data.get("mentions", [])
        )
        if author_id == self.bot_user_id or mentioned or data.get("guild_id") is None:
            return data
        stripped = dict(data)
        stripped.update(content="", embeds=[], attachments=[], components=[])
        stripped.pop("poll", None)
        return stripped

    async def _send_dispatch(self, conn: GatewayConnection, event: str, data: Json) -> bool:
        with self._lock:
            session = self._sessions.get(conn.session_id or "")
            if session is None:
                return False
            session.seq += 1
            seq = session.seq
        return await self._send(conn, {"op": _OP_DISPATCH, "t": event, "s": seq, "d": data})

    async def _send(self, conn: GatewayConnection, payload: Json) -> bool:
        async with conn.send_lock:
            if conn.ws.closed:
                return False
            try:
                await conn.ws.send_str(json.dumps(payload))
            except ConnectionError:
                return False
        return True

    # ------------------------------------------------------------------ world state

    def _new_id(self) -> int:
        """A unique, increasing snowflake for 'now'."""
        with self._lock:
            now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            self._last_snowflake = max(self._last_snowflake + 1, now)
            return self._last_snowflake

    def _add_user(self, user_id: int, name: str, *, bot: bool) -> None:
        self._users[user_id] = {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": None if bot else name.title(),
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "bot": bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
        }
        self._members[user_id] = {
            "roles": [],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": self._guild_joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }

    def add_user(self, username: str, *, bot: bool = False) -> int:
        """Add a guild member and return its id.

        Add users before the bot connects to have them in GUILD_CREATE (messages and
        interactions carry the user's data anyway).
        """
        user_id = self._new_id()
        with self._lock:
            self._add_user(user_id, username, bot=bot)
        return user_id

    def add_guild(self, name: str, *, channel_name: str = "general") -> tuple[int, int]:
        """Add another guild with one text channel; return (guild id, channel id).

        Every user is a member of every guild, and :attr:`user_id` owns them all. Add guilds
        before the bot connects to have them in READY and GUILD_CREATE. An interaction or
        message in the channel is in that guild (``channel_id=``).
        """
        with self._lock:
            guild_id, channel_id = self._new_id(), self._new_id()
            self._guild_names[guild_id] = name
            channel = copy.deepcopy(self._channels[self.channel_id])
            channel.update(id=str(channel_id), guild_id=str(guild_id), name=channel_name)
            channel["last_message_id"] = None
            self._channels[channel_id] = channel
        return guild_id, channel_id

    def grant(self, user_id: int, permissions: int, *, guild_id: int | None = None) -> None:
        """Give a member ``permissions`` (on top of @everyone's) in a guild (default:
        :attr:`guild_id`), as a role would; interactions carry them from then on."""
        with self._lock:
            self._granted[(guild_id or self.guild_id, user_id)] = permissions

    def user_payload(self, user_id: int | None = None) -> Json:
        """User object of a known user (default: :attr:`user_id`)."""
        with self._lock:
            return copy.deepcopy(self._users[user_id or self.user_id])

    def member_payload(self, user_id: int | None = None, *, with_user: bool = True) -> Json:
        """Guild member object of a known user (default: :attr:`user_id`)."""
        user_id = user_id or self.user_id
        with self._lock:
            member = copy.deepcopy(self._members[user_id])
            if with_user:
                member["user"] = copy.deepcopy(self._users[user_id])
        return member

    def channel_payload(self, channel_id: int | None = None) -> Json:
        """Channel object of a known channel (default: :attr:`channel_id`)."""
        with self._lock:
            return copy.deepcopy(self._channels[channel_id or self.channel_id])

    def get_message(self, message_id: int) -> Json | None:
        """A message the fake knows (built, dispatched or created through REST), or None."""
        with self._lock:
            message = self._messages.get(message_id)
            return copy.deepcopy(message) if message is not None else None

    @property
    def messages(self) -> list[Json]:
        """All messages the fake knows, oldest first (copies)."""
        with self._lock:
            return [copy.deepcopy(m) for _, m in sorted(self._messages.items())]

    def commands(self, guild_id: int | None = None) -> list[Json]:
        """Registered application commands: global (``None``) or of a guild (copies)."""
        with self._lock:
            return copy.deepcopy(self._commands.get(guild_id, []))

    @property
    def bot_mention(self) -> str:
        """``<@bot id>``, for message content that mentions the bot."""
        return f"<@{self.bot_user_id}>"

    def _client_user(self) -> Json:
        user = copy.deepcopy(self._users[self.bot_user_id])
        user.update(verified=True, mfa_enabled=False, locale="en-US", email=None, bio="")
        return user

    def _application(self) -> Json:
        flags = _APP_FLAGS_PRIVILEGED if self.allow_privileged_intents else 0
        return {
            "id": str(self.application_id),
            "name": self._users[self.bot_user_id]["username"],
            "description": "A fake application.",
            "icon": None,
            "cover_image": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": copy.deepcopy(self._users[self.user_id]),
            "team": None,
            "verify_key": "0" * 64,
            "flags": flags,
            "summary": "",
            "rpc_origins": [],
            "terms_of_service_url": None,
            "privacy_policy_url": None,
            "tags": [],
            "install_params": None,
            "custom_install_url": None,
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": 1,
            "integration_types_config": {"0": {}},
            "bot": self._client_user(),
        }

    def _everyone_role(self, guild_id: int) -> Json:
        return {
            "id": str(guild_id),
            "name": "@everyone",
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": 0,
            "permissions": str(EVERYONE_PERMISSIONS),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def _guild(self, *, full: bool, guild_id: int | None = None) -> Json:
        guild_id = guild_id or self.guild_id
        mine = [c for c in self._channels.values() if c.get("guild_id") == str(guild_id)]
        guild: Json = {
            "id": str(guild_id),
            "name": self._guild_names[guild_id],
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.user_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "roles": [self._everyone_role(guild_id)],
            "emojis": [],
            "stickers": [],
            "features": [],
            "application_id": None,
            "system_channel_id": next(c["id"] for c in mine if c["type"] == 0),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500_000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
        }
        if full:
            channels = [copy.deepcopy(c) for c in mine if c["type"] in (0, 2)]
            threads = [copy.deepcopy(c) for c in mine if c["type"] in (11, 12)]
            guild.update(
                joined_at=self._guild_joined_at,
                large=False,
                unavailable=False,
                lazy=True,
                member_count=len(self._members),
                members=[self.member_payload(uid) for uid in self._members],
                channels=channels,
                threads=threads,
                voice_states=[],
                presences=[],
                stage_instances=[],
                guild_scheduled_events=[],
                soundboard_sounds=[],
            )
        return guild

    def _dm_channel(self, channel_id: int, user_id: int) -> Json:
        return {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [copy.deepcopy(self._users[user_id])],
        }

    def _dm_channel_for(self, user_id: int) -> int:
        with self._lock:
            for cid, channel in self._channels.items():
                if channel["type"] == 1 and channel["recipients"][0]["id"] == str(user_id):
                    return cid
            cid = self._new_id()
            self._channels[cid] = self._dm_channel(cid, user_id)
            return cid

    def _guild_of(self, channel_id: int) -> int | None:
        channel = self._channels.get(channel_id)
        if channel is None or channel["type"] in (1, 3):
            return None
        return int(channel.get("guild_id") or self.guild_id)

    def _member_permissions(self, user_id: int, guild_id: int | None = None) -> int:
        if user_id == self.user_id:  # the owner of every guild
            return discord.Permissions.all().value
        return EVERYONE_PERMISSIONS | self._granted.get((guild_id or self.guild_id, user_id), 0)

    def _mentions_in(self, content: str, guild_id: int | None) -> list[Json]:
        mentioned: list[Json] = []
        for match in _MENTION_RE.finditer(content):
            user_id = int(match.group(1))
            if user_id in self._users and all(m["id"] != str(user_id) for m in mentioned):
                mentioned.append(self._mention(user_id, guild_id))
        return mentioned

    def _mention(self, user_id: int, guild_id: int | None) -> Json:
        user = copy.deepcopy(self._users[user_id])
        if guild_id is not None and user_id in self._members:
            user["member"] = copy.deepcopy(self._members[user_id])
        return user

    def _new_message(
        self,
        *,
        channel_id: int,
        author_id: int,
        content: str = "",
        guild_id: int | None = None,
        include_member: bool = False,
        mentions: list[Json] | None = None,
        message_reference: Json | None = None,
        message_type: int | None = None,
        flags: int = 0,
        embeds: Sequence[Json] = (),
        attachments: Sequence[Json] = (),
        components: Sequence[Json] = (),
        webhook_id: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Json:
        """Build (and store) a full message object; call under the lock."""
        message_id = self._new_id()
        message: Json = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": copy.deepcopy(self._users[author_id]),
            "content": content,
            "timestamp": _iso(_snowflake_time(message_id)),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions if mentions is not None else [],
            "mention_roles": [],
            "attachments": list(attachments),
            "embeds": list(embeds),
            "reactions": [],
            "pinned": False,
            "type": message_type if message_type is not None else (19 if message_reference else 0),
            "flags": flags,
            "components": list(components),
        }
        if guild_id is not None:
            message["guild_id"] = str(guild_id)
            if include_member and author_id in self._members:
                message["member"] = copy.deepcopy(self._members[author_id])
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
            message["application_id"] = str(self.application_id)
        if message_reference is not None:
            message["message_reference"] = message_reference
            referenced = self._messages.get(_as_int(message_reference.get("message_id")) or 0)
            if referenced is not None:
                ref_copy = copy.deepcopy(referenced)
                ref_copy.pop("referenced_message", None)
                message["referenced_message"] = ref_copy
        if extra:
            message.update(copy.deepcopy(dict(extra)))
        self._messages[message_id] = message
        channel = self._channels.get(channel_id)
        if channel is not None:
            channel["last_message_id"] = str(message_id)
        return message

    # ------------------------------------------------------------------ payload builders

    def message_create(
        self,
        content: str,
        *,
        author_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        mentions: Sequence[int] | None = None,
        message_reference: int | Mapping[str, Any] | None = None,
        embeds: Sequence[Json] = (),
        attachments: Sequence[Json] = (),
        components: Sequence[Json] = (),
    ) -> Json:
        """Build (and remember) a MESSAGE_CREATE payload from a user; send it with :meth:`dispatch`.

        Args:
            content: Message text; ``fake.bot_mention`` in it mentions the bot.
            author_id: A known user (default :attr:`user_id`).
            channel_id: Default :attr:`channel_id`, or the author's DM channel with ``dm=True``.
            mentions: User ids mentioned; default: parsed from ``<@id>`` in ``content``.
            message_reference: A message id (in the same channel) or a reference object, for
                replies; ``referenced_message`` is filled in when the fake knows the message.
        """
        author_id = author_id or self.user_id
        with self._lock:
            if channel_id is None:
                channel_id = self._dm_channel_for(author_id) if dm else self.channel_id
            if channel_id not in self._channels:
                raise ValueError(f"unknown channel {channel_id}")
            guild_id = self._guild_of(channel_id)
            if mentions is None:
                mention_list = self._mentions_in(content, guild_id)
            else:
                mention_list = [self._mention(uid, guild_id) for uid in mentions]
            reference: Json | None = None
            if isinstance(message_reference, int):
                reference = {"type": 0, "message_id": str(message_reference)}
                reference["channel_id"] = str(channel_id)
                if guild_id is not None:
                    reference["guild_id"] = str(guild_id)
            elif message_reference is not None:
                reference = dict(message_reference)
            message = self._new_message(
                channel_id=channel_id,
                author_id=author_id,
                content=content,
                guild_id=guild_id,
                include_member=True,
                mentions=mention_list,
                message_reference=reference,
                embeds=embeds,
                attachments=attachments,
                components=components,
            )
            return copy.deepcopy(message)

    def interaction_create_slash(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[Json] | None = None,
        *,
        user_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        resolved: Json | None = None,
        locale: str = "en-US",
    ) -> Json:
        """Build (and register) an INTERACTION_CREATE payload for a chat-input command.

        Args:
            name: Command name; ``"group sub"`` / ``"cmd sub"`` for subcommands.
            options: ``{name: value}`` (types come from the synced command, else are inferred
                from the Python value; user/channel options get ``resolved`` data for known
                users/channels) or a raw list of option objects.
            user_id: The invoking user (default :attr:`user_id`).
            channel_id: Default :attr:`channel_id` (or the user's DM channel with ``dm=True``).
            resolved: Extra ``data.resolved`` to merge in.
        The command id (and ``data.guild_id`` for guild commands) comes from the synced commands
        when the command was synced; otherwise a fresh id is used.
        """
        user_id = user_id or self.user_id
        parts = name.split()
        if not parts:
            raise ValueError("empty command name")
        with self._lock:
            if channel_id is None:
                channel_id = self._dm_channel_for(user_id) if dm else self.channel_id
            guild_id = self._guild_of(channel_id)
            command, command_guild = self._find_command(parts[0], guild_id)
            data: Json = {
                "id": command["id"] if command else str(self._new_id()),
                "name": parts[0],
                "type": 1,
            }
            if command_guild is not None:
                data["guild_id"] = str(command_guild)
            all_resolved: Json = copy.deepcopy(resolved) if resolved else {}
            spec_options: list[Json] = command.get("options", []) if command else []
            leaf_spec = spec_options
            wrappers: list[Json] = []
            for index, part in enumerate(parts[1:], start=1):
                spec = next((o for o in leaf_spec if o.get("name") == part), None)
                is_group = (spec or {}).get("type") == 2 or (
                    spec is None and index < len(parts) - 1
                )
                wrappers.append({"type": 2 if is_group else 1, "name": part})
                leaf_spec = (spec or {}).get("options", [])
            if options is None:
                leaf: list[Json] = []
            elif isinstance(options, Mapping):
                leaf = self._build_options(options, leaf_spec, all_resolved, guild_id)
            else:
                leaf = [dict(o) for o in options]
            for wrapper in reversed(wrappers):
                wrapper["options"] = leaf
                leaf = [wrapper]
            data["options"] = leaf
            if all_resolved:
                data["resolved"] = all_resolved
            return self._register_interaction(
                _INTERACTION_APP_COMMAND, data, user_id, channel_id, guild_id, locale=locale
            )

    def interaction_create_component(
        self,
        custom_id: str,
        *,
        message: int | Mapping[str, Any],
        component_type: int = 2,
        values: Sequence[str] | None = None,
        user_id: int | None = None,
        locale: str = "en-US",
    ) -> Json:
        """Build (and register) an INTERACTION_CREATE payload for a component (type 3).

        Args:
            custom_id: The component's ``custom_id``.
            message: The message the component is attached to: its id (the fake must know it,
                e.g. the bot sent it) or a message object.
            component_type: 2 button, 3 string select, 5-8 other selects.
            values: Selected values (selects).
            user_id: The clicking user (default :attr:`user_id`).
        """
        user_id = user_id or self.user_id
        with self._lock:
            if isinstance(message, int):
                known = self._messages.get(message)
                if known is None:
                    raise ValueError(f"unknown message {message}")
                message_data = copy.deepcopy(known)
            else:
                message_data = copy.deepcopy(dict(message))
            channel_id = int(message_data["channel_id"])
            guild_id = self._guild_of(channel_id)
            data: Json = {"custom_id": custom_id, "component_type": component_type}
            if values is not None or component_type in (3, 5, 6, 7, 8):
                data["values"] = list(values or [])
            payload = self._register_interaction(
                _INTERACTION_COMPONENT, data, user_id, channel_id, guild_id, locale=locale
            )
            payload["message"] = message_data
            self._interactions[int(payload["id"])].message_id = int(message_data["id"])
            return payload

    def _find_command(self, name: str, guild_id: int | None) -> tuple[Json | None, int | None]:
        if guild_id is not None:
            for command in self._commands.get(guild_id, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return copy.deepcopy(command), guild_id
        for command in self._commands.get(None, []):
            if command["name"] == name and command.get("type", 1) == 1:
                return copy.deepcopy(command), None
        return None, None

    def _build_options(
        self,
        values: Mapping[str, Any],
        spec_options: Sequence[Json],
        resolved: Json,
        guild_id: int | None,
    ) -> list[Json]:
        built: list[Json] = []
        for key, value in values.items():
            spec = next((o for o in spec_options if o.get("name") == key), None)
            if spec is not None:
                option_type = int(spec["type"])
            elif isinstance(value, bool):
                option_type = 5
            elif isinstance(value, int):
                option_type = 4
            elif isinstance(value, float):
                option_type = 10
            else:
                option_type = 3
            if option_type in (6, 7, 8, 9, 11):
                snowflake = int(value)
                if option_type in (6, 9) and snowflake in self._users:
                    resolved.setdefault("users", {})[str(snowflake)] = self.user_payload(snowflake)
                    if guild_id is not None and snowflake in self._members:
                        member = self.member_payload(snowflake, with_user=False)
                        member["permissions"] = str(self._member_permissions(snowflake, guild_id))
                        resolved.setdefault("members", {})[str(snowflake)] = member
                elif option_type == 7 and snowflake in self._channels:
                    channel = self.channel_payload(snowflake)
                    channel["permissions"] = str(EVERYONE_PERMISSIONS)
                    resolved.setdefault("channels", {})[str(snowflake)] = channel
                value = str(snowflake)
            built.append({"name": key, "type": option_type, "value": value})
        return built

    def _register_interaction(
        self,
        interaction_type: int,
        data: Json,
        user_id: int,
        channel_id: int,
        guild_id: int | None,
        *,
        locale: str,
    ) -> Json:
        interaction_id = self._new_id()
        token = f"interaction.{secrets.token_urlsafe(32)}"
        payload: Json = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": str(channel_id),
            "channel": self.channel_payload(channel_id),
            "locale": locale,
            "app_permissions": str(EVERYONE_PERMISSIONS),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild_id or 0)},
            "context": 0 if guild_id is not None else 1,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if guild_id is not None:
            member = self.member_payload(user_id)
            member["permissions"] = str(self._member_permissions(user_id, guild_id))
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=member,
            )
        else:
            payload["user"] = self.user_payload(user_id)
        record = _Interaction(
            id=interaction_id,
            token=token,
            type=interaction_type,
            channel_id=channel_id,
            guild_id=guild_id,
            created=time.monotonic(),
        )
        self._interactions[interaction_id] = record
        self._interactions_by_token[token] = record
        return payload

    # ------------------------------------------------------------------ HTTP plumbing

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        """Catch-all REST handler: parse, route, respond, record, then run post-response work."""
        path = request.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :] or "/"
        parsed = _Request(
            method=request.method,
            path=path,
            params={},
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            json=None,
            files=(),
        )
        try:
            parsed.json, parsed.files = await self._read_body(request)
        except json.JSONDecodeError:
            reply = _error(400, 50109, "The request body contains invalid JSON.")
        except Exception as exc:
            self._record_error(f"{request.method} {path}: cannot read body: {exc!r}")
            reply = _error(400, 0, "fake discord: cannot read the request body")
        else:
            reply = self._route(parsed, request.path.startswith(API_PREFIX))

        if reply.body is None:
            response: web.Response = web.Response(status=reply.status)
        else:
            response = _json_response(reply.body, reply.status)
        try:  # write it now, so that it is out before the request is recorded
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:  # the client went away; aiohttp copes with that on return
            pass

        recorded = RecordedRequest(
            method=parsed.method,
            path=parsed.path,
            query=parsed.query,
            json=parsed.json,
            files=parsed.files,
            headers=parsed.headers,
            status=reply.status,
            response=reply.body,
            time=time.monotonic(),
        )
        with self._lock:
            self._requests.append(recorded)
        self._notify()
        for work in parsed.after:
            try:
                await work()
            except Exception as exc:
                self._record_error(f"after {parsed.method} {parsed.path}: {exc!r}")
        return response

    def _route(self, request: _Request, in_api: bool) -> _Reply:
        if not in_api:
            return _error(404, 0, "404: Not Found")
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            path_matched = True
            if method != request.method:
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            if (
                self.check_rest_auth
                and not self._is_public_route(request.path)
                and request.headers.get("Authorization") != f"Bot {self.token}"
            ):
                return _error(401, 0, "401: Unauthorized")
            try:
                with self._lock:
                    reply = handler(request)
            except Exception as exc:
                self._record_error(f"{request.method} {request.path}: {exc!r}")
                _log.exception("fake discord: handler error")
                return _error(400, 0, f"fake discord: handler error {exc!r}")
            if reply.status >= 500:
                self._record_error(f"handler answered {reply.status}")
            return reply
        if path_matched:
            return _error(405, 0, "405: Method Not Allowed")
        return _error(404, 0, "404: Not Found")

    @staticmethod
    def _is_public_route(path: str) -> bool:
        """Routes authenticated by an interaction/webhook token instead of the bot token."""
        return path.startswith(("/interactions/", "/webhooks/")) or path.startswith("/gateway")

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, tuple[RecordedFile, ...]]:
        if not request.body_exists:
            return None, ()
        if request.content_type == "multipart/form-data":
            payload: Any = None
            files: list[RecordedFile] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                data = bytes(await part.read(decode=False))
                if part.name == "payload_json":
                    payload = json.loads(data) if data else None
                elif part.filename is not None:
                    files.append(
                        RecordedFile(
                            field_name=part.name or "",
                            filename=part.filename,
                            content_type=part.headers.get("Content-Type"),
                            data=data,
                        )
                    )
            return payload, tuple(files)
        raw = await request.read()
        return (json.loads(raw) if raw else None), ()

    def _record_error(self, message: str) -> None:
        _log.error("fake discord: %s", message)
        with self._lock:
            self._errors.append(message)
        self._notify()

    async def _get_attachment(self, request: web.Request) -> web.StreamResponse:
        data = self._attachments.get(_as_int(request.match_info["aid"]) or 0)
        if data is None:
            return _json_response({"message": "404: Not Found", "code": 0}, 404)
        return web.Response(body=data, content_type="application/octet-stream")

    # ------------------------------------------------------------------ REST handlers
    # All of them run on the fake's loop with the lock held and must not await.

    def _get_gateway(self, request: _Request) -> _Reply:
        body: Json = {"url": self.gateway_url}
        if request.path.endswith("/bot"):
            body.update(
                shards=1,
                session_start_limit={
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            )
        return _Reply(200, body)

    def _get_me(self, request: _Request) -> _Reply:
        return _Reply(200, self._client_user())

    def _get_user(self, request: _Request) -> _Reply:
        user = self._users.get(int(request.params["user_id"]))
        if user is None:
            return _error(404, 10013, "Unknown User")
        return _Reply(200, copy.deepcopy(user))

    def _create_dm(self, request: _Request) -> _Reply:
        recipient = _as_int((request.json or {}).get("recipient_id"))
        if recipient is None or recipient not in self._users:
            return _error(400, 50035, "Invalid Form Body")
        return _Reply(200, self.channel_payload(self._dm_channel_for(recipient)))

    def _get_application(self, request: _Request) -> _Reply:
        return _Reply(200, self._application())

    def _command_scope(self, request: _Request) -> tuple[int | None, _Reply | None]:
        if int(request.params["app"]) != self.application_id:
            return None, _error(403, 50001, "Missing Access")
        guild = request.params.get("guild")
        if guild is None:
            return None, None
        if int(guild) not in self._guild_names:
            return None, _error(403, 50001, "Missing Access")
        return int(guild), None

    def _stored_command(self, command: Json, scope: int | None, existing: list[Json]) -> Json:
        name, kind = command.get("name"), command.get("type", 1)
        previous = next((c for c in existing if c["name"] == name and c["type"] == kind), None)
        stored = copy.deepcopy(command)
        stored.update(
            id=previous["id"] if previous else str(self._new_id()),
            application_id=str(self.application_id),
            version=str(self._new_id()),
            type=kind,
            description=command.get("description", ""),
            default_member_permissions=command.get("default_member_permissions"),
            nsfw=command.get("nsfw", False),
            integration_types=command.get("integration_types", [0]),
            contexts=command.get("contexts"),
            name_localizations=command.get("name_localizations"),
            description_localizations=command.get("description_localizations"),
        )
        if scope is not None:
            stored["guild_id"] = str(scope)
        return stored

    def _get_commands(self, request: _Request) -> _Reply:
        scope, failure = self._command_scope(request)
        if failure is not None:
            return failure
        return _Reply(200, copy.deepcopy(self._commands.get(scope, [])))

    def _put_commands(self, request: _Request) -> _Reply:
        scope, failure = self._command_scope(request)
        if failure is not None:
            return failure
        body = request.json
        if not isinstance(body, list) or not all(
            isinstance(c, dict) and c.get("name") for c in body
        ):
            return _error(400, 50035, "Invalid Form Body")
        existing = self._commands.get(scope, [])
        stored = [self._stored_command(command, scope, existing) for command in body]
        self._commands[scope] = stored
        return _Reply(200, copy.deepcopy(stored))

    def _post_command(self, request: _Request) -> _Reply:
        scope, failure = self._command_scope(request)
        if failure is not None:
            return failure
        body = request.json
        if not isinstance(body, dict) or not body.get("name"):
            return _error(400, 50035, "Invalid Form Body")
        existing = self._commands.setdefault(scope, [])
        stored = self._stored_command(body, scope, existing)
        existing[:] = [c for c in existing if c["id"] != stored["id"]] + [stored]
        return _Reply(200, copy.deepcopy(stored))

    def _delete_command(self, request: _Request) -> _Reply:
        scope, failure = self._command_scope(request)
        if failure is not None:
            return failure
        existing = self._commands.get(scope, [])
        remaining = [c for c in existing if c["id"] != request.params["cmd"]]
        if len(remaining) == len(existing):
            return _error(404, 10063, "Unknown application command")
        self._commands[scope] = remaining
        return _Reply(204)

    def _message_from_body(
        self,
        body: Json,
        files: Sequence[RecordedFile],
        *,
        channel_id: int,
        webhook_id: int | None = None,
        message_type: int | None = None,
        flags: int | None = None,
    ) -> Json:
        """A message the bot creates from a create-message style body; call under the lock."""
        guild_id = self._guild_of(channel_id)
        reference = body.get("message_reference")
        reference = dict(reference) if isinstance(reference, dict) else None
        if reference is not None:
            reference = {  # Discord answers with string snowflakes; discord.py sends ints
                key: str(value) if key.endswith("_id") and value is not None else value
                for key, value in reference.items()
            }
            reference.setdefault("channel_id", str(channel_id))
            if guild_id is not None:
                reference.setdefault("guild_id", str(guild_id))
        content = str(body.get("content") or "")
        message = self._new_message(
            channel_id=channel_id,
            author_id=self.bot_user_id,
            content=content,
            guild_id=guild_id,
            mentions=self._allowed_mentions(content, body, reference, guild_id),
            message_reference=reference,
            message_type=message_type,
            flags=int(body.get("flags") or 0) if flags is None else flags,
            embeds=body.get("embeds") or [],
            attachments=self._attachments_from(body, files),
            components=body.get("components") or [],
            webhook_id=webhook_id,
        )
        message["tts"] = bool(body.get("tts", False))
        if body.get("poll"):
            message["poll"] = body["poll"]
        return message

    def _allowed_mentions(
        self, content: str, body: Json, reference: Json | None, guild_id: int | None
    ) -> list[Json]:
        """Users pinged by the message, honouring ``allowed_mentions`` like Discord."""
        allowed = body.get("allowed_mentions")
        mentioned = self._mentions_in(content, guild_id)
        if isinstance(allowed, dict):
            parse = allowed.get("parse") or []
            users = {str(u) for u in allowed.get("users") or []}
            mentioned = [m for m in mentioned if "users" in parse or m["id"] in users]
        replied_user = allowed.get("replied_user", False) if isinstance(allowed, dict) else True
        if reference is not None and replied_user:
            referenced = self._messages.get(_as_int(reference.get("message_id")) or 0)
            if referenced is not None:
                author_id = int(referenced["author"]["id"])
                if all(m["id"] != str(author_id) for m in mentioned):
                    mentioned.append(self._mention(author_id, guild_id))
        return mentioned

    def _attachments_from(self, body: Json, files: Sequence[RecordedFile]) -> list[Json]:
        declared = {
            str(a.get("id")): a for a in body.get("attachments") or [] if isinstance(a, dict)
        }
        attachments: list[Json] = []
        for index, upload in enumerate(files):
            match = re.fullmatch(r"files\[(\d+)\]", upload.field_name)
            meta = declared.get(match.group(1) if match else str(index), {})
            attachment_id = self._new_id()
            self._attachments[attachment_id] = upload.data
            url = f"http://127.0.0.1:{self.port}/attachments/{attachment_id}/{upload.filename}"
            attachment: Json = {
                "id": str(attachment_id),
                "filename": meta.get("filename", upload.filename),
                "size": len(upload.data),
                "url": url,
                "proxy_url": url,
                "content_type": upload.content_type,
            }
            if meta.get("description"):
                attachment["description"] = meta["description"]
            attachments.append(attachment)
        return attachments

    def _too_large(self, files: Sequence[RecordedFile]) -> _Reply | None:
        if sum(len(f.data) for f in files) > ATTACHMENT_SIZE_LIMIT:
            return _error(413, 40005, "Request entity too large")
        return None

    def _echo(self, request: _Request, message: Json) -> None:
        """Queue MESSAGE_CREATE for a message the bot created (not for ephemeral ones)."""
        if not self.echo_messages or int(message.get("flags") or 0) & _FLAG_EPHEMERAL:
            return
        event = copy.deepcopy(message)
        guild_id = self._guild_of(int(message["channel_id"]))
        if guild_id is not None:
            event["guild_id"] = str(guild_id)
            event["member"] = copy.deepcopy(self._members[self.bot_user_id])

        async def send() -> None:
            await self._broadcast("MESSAGE_CREATE", event)

        request.after.append(send)

    # --- interactions

    def _interaction_callback(self, request: _Request) -> _Reply:
        record = self._interactions.get(int(request.params["iid"]))
        if record is None or record.token != request.params["token"]:
            return _error(404, 10062, "Unknown interaction")
        body = request.json if isinstance(request.json, dict) else {}
        callback_type = _as_int(body.get("type"))
        if (refusal := self._callback_refusal(record, request, callback_type)) is not None:
            return refusal
        raw_data = body.get("data")
        data: Json = raw_data if isinstance(raw_data, dict) else {}
        record.acknowledged = True
        record.response_type = callback_type
        message = self._callback_message(record, request, callback_type, data)
        if request.query.get("with_response") not in _TRUE_QUERY_VALUES:
            return _Reply(204)
        return _Reply(200, _callback_response(record, callback_type, message))

    def _callback_refusal(
        self, record: _Interaction, request: _Request, callback_type: int | None
    ) -> _Reply | None:
        """Discord's error for a callback it would refuse, or None to accept it."""
        if record.acknowledged:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        age = time.monotonic() - record.created
        if self.interaction_timeout is not None and age > self.interaction_timeout:
            return _error(404, 10062, "Unknown interaction")
        if callback_type not in _ALLOWED_CALLBACKS.get(record.type, frozenset()):
            return _error(400, 50035, "Invalid Form Body: interaction callback type")
        return self._too_large(request.files)

    def _callback_message(
        self, record: _Interaction, request: _Request, callback_type: int | None, data: Json
    ) -> Json | None:
        """The message an accepted callback creates (4, 5) or edits (7), if any."""
        message: Json | None = None
        if callback_type in (4, 5):
            flags = int(data.get("flags") or 0)
            if callback_type == 5:
                flags = (flags & _FLAG_EPHEMERAL) | _FLAG_LOADING
                data = {}
            message = self._message_from_body(
                data,
                request.files,
                channel_id=record.channel_id,
                webhook_id=self.application_id,
                message_type=20 if record.type == _INTERACTION_APP_COMMAND else 19,
                flags=flags,
            )
            record.original_id = int(message["id"])
            self._echo(request, message)
        elif callback_type in (6, 7) and record.message_id is not None:
            record.original_id = record.message_id
            if callback_type == 7:
                message = self._apply_edit(record.message_id, data, request.files)
        return message

    def _webhook_interaction(self, request: _Request) -> _Interaction | None:
        """The acknowledged interaction behind an interaction webhook route, or None."""
        if int(request.params["app"]) != self.application_id:
            return None
        record = self._interactions_by_token.get(request.params["token"])
        if record is None or not record.acknowledged:
            return None
        return record

    def _webhook_message_id(self, record: _Interaction, mid: str) -> int | None:
        if mid == "@original":
            return record.original_id
        message_id = int(mid)
        if message_id in record.webhook_message_ids or message_id == record.original_id:
            return message_id
        return None

    def _webhook_execute(self, request: _Request) -> _Reply:
        record = self._webhook_interaction(request)
        if record is None:
            return _error(404, 10015, "Unknown Webhook")
        if (failure := self._too_large(request.files)) is not None:
            return failure
        body = request.json if isinstance(request.json, dict) else {}
        original = self._messages.get(record.original_id or 0)
        if (
            record.response_type == 5
            and original is not None
            and int(original.get("flags") or 0) & _FLAG_LOADING
        ):
            # Discord: the first follow-up after a "thinking" defer edits the loading message.
            message = self._apply_edit(int(original["id"]), body, request.files, finish=True)
        else:
            message = self._message_from_body(
                body,
                request.files,
                channel_id=record.channel_id,
                webhook_id=self.application_id,
                message_type=0,
            )
            record.webhook_message_ids.add(int(message["id"]))
            self._echo(request, message)
        if request.query.get("wait") not in _TRUE_QUERY_VALUES:
            return _Reply(204)
        return _Reply(200, copy.deepcopy(message))

    def _webhook_get_message(self, request: _Request) -> _Reply:
        record = self._webhook_interaction(request)
        if record is None:
            return _error(404, 10015, "Unknown Webhook")
        message_id = self._webhook_message_id(record, request.params["mid"])
        message = self._messages.get(message_id or 0)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        return _Reply(200, copy.deepcopy(message))

    def _webhook_edit_message(self, request: _Request) -> _Reply:
        record = self._webhook_interaction(request)
        if record is None:
            return _error(404, 10015, "Unknown Webhook")
        message_id = self._webhook_message_id(record, request.params["mid"])
        if message_id is None or message_id not in self._messages:
            return _error(404, 10008, "Unknown Message")
        if (failure := self._too_large(request.files)) is not None:
            return failure
        body = request.json if isinstance(request.json, dict) else {}
        return _Reply(200, self._apply_edit(message_id, body, request.files, finish=True))

    def _webhook_delete_message(self, request: _Request) -> _Reply:
        record = self._webhook_interaction(request)
        if record is None:
            return _error(404, 10015, "Unknown Webhook")
        message_id = self._webhook_message_id(record, request.params["mid"])
        if message_id is None or self._messages.pop(message_id, None) is None:
            return _error(404, 10008, "Unknown Message")
        return _Reply(204)

    def _apply_edit(
        self,
        message_id: int,
        body: Json,
        files: Sequence[RecordedFile],
        *,
        finish: bool = False,
    ) -> Json:
        """Edit a stored message from an edit-style body; returns a copy. Under the lock."""
        message = self._messages[message_id]
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = (
                    body[key] if body[key] is not None else ([] if key != "content" else "")
                )
        if "attachments" in body or files:
            kept_ids = {
                str(a.get("id")) for a in body.get("attachments") or [] if isinstance(a, dict)
            }
            kept = [a for a in message["attachments"] if a["id"] in kept_ids]
            message["attachments"] = kept + self._attachments_from(body, files)
        if "content" in body:
            guild_id = self._guild_of(int(message["channel_id"]))
            message["mentions"] = self._allowed_mentions(message["content"], body, None, guild_id)
        flags = int(message.get("flags") or 0)
        if finish and flags & _FLAG_LOADING:
            message["flags"] = flags & ~_FLAG_LOADING
        elif "flags" in body and body["flags"] is not None:
            message["flags"] = (flags & _FLAG_EPHEMERAL) | int(body["flags"])
        message["edited_timestamp"] = _iso(datetime.now(UTC))
        return copy.deepcopy(message)

    # --- channels and messages

    def _channel(self, request: _Request) -> tuple[int, _Reply | None]:
        channel_id = int(request.params["cid"])
        if channel_id not in self._channels:
            return channel_id, _error(404, 10003, "Unknown Channel")
        return channel_id, None

    def _channel_message(self, request: _Request) -> tuple[Json | None, _Reply | None]:
        channel_id, failure = self._channel(request)
        if failure is not None:
            return None, failure
        message = self._messages.get(int(request.params["mid"]))
        if message is None or int(message["channel_id"]) != channel_id:
            return None, _error(404, 10008, "Unknown Message")
        return message, None

    def _get_guild(self, request: _Request) -> _Reply:
        guild_id = int(request.params["guild"])
        if guild_id not in self._guild_names:
            return _error(404, 10004, "Unknown Guild")
        return _Reply(200, self._guild(full=False, guild_id=guild_id))

    def _get_member(self, request: _Request) -> _Reply:
        user_id = int(request.params["user_id"])
        if int(request.params["guild"]) not in self._guild_names:
            return _error(404, 10004, "Unknown Guild")
        if user_id not in self._members:
            return _error(404, 10007, "Unknown Member")
        return _Reply(200, self.member_payload(user_id))

    def _get_channel(self, request: _Request) -> _Reply:
        channel_id, failure = self._channel(request)
        return failure or _Reply(200, self.channel_payload(channel_id))

    def _typing(self, request: _Request) -> _Reply:
        _, failure = self._channel(request)
        return failure or _Reply(204)

    def _get_messages(self, request: _Request) -> _Reply:
        channel_id, failure = self._channel(request)
        if failure is not None:
            return failure
        limit = max(1, min(100, _as_int(request.query.get("limit")) or 50))
        before = _as_int(request.query.get("before"))
        after = _as_int(request.query.get("after"))
        found = [
            copy.deepcopy(m)
            for mid, m in sorted(self._messages.items(), reverse=True)
            if int(m["channel_id"]) == channel_id
            and (before is None or mid < before)
            and (after is None or mid > after)
        ]
        return _Reply(200, found[:limit])

    def _create_message(self, request: _Request) -> _Reply:
        channel_id, failure = self._channel(request)
        if failure is not None:
            return failure
        if (failure := self._too_large(request.files)) is not None:
            return failure
        body = request.json if isinstance(request.json, dict) else {}
        has_content = any(
            body.get(key) for key in ("content", "embeds", "components", "sticker_ids", "poll")
        )
        if not has_content and not request.files:
            return _error(400, 50006, "Cannot send an empty message")
        reference = body.get("message_reference")
        if (
            isinstance(reference, dict)
            and reference.get("fail_if_not_exists", True)
            and _as_int(reference.get("message_id")) not in self._messages
        ):
            return _error(400, 50035, "Invalid Form Body: Unknown message")
        message = self._message_from_body(body, request.files, channel_id=channel_id)
        self._echo(request, message)
        return _Reply(200, copy.deepcopy(message))

    def _get_message(self, request: _Request) -> _Reply:
        message, failure = self._channel_message(request)
        return failure or _Reply(200, copy.deepcopy(message))

    def _edit_message(self, request: _Request) -> _Reply:
        message, failure = self._channel_message(request)
        if failure is not None or message is None:
            return failure or _error(404, 10008, "Unknown Message")
        if int(message["author"]["id"]) != self.bot_user_id:
            return _error(403, 50005, "Cannot edit a message authored by another user")
        body = request.json if isinstance(request.json, dict) else {}
        return _Reply(200, self._apply_edit(int(message["id"]), body, request.files))

    def _delete_message(self, request: _Request) -> _Reply:
        message, failure = self._channel_message(request)
        if failure is not None or message is None:
            return failure or _error(404, 10008, "Unknown Message")
        del self._messages[int(message["id"])]
        return _Reply(204)

    def _reaction(self, request: _Request) -> _Reply:
        _, failure = self._channel_message(request)
        return failure or _Reply(204)

    def _create_thread(self, request: _Request) -> _Reply:
        channel_id, failure = self._channel(request)
        if failure is not None:
            return failure
        if self._channels[channel_id]["type"] != 0:
            return _error(400, 50024, "Cannot execute action on this channel type")
        body = request.json if isinstance(request.json, dict) else {}
        name = body.get("name")
        if not name:
            return _error(400, 50035, "Invalid Form Body: name")
        if "mid" in request.params:
            message, failure = self._channel_message(request)
            if failure is not None or message is None:
                return failure or _error(404, 10008, "Unknown Message")
            thread_id = int(message["id"])  # Discord: the thread shares the message's id
            thread_type = 11
        else:
            thread_id = self._new_id()
            thread_type = int(body.get("type") or 12)
        if thread_id in self._channels:
            return _error(400, 160004, "A thread has already been created for this message")
        auto_archive = int(body.get("auto_archive_duration") or 1440)
        now = _iso(datetime.now(UTC))
        thread: Json = {
            "id": str(thread_id),
            "type": thread_type,
            "guild_id": str(self._guild_of(channel_id)),
            "parent_id": str(channel_id),
            "owner_id": str(self.bot_user_id),
            "name": str(name),
            "last_message_id": None,
            "message_count": 0,
            "total_message_sent": 0,
            "member_count": 1,
            "rate_limit_per_user": int(body.get("rate_limit_per_user") or 0),
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive,
                "archive_timestamp": now,
                "locked": False,
                "invitable": bool(body.get("invitable", True)),
                "create_timestamp": now,
            },
        }
        self._channels[thread_id] = thread
        if "mid" in request.params:
            self._messages[thread_id]["thread"] = copy.deepcopy(thread)
        event = copy.deepcopy(thread)
        event["newly_created"] = True

        async def send() -> None:
            await self._broadcast("THREAD_CREATE", event)

        request.after.append(send)
        return _Reply(201, copy.deepcopy(thread))

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        with self._lock:
            self._connection_ids += 1
            conn = GatewayConnection(id=self._connection_ids, ws=ws)
            self._connections.append(conn)
            self._all_connections.append(conn)
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]}
            await self._send(conn, {"op": _OP_HELLO, "d": hello})
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    await self._on_gateway_text(conn, message.data)
                elif message.type is aiohttp.WSMsgType.BINARY:
                    await self._close(conn, 4002, "Decode error")
                elif message.type is aiohttp.WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        except Exception as exc:
            self._record_error(f"gateway connection {conn.id}: {exc!r}")
        finally:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            self._notify()
        return ws

    async def _close(self, conn: GatewayConnection, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionError):
            await conn.ws.close(code=code, message=reason.encode())

    async def _on_gateway_text(self, conn: GatewayConnection, text: str) -> None:
        try:
            payload = json.loads(text)
            op = payload["op"]
        except (ValueError, KeyError, TypeError):
            await self._close(conn, 4002, "Decode error")
            return
        with self._lock:
            conn.received.append(payload)
        data = payload.get("d")
        if op == _OP_HEARTBEAT:
            with self._lock:
                conn.heartbeats.append(time.monotonic())
            self._notify()
            await self._send(conn, {"op": _OP_HEARTBEAT_ACK})
        elif op == _OP_IDENTIFY:
            await self._identify(conn, data if isinstance(data, dict) else {})
        elif op == _OP_RESUME:
            await self._resume(conn, data if isinstance(data, dict) else {})
        elif conn.session_id is None:
            await self._close(conn, 4003, "Not authenticated")
        elif op == _OP_REQUEST_MEMBERS:
            await self._member_chunk(conn, data if isinstance(data, dict) else {})
        elif op in (_OP_PRESENCE, _OP_VOICE_STATE):
            pass
        else:
            await self._close(conn, 4001, "Unknown opcode")

    async def _identify(self, conn: GatewayConnection, data: Json) -> None:
        if conn.session_id is not None:
            await self._close(conn, 4005, "Already authenticated")
            return
        if data.get("token") != self.token:
            await self._close(conn, 4004, "Authentication failed")
            return
        intents = _as_int(data.get("intents"))
        if intents is None:
            await self._close(conn, 4013, "Invalid intent(s)")
            return
        if intents & _PRIVILEGED_INTENTS and not self.allow_privileged_intents:
            await self._close(conn, 4014, "Disallowed intent(s)")
            return
        shard = data.get("shard")
        shard_list = [int(x) for x in shard] if isinstance(shard, list) else None
        session = _Session(session_id=secrets.token_hex(16), intents=intents, shard=shard_list)
        with self._lock:
            self._sessions[session.session_id] = session
            conn.intents, conn.shard, conn.identify = intents, shard_list, data
            conn.session_id = session.session_id
            ready: Json = {
                "v": 10,
                "user": self._client_user(),
                "guilds": [{"id": str(g), "unavailable": True} for g in self._guild_names],
                "session_id": session.session_id,
                "session_type": "normal",
                "resume_gateway_url": self.gateway_url,
                "application": {
                    "id": str(self.application_id),
                    "flags": self._application()["flags"],
                },
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "_trace": ["fake-gateway"],
            }
            if shard_list is not None:
                ready["shard"] = shard_list
            guilds = [self._guild(full=True, guild_id=g) for g in self._guild_names]
        await self._send_dispatch(conn, "READY", ready)
        for guild in guilds:
            await self._send_dispatch(conn, "GUILD_CREATE", guild)
        self._notify()

    async def _resume(self, conn: GatewayConnection, data: Json) -> None:
        with self._lock:
            session = self._sessions.get(str(data.get("session_id")))
        if data.get("token") != self.token:
            await self._close(conn, 4004, "Authentication failed")
            return
        if session is None:
            await self._send(conn, {"op": _OP_INVALID_SESSION, "d": False})
            return
        with self._lock:
            conn.session_id, conn.intents, conn.shard = (
                session.session_id,
                session.intents,
                session.shard,
            )
        await self._send_dispatch(conn, "RESUMED", {"_trace": ["fake-gateway"]})
        self._notify()

    async def _member_chunk(self, conn: GatewayConnection, data: Json) -> None:
        guild_id = _as_int(data.get("guild_id"))
        if isinstance(data.get("guild_id"), list):
            guild_id = _as_int(data["guild_id"][0])
        with self._lock:
            members = [self.member_payload(uid) for uid in self._members]
            wanted = {str(u) for u in data.get("user_ids") or []}
            if wanted:
                members = [m for m in members if m["user"]["id"] in wanted]
        chunk: Json = {
            "guild_id": str(guild_id or self.guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self._send_dispatch(conn, "GUILD_MEMBERS_CHUNK", chunk)


# --- running a bot against the fake ------------------------------------------------------------


async def drain_tasks() -> None:
    """Cancel and await whatever the client left running on this loop."""
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


@contextlib.asynccontextmanager
async def running(bot: commands.Bot, token: str, timeout: float = 5.0) -> AsyncIterator[None]:
    """Run ``bot.start(token)`` until on_ready; close the bot and drain its tasks on exit."""
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    bot.add_listener(on_ready, "on_ready")
    runner = asyncio.create_task(bot.start(token))
    waiter = asyncio.create_task(ready.wait())
    try:
        done, _ = await asyncio.wait(
            {runner, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if runner in done:
            runner.result()  # raises what start() raised
            raise AssertionError("bot.start() returned before the bot was ready")
        if waiter not in done:
            raise TimeoutError("bot was not ready in time")
        yield
    finally:
        waiter.cancel()
        await bot.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner, timeout)
        await drain_tasks()
