"""The web sources' state in PostgreSQL (``web_sources``, ``web_fetches``, ``web_listed``),
as the local store keeps it in each generation (``local.web``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ...types import SHARED, FetchState, WebChanges, WebSource, WebState

if TYPE_CHECKING:
    import psycopg

#: Runs a query, returns its rows.
Rows = Callable[[str], Sequence[Sequence[Any]]]


#: (page, scope) of every listed page: a source without scope rows is shared.
PAGE_SCOPES = (
    "SELECT l.page, coalesce(s.scope, 'shared') AS scope FROM web_listed l "
    "LEFT JOIN web_scopes s ON s.url = l.source"
)


#: Each article's scopes as they should be: those of the pages it was read from.
WANTED_SCOPES = (
    "SELECT DISTINCT a.id AS article_id, coalesce(ps.scope, 'shared') AS scope "
    f"FROM articles a LEFT JOIN ({PAGE_SCOPES}) ps ON ps.page = a.file"
)


def update_article_scopes(conn: psycopg.Connection[Any]) -> None:
    """Bring ``article_scopes`` in line with the articles and web state of this
    transaction, writing only what changed."""
    conn.execute(
        f"DELETE FROM article_scopes s WHERE NOT EXISTS (SELECT 1 FROM ({WANTED_SCOPES}) w "
        "WHERE w.article_id = s.article_id AND w.scope = s.scope)"
    )
    conn.execute(
        f"INSERT INTO article_scopes (article_id, scope) {WANTED_SCOPES} ON CONFLICT DO NOTHING"
    )


def read_scopes(rows: Rows) -> dict[str, frozenset[str]]:
    """Each source's scopes; empty for a database the next writer has yet to migrate."""
    import psycopg

    found: dict[str, set[str]] = {}
    try:
        scoped = rows("SELECT url, scope FROM web_scopes")
    except psycopg.errors.UndefinedTable:
        return {}
    for url, scope in scoped:
        found.setdefault(url, set()).add(scope)
    return {url: frozenset(scopes) for url, scopes in found.items()}


def read_state(rows: Rows) -> WebState:
    state = WebState()
    scopes = read_scopes(rows)
    for url, kind, feeds in rows("SELECT url, kind, feeds FROM web_sources"):
        state.sources[url] = WebSource(
            url, kind, tuple(feeds), scopes.get(url, frozenset({SHARED}))
        )
    for url, etag, modified, stamp in rows(
        "SELECT url, etag, last_modified, stamp FROM web_fetches"
    ):
        state.fetches[url] = FetchState(url, etag, modified, stamp)
    for source, page in rows("SELECT source, page FROM web_listed"):
        state.listed.setdefault(source, set()).add(page)
    return state


def article_counts(rows: Rows) -> dict[str, int]:
    """Articles per web source (a page listed by two sources counts for both)."""
    found = rows(
        "SELECT l.source, count(a.id) FROM web_listed l JOIN articles a ON a.file = l.page "
        "GROUP BY l.source"
    )
    return {r[0]: int(r[1]) for r in found}


def write(conn: psycopg.Connection[Any], changes: WebChanges) -> None:
    conn.execute("DELETE FROM web_sources")
    conn.execute("DELETE FROM web_scopes")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO web_sources (url, kind, feeds) VALUES (%s, %s, %s)",
            [(s.url, s.kind, json.dumps(list(s.feeds))) for s in changes.sources],
        )
        cur.executemany(
            "INSERT INTO web_scopes (url, scope) VALUES (%s, %s)",
            [(s.url, scope) for s in changes.sources for scope in sorted(s.scopes)],
        )
        conn.execute("DELETE FROM web_listed")
        cur.executemany(
            "INSERT INTO web_listed (source, page) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [(s, p) for s, pages in changes.listed.items() for p in sorted(pages)],
        )
        cur.executemany(
            "INSERT INTO web_fetches (url, etag, last_modified, stamp) VALUES (%s,%s,%s,%s) "
            "ON CONFLICT (url) DO UPDATE SET etag = EXCLUDED.etag, "
            "last_modified = EXCLUDED.last_modified, stamp = EXCLUDED.stamp",
            [(f.url, f.etag, f.last_modified, f.stamp) for f in changes.fetches],
        )
    conn.execute("DELETE FROM web_fetches WHERE url = ANY(%s)", (list(changes.forget),))
