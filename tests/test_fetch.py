"""index/web/client.py and guard.py against a real HTTP server on 127.0.0.1 (tests/web_server.py).

The server is a loopback address, so these tests pass ``allow_private=True``, except the
ones about refusing private addresses.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from index.errors import FetchError, RobotsDisallowedError
from index.settings import Settings
from index.web import client
from index.web.client import MAX_REDIRECTS, USER_AGENT, Fetched, Fetcher
from index.web.guard import check_public, check_url
from index.web.headers import content_length, retry_after
from index.web.robots import ROBOTS_MAX_BYTES

from .web_server import Site, send

T = TypeVar("T")
MB = 2**20


@pytest.fixture(scope="module")
def server() -> Iterator[Site]:
    with Site() as running:
        yield running


@pytest.fixture
def site(server: Site) -> Site:
    """conftest's ``site``, but one server for the whole module, emptied for each test:
    a Site takes up to 0.5 s to shut down, which over 50 tests would double their time."""
    server.routes.clear()
    server.reset()
    return server


def run(job: Callable[[Fetcher], Awaitable[T]], **options: Any) -> tuple[T, Fetcher]:
    """Run ``job(fetcher)`` in a fresh Fetcher (private addresses allowed, no delay)."""

    async def main() -> tuple[T, Fetcher]:
        async with Fetcher(**{"allow_private": True, "delay": 0, **options}) as fetcher:
            return await job(fetcher), fetcher

    return asyncio.run(main())


def get(url: str, **options: Any) -> Fetched:
    return run(lambda f: f.get(url), **options)[0]


def error(url: str, **options: Any) -> FetchError:
    with pytest.raises(FetchError) as caught:
        get(url, **options)
    return caught.value


def headers_only(content_type: str, length: int, then_sleep: float) -> Callable[[Any], None]:
    """A handler that sends headers announcing ``length`` bytes, then waits."""

    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(length))
        request.end_headers()
        time.sleep(then_sleep)

    return handler


def zeros_until_closed(request: BaseHTTPRequestHandler) -> None:
    """50 MB of zeros with no Content-Length: the body ends when the connection does."""
    request.send_response(200)
    request.send_header("Content-Type", "text/plain")
    request.send_header("Connection", "close")
    request.end_headers()
    request.close_connection = True
    chunk = bytes(64 * 1024)
    try:
        for _ in range(50 * MB // len(chunk)):
            request.wfile.write(chunk)
    except OSError:
        pass  # the client hung up, as it should


@cache
def gzip_bomb() -> bytes:
    return gzip.compress(bytes(50 * MB), compresslevel=9)  # about 50 KB


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- URLs ----------------------------------------------------------------------------------
def test_guard_loads_no_http_client() -> None:
    """The bot and the indexer check URLs on paths that must stay light."""
    code = "import sys, index.web.guard; print('httpx' in sys.modules)"
    repo = Path(__file__).resolve().parents[1]  # "-c" imports from the working folder
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo
    )
    assert out.stdout.strip() == "False"


def test_check_url_normalises() -> None:
    assert check_url("HTTPS://example.com/a?b=1#frag") == "https://example.com/a?b=1"
    assert check_url(" http://example.com ") == "http://example.com/"


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/feed", "file:///etc/passwd", "http://", "example.com/x", "http://h:x/"],
)
def test_check_url_refuses(url: str) -> None:
    with pytest.raises(FetchError) as caught:
        check_url(url)
    assert caught.value.url == url
    assert str(caught.value) == f"{url}: {caught.value.reason}"


def test_ftp_url_sends_no_request() -> None:
    async def job(f: Fetcher) -> str:
        with pytest.raises(FetchError) as caught:
            await f.get("ftp://127.0.0.1/feed")
        return caught.value.reason

    reason, fetcher = run(job)
    assert reason.startswith("ftp:// URLs are not fetched")
    assert fetcher.requests == 0


# --- headers, content -----------------------------------------------------------------------
def test_user_agent_and_accept_encoding_on_every_request(site: Site) -> None:
    url = site.route("/page", "<p>hi</p>", content_type="text/html; charset=ISO-8859-1")
    got = get(url)
    assert (got.url, got.final_url, got.status, got.body) == (url, url, 200, b"<p>hi</p>")
    assert (got.content_type, got.charset) == ("text/html", "iso-8859-1")
    assert site.paths() == ["/robots.txt", "/page"]
    for hit in site.hits:
        headers = {k.lower(): v for k, v in hit.headers.items()}
        assert headers["user-agent"] == USER_AGENT
        assert headers["accept-encoding"] == "gzip, deflate"
    assert USER_AGENT.startswith("articlebot/")


def test_missing_content_type_is_allowed(site: Site) -> None:
    got = get(site.route("/page", "plain words", content_type=""))
    assert (got.content_type, got.charset, got.body) == ("", None, b"plain words")


def test_image_is_skipped_before_its_body_is_read(site: Site) -> None:
    url = site.handle("/photo", headers_only("image/png", 1000, then_sleep=3))
    start = time.monotonic()
    exc = error(url)
    assert exc.reason == "image/png is not a web page, feed, sitemap or plain text: skipped"
    assert time.monotonic() - start < 1.5  # the body, 3 s away, was not waited for


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate"])
def test_content_encoding_is_removed(site: Site, encoding: str) -> None:
    text = b"<html><body>" + b"news " * 2000 + b"</body></html>"
    raw = zlib.compressobj(wbits=-15)  # what some servers send as "deflate"
    packed = {
        "gzip": gzip.compress(text),
        "deflate": zlib.compress(text),
        "raw deflate": raw.compress(text) + raw.flush(),
    }[encoding]
    header = encoding.split()[-1]
    url = site.handle(
        "/page", lambda r: send(r, 200, packed, "text/html", {"Content-Encoding": header})
    )
    assert get(url).body == text


@pytest.mark.parametrize(
    ("path", "content_type", "also_encoded"),
    [
        ("/sitemap.xml.gz", "application/x-gzip", False),
        ("/sitemap.xml.gz", "application/octet-stream", False),
        ("/sitemap.gz.php", "application/gzip", False),
        ("/sitemap.xml.gz", "application/x-gzip", True),  # gzip file sent gzip-encoded
        ("/sitemap", "text/xml", False),  # gzip under any type or name
        ("/sitemap", "text/html", True),
    ],
)
def test_gzip_file_arrives_decompressed(
    site: Site, path: str, content_type: str, also_encoded: bool
) -> None:
    xml = b'<?xml version="1.0"?><urlset><url><loc>https://a.example/1</loc></url></urlset>'
    url = site.route(path, gzip.compress(xml), content_type=content_type, gzip=also_encoded)
    got = get(url)
    assert got.body == xml
    assert got.content_type == content_type


# --- robots.txt ------------------------------------------------------------------------------
def test_robots_disallow_is_obeyed_and_fetched_once(site: Site) -> None:
    site.route("/robots.txt", "User-agent: *\nDisallow: /private\n", content_type="text/plain")
    site.route("/public", "ok")
    site.route("/private/page", "secret")

    async def job(f: Fetcher) -> list[Fetched | BaseException]:
        urls = [site.url("/public"), site.url("/private/page"), site.url("/public?again")]
        return await asyncio.gather(*(f.get(u) for u in urls), return_exceptions=True)

    (first, second, third), fetcher = run(job)
    assert isinstance(first, Fetched) and isinstance(third, Fetched)
    assert isinstance(second, RobotsDisallowedError)
    assert second.reason == "disallowed by robots.txt"
    assert site.count("/robots.txt") == 1
    assert site.count("/private/page") == 0
    assert fetcher.requests == 3


def test_robots_group_for_articlebot(site: Site) -> None:
    robots = "User-agent: otherbot\nDisallow:\n\nUser-agent: articlebot\nDisallow: /\n"
    site.route("/robots.txt", robots, content_type="text/plain")
    assert error(site.route("/page", "x")).reason == "disallowed by robots.txt"


def outcomes(site: Site, robots: bytes | str, paths: list[str]) -> dict[str, str]:
    """Serve ``robots`` and every path, ask for each path; "fetched" or the refusal."""
    site.route("/robots.txt", robots, content_type="text/plain")
    for path in paths:
        site.route(urlsplit(path).path, "ok")

    async def job(f: Fetcher) -> list[Fetched | BaseException]:
        return await asyncio.gather(*(f.get(site.url(p)) for p in paths), return_exceptions=True)

    results, _ = run(job)
    return {
        p: "fetched" if isinstance(r, Fetched) else type(r).__name__
        for p, r in zip(paths, results, strict=True)
    }


def test_robots_wildcard_and_end_anchor(site: Site) -> None:
    got = outcomes(site, "User-agent: *\nDisallow: /*.html$\n", ["/a/b.html", "/a/b.html?x=1"])
    assert got == {"/a/b.html": "RobotsDisallowedError", "/a/b.html?x=1": "fetched"}
    assert "/a/b.html" not in site.paths()


def test_robots_longest_match_wins_over_order(site: Site) -> None:
    got = outcomes(site, "User-agent: *\nAllow: /\nDisallow: /a/\n", ["/a/x", "/b"])
    assert got == {"/a/x": "RobotsDisallowedError", "/b": "fetched"}
    assert "/a/x" not in site.paths()


def test_robots_with_a_byte_order_mark_is_obeyed(site: Site) -> None:
    robots = "\ufeffUser-agent: *\nDisallow: /private\n".encode()
    got = outcomes(site, robots, ["/private/page", "/public"])
    assert got == {"/private/page": "RobotsDisallowedError", "/public": "fetched"}
    assert "/private/page" not in site.paths()


def test_robots_articlebot_group_wins_over_star(site: Site) -> None:
    robots = "User-agent: *\nDisallow: /\n\nUser-agent: ArticleBot\nDisallow: /drafts/\n"
    got = outcomes(site, robots, ["/drafts/one", "/news/one"])
    assert got == {"/drafts/one": "RobotsDisallowedError", "/news/one": "fetched"}
    assert "/drafts/one" not in site.paths()


def test_redirect_to_a_disallowed_url_is_a_robots_skip(site: Site) -> None:
    site.route("/robots.txt", "User-agent: *\nDisallow: /private\n", content_type="text/plain")
    site.route("/old", status=301, headers={"Location": "/private/new"})
    site.route("/private/new", "secret")
    exc = error(site.url("/old"))
    assert isinstance(exc, RobotsDisallowedError)
    assert exc.reason == f"redirected to {site.url('/private/new')}: disallowed by robots.txt"
    assert "/private/new" not in site.paths()


def test_robots_only_the_first_500_kib_are_parsed(site: Site) -> None:
    # The rule past the cap is cut off with the rest, so what it disallows is fetched.
    robots = "User-agent: *\n" + "# filler\n" * (ROBOTS_MAX_BYTES // 9) + "Disallow: /late\n"
    assert outcomes(site, robots, ["/late"]) == {"/late": "fetched"}


def test_robots_404_allows_everything(site: Site) -> None:
    assert get(site.route("/page", "x")).body == b"x"
    assert site.paths() == ["/robots.txt", "/page"]


def test_robots_500_disallows_everything(site: Site) -> None:
    site.route("/robots.txt", "oops", status=500, content_type="text/plain")
    site.route("/page", "x")

    async def job(f: Fetcher) -> list[Fetched | BaseException]:
        urls = [site.url("/page"), site.url("/page?2")]
        return await asyncio.gather(*(f.get(u) for u in urls), return_exceptions=True)

    results, _ = run(job)
    for exc in results:
        assert isinstance(exc, FetchError)
        assert exc.reason == "robots.txt unreachable (HTTP 500): not fetched, per RFC 9309"
    assert site.paths() == ["/robots.txt"]  # asked once, not retried, the page never asked


# --- politeness -------------------------------------------------------------------------------
class Tracker:
    """A handler that records how many requests are in flight at once, and when each began."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.starts: list[float] = []

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.starts.append(time.monotonic())
        time.sleep(self.seconds)
        with self.lock:
            self.now -= 1  # before answering, so the client cannot start the next one first
        send(request, 200, b"ok", "text/plain")


