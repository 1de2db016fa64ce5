"""Fetch a URL politely and safely: the one way articlebot talks HTTP.

Polite: robots.txt is obeyed (RFC 9309); at most ``PER_HOST`` requests run against a host
at once, their starts ``delay`` seconds apart; 429 and 503 are retried after the wait the
server asks for. Safe: only http(s) URLs; redirects are followed by hand so that every hop
is checked again; a host that resolves to a private, loopback or link-local address is
refused (a URL typed in Discord must not reach the bot's own network), and so is a
connection that ends up at one anyway (DNS rebinding); bodies are capped after
decompression, so a gzip bomb stops at ``max_bytes``; only pages, feeds, sitemaps and
plain text are read, and that is decided from the headers, before the body.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx

from ..errors import ArticlebotError
from ..types import RobotsRules

if TYPE_CHECKING:
    from ..settings import Settings


def _version() -> str:
    try:
        return version("articlebot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0"


USER_AGENT = f"articlebot/{_version()} (+https://github.com/articlebot/articlebot)"
MAX_REDIRECTS = 5
PER_HOST = 2  # concurrent requests per host
MAX_CONCURRENT = 16  # concurrent requests in all, the client's connection limit too

_ROBOT = "articlebot"  # the product token that robots.txt groups are matched against
_ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 2.5: parse at least the first 500 KiB
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRYABLE = frozenset({429, 503})
_READABLE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/xml",
        "application/xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "text/plain",
    }
)
_GZIP_TYPES = frozenset({"application/gzip", "application/x-gzip"})
_GZIP_MAGIC = b"\x1f\x8b"
_PRIVATE_POLICY = (
    "private, loopback and link-local addresses are refused "
    "(ARTICLEBOT_ALLOW_PRIVATE_URLS=true allows them)"
)

_IP: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Fetched:
    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int  # 200 (any 2xx) or 304 (not modified)
    content_type: str  # media type, lowercased, without parameters; "" when absent
    charset: str | None  # the Content-Type header's charset parameter
    body: bytes  # decompressed (Content-Encoding, and a .gz file); b"" on 304
    etag: str | None
    last_modified: str | None


class FetchError(ArticlebotError):
    """A URL could not be fetched (or was refused); ``reason`` says why."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status  # the HTTP status when the server answered with an error


class _Refused(FetchError):
    """The host is not one to talk to (private address, unresolvable): robots.txt cannot
    be asked either, so this passes through robots.txt handling unchanged."""


# --- URLs and addresses ------------------------------------------------------------------
def check_url(url: str) -> str:
    """Raise FetchError unless ``url`` is an http(s) URL with a host; return it normalised
    (scheme lowercased, fragment dropped, empty path made "/"). No network."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise FetchError(url, f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        what = f"{scheme}:// URLs are" if scheme else "a URL without http:// or https:// is"
        raise FetchError(url, f"{what} not fetched: write it as https://host/path")
    if not parts.hostname:
        raise FetchError(url, "the URL has no host: write it as https://host/path")
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


async def check_public(url: str) -> None:
    """Raise FetchError if the URL's host is, or resolves to, any address that is not
    public (private, loopback, link-local, multicast, reserved, unspecified)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = _parse_ip(host)
    if literal is not None:
        addresses = [literal]
    else:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await _resolve(url, host, port)
    for address in addresses:
        kind = _non_public(address)
        if kind is not None:
            raise _Refused(url, f"{address} is {_a(kind)} address; {_PRIVATE_POLICY}")


async def _resolve(url: str, host: str, port: int) -> list[_IP]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise _Refused(
            url, f"cannot resolve host {host} (check the name and the network)"
        ) from None
    found = (_parse_ip(str(info[4][0])) for info in infos)
    return [address for address in found if address is not None]


def _parse_ip(text: str) -> _IP | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _non_public(address: _IP) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 connects to 127.0.0.1, but Python 3.11 does not see through it.
        address = address.ipv4_mapped
    kinds = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),  # e.g. 100.64.0.0/10, carrier-grade NAT
    )
    return next((kind for kind, match in kinds if match), None)


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _check_peer(url: str, response: httpx.Response) -> None:
    """Refuse a connection that reached a non-public address although the name resolved
    to a public one a moment before (DNS rebinding)."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:  # not every transport tells; the check before connecting still stands
        return
    address = _parse_ip(str(peer[0]))
    kind = _non_public(address) if address is not None else None
    if kind is not None:
        raise _Refused(url, f"connected to {address}, {_a(kind)} address; {_PRIVATE_POLICY}")


def _origin(url: str) -> str:
    """scheme://host[:port], the scope of one robots.txt."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


