"""A small news site on 127.0.0.1 and ways to break it, for tests/test_web_properties.py.

Three web sources list the three stories of tests/helpers.py under their own paths: an
RSS feed, an Atom feed, and a sitemap index with one child sitemap. A test indexes the
good site, then serves a broken variant (a mutated listing, mutated pages, hostile
headers) and re-syncs with --prune through the real CLI, in process.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import re
import traceback
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from index import cli

from .helpers import STORIES, HashEmbedder, page
from .web_server import Site

SLUGS = [path.rsplit("/", 1)[1] for path in STORIES]
# Links are relative, so that no mutation of a listing can name a host to look up in DNS.
RSS, ATOM, SITEMAP_INDEX, SITEMAP = "/rss.xml", "/atom.xml", "/sitemap_index.xml", "/sitemap-1.xml"
SOURCES = (RSS, ATOM, SITEMAP_INDEX)
LISTINGS = (RSS, ATOM, SITEMAP_INDEX, SITEMAP)
SOURCE_OF = {RSS: RSS, ATOM: ATOM, SITEMAP_INDEX: SITEMAP_INDEX, SITEMAP: SITEMAP_INDEX}
LISTED_BY = {RSS: "/news/", ATOM: "/blog/", SITEMAP_INDEX: "/map/"}  # source -> page prefix
PAGES = [prefix + slug for prefix in LISTED_BY.values() for slug in SLUGS]
XML_TYPES = {RSS: "application/rss+xml", ATOM: "application/atom+xml"}

# Control characters that must never reach a terminal: C0 but line breaks and tabs, DEL, C1.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def title(slug: str) -> str:
    return next(s for p, s in STORIES.items() if p.endswith(slug)).strip().splitlines()[0]


def story(path: str) -> str:
    return next(s for p, s in STORIES.items() if p.endswith(path.rsplit("/", 1)[1]))


# --- the good listings (version 1: the first sync; version 2: every page changed) -----------
def rss_feed(site: Site, version: int = 1, extra: str = "") -> bytes:
    day = f"{10 + version} Jan 2005 09:00:00 GMT"
    items = "".join(
        f"<item><title>{title(s)}</title><link>/news/{s}</link><pubDate>Mon, {day}</pubDate></item>"
        for s in SLUGS
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Example News</title><link>/</link>{items}{extra}</channel></rss>"
    ).encode()


def atom_feed(site: Site, version: int = 1, extra: str = "") -> bytes:
    when = f"2005-02-0{version}T10:00:00Z"
    entries = "".join(
        f'<entry><title>{title(s)}</title><link href="/blog/{s}"/>'
        f"<id>{s}</id><updated>{when}</updated></entry>"
        for s in SLUGS
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Example</title><id>x</id><updated>{when}</updated>{entries}{extra}</feed>"
    ).encode()


def sitemap(site: Site, version: int = 1, extra: str = "") -> bytes:
    urls = "".join(
        f"<url><loc>/map/{s}</loc><lastmod>2005-01-1{version}</lastmod></url>" for s in SLUGS
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}{extra}</urlset>'
    ).encode()


def sitemap_index(site: Site, version: int = 1, extra: str = "") -> bytes:
    child = f"<sitemap><loc>{SITEMAP}</loc><lastmod>2005-01-1{version}</lastmod></sitemap>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{child}{extra}</sitemapindex>"
    ).encode()


def good_listing(site: Site, path: str, version: int = 1, extra: str = "") -> bytes:
    make = {RSS: rss_feed, ATOM: atom_feed, SITEMAP_INDEX: sitemap_index, SITEMAP: sitemap}
    return make[path](site, version, extra)


def junk_entry(path: str, link: str, text: str, date: str) -> str:
    """One more entry in the listing at ``path``, its link, title and date as given
    (only &, < and > escaped: control characters stay raw)."""
    link, text, date = escape(link), escape(text), escape(date)
    if path == RSS:
        return f"<item><title>{text}</title><link>{link}</link><pubDate>{date}</pubDate></item>"
    if path == ATOM:
        link = link.replace('"', "&quot;")
        return f'<entry><title>{text}</title><link href="{link}"/><updated>{date}</updated></entry>'
    item = "sitemap" if path == SITEMAP_INDEX else "url"
    return f"<{item}><loc>{link}</loc><lastmod>{date}</lastmod></{item}>"


def serve_good(site: Site, version: int = 1) -> None:
    site.routes.clear()
    site.route("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    for path in LISTINGS:
        serve_listing(site, path, good_listing(site, path, version))
    for path in PAGES:
        site.route(path, page_v(path, version), etag=f'"{path}-v{version}"')


def page_v(path: str, version: int) -> str:
    """The page at ``path``; version 2 has one more paragraph, to tell the two apart."""
    text = story(path) + ("" if version == 1 else "\nThe story was updated on Tuesday.\n")
    return page(text)


def serve_listing(site: Site, path: str, body: bytes) -> None:
    site.route(path, body, content_type=XML_TYPES.get(path, "application/xml"))


# --- what the index must still hold ---------------------------------------------------------
def well_formed(body: bytes) -> bool:
    """Whether a strict XML parser reads ``body`` (the oracle for "a valid listing")."""
    try:
        ET.fromstring(body)
    except (ET.ParseError, LookupError, ValueError):  # LookupError: an unknown encoding
        return False
    return True


def still_listed(site: Site, source: str) -> set[str]:
    """The pages a source's served listings name, as a whole element text or attribute
    value: those its re-sync must keep whatever else it finds."""
    paths = [p for p in LISTINGS if SOURCE_OF[p] == source]
    bodies = b"".join(served(site, p) for p in paths)
    return {p for p in PAGES if f">{p}<".encode() in bodies or f'"{p}"'.encode() in bodies}


def served(site: Site, path: str) -> bytes:
    route = site.routes.get(path)
    return getattr(route, "body", b"")


# --- raw responses: headers http.server would refuse to send --------------------------------
@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        head = [f"HTTP/1.1 {self.status} X", "Connection: close"]
        head += [f"{name}: {value}" for name, value in self.headers]
        request.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogatepass"))
        request.wfile.write(self.body)
        request.close_connection = True  # the body ends where the connection does


ENCODED_XML = (("Content-Type", "application/xml"), ("Content-Encoding", "gzip"))
ENCODED_HTML = (("Content-Type", "text/html"), ("Content-Encoding", "gzip"))


@dataclass(frozen=True)
class Endless:
    """A plain-text body of ``megabytes``, sent in chunks, with no Content-Length."""

    megabytes: int

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
        request.wfile.write(head)
        chunk = b"all work and no play " * 3000
        with contextlib.suppress(ConnectionError):  # the client stops reading at its cap
            for _ in range(self.megabytes * 2**20 // len(chunk)):
                request.wfile.write(chunk)
        request.close_connection = True


@functools.cache
def gzip_bomb(megabytes: int) -> bytes:
    return gzip.compress(b"\0" * (megabytes * 2**20), compresslevel=9)


# --- the CLI, in process ----------------------------------------------------------------------
@dataclass(frozen=True)
class CliRun:
    code: int | None  # None: an exception escaped main()
    out: str
    err: str  # with the traceback, if one escaped


def run_cli(*args: str) -> CliRun:
    out, err = io.StringIO(), io.StringIO()
    code: int | None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except Exception:  # a Traceback is exactly what the no-crash property looks for
            traceback.print_exc()
            code = None
    return CliRun(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def cli_environment(work: Path, fetch_max_mb: float = 1.0) -> Iterator[None]:
    """Settings for the in-process CLI: the test server allowed, no politeness delay, a
    short timeout, no .env; the indexer embeds with the tests' HashEmbedder (the real
    model takes seconds per run, and embedding is not what these properties are about)."""
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    env = {
        "ARTICLEBOT_ALLOW_PRIVATE_URLS": "true",
        "ARTICLEBOT_FETCH_DELAY": "0",
        "ARTICLEBOT_FETCH_TIMEOUT": "2",
        "ARTICLEBOT_FETCH_MAX_MB": str(fetch_max_mb),
        "ARTICLEBOT_CHUNK_TOKENS": "40",
        "ARTICLEBOT_CORPUS": str(corpus),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr("index.embedding.make_embedder", lambda settings: HashEmbedder())
        patch.setattr(cli, "prepare_tuned_encoders", lambda settings: None)
        yield


def control_chars(text: str) -> list[str]:
    return [f"U+{ord(c):04X} {unicodedata.name(c, '')}".strip() for c in _CONTROL.findall(text)]