def fetch_all(site: Site, n: int, **options: Any) -> float:
    async def job(f: Fetcher) -> list[Fetched]:
        return await asyncio.gather(*(f.get(site.url(f"/slow?n={i}")) for i in range(n)))

    start = time.monotonic()
    run(job, **options)
    return time.monotonic() - start


def test_delay_between_starts_to_one_host(site: Site) -> None:
    tracker = Tracker(0.1)
    site.handle("/slow", tracker)
    elapsed = fetch_all(site, 4, delay=0.2)
    assert elapsed >= 0.6
    assert tracker.peak <= 2
    gaps = [b - a for a, b in zip(tracker.starts, tracker.starts[1:], strict=False)]
    # Arrivals, not sends: a new connection's setup can shift one arrival by tens of ms.
    assert len(gaps) == 3 and min(gaps) >= 0.14 and sum(gaps) >= 0.55


def test_at_most_two_requests_per_host_at_once(site: Site) -> None:
    tracker = Tracker(0.3)
    site.handle("/slow", tracker)
    elapsed = fetch_all(site, 6, delay=0)
    assert tracker.peak == client.PER_HOST == 2
    assert elapsed >= 0.9  # six requests, two at a time, 0.3 s each


# --- conditional requests, status codes, retries ------------------------------------------------
def test_not_modified_with_etag(site: Site) -> None:
    url = site.route("/feed", "<rss/>", content_type="application/rss+xml", etag='"v1"')
    first = get(url)
    assert (first.status, first.etag, first.body) == (200, '"v1"', b"<rss/>")
    again = run(lambda f: f.get(url, etag='"v1"'))[0]
    assert (again.status, again.body, again.etag) == (304, b"", '"v1"')
    asked = {k.lower(): v for k, v in site.hits[-1].headers.items()}
    assert asked["if-none-match"] == '"v1"'