# --- per-request values ------------------------------------------------------------------
@dataclass
class _Host:
    """Politeness state of one host: who may start a request, and when."""

    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PER_HOST))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0


#: How long robots.txt rules are reused, across runs too: RFC 9309 2.4 says no longer
#: than 24 hours. Reusing them is what lets a re-sync of an unchanged feed cost one
#: request, not two.
ROBOTS_TTL = 24 * 3600.0


@dataclass(frozen=True)
class _Robots:
    parser: RobotFileParser | None = None  # None: everything is allowed
    refusal: str | None = None  # robots.txt unreachable: nothing is, and this is why
    rules: RobotsRules | None = None  # what to remember for the next run (not refusals)


def _parse_robots(rules: RobotsRules) -> _Robots:
    if rules.text is None:
        return _Robots(rules=rules)
    parser = RobotFileParser()
    parser.parse(rules.text.splitlines())
    return _Robots(parser, rules=rules)


@dataclass(frozen=True)
class _Redirect:
    location: str


@dataclass(frozen=True)
class _Retry:
    status: int
    after: float | None  # seconds the server asked to wait (Retry-After), if it said


class Fetcher:
    """``async with Fetcher(timeout=20, delay=0.5, max_bytes=10 * 2**20) as f:
    await f.get(url, etag=..., last_modified=...)``; one per sync, shared by its tasks."""

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
        self._hosts: dict[str, _Host] = {}
        # robots.txt rules by origin, from an earlier run while they are fresh.
        now = time.time()
        self._robots: dict[str, _Robots] = {
            origin: _parse_robots(rules)
            for origin, rules in (robots or {}).items()
            if 0 <= now - rules.fetched_at < ROBOTS_TTL
        }
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
            http1=True,
            http2=False,
            follow_redirects=False,  # by hand, so that every hop is checked
            trust_env=False,  # no proxies or certificates from the environment
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=MAX_CONCURRENT),
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
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
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
                current = check_url(urljoin(current, outcome.location))
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
        if not self.allow_private:
            try:
                async with asyncio.timeout(self.timeout):
                    await check_public(url)
            except TimeoutError:
                host = urlsplit(url).hostname
                raise _Refused(url, f"cannot resolve host {host} (timed out)") from None
        if not robots_txt:
            await self._obey_robots(url)
        return await self._with_retries(url, headers, robots_txt)

    async def _obey_robots(self, url: str) -> None:
        origin = _origin(url)
        async with self._robots_locks.setdefault(origin, asyncio.Lock()):
            if origin not in self._robots:  # once per origin, however many ask at once
                try:
                    self._robots[origin] = await self._load_robots(origin + "/robots.txt")
                except _Refused as exc:  # not cached: the next URL asks again
                    raise _Refused(url, f"while fetching robots.txt: {exc.reason}") from None
            robots = self._robots[origin]
        if robots.refusal is not None:
            raise FetchError(url, robots.refusal)
        if robots.parser is not None and not robots.parser.can_fetch(_ROBOT, url):
            raise FetchError(url, "disallowed by robots.txt")

    async def _load_robots(self, robots_url: str) -> _Robots:
        """RFC 9309 2.3.1: 2xx is parsed; 4xx means no rules; 5xx or no answer at all
        means nothing may be fetched."""
        try:
            got = await self._follow(robots_url, {}, robots_txt=True)
        except _Refused:
            raise
        except FetchError as exc:
            if exc.status is None:  # no HTTP answer: timeout, connection refused, too big...
                why = f"robots.txt unreachable, so not fetched (RFC 9309): {exc.reason}"
            elif exc.status < 500:
                return _Robots(rules=RobotsRules(time.time(), None))
            else:
                why = f"robots.txt unreachable (HTTP {exc.status}): not fetched, per RFC 9309"
            return _Robots(refusal=why)
        text = got.body.decode("utf-8", errors="replace")
        return _parse_robots(RobotsRules(time.time(), text))

    async def _with_retries(
        self, url: str, headers: dict[str, str], robots_txt: bool
    ) -> Fetched | _Redirect:
        # robots.txt is not retried: a 503 there means "fetch nothing", said quickly.
        retries = 0 if robots_txt else self.retries
        attempt = 0
        while True:
            outcome = await self._exchange(url, headers, robots_txt)
            if not isinstance(outcome, _Retry):
                return outcome
            if attempt >= retries:
                raise FetchError(url, _status_reason(outcome.status), status=outcome.status)
            wait = outcome.after if outcome.after is not None else 2.0**attempt
            if wait > self.max_retry_wait:
                limit = f"over the {self.max_retry_wait:g} s limit"
                reason = f"server asked to retry after {wait:.0f} s ({limit})"
                raise FetchError(url, reason, status=outcome.status)
            await asyncio.sleep(wait)
            attempt += 1

    # --- one request ---------------------------------------------------------------------
    @asynccontextmanager
    async def _turn(self, host: str) -> AsyncIterator[None]:
        """Wait until a request to ``host`` may start: a free slot for the host and in
        all, and ``delay`` seconds since the host's previous start."""
        state = self._hosts.setdefault(host, _Host())
        async with state.slots, self._all:
            async with state.lock:  # starts go one by one, so each sees the last one's time
                loop = asyncio.get_running_loop()
                wait = state.next_start - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                state.next_start = loop.time() + self.delay
            yield

    async def _exchange(
        self, url: str, headers: dict[str, str], robots_txt: bool
    ) -> Fetched | _Redirect | _Retry:
        client = self._open_client()
        async with self._turn(urlsplit(url).hostname or ""):
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
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise FetchError(url, _network_reason(exc)) from None

    def _open_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the Fetcher is not open: use `async with Fetcher() as fetcher`")
        return self._client

    async def _answer(
        self, url: str, response: httpx.Response, headers: dict[str, str], robots_txt: bool
    ) -> Fetched | _Redirect | _Retry:
        if not self.allow_private:
            _check_peer(url, response)
        status = response.status_code
        if status in _REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise FetchError(url, f"{_status_reason(status)} without a Location header")
            return _Redirect(location)
        if status in _RETRYABLE:
            return _Retry(status, _retry_after(response.headers.get("retry-after")))
        if status == 304:
            return _not_modified(url, response, headers)
        if not 200 <= status < 300:
            raise FetchError(url, _status_reason(status), status=status)
        return await self._read(url, response, robots_txt)

    async def _read(self, url: str, response: httpx.Response, robots_txt: bool) -> Fetched:
        media, charset = _content_type(response.headers.get("content-type", ""))
        if not robots_txt:  # robots.txt is read whatever it says it is
            _check_type(url, media)
        # A large robots.txt is cut, not refused (RFC 9309 2.5).
        cap = min(self.max_bytes, _ROBOTS_MAX_BYTES) if robots_txt else self.max_bytes
        body = await _read_body(url, response, cap, truncate=robots_txt)
        if body[:2] == _GZIP_MAGIC and (
            media in _GZIP_TYPES or urlsplit(url).path.lower().endswith(".gz")
        ):
            body = _inflate_file(url, body, cap)  # a sitemap.xml.gz arrives as its XML
        etag = response.headers.get("etag")
        modified = response.headers.get("last-modified")
        return Fetched(url, url, response.status_code, media, charset, body, etag, modified)


