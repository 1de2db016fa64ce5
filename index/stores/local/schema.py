"""The SQLite database of a generation: its tables, read-only connections to a published
one, and the manifest (key -> JSON value). The web sources' tables are in ``web``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE roots (path TEXT PRIMARY KEY);
CREATE TABLE files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL
);
CREATE TABLE articles (
    id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, file TEXT, path TEXT, url TEXT,
    title TEXT NOT NULL, date TEXT, author TEXT, source TEXT, caption TEXT,
    content_hash TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX articles_file ON articles (file);
CREATE TABLE passages (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles (id),
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    text TEXT NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX passages_article ON passages (article_id);
-- Every quotable sentence of a passage with its own vector (float16): answers rank the
-- sentences of the top passages by their cosine to the question (benchmarks/README.md).
CREATE TABLE sentences (
    passage_id INTEGER NOT NULL REFERENCES passages (id), start INTEGER NOT NULL,
    "end" INTEGER NOT NULL, ordinal INTEGER NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX sentences_passage ON sentences (passage_id);
CREATE VIRTUAL TABLE passages_fts USING fts5 (
    text, title, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""


def connect_readonly(db_path: Path) -> sqlite3.Connection:
    # Published generations never change, so "immutable" skips all locking.
    conn = sqlite3.connect(f"file:{db_path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def read_manifest(conn: sqlite3.Connection) -> dict[str, Any]:
    return {row[0]: json.loads(row[1]) for row in conn.execute("SELECT key, value FROM manifest")}


def write_manifest(conn: sqlite3.Connection, manifest: dict[str, Any]) -> None:
    conn.execute("DELETE FROM manifest")
    conn.executemany(
        "INSERT INTO manifest (key, value) VALUES (?, ?)",
        [(k, json.dumps(v)) for k, v in manifest.items()],
    )