def test_not_modified_with_last_modified(site: Site) -> None:
    stamp = "Tue, 01 Apr 2025 10:00:00 GMT"
    url = site.route("/feed", "<rss/>", content_type="text/xml", last_modified=stamp)
    assert get(url).last_modified == stamp
    again = run(lambda f: f.get(url, last_modified=stamp))[0]
    assert (again.status, again.body, again.last_modified, again.etag) == (304, b"", stamp, None)


def test_server_error_is_reported_not_retried(site: Site) -> None:
    exc = error(site.route("/page", "boom", status=500))
    assert (exc.reason, exc.status) == ("HTTP 500 Internal Server Error", 500)
    assert site.count("/page") == 1


def test_429_waits_retry_after_then_succeeds(site: Site) -> None:
    calls: list[float] = []

    def handler(request: BaseHTTPRequestHandler) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            send(request, 429, b"slow down", "text/plain", {"Retry-After": "1"})
        else:
            send(request, 200, b"ok", "text/plain")

    url = site.handle("/page", handler)
    start = time.monotonic()
    got, fetcher = run(lambda f: f.get(url))
    assert got.body == b"ok"
    assert time.monotonic() - start >= 1.0 and calls[1] - calls[0] >= 0.95
    assert len(calls) == 2 and fetcher.requests == 3  # robots.txt, 429, 200