# --- response parts --------------------------------------------------------------------
def _not_modified(url: str, response: httpx.Response, headers: dict[str, str]) -> Fetched:
    media, charset = _content_type(response.headers.get("content-type", ""))
    # A 304 need not repeat the validators; the ones asked with still hold then.
    etag = response.headers.get("etag") or headers.get("If-None-Match")
    modified = response.headers.get("last-modified") or headers.get("If-Modified-Since")
    return Fetched(url, url, 304, media, charset, b"", etag, modified)


def _content_type(header: str) -> tuple[str, str | None]:
    """("text/html", "utf-8") from "text/html; charset=UTF-8"."""
    media, *params = header.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip("\"'"):
            charset = value.strip().strip("\"'").lower()
    return media.strip().lower(), charset


def _check_type(url: str, media: str) -> None:
    if not media or media in _READABLE_TYPES or media in _GZIP_TYPES:
        return  # no type: the caller sniffs the body
    if media == "application/octet-stream" and urlsplit(url).path.lower().endswith(".gz"):
        return  # how many servers label a sitemap.xml.gz
    raise FetchError(url, f"{media} is not a web page, feed, sitemap or plain text: skipped")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: the caller's own backoff applies
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _status_reason(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


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
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke off the response: {detail}"
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
def _too_large(url: str, cap: int) -> FetchError:
    return FetchError(url, f"response is larger than {cap / 2**20:g} MB (ARTICLEBOT_FETCH_MAX_MB)")


async def _read_body(url: str, response: httpx.Response, cap: int, *, truncate: bool) -> bytes:
    """The body with its Content-Encoding removed, never more than ``cap`` bytes read or
    produced: over it, FetchError, or (``truncate``) the first ``cap`` bytes."""
    length = response.headers.get("content-length", "")
    if not truncate and length.isdigit() and int(length) > cap:
        raise _too_large(url, cap)  # refused before a byte of it is read
    inflater = _Inflater(url, _content_encoding(url, response), cap)
    parts: list[bytes] = []
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        excess = max(0, received - cap)
        parts.append(inflater.feed(chunk[: len(chunk) - excess]))
        if excess or inflater.over:
            if truncate:
                break
            raise _too_large(url, cap)
    parts.append(inflater.flush())
    return b"".join(parts)


def _content_encoding(url: str, response: httpx.Response) -> str:
    codings = [
        c.strip().lower()
        for c in response.headers.get("content-encoding", "").split(",")
        if c.strip().lower() not in ("", "identity")
    ]
    if not codings:
        return "identity"
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return codings[0]
    raise FetchError(
        url, f"Content-Encoding {', '.join(codings)} is not supported (asked for gzip or deflate)"
    )


def _inflate_file(url: str, body: bytes, cap: int) -> bytes:
    inflater = _Inflater(url, "gzip", cap)
    data = inflater.feed(body) + inflater.flush()
    if inflater.over:
        raise _too_large(url, cap)
    return data


class _Inflater:
    """Removes gzip or deflate, never producing more than ``limit`` bytes in all: past it,
    ``over`` is set and the rest is dropped, so a gzip bomb costs ``limit`` bytes of memory."""

    def __init__(self, url: str, encoding: str, limit: int) -> None:
        self.url = url
        self.encoding = encoding
        self.limit = limit
        self.size = 0
        self.over = False
        self._z: zlib._Decompress | None = None

    def feed(self, data: bytes) -> bytes:
        if self.encoding == "identity":
            return self._count(data)
        if not data or self.over:
            return b""
        try:
            out = self._inflate(data)
        except zlib.error as exc:
            raise FetchError(self.url, f"the compressed body is damaged ({exc})") from None
        return self._count(out)

    def flush(self) -> bytes:
        if self._z is None or self.over:
            return b""
        return self._count(self._z.flush())

    def _inflate(self, data: bytes) -> bytes:
        if self._z is None:
            self._z = zlib.decompressobj(self._wbits(data))
        room = self.limit - self.size + 1  # one byte more than fits tells "too large"
        out = self._z.decompress(data, room)
        # Concatenated gzip members (a .gz file may have several) continue one stream.
        while self._z.eof and self._z.unused_data and len(out) < room:
            rest = self._z.unused_data
            self._z = zlib.decompressobj(self._wbits(rest))
            out += self._z.decompress(rest, room - len(out))
        return out

    def _wbits(self, start: bytes) -> int:
        if self.encoding != "deflate":
            return 47  # gzip or zlib header, detected
        # "deflate" is meant to be zlib-wrapped, but some servers send it raw.
        zlib_header = (
            len(start) >= 2 and start[0] & 0x0F == 8 and (start[0] * 256 + start[1]) % 31 == 0
        )
        return 15 if zlib_header else -15

    def _count(self, out: bytes) -> bytes:
        self.size += len(out)
        if self.size > self.limit:
            self.over = True
            return out[: len(out) - (self.size - self.limit)]
        return out
