"""The local store's tables for web sources (in each generation's SQLite database).

Additive: an index built before web sources gets them on its next run.

    web_sources  url, kind, feeds   what the user added; a site's discovered feeds
    web_fetches  url, etag, ...     conditional state of every URL fetched
    web_listed   source, page       which source lists which page (a page may be in two)
    web_scopes   url, scope         who added each source (none: shared, as before scopes)
"""

from __future__ import annotations

import json
import sqlite3

from ...types import SHARED, FetchState, WebChanges, WebSource, WebState

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
CREATE TABLE IF NOT EXISTS web_scopes (
    url TEXT NOT NULL, scope TEXT NOT NULL, PRIMARY KEY (url, scope)
);
"""

#: (page, scope) of every listed page: a source without scope rows is shared. An
#: article's scopes are those of its page; an article no source lists (a file) is shared.
PAGE_SCOPES = (
    "SELECT l.page AS page, coalesce(s.scope, 'shared') AS scope FROM web_listed l "
    "LEFT JOIN web_scopes s ON s.url = l.source"
)


def ensure_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(WEB_SCHEMA)


def read_state(conn: sqlite3.Connection) -> WebState:
    """The web state of a generation; empty for one written before web sources."""
    state = WebState()
    try:
        scopes = read_scopes(conn)
        for url, kind, feeds in conn.execute("SELECT url, kind, feeds FROM web_sources"):
            state.sources[url] = WebSource(
                url, kind, tuple(json.loads(feeds)), scopes.get(url, frozenset({SHARED}))
            )
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


def read_scopes(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
    """Each source's scopes; empty for a generation written before scopes."""
    try:
        rows = conn.execute("SELECT url, scope FROM web_scopes").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return {}
    found: dict[str, set[str]] = {}
    for url, scope in rows:
        found.setdefault(url, set()).add(scope)
    return {url: frozenset(scopes) for url, scopes in found.items()}


def remembered(conn: sqlite3.Connection) -> list[WebSource]:
    """The web sources with their scopes, for a rebuild (kinds are learnt again)."""
    try:
        urls = [r[0] for r in conn.execute("SELECT url FROM web_sources ORDER BY url")]
        scopes = read_scopes(conn)
    except sqlite3.OperationalError:
        return []
    return [WebSource(u, scopes=scopes.get(u, frozenset({SHARED}))) for u in urls]


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
    conn.execute("DELETE FROM web_scopes")
    conn.executemany(
        "INSERT INTO web_scopes (url, scope) VALUES (?, ?)",
        [(s.url, scope) for s in sources for scope in sorted(s.scopes)],
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


def write(conn: sqlite3.Connection, changes: WebChanges) -> None:
    ensure_tables(conn)
    write_sources(conn, list(changes.sources))
    conn.execute("DELETE FROM web_listed")
    for source, pages in changes.listed.items():
        list_pages(conn, source, pages)
    for fetch in changes.fetches:
        put_fetch(conn, fetch)
    for url in changes.forget:
        delete_fetch(conn, url)