def test_503_backs_off_then_gives_up(site: Site) -> None:
    url = site.route("/page", "busy", status=503)
    start = time.monotonic()
    exc = error(url, retries=1)
    assert (exc.reason, exc.status) == ("HTTP 503 Service Unavailable", 503)
    assert time.monotonic() - start >= 1.0  # no Retry-After: 1 s before the retry
    assert site.count("/page") == 2


@pytest.mark.parametrize("retry_after", ["3600", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_retry_after_beyond_the_limit_fails_fast(site: Site, retry_after: str) -> None:
    url = site.route("/page", "later", status=429, headers={"Retry-After": retry_after})
    start = time.monotonic()
    exc = error(url)
    assert exc.reason.startswith("server asked to retry after ")
    assert exc.reason.endswith(" s (over the 60 s limit)")
    assert time.monotonic() - start < 1.0
    assert site.count("/page") == 1


@pytest.mark.parametrize(
    "retry_after",
    [
        "²",  # str.isdigit() says yes, float() says no
        "Wed, 21 Oct 20990000000000000000 07:28:00 GMT",  # OverflowError in the date parser
        "Wed, 21 Oct 99999 07:28:00 GMT",  # year out of range
        "soon",
    ],
)
def test_unreadable_retry_after_falls_back_to_backoff(site: Site, retry_after: str) -> None:
    calls: list[float] = []

    def handler(request: BaseHTTPRequestHandler) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            send(request, 429, b"slow down", "text/plain", {"Retry-After": retry_after})
        else:
            send(request, 200, b"ok", "text/plain")

    got = get(site.handle("/page", handler))
    assert got.body == b"ok"
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.95  # the own backoff: 1 s


def test_unreadable_content_length_is_a_fetch_error(site: Site) -> None:
    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/html")
        request.send_header("Content-Length", "²")
        request.end_headers()
        request.wfile.write(b"<p>hi</p>")
        request.close_connection = True

    exc = error(site.handle("/page", handler))
    assert exc.reason == "the server's response is broken: bad Content-Length"


@pytest.mark.parametrize("value", ["²", "١٢", "12a", "-1", "1" * 40, " ", None])
def test_unreadable_numbers_in_headers_are_ignored(value: str | None) -> None:
    """h11 refuses a bad Content-Length before the client reads it; the parser is
    tolerant anyway."""
    assert content_length(value) is None
    assert retry_after(value) is None


def test_validators_that_cannot_be_sent_are_left_out(site: Site) -> None:
    """An ETag sent in UTF-8 comes back as text httpx would refuse to send: the next
    request goes out unconditional instead of raising."""
    url = site.route("/page", "x", etag='"é"'.encode().decode("latin-1"))
    first = get(url)
    again = run(lambda f: f.get(url, etag=first.etag, last_modified="\x00"))[0]
    assert (again.status, again.body) == (200, b"x")
    sent = {k.lower() for k in site.hits[-1].headers}
    assert "if-none-match" not in sent and "if-modified-since" not in sent


# --- timeouts ------------------------------------------------------------------------------------
def test_slow_server_times_out(site: Site) -> None:
    url = site.route("/page", "late", delay=2)
    start = time.monotonic()
    exc = error(url, timeout=0.5)
    assert exc.reason == "timed out after 0.5 s (ARTICLEBOT_FETCH_TIMEOUT)"
    assert time.monotonic() - start < 1.5


def test_trickling_server_is_cut_off(site: Site) -> None:
    def trickle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/plain")
        request.send_header("Content-Length", "100")
        request.end_headers()
        try:
            for _ in range(100):  # a byte every 0.1 s: no read ever waits 0.25 s
                request.wfile.write(b"x")
                request.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    start = time.monotonic()
    exc = error(site.handle("/page", trickle), timeout=0.25)
    assert exc.reason.startswith("took longer than 1 s in all")
    assert time.monotonic() - start < 2.0


# --- redirects ------------------------------------------------------------------------------------
def redirect(site: Site, path: str, location: str, status: int = 302) -> None:
    site.route(path, "", status=status, headers={"Location": location})


def test_redirect_loop_is_stopped(site: Site) -> None:
    redirect(site, "/a", "/b")
    redirect(site, "/b", "/a")
    exc = error(site.url("/a"))
    assert exc.reason == f"too many redirects (more than {MAX_REDIRECTS})"
    assert exc.url == site.url("/a")
    assert site.count("/a") + site.count("/b") == MAX_REDIRECTS + 1


def test_redirect_chain_is_followed(site: Site) -> None:
    redirect(site, "/one", site.url("/two"), 301)
    redirect(site, "/two", "/three", 307)
    redirect(site, "/three", "/final", 308)
    site.route("/final", "here")
    got, fetcher = run(lambda f: f.get(site.url("/one")))
    assert (got.url, got.final_url, got.body) == (site.url("/one"), site.url("/final"), b"here")
    assert fetcher.requests == 5  # robots.txt and four hops


def test_relative_location(site: Site) -> None:
    redirect(site, "/news/2025/story", "../latest/story?x=1", 303)
    site.route("/news/latest/story", "fresh")
    got = get(site.url("/news/2025/story"))
    assert got.final_url == site.url("/news/latest/story?x=1")
    assert got.body == b"fresh"


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/feed"])
def test_redirect_to_another_scheme_says_it_was_a_redirect(site: Site, location: str) -> None:
    redirect(site, "/page", location)
    exc = error(site.url("/page"))
    assert exc.url == site.url("/page")
    assert exc.reason == f"redirected to {location}: only http and https are followed"
    assert site.paths() == ["/robots.txt", "/page"]


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://[::1", "redirected to an invalid URL (Invalid port: ':1')"),  # httpx refuses it
        ("http://a]b/", "redirected to an invalid URL 'http://a]b/' (Invalid IPv6 URL)"),
        (
            "http://a:99999/",
            "redirected to an invalid URL 'http://a:99999/' (Port out of range 0-65535)",
        ),
    ],
)
def test_redirect_to_an_invalid_url_is_a_fetch_error(
    site: Site, location: str, reason: str
) -> None:
    """urljoin() and urlsplit().port raise ValueError on these; httpx on the first."""
    redirect(site, "/page", location)
    exc = error(site.url("/page"))
    assert exc.reason == reason


