"""The HTTP client: fetch a URL politely and safely, the one way articlebot talks HTTP.

Polite: robots.txt is obeyed (RFC 9309); at most ``PER_HOST`` requests run against a
server (its address, however many names it has) at once, their starts ``delay`` seconds
apart; 429 and 503 are retried after the wait the server asks for. Safe: every redirect
hop's host is resolved once, checked by the SSRF guard (``guard``), and connected to at
the address that was checked (``pinning``); bodies are capped after decompression, every
layer of it (``inflate``); only pages, feeds, sitemaps and plain text are read, and that
is decided from the headers, before the body.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import httpx

from ..errors import FetchError, HostRefusedError
from ..types import RobotsRules
from .guard import Resolve, check_redirect, check_url
from .headers import (
    check_type,
    content_length,
    content_type,
    retry_after,
    status_reason,
    validator,
)
from .inflate import GZIP_MAGIC, BodyDecoder, content_encoding, too_large
from .pinning import Pins, Target, pinned_transport
from .robots import (
    ROBOTS_MAX_BYTES,
    Robots,
    fresh_robots,
    origin,
    robots_from_body,
    robots_from_error,
)

if TYPE_CHECKING:
    from ..settings import Settings


def _version() -> str:
    try:
        return version("articlebot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0"


USER_AGENT = f"articlebot/{_version()} (+https://github.com/articlebot/articlebot)"
MAX_REDIRECTS = 5
PER_HOST = 2  # concurrent requests per server (per address connected to)
MAX_CONCURRENT = 16  # concurrent requests in all, the client's connection limit too

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRYABLE = frozenset({429, 503})
_BAD_LOCATION = "Invalid URL in location header:"  # how httpx words a Location it cannot parse


@dataclass(frozen=True)
class Fetched:
    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int  # 200 (any 2xx) or 304 (not modified)
    content_type: str  # media type, lowercased, without parameters; "" when absent
    charset: str | None  # the Content-Type header's charset parameter
    body: bytes  # never compressed (Content-Encoding and a gzip file removed); b"" on 304
    etag: str | None
    last_modified: str | None


# --- per-request values ------------------------------------------------------------------
@dataclass
class _Host:
    """Politeness state of one server address: who may start a request, and when."""

    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PER_HOST))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0


@dataclass(frozen=True)
class _Redirect:
    location: str


@dataclass(frozen=True)
class _Retry:
    status: int
    after: float | None  # seconds the server asked to wait (Retry-After), if it said


class Fetcher:
    """``async with Fetcher(timeout=20, delay=0.5, max_bytes=10 * 2**20) as f:
    await f.get(url, etag=..., last_modified=...)``; one per sync, shared by its tasks.

    ``resolve(host, port)`` gives a host's addresses (the system resolver by default);
    each host is resolved once per fetcher, and connections go to the address checked."""

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        delay: float = 0.5,
        max_bytes: int = 10 * 2**20,
        allow_private: bool = False,
        max_retry_wait: float = 60.0,
        retries: int = 2,
        robots: dict[str, RobotsRules] | None = None,
        resolve: Resolve | None = None,
    ) -> None:
        self.timeout = timeout
        self.delay = delay
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self.max_retry_wait = max_retry_wait
        self.retries = retries
        self.requests = 0  # HTTP requests sent: robots.txt, retries and redirect hops too
        self._client: httpx.AsyncClient | None = None
        self._all = asyncio.Semaphore(MAX_CONCURRENT)
        self._hosts: dict[str, _Host] = {}  # by the address connected to, not the name
        self._pins = Pins(allow_private=allow_private, timeout=timeout, resolver=resolve)
        # robots.txt rules by origin, from an earlier run while they are fresh.
        self._robots: dict[str, Robots] = fresh_robots(robots or {})
        self._robots_locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, robots: dict[str, RobotsRules] | None = None
    ) -> Fetcher:
        return cls(
            timeout=settings.fetch_timeout,
            delay=settings.fetch_delay,
            max_bytes=int(settings.fetch_max_mb * 2**20),
            allow_private=settings.allow_private_urls,
            robots=robots,
        )

    def robots_rules(self) -> dict[str, RobotsRules]:
        """The robots.txt rules this fetcher knows, to hand to the next one."""
        return {o: r.rules for o, r in self._robots.items() if r.rules is not None}

    async def __aenter__(self) -> Fetcher:
        self._client = httpx.AsyncClient(
            transport=pinned_transport(self._pins, MAX_CONCURRENT),
            follow_redirects=False,  # by hand, so that every hop is checked
            trust_env=False,  # no proxies or certificates from the environment
            timeout=httpx.Timeout(self.timeout),
            # No br or zstd: bodies are decompressed here, under the size cap.
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """GET ``url``, conditionally when ``etag`` or ``last_modified`` is given (then a
        304 comes back as ``Fetched(status=304, body=b"")``). Raises FetchError."""
        headers = {}
        if etag := validator(etag):
            headers["If-None-Match"] = etag
        if last_modified := validator(last_modified):
            headers["If-Modified-Since"] = last_modified
        return await self._follow(url, headers, robots_txt=False)

    # --- redirects, robots.txt, retries --------------------------------------------------
    async def _follow(self, url: str, headers: dict[str, str], *, robots_txt: bool) -> Fetched:
        first = current = check_url(url)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                outcome = await self._hop(current, headers, robots_txt)
                if isinstance(outcome, Fetched):
                    return replace(outcome, url=url)
                current = check_redirect(current, outcome.location)
            except FetchError as exc:
                # Errors name the URL asked for; a later hop's failure says which hop.
                reason = (
                    exc.reason if exc.url == first else f"redirected to {exc.url}: {exc.reason}"
                )
                raise type(exc)(url, reason, status=exc.status) from None
        raise FetchError(url, f"too many redirects (more than {MAX_REDIRECTS})")

    async def _hop(
        self, url: str, headers: dict[str, str], robots_txt: bool
    ) -> Fetched | _Redirect:
        target = await self._pins.pin(url)  # resolved and checked once; connections go there
        if not robots_txt:
            await self._obey_robots(url)
        return await self._with_retries(url, target, headers, robots_txt)

    async def _obey_robots(self, url: str) -> None:
        site = origin(url)
        async with self._robots_locks.setdefault(site, asyncio.Lock()):
            if site not in self._robots:  # once per origin, however many ask at once
                try:
                    self._robots[site] = await self._load_robots(site + "/robots.txt")
                except HostRefusedError as exc:  # not cached: the next URL asks again
                    raise HostRefusedError(
                        url, f"while fetching robots.txt: {exc.reason}"
                    ) from None
            robots = self._robots[site]
        robots.check(url)

    async def _load_robots(self, robots_url: str) -> Robots:
        """RFC 9309 2.3.1: 2xx is parsed; 4xx means no rules; 5xx or no answer at all
        means nothing may be fetched."""
        try:
            got = await self._follow(robots_url, {}, robots_txt=True)
        except HostRefusedError:
            raise
        except FetchError as exc:
            return robots_from_error(exc)
        return robots_from_body(got.body)

    async def _with_retries(
        self, url: str, target: Target, headers: dict[str, str], robots_txt: bool
    ) -> Fetched | _Redirect:
        # robots.txt is not retried: a 503 there means "fetch nothing", said quickly.
        retries = 0 if robots_txt else self.retries
        attempt = 0
        while True:
            outcome = await self._exchange(url, target, headers, robots_txt)
            if not isinstance(outcome, _Retry):
                return outcome
            if attempt >= retries:
                raise FetchError(url, status_reason(outcome.status), status=outcome.status)
            wait = outcome.after if outcome.after is not None else 2.0**attempt
            if wait > self.max_retry_wait:
                limit = f"over the {self.max_retry_wait:g} s limit"
                reason = f"server asked to retry after {wait:.0f} s ({limit})"
                raise FetchError(url, reason, status=outcome.status)
            await asyncio.sleep(wait)
            attempt += 1

    # --- one request ---------------------------------------------------------------------
    @asynccontextmanager
    async def _turn(self, ip: str) -> AsyncIterator[None]:
        """Wait until a request to the server at ``ip`` may start: a free slot for it and
        in all, and ``delay`` seconds since its previous start. By address, so that many
        names for one server share its slots."""
        state = self._hosts.setdefault(ip, _Host())
        async with state.slots, self._all:
            async with state.lock:  # starts go one by one, so each sees the last one's time
                loop = asyncio.get_running_loop()
                wait = state.next_start - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                state.next_start = loop.time() + self.delay
            yield

    async def _exchange(
        self, url: str, target: Target, headers: dict[str, str], robots_txt: bool
    ) -> Fetched | _Redirect | _Retry:
        client = self._open_client()
        async with self._turn(target.ip):
            self.requests += 1
            try:
                # The read timeout is per read; this bounds a server that trickles.
                async with asyncio.timeout(4 * self.timeout):
                    request = client.build_request("GET", url, headers=headers)
                    response = await client.send(request, stream=True)
                    try:
                        return await self._answer(url, response, headers, robots_txt)
                    finally:
                        await response.aclose()
            except httpx.TimeoutException:
                reason = f"timed out after {self.timeout:g} s (ARTICLEBOT_FETCH_TIMEOUT)"
                raise FetchError(url, reason) from None
            except TimeoutError:
                reason = (
                    f"took longer than {4 * self.timeout:g} s in all (4 × ARTICLEBOT_FETCH_TIMEOUT)"
                )
                raise FetchError(url, reason) from None
            except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
                raise FetchError(url, _network_reason(exc)) from None

    def _open_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the Fetcher is not open: use `async with Fetcher() as fetcher`")
        return self._client

    async def _answer(
        self, url: str, response: httpx.Response, headers: dict[str, str], robots_txt: bool
    ) -> Fetched | _Redirect | _Retry:
        status = response.status_code
        if status in _REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise FetchError(url, f"{status_reason(status)} without a Location header")
            return _Redirect(location)
        if status in _RETRYABLE:
            return _Retry(status, retry_after(response.headers.get("retry-after")))
        if status == 304:
            return _not_modified(url, response, headers)
        if not 200 <= status < 300:
            raise FetchError(url, status_reason(status), status=status)
        return await self._read(url, response, robots_txt)

    async def _read(self, url: str, response: httpx.Response, robots_txt: bool) -> Fetched:
        media, charset = content_type(response.headers.get("content-type", ""))
        if not robots_txt:  # robots.txt is read whatever it says it is
            check_type(url, media)
        # A large robots.txt is cut, not refused (RFC 9309 2.5).
        cap = min(self.max_bytes, ROBOTS_MAX_BYTES) if robots_txt else self.max_bytes
        body = await _read_body(url, response, cap, truncate=robots_txt)
        etag = response.headers.get("etag")
        modified = response.headers.get("last-modified")
        return Fetched(url, url, response.status_code, media, charset, body, etag, modified)


# --- response parts --------------------------------------------------------------------
def _not_modified(url: str, response: httpx.Response, headers: dict[str, str]) -> Fetched:
    media, charset = content_type(response.headers.get("content-type", ""))
    # A 304 need not repeat the validators; the ones asked with still hold then.
    etag = response.headers.get("etag") or headers.get("If-None-Match")
    modified = response.headers.get("last-modified") or headers.get("If-Modified-Since")
    return Fetched(url, url, 304, media, charset, b"", etag, modified)


def _network_reason(exc: Exception) -> str:
    """A short reason for a failure below HTTP."""
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return "cannot resolve the host name (check the name and the network)"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is the server up, and the port right?)"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the server's TLS certificate is not valid ({cause.verify_message})"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {detail}"
    if isinstance(exc, httpx.RemoteProtocolError) and detail.startswith(_BAD_LOCATION):
        # httpx reads the Location header itself, even when it does not follow it.
        return f"redirected to an invalid URL ({detail.removeprefix(_BAD_LOCATION).strip(' .')})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server's response is broken: {detail}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"the connection was lost: {detail}"
    if isinstance(exc, httpx.InvalidURL):
        return f"not a valid URL: {detail}"
    return f"{type(exc).__name__}: {detail}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: httpx -> httpcore -> anyio's OSError -> the socket's."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 16:
        error = todo.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        linked = (error.__cause__, error.__context__, *error.args)
        todo.extend(x for x in linked if isinstance(x, BaseException))


# --- bodies ------------------------------------------------------------------------------
async def _read_body(url: str, response: httpx.Response, cap: int, *, truncate: bool) -> bytes:
    """The body with its Content-Encoding and any gzip file layer removed, never more than
    ``cap`` bytes read or produced by any layer: over it, FetchError, or (``truncate``)
    the first ``cap`` bytes."""
    length = content_length(response.headers.get("content-length"))
    if not truncate and length is not None and length > cap:
        raise too_large(url, cap)  # refused before a byte of it is read
    coding = content_encoding(url, response.headers.get("content-encoding", ""))
    inflater = BodyDecoder(url, coding, cap)
    parts: list[bytes] = []
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        excess = max(0, received - cap)
        parts.append(inflater.feed(chunk[: len(chunk) - excess]))
        if excess or inflater.over:
            if truncate:
                return b"".join(parts)  # cut: what is left in the inflaters is dropped too
            raise too_large(url, cap)
    parts.append(inflater.flush())
    body = b"".join(parts)
    if body[:2] == GZIP_MAGIC:  # Fetched.body is never compressed: a deeper layer is refused
        raise FetchError(url, "the body is gzip inside gzip: not read")
    return body
