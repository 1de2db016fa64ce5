"""What an index remembers of its web sources, kept in each generation's database.

Conditional-request state (ETag, Last-Modified) lives in the same generation as the
articles it describes, so it is published atomically with them: a run killed after a
feed answered 200 but before its pages were indexed leaves the old ETag, and the next
run asks again instead of being told "304, nothing new".

Tables (additive: an index built before web sources gets them on its next run)::

    web_sources  url, kind, feeds   what the user added; a site's discovered feeds
    web_fetches  url, etag, ...     conditional state of every URL fetched
    web_listed   source, page       which source lists which page (a page may be in two)

An article from the web has ``articles.file`` = the page URL it was listed under.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fetch import RobotsRules

SYNC_LOG = "sources.json"  # in the index folder: when each web source last synced
ROBOTS_CACHE = "robots.json"  # robots.txt rules by origin, reused for up to 24 hours

WEB_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_sources (
    url TEXT PRIMARY KEY, kind TEXT, feeds TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS web_fetches (
    url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, stamp TEXT
);
CREATE TABLE IF NOT EXISTS web_listed (
    source TEXT NOT NULL, page TEXT NOT NULL, PRIMARY KEY (source, page)
);
CREATE INDEX IF NOT EXISTS web_listed_page ON web_listed (page);
"""


@dataclass(frozen=True)
class WebSource:
    url: str
    kind: str | None = None  # feed, sitemap, site (a home page with feeds) or page
    feeds: tuple[str, ...] = ()  # a site's feeds, as discovered when it last changed


@dataclass(frozen=True)
class FetchState:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    stamp: str | None = None  # the feed's updated date or the sitemap's lastmod, as listed


@dataclass
class WebState:
    sources: dict[str, WebSource] = field(default_factory=dict)
    fetches: dict[str, FetchState] = field(default_factory=dict)
    listed: dict[str, set[str]] = field(default_factory=dict)  # source -> its pages

    def pages(self) -> set[str]:
        return {page for pages in self.listed.values() for page in pages}


def ensure_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(WEB_SCHEMA)


def read_state(conn: sqlite3.Connection) -> WebState:
    """The web state of a generation; empty for one written before web sources."""
    state = WebState()
    try:
        for url, kind, feeds in conn.execute("SELECT url, kind, feeds FROM web_sources"):
            state.sources[url] = WebSource(url, kind, tuple(json.loads(feeds)))
        for url, etag, modified, stamp in conn.execute(
            "SELECT url, etag, last_modified, stamp FROM web_fetches"
        ):
            state.fetches[url] = FetchState(url, etag, modified, stamp)
        for source, page in conn.execute("SELECT source, page FROM web_listed"):
            state.listed.setdefault(source, set()).add(page)
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
    return state


def source_urls(conn: sqlite3.Connection) -> list[str]:
    try:
        return [r[0] for r in conn.execute("SELECT url FROM web_sources ORDER BY url")]
    except sqlite3.OperationalError:
        return []


def article_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Articles per web source (a page listed by two sources counts for both)."""
    try:
        rows = conn.execute(
            "SELECT l.source, count(a.id) FROM web_listed l "
            "JOIN articles a ON a.file = l.page GROUP BY l.source"
        )
        return {r[0]: int(r[1]) for r in rows}
    except sqlite3.OperationalError:
        return {}


def write_sources(conn: sqlite3.Connection, sources: list[WebSource]) -> None:
    conn.execute("DELETE FROM web_sources")
    conn.executemany(
        "INSERT INTO web_sources (url, kind, feeds) VALUES (?, ?, ?)",
        [(s.url, s.kind, json.dumps(list(s.feeds))) for s in sources],
    )


def put_fetch(conn: sqlite3.Connection, state: FetchState) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO web_fetches (url, etag, last_modified, stamp) VALUES (?,?,?,?)",
        (state.url, state.etag, state.last_modified, state.stamp),
    )


def delete_fetch(conn: sqlite3.Connection, url: str) -> None:
    conn.execute("DELETE FROM web_fetches WHERE url = ?", (url,))


def list_pages(conn: sqlite3.Connection, source: str, pages: set[str]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO web_listed (source, page) VALUES (?, ?)",
        [(source, page) for page in sorted(pages)],
    )


def unlist_pages(conn: sqlite3.Connection, source: str, pages: set[str] | None = None) -> None:
    """Forget that ``source`` lists ``pages`` (all of its pages when None)."""
    if pages is None:
        conn.execute("DELETE FROM web_listed WHERE source = ?", (source,))
        return
    conn.executemany(
        "DELETE FROM web_listed WHERE source = ? AND page = ?", [(source, p) for p in pages]
    )


def listed_anywhere(conn: sqlite3.Connection, page: str) -> bool:
    return conn.execute("SELECT 1 FROM web_listed WHERE page = ?", (page,)).fetchone() is not None


def write_sync_log(index_dir: Path, runs: dict[str, dict[str, Any]]) -> None:
    """Record when each web source last synced and how it went. Kept beside the
    generations, not in them: a sync that changed nothing writes no generation."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    log = {url: {**run, "last_sync": now} for url, run in runs.items()}
    for url, run in log.items():
        if run.get("error") is None:
            run["last_ok"] = now
        else:
            run["last_ok"] = read_sync_log(index_dir).get(url, {}).get("last_ok")
    _atomic_json(index_dir / SYNC_LOG, log)


def read_sync_log(index_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((index_dir / SYNC_LOG).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_robots(index_dir: Path) -> dict[str, RobotsRules]:
    """robots.txt rules an earlier run fetched (a cache: unreadable means empty)."""
    try:
        data = json.loads((index_dir / ROBOTS_CACHE).read_text())
        return {o: RobotsRules(float(r["fetched_at"]), r["text"]) for o, r in data.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def write_robots(index_dir: Path, rules: dict[str, RobotsRules]) -> None:
    data = {o: {"fetched_at": r.fetched_at, "text": r.text} for o, r in rules.items()}
    _atomic_json(index_dir / ROBOTS_CACHE, data)


def _atomic_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