# --- size caps --------------------------------------------------------------------------------------
def test_announced_large_body_is_refused_unread(site: Site) -> None:
    url = site.handle("/big", headers_only("text/html", 50 * MB, then_sleep=3))
    start = time.monotonic()
    exc = error(url, max_bytes=MB)
    assert exc.reason == "response is larger than 1 MB (ARTICLEBOT_FETCH_MAX_MB)"
    assert time.monotonic() - start < 1.5


def test_streamed_large_body_is_cut_at_the_cap(site: Site) -> None:
    url = site.handle("/big", zeros_until_closed)
    start = time.monotonic()
    exc = error(url, max_bytes=MB)
    assert exc.reason == "response is larger than 1 MB (ARTICLEBOT_FETCH_MAX_MB)"
    assert time.monotonic() - start < 2.0


def test_gzip_bomb_stops_at_the_cap_in_bounded_memory(site: Site) -> None:
    bomb = gzip_bomb()
    url = site.route("/bomb", bomb, content_type="text/html", headers={"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        exc = error(url, max_bytes=MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than 1 MB" in exc.reason
    assert peak < 10 * MB  # the 50 MB it inflates to was never held (TLS setup is ~4 MB)


def peak_memory_of(job: Callable[[], T]) -> tuple[T, int]:
    tracemalloc.start()
    try:
        result = job()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.parametrize(
    ("path", "content_type", "encoded"),
    [
        ("/sitemap.xml.gz", "application/x-gzip", False),
        ("/page", "text/html", False),  # gzip, but neither the headers nor the name say so
        ("/page", "text/html", True),  # Content-Encoding gzip of a gzip file
    ],
)
def test_every_gzip_layer_is_capped_in_bounded_memory(
    site: Site, path: str, content_type: str, encoded: bool
) -> None:
    """The 50 KB bomb inflates to 50 MB; with a 1 MB cap, whichever layer it hides in,
    it is refused with the cap's reason, and far less than 50 MB is ever held."""
    bomb = gzip.compress(gzip_bomb()) if encoded else gzip_bomb()
    headers = {"Content-Encoding": "gzip"} if encoded else {}
    url = site.route(path, bomb, content_type=content_type, headers=headers)
    exc, peak = peak_memory_of(lambda: error(url, max_bytes=MB))
    assert exc.reason == "response is larger than 1 MB (ARTICLEBOT_FETCH_MAX_MB)"
    assert peak < 4 * MB  # the cap's worth kept, and at most a cap's worth being inflated


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x1f\x8bnot gzip at all", "the compressed body is damaged ("),
        (gzip.compress(b"<urlset>" * 1000, mtime=0)[:-20], "the gzip file is cut short"),
        (gzip.compress(gzip.compress(b"<urlset/>")), "the body is gzip inside gzip: not read"),
    ],
    # Named: the gzip bytes hold a timestamp, and xdist's workers must collect the same ids.
    ids=["damaged", "cut-short", "nested"],
)
def test_bad_gzip_file_is_a_fetch_error(site: Site, body: bytes, reason: str) -> None:
    url = site.route("/sitemap.xml.gz", body, content_type="application/x-gzip")
    assert error(url).reason.startswith(reason)


# --- network errors -----------------------------------------------------------------------------------
def test_connection_refused() -> None:
    # robots.txt is asked first; no answer to it means the page is not fetched (RFC 9309).
    exc = error(f"http://127.0.0.1:{closed_port()}/page")
    assert exc.reason.startswith("robots.txt unreachable, so not fetched (RFC 9309): ")
    assert exc.reason.endswith("connection refused (is the server up, and the port right?)")


# --- private addresses ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:8000/feed", "127.0.0.1 is a loopback address"),
        ("http://localhost/feed", "is a loopback address"),
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "is a loopback address"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("http://2130706433/", "127.0.0.1 is a loopback address"),  # 127.0.0.1 as one number
    ],
)
def test_check_public_refuses_private_addresses(url: str, kind: str) -> None:
    with pytest.raises(FetchError) as caught:
        asyncio.run(check_public(url))
    assert kind in caught.value.reason
    assert caught.value.reason.endswith(
        "private, loopback and link-local addresses are refused "
        "(ARTICLEBOT_ALLOW_PRIVATE_URLS=true allows them)"
    )


