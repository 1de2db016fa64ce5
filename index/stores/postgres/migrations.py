"""The database's tables: versioned migrations, applied by the writer in its transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

LOCK_KEY = 0x61727469636C65  # "article": the writer's advisory lock (migrations: + 1)

#: Versioned migrations, applied in order in one transaction by the writer.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE manifest (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE roots (path text PRIMARY KEY);
CREATE TABLE files (
    path text PRIMARY KEY, size bigint NOT NULL, mtime_ns bigint NOT NULL, sha256 text NOT NULL
);
CREATE TABLE articles (
    id text PRIMARY KEY, key text NOT NULL UNIQUE, file text, path text, url text,
    title text NOT NULL, date text, author text, source text, caption text,
    content_hash text NOT NULL, text text NOT NULL
);
CREATE INDEX articles_file ON articles (file);
-- embedding gets its dimension (vector(384)) from the first writer that knows it.
CREATE TABLE passages (
    id bigserial PRIMARY KEY,
    article_id text NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    ordinal int NOT NULL, start int NOT NULL, "end" int NOT NULL, text text NOT NULL,
    embedding vector NOT NULL
);
CREATE INDEX passages_article ON passages (article_id);
-- Vectors stay in the row: a 384-d vector with the passage's text passes TOAST's 2 kB
-- threshold, and out-of-line vectors made an exact scan read 3-6 pages per passage.
ALTER TABLE passages ALTER COLUMN embedding SET STORAGE PLAIN;
-- BM25's inputs: per term and passage, the frequencies in the text and in the title,
-- and the passage's length in words (text + title), as FTS5 counts them.
CREATE TABLE passage_terms (
    term text NOT NULL, passage_id bigint NOT NULL REFERENCES passages (id) ON DELETE CASCADE,
    tf_body smallint NOT NULL, tf_title smallint NOT NULL, length int NOT NULL
);
CREATE INDEX passage_terms_term ON passage_terms (term);
CREATE INDEX passage_terms_passage ON passage_terms (passage_id);
CREATE TABLE sentences (
    passage_id bigint NOT NULL REFERENCES passages (id) ON DELETE CASCADE,
    start int NOT NULL, "end" int NOT NULL, ordinal int NOT NULL, vector bytea NOT NULL
);
CREATE INDEX sentences_passage ON sentences (passage_id);
CREATE TABLE term_stats (term text PRIMARY KEY, df bigint NOT NULL);
CREATE TABLE web_sources (url text PRIMARY KEY, kind text, feeds jsonb NOT NULL DEFAULT '[]');
CREATE TABLE web_fetches (url text PRIMARY KEY, etag text, last_modified text, stamp text);
CREATE TABLE web_listed (source text NOT NULL, page text NOT NULL, PRIMARY KEY (source, page));
CREATE INDEX web_listed_page ON web_listed (page);
-- The bot's votes, shared by all its processes (the local store keeps feedback.sqlite).
CREATE TABLE feedback (
    id bigserial PRIMARY KEY, question text NOT NULL, quotes jsonb NOT NULL,
    user_hash text NOT NULL, vote smallint NOT NULL, created_at double precision NOT NULL
);
""",
    ),
    (
        2,
        """
-- Who added each web source: 'shared' or a Discord server's id. A source without rows
-- (written before scopes) is shared.
CREATE TABLE web_scopes (url text NOT NULL, scope text NOT NULL, PRIMARY KEY (url, scope));
CREATE INDEX web_scopes_scope ON web_scopes (scope);
""",
    ),
    (
        3,
        """
-- Each article's scopes, derived from web_listed and web_scopes at every publish (an
-- article no source lists is shared): a filtered search looks an article up by key.
CREATE TABLE article_scopes (
    article_id text NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    scope text NOT NULL,
    PRIMARY KEY (article_id, scope)
);
CREATE INDEX article_scopes_scope ON article_scopes (scope);
""",
    ),
]


def migrate(conn: psycopg.Connection[Any]) -> None:
    """Apply the migrations this database lacks (in the caller's transaction)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY + 1,))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    for version, sql in MIGRATIONS:
        if version not in done:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