def test_check_public_allows_a_public_address() -> None:
    asyncio.run(check_public("https://93.184.216.34/feed"))  # a literal: no DNS asked


def test_check_public_unresolvable_host() -> None:
    with pytest.raises(FetchError, match=re.escape("cannot resolve host example.invalid")):
        asyncio.run(check_public("http://example.invalid/feed"))


def test_private_url_is_refused_before_any_request(site: Site) -> None:
    url = site.route("/page", "x")
    with pytest.raises(FetchError, match=re.escape("127.0.0.1 is a loopback address")) as caught:
        run(lambda f: f.get(url), allow_private=False)
    assert caught.value.url == url
    assert site.count() == 0


def names(*answers: list[str]) -> tuple[Callable[[str, int], Awaitable[list[str]]], list[str]]:
    """A resolver that gives its answers in turn (the last one again when they run out),
    whatever the name, and the list of names it was asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    return resolve, asked


def test_connection_goes_to_the_address_checked_not_a_second_lookup(server: Site) -> None:
    """A rebinding name: the first answer is A's address, every later one B's. Only the
    first is asked, and only A sees requests; B (same port, another loopback address)
    sees none. The Host header keeps the name."""
    server.routes.clear()
    server.reset()
    server.route("/page", "from A")
    resolve, asked = names(["127.0.0.1"], ["127.0.0.2"])
    with Site(host="127.0.0.2", port=server.port) as other:
        other.route("/page", "from B")
        url = f"http://a.test:{server.port}/page"

        async def job(f: Fetcher) -> list[Fetched]:
            return [await f.get(url), await f.get(url + "?again")]

        got, _ = run(job, resolve=resolve)
        assert [g.body for g in got] == [b"from A", b"from A"]
        assert other.count() == 0
    assert asked == ["a.test"]
    assert server.paths() == ["/robots.txt", "/page", "/page?again"]
    assert {hit.headers["Host"] for hit in server.hits} == {f"a.test:{server.port}"}


@pytest.mark.parametrize("answer", [["127.0.0.1"], ["93.184.216.34", "127.0.0.1"]])
def test_name_resolving_to_loopback_gets_no_request(site: Site, answer: list[str]) -> None:
    """Every address the name has is checked before a connection is made."""
    resolve, _ = names(answer)
    url = f"http://a.test:{site.port}/page"
    with pytest.raises(FetchError) as caught:
        run(lambda f: f.get(url), allow_private=False, resolve=resolve)
    assert caught.value.reason == (
        "127.0.0.1 is a loopback address; private, loopback and link-local addresses are "
        "refused (ARTICLEBOT_ALLOW_PRIVATE_URLS=true allows them)"
    )
    assert site.count() == 0


def test_requests_are_limited_per_address_not_per_name(site: Site) -> None:
    """Four names for one server share its two slots."""
    tracker = Tracker(0.2)
    site.handle("/slow", tracker)
    resolve, asked = names(["127.0.0.1"])
    urls = [f"http://{name}.test:{site.port}/slow?n={i}" for i in range(2) for name in "abcd"]

    async def job(f: Fetcher) -> list[Fetched]:
        return await asyncio.gather(*(f.get(u) for u in urls))

    run(job, resolve=resolve)
    assert tracker.peak <= client.PER_HOST
    assert len(tracker.starts) == 8 and sorted(asked) == ["a.test", "b.test", "c.test", "d.test"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://xn--/page", "cannot resolve host xn-- (check the name and the network)"),
        ("http://a..b/page", "cannot resolve host a..b (check the name and the network)"),
        ("http://☃.com/page", "not a valid URL (Invalid IDNA hostname: '☃.com')"),
        ("http://a\u200db.com/page", r"not a valid URL (Invalid IDNA hostname: 'a\u200db.com')"),
    ],
)
def test_invalid_host_names_are_fetch_errors(url: str, reason: str) -> None:
    """The system resolver raises UnicodeError on some names, httpx InvalidURL on others."""
    for allow_private in (True, False):
        exc = error(url, allow_private=allow_private)
        assert exc.reason == reason


# --- settings --------------------------------------------------------------------------------------------
def test_from_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        fetch_timeout=5,
        fetch_delay=0.1,
        fetch_max_mb=2.5,
        allow_private_urls=True,
    )
    fetcher = Fetcher.from_settings(settings)
    assert (fetcher.timeout, fetcher.delay, fetcher.allow_private) == (5, 0.1, True)
    assert fetcher.max_bytes == int(2.5 * MB)
