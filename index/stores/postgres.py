"""The PostgreSQL + pgvector store: one index that many bot processes read while one
writer updates it (``ARTICLEBOT_DATABASE_URL``).

- Vectors: ``vector`` columns; inner product (``<#>``) on normalised vectors is cosine.
  Above ``ann_threshold`` passages an HNSW index serves dense search, with
  ``hnsw.iterative_scan = relaxed_order`` so a filtered search still fills its top k.
- Lexical: BM25 computed in SQL exactly as FTS5's ``bm25()`` (k1 1.2, b 0.75; text weight
  1, title 0.5; IDF log((N - n + 0.5) / (n + 0.5))) over a postings table (term, passage,
  term frequencies) of the terms FTS5 would make (folded, Porter-stemmed), with document
  frequencies the writer keeps in ``term_stats``. ``ts_rank_cd`` has no IDF, and a
  ``tsvector`` scan unnesting every candidate's lexemes measured 52-65 ms per query at
  BBC size (benchmarks/postgres.py); the postings join reads only the query's terms.
- Writing: an index run is one transaction (readers see the old corpus or the new one;
  kill -9 rolls it back), under an advisory lock (one writer at a time). The manifest's
  ``generation`` moves on at commit: that is what readers poll to pick up new data.
- Reading: a connection pool (``psycopg_pool``), optionally on a read replica.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import IndexBusyError, IndexDamagedError, IndexMissingError
from ..text import STOPWORDS, fold
from ..types import (
    FetchState,
    FileRecord,
    Filters,
    PassageRow,
    StoredSentence,
    WebChanges,
    WebSource,
    WebState,
)
from .base import SCHEMA_VERSION

if TYPE_CHECKING:
    import numpy as np
    import psycopg
    from psycopg_pool import ConnectionPool

    from ..types import Article, Passage, Sentences

K1, B = 1.2, 0.75  # FTS5's bm25() defaults
TITLE_WEIGHT = 0.5
EF_SEARCH = 128  # as the local HNSW index (recall vs latency: benchmarks/README.md)
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64
#: HNSW past this many passages when ARTICLEBOT_ANN_THRESHOLD is unset. An exact scan
#: costs ~2.7 µs a passage here (22.8 ms at 8,311, 264-279 ms at 100k), HNSW ef 128
#: 3-4 ms at BBC size with recall@10 0.986 (benchmarks/README.md): past ~10k the scan
#: alone would outgrow the whole local `ask`.
DEFAULT_ANN_THRESHOLD = 10_000
POOL_WAIT = 5.0  # seconds a reader waits for a connection before "unavailable"
_LOCK_KEY = 0x61727469636C65  # "article": the writer's advisory lock
_WORD = re.compile(r"\w+")

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
]


def _connect_error(url: str, exc: Exception) -> IndexMissingError:
    where = re.sub(r"//[^@/]*@", "//", url)  # no password in messages
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return IndexMissingError(
        f"Cannot reach PostgreSQL at {where} ({reason}). Check ARTICLEBOT_DATABASE_URL; "
        "`python -m index.stores.pgserver start` runs a local one."
    )


@functools.cache
def _porter() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("porter")


@functools.lru_cache(maxsize=200_000)
def lexeme(word: str) -> str:
    """The term a word is indexed and searched under: folded and Porter-stemmed, as FTS5's
    ``porter unicode61 remove_diacritics 2`` tokenizer makes it (the local store's)."""
    return str(_porter().stemWord(fold(word)))


def postings(text: str, title: str) -> tuple[dict[str, tuple[int, int]], int]:
    """Term -> (frequency in the text, in the title), and the length in words of both.
    Stopwords count in the length but get no postings: questions never search them."""
    body = _WORD.findall(fold(text))
    head = _WORD.findall(fold(title))
    freqs: dict[str, list[int]] = {}
    for column, words in ((0, body), (1, head)):
        for word in words:
            if word not in STOPWORDS:
                freqs.setdefault(lexeme(word), [0, 0])[column] += 1
    capped = {t: (min(b, 32767), min(h, 32767)) for t, (b, h) in freqs.items()}
    return capped, len(body) + len(head)


def _vector_text(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def _migrate(conn: psycopg.Connection[Any]) -> None:
    """Apply the migrations this database lacks (in the caller's transaction)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY + 1,))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    for version, sql in MIGRATIONS:
        if version not in done:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))


#: The HNSW graph is built in memory, ~2 KB a 384-d vector: with the server's default
#: 64 MB, 100k vectors took 460 s here, with 1 GB 94 s; at 1 GB a 1M build filled it at
#: ~525k vectors and went on at a tenth of the speed (benchmarks/README.md).
HNSW_BUILD_MEMORY = 2**30


def hnsw_build_memory(current_bytes: int) -> str | None:
    """The maintenance_work_mem to build HNSW with: at least 1 GB, and never less than
    what the operator set for the database or role (ALTER DATABASE ... SET
    maintenance_work_mem = '4GB' for a few million passages). None: keep the setting."""
    return "1GB" if current_bytes < HNSW_BUILD_MEMORY else None


class PostgresStore:
    """``PostgresStore("postgresql://…", read_url=None)``: see the module docstring."""

    def __init__(self, url: str, *, read_url: str | None = None) -> None:
        self.url = url
        self.read_url = read_url or url
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()

    # --- connections ---------------------------------------------------------------------
    def connect(self, url: str | None = None) -> psycopg.Connection[Any]:
        import psycopg

        try:
            return psycopg.connect(url or self.url, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise _connect_error(url or self.url, exc) from None

    def pool(self) -> ConnectionPool:
        """Readers' connections (a replica's, when one is set), opened once per process."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = self._open_pool()
        return self._pool

    def _open_pool(self) -> ConnectionPool:
        from psycopg_pool import ConnectionPool

        # One plain connection first: an unreachable server fails in milliseconds with
        # one clear line, not after the pool's 15 s of retries and warnings.
        self.connect(self.read_url).close()
        # The pool logs each failed reconnect as a multi-line warning; the store reports
        # an outage itself (IndexMissingError), once per caller.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.autocommit = True
            with contextlib.suppress(Exception):  # before pgvector 0.8: no iterative scan
                conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
                conn.execute("SET hnsw.iterative_scan = relaxed_order")

        pool = ConnectionPool(
            self.read_url,
            min_size=1,
            max_size=8,
            configure=configure,
            kwargs={"connect_timeout": 10},
            timeout=POOL_WAIT,
            open=False,
        )
        try:
            pool.open(wait=True, timeout=15)
        except Exception as exc:
            pool.close()
            raise _connect_error(self.read_url, exc) from None
        return pool

    @contextlib.contextmanager
    def reading(self) -> Iterator[psycopg.Connection[Any]]:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self.pool().connection() as conn:
                yield conn
        except psycopg.errors.UndefinedTable as exc:
            # Tables gone from an index that was built: damaged, not missing.
            reason = str(exc).strip().splitlines()[0]
            raise IndexDamagedError(
                f"The PostgreSQL index is damaged ({reason}). Run `articlebot index --repair` "
                "or restore the database from a backup."
            ) from None
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _connect_error(self.read_url, exc) from None

    def _missing(self) -> IndexMissingError:
        where = re.sub(r"//[^@/]*@", "//", self.url)
        return IndexMissingError(
            f"No index in the PostgreSQL database {where}. Run `articlebot index` to build one."
        )

    # --- Store -------------------------------------------------------------------------------
    def exists(self) -> bool:
        with self.reading() as conn:
            row = conn.execute("SELECT to_regclass('manifest') IS NOT NULL").fetchone()
            if not row or not row[0]:
                return False
            return (
                conn.execute("SELECT 1 FROM manifest WHERE key = 'generation'").fetchone()
                is not None
            )

    def version(self) -> str:
        with self.reading() as conn:
            row = conn.execute("SELECT value FROM manifest WHERE key = 'generation'").fetchone()
        if row is None:
            raise self._missing()
        return str(row[0])

    def open_view(self) -> PostgresView:
        if not self.exists():
            raise self._missing()
        return PostgresView(self)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """A session advisory lock on a connection of its own: a killed writer's lock goes
        with its connection."""
        conn = self.connect()
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
            if not got or not got[0]:
                raise IndexBusyError(
                    "Another `articlebot index` is writing this index (PostgreSQL). Wait for "
                    "it to finish, then run again."
                )
            yield
        finally:
            conn.close()

    def open_writer(self, *, fresh: bool) -> PostgresWriter:
        return PostgresWriter(self, fresh=fresh)

    def remembered_sources(self) -> tuple[list[str], list[str]]:
        try:
            with self.reading() as conn:
                roots = [r[0] for r in conn.execute("SELECT path FROM roots ORDER BY path")]
                urls = [r[0] for r in conn.execute("SELECT url FROM web_sources ORDER BY url")]
                return roots, urls
        except Exception:
            return [], []

    def cleanup(self) -> None:
        """Nothing to do: a killed writer's transaction was rolled back by the server."""

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class PostgresView:
    """The committed state, read through the store's pool. ``version`` is the generation
    when the view was opened; each query reads the latest commit."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        with store.reading() as conn:
            rows = conn.execute("SELECT key, value FROM manifest").fetchall()
        self.manifest: dict[str, Any] = {r[0]: r[1] for r in rows}
        self._version = str(self.manifest.get("generation"))

    @property
    def version(self) -> str:
        return self._version

    def warm_up(self) -> None:
        with self.store.reading() as conn:
            conn.execute("SELECT 1")

    # --- retrieval -----------------------------------------------------------------------
    def dense(self, vector: np.ndarray, k: int, filters: Filters | None) -> list[tuple[int, float]]:
        where, params = _filter_sql(filters)
        join = "JOIN articles a ON a.id = p.article_id" if where else ""
        sql = (
            "SELECT p.id, p.embedding <#> %s::vector AS distance FROM passages p "
            f"{join} {where} ORDER BY distance LIMIT {int(k)}"
        )
        with self.store.reading() as conn:
            rows = conn.execute(sql, [_vector_text(vector), *params]).fetchall()
        # <#> is the negative inner product; relaxed_order may leave a near-sorted list.
        return sorted(((int(r[0]), -float(r[1])) for r in rows), key=lambda r: -r[1])

    def lexical(self, words: list[str], k: int, filters: Filters | None) -> list[tuple[int, float]]:
        """FTS5's bm25(): per term, idf * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgD)),
        f = text frequency + 0.5 * title frequency, D = words in text and title."""
        idf = self._idf(sorted({lexeme(w) for w in words} - {""}))
        if not idf:
            return []
        where, params = _filter_sql(filters)
        join = "JOIN passages p ON p.id = t.passage_id JOIN articles a ON a.id = p.article_id"
        avg = float(self.manifest.get("avg_length") or 1.0)
        freq = f"(t.tf_body + {TITLE_WEIGHT} * t.tf_title)"
        sql = (
            f"SELECT t.passage_id, sum(q.idf * {freq} * {K1 + 1} / ({freq} + {K1} * "
            f"(1 - {B} + {B} * t.length / {avg}))) AS score FROM passage_terms t "
            "JOIN unnest(%s::text[], %s::float8[]) AS q (term, idf) ON q.term = t.term "
            f"{join if where else ''} {where} "
            f"GROUP BY t.passage_id ORDER BY score DESC LIMIT {int(k)}"
        )
        with self.store.reading() as conn:
            rows = conn.execute(sql, [list(idf), list(idf.values()), *params]).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def _idf(self, terms: list[str]) -> dict[str, float]:
        """FTS5's IDF: log((N - n + 0.5) / (n + 0.5)), at least 1e-6."""
        import math

        if not terms:
            return {}
        n_docs = int(self.manifest.get("passages", 0))
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT term, df FROM term_stats WHERE term = ANY(%s) AND df > 0", (terms,)
            ).fetchall()
        return {r[0]: max(1e-6, math.log((n_docs - r[1] + 0.5) / (r[1] + 0.5))) for r in rows}

    def document_frequency(self, word: str) -> int:
        with self.store.reading() as conn:
            row = conn.execute(
                "SELECT df FROM term_stats WHERE term = %s", (lexeme(word),)
            ).fetchone()
        return int(row[0]) if row else 0

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        if not ids:
            return {}
        with self.store.reading() as conn:
            rows = conn.execute(
                'SELECT p.id, p.article_id, p.start, p."end", p.text, a.title, a.path, a.url, '
                "a.date, a.author, a.source FROM passages p JOIN articles a "
                "ON a.id = p.article_id WHERE p.id = ANY(%s)",
                (list(ids),),
            ).fetchall()
        return {int(r[0]): PassageRow(*r) for r in rows}

    def article_texts(self, ids: set[str]) -> dict[str, str]:
        with self.store.reading() as conn:
            rows = conn.execute(
                "SELECT id, text FROM articles WHERE id = ANY(%s)", (list(ids),)
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def sentences(self, passage_ids: Sequence[int]) -> dict[int, list[StoredSentence]]:
        import numpy as np

        if not passage_ids:
            return {}
        with self.store.reading() as conn:
            rows = conn.execute(
                'SELECT passage_id, start, "end", ordinal, vector FROM sentences '
                "WHERE passage_id = ANY(%s) ORDER BY passage_id, ordinal",
                (list(passage_ids),),
            ).fetchall()
        out: dict[int, list[StoredSentence]] = {}
        for pid, start, end, ordinal, blob in rows:
            vector = np.frombuffer(bytes(blob), dtype=np.float16)
            out.setdefault(int(pid), []).append(
                StoredSentence(int(pid), start, end, ordinal, vector)
            )
        return out

    # --- what it holds ----------------------------------------------------------------------
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.store.reading() as conn:
            return conn.execute(sql, params).fetchall()

    def roots(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT path FROM roots ORDER BY path")]

    def files(self) -> dict[str, FileRecord]:
        rows = self._rows("SELECT path, size, mtime_ns, sha256 FROM files")
        return {r[0]: FileRecord(r[0], int(r[1]), int(r[2]), r[3]) for r in rows}

    def web_state(self) -> WebState:

        state = WebState()
        for url, kind, feeds in self._rows("SELECT url, kind, feeds FROM web_sources"):
            state.sources[url] = WebSource(url, kind, tuple(feeds))
        for url, etag, modified, stamp in self._rows(
            "SELECT url, etag, last_modified, stamp FROM web_fetches"
        ):
            state.fetches[url] = FetchState(url, etag, modified, stamp)
        for source, page in self._rows("SELECT source, page FROM web_listed"):
            state.listed.setdefault(source, set()).add(page)
        return state

    def web_article_counts(self) -> dict[str, int]:
        rows = self._rows(
            "SELECT l.source, count(a.id) FROM web_listed l JOIN articles a ON a.file = l.page "
            "GROUP BY l.source"
        )
        return {r[0]: int(r[1]) for r in rows}

    def articles_page(self, offset: int, limit: int) -> tuple[int, list[tuple[str, str | None]]]:
        total = self._rows("SELECT count(*) FROM articles")[0][0]
        rows = self._rows(
            "SELECT title, date FROM articles ORDER BY title LIMIT %s OFFSET %s", (limit, offset)
        )
        return int(total), [(r[0], r[1]) for r in rows]

    def matching_articles(self, text: str, limit: int) -> list[tuple[str, str]]:
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._rows(
            "SELECT DISTINCT title, coalesce(path, url, '') FROM articles WHERE title ILIKE %s "
            "OR path ILIKE %s OR source ILIKE %s ORDER BY title LIMIT %s",
            (like, like, like, limit),
        )
        return [(r[0], r[1]) for r in rows]

    def size_on_disk(self) -> int:
        return int(self._rows("SELECT pg_database_size(current_database())")[0][0])

    def verify(self) -> None:
        counts = self._rows(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages)"
        )
        articles, passages = (int(x) for x in counts[0])
        if (articles, passages) != (self.manifest.get("articles"), self.manifest.get("passages")):
            raise IndexDamagedError(
                f"The PostgreSQL index holds {articles} articles and {passages} passages but "
                f"its manifest says {self.manifest.get('articles')} and "
                f"{self.manifest.get('passages')}. Run `articlebot index --repair`."
            )

    def close(self) -> None:
        """The pool is the store's, shared by the views of a process."""


def _glob_to_regex(pattern: str) -> str:
    out = []
    for ch in pattern:
        out.append({"*": ".*", "?": "."}.get(ch, re.escape(ch)))
    return "^" + "".join(out) + "$"


def _filter_sql(filters: Filters | None, first: str | None = None) -> tuple[str, list[Any]]:
    """A WHERE clause on ``a`` (articles) for the filters, like the local store's."""
    from pathlib import Path

    clauses: list[str] = [first] if first else []
    params: list[Any] = []
    if filters and filters.source:
        pattern = filters.source
        if any(c in pattern for c in "*?["):
            rx = _glob_to_regex(pattern)
            clauses.append("(a.path ~ %s OR a.url ~ %s OR a.source ~ %s OR lower(a.source) ~ %s)")
            params.extend([rx, rx, rx, rx.lower()])
        else:
            absolute = str(Path(pattern).expanduser().resolve()) if pattern[0] in "/~." else pattern
            relative = _glob_to_regex(
                "*/" + pattern.strip("/") + ("/*" if pattern.endswith("/") else "*")
            )
            clauses.append(
                "(starts_with(a.path, %s) OR a.path ~ %s OR starts_with(a.url, %s) "
                "OR lower(a.source) = %s)"
            )
            params.extend([absolute, relative, pattern, pattern.lower()])
    if filters and filters.date_from:
        clauses.append("a.date >= %s")
        params.append(filters.date_from)
    if filters and filters.date_to:
        clauses.append("a.date <= %s")
        params.append(filters.date_to + "\uffff")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


class PostgresWriter:
    """One transaction: everything ``publish`` commits, nothing if the run dies."""

    def __init__(self, store: PostgresStore, *, fresh: bool) -> None:
        self.store = store
        self.conn = store.connect()
        self.conn.autocommit = False
        _migrate(self.conn)
        if fresh:
            self.conn.execute(
                "TRUNCATE articles, passages, passage_terms, sentences, files, roots, term_stats, "
                "web_sources, web_fetches, web_listed"
            )
            self.conn.execute("DELETE FROM manifest WHERE key <> 'generation'")
        old = self.conn.execute("SELECT value FROM manifest WHERE key = 'generation'").fetchone()
        self.generation = int(old[0]) + 1 if old else 1
        self._added: list[int] = []
        self._typed = False

    def manifest(self) -> dict[str, Any]:
        rows = self.conn.execute("SELECT key, value FROM manifest").fetchall()
        m = {r[0]: r[1] for r in rows}
        return m if "model" in m else {}

    def set_roots(self, roots: Sequence[str]) -> None:
        self.conn.execute("DELETE FROM roots")
        with self.conn.cursor() as cur:
            cur.executemany("INSERT INTO roots (path) VALUES (%s)", [(r,) for r in roots])

    def put_file(self, record: FileRecord) -> None:
        self.conn.execute(
            "INSERT INTO files (path, size, mtime_ns, sha256) VALUES (%s,%s,%s,%s) "
            "ON CONFLICT (path) DO UPDATE SET size = EXCLUDED.size, "
            "mtime_ns = EXCLUDED.mtime_ns, sha256 = EXCLUDED.sha256",
            (record.path, record.size, record.mtime_ns, record.sha256),
        )

    def delete_file(self, path: str) -> None:
        self.conn.execute("DELETE FROM files WHERE path = %s", (path,))

    def articles_of(self, origin: str) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT id, content_hash FROM articles WHERE file = %s", (origin,)
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def has_article(self, article_id: str) -> bool:
        found = self.conn.execute("SELECT 1 FROM articles WHERE id = %s", (article_id,))
        return found.fetchone() is not None

    def delete_article(self, article_id: str) -> dict[str, bytes]:
        import numpy as np

        row = self.conn.execute("SELECT text FROM articles WHERE id = %s", (article_id,)).fetchone()
        article_text = row[0] if row else ""
        reusable: dict[str, bytes] = {}
        for start, end, blob in self.conn.execute(
            'SELECT s.start, s."end", s.vector FROM sentences s JOIN passages p '
            "ON p.id = s.passage_id WHERE p.article_id = %s",
            (article_id,),
        ):
            vector = np.frombuffer(bytes(blob), dtype=np.float16).astype("float32")
            reusable[article_text[start:end]] = vector.tobytes()
        for text, embedding in self.conn.execute(
            "SELECT text, embedding::text FROM passages WHERE article_id = %s", (article_id,)
        ):
            reusable[text] = np.array(json.loads(embedding), dtype=np.float32).tobytes()
        # Document frequencies lose what this article's passages held.
        self.conn.execute(
            "UPDATE term_stats s SET df = s.df - d.n FROM (SELECT t.term, count(*) AS n "
            "FROM passage_terms t JOIN passages p ON p.id = t.passage_id "
            "WHERE p.article_id = %s GROUP BY t.term) d WHERE s.term = d.term",
            (article_id,),
        )
        self.conn.execute("DELETE FROM articles WHERE id = %s", (article_id,))  # cascades
        return reusable

    def add_article(
        self,
        article: Article,
        origin: str | None,
        passages: list[Passage],
        vectors: np.ndarray,
        sentences: Sequence[Sentences] = (),
    ) -> None:
        fields = (
            article.id, article.key, origin, article.path, article.url, article.title,
            article.date, article.author, article.source, article.caption,
            article.content_hash, article.text,
        )  # fmt: skip
        self.conn.execute(
            "INSERT INTO articles (id, key, file, path, url, title, date, author, source, "
            "caption, content_hash, text) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            fields,
        )
        if not passages:
            return
        self._type_vectors(vectors.shape[1])
        ids = [
            int(r[0])
            for r in self.conn.execute(
                "SELECT nextval('passages_id_seq') FROM generate_series(1, %s)", (len(passages),)
            )
        ]
        self._copy_passages(article, passages, vectors, ids)
        if sentences:
            self._copy_sentences(ids, sentences)
        self._added.extend(ids)

    def _type_vectors(self, dimension: int) -> None:
        """Give ``embedding`` its dimension once (instant on an empty table): distances on
        a typed column need no cast per row, which made exact search 10x slower."""
        if self._typed:
            return
        row = self.conn.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'passages'::regclass "
            "AND attname = 'embedding'"
        ).fetchone()
        if row is not None and int(row[0]) != dimension:
            self.conn.execute("DROP INDEX IF EXISTS passages_hnsw")
            self.conn.execute(
                f"ALTER TABLE passages ALTER COLUMN embedding TYPE vector({int(dimension)})"
            )
        self._typed = True

    def _copy_passages(
        self, article: Article, passages: list[Passage], vectors: np.ndarray, ids: list[int]
    ) -> None:
        with (
            self.conn.cursor() as cur,
            cur.copy(
                'COPY passages (id, article_id, ordinal, start, "end", text, embedding) FROM STDIN'
            ) as copy,
        ):
            for pid, passage, vector in zip(ids, passages, vectors, strict=True):
                assert article.text[passage.start : passage.end] == passage.text
                copy.write_row(
                    (
                        pid, article.id, passage.ordinal, passage.start, passage.end,
                        passage.text, _vector_text(vector),
                    )
                )  # fmt: skip
        with (
            self.conn.cursor() as cur,
            cur.copy(
                "COPY passage_terms (term, passage_id, tf_body, tf_title, length) FROM STDIN"
            ) as copy,
        ):
            for pid, passage in zip(ids, passages, strict=True):
                freqs, length = postings(passage.text, article.title)
                for term, (tf_body, tf_title) in freqs.items():
                    copy.write_row((term, pid, tf_body, tf_title, length))

    def _copy_sentences(self, ids: list[int], sentences: Sequence[Sentences]) -> None:
        ordinal = 0
        with (
            self.conn.cursor() as cur,
            cur.copy(
                'COPY sentences (passage_id, start, "end", ordinal, vector) FROM STDIN'
            ) as copy,
        ):
            for pid, (spans, vectors) in zip(ids, sentences, strict=True):
                for i, ((a, b), v) in enumerate(zip(spans, vectors, strict=True)):
                    copy.write_row((pid, a, b, ordinal + i, v.astype("float16").tobytes()))
                ordinal += len(spans)

    def write_web(self, changes: WebChanges) -> None:
        conn = self.conn
        conn.execute("DELETE FROM web_sources")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO web_sources (url, kind, feeds) VALUES (%s, %s, %s)",
                [(s.url, s.kind, json.dumps(list(s.feeds))) for s in changes.sources],
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

    def publish(self, manifest: dict[str, Any], ann_threshold: int | None) -> dict[str, Any]:
        """Fold the new passages into the term statistics, build HNSW when the index has
        grown past ``ann_threshold`` (None: DEFAULT_ANN_THRESHOLD), write the manifest and
        commit: readers see it all."""
        conn = self.conn
        if self._added:
            conn.execute(
                "INSERT INTO term_stats (term, df) SELECT term, count(*) FROM passage_terms "
                "WHERE passage_id = ANY(%s) GROUP BY term "
                "ON CONFLICT (term) DO UPDATE SET df = term_stats.df + EXCLUDED.df",
                (self._added,),
            )
        conn.execute("DELETE FROM term_stats WHERE df <= 0")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages), "
            "(SELECT coalesce(avg(length), 0) FROM (SELECT DISTINCT ON (passage_id) length "
            "FROM passage_terms) l)"
        ).fetchone()
        assert counts is not None
        index_type = self._vector_index(
            int(manifest["dimension"]), int(counts[1]), ann_threshold or DEFAULT_ANN_THRESHOLD
        )
        manifest = {
            **manifest,
            "schema_version": SCHEMA_VERSION,
            "generation": self.generation,
            "articles": int(counts[0]),
            "passages": int(counts[1]),
            "avg_length": float(counts[2]),
            "index_type": index_type,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        conn.execute("DELETE FROM manifest")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO manifest (key, value) VALUES (%s, %s::jsonb)",
                [(k, json.dumps(v)) for k, v in manifest.items()],
            )
        # Fresh statistics after a bulk load: stale ones made the planner misjudge the
        # lexical join (41,360 rows estimated for 8,311) and one run's lexical p50 4x slower.
        conn.execute("ANALYZE passages, passage_terms, term_stats, articles")
        conn.commit()
        conn.close()
        return manifest

    def _vector_index(self, dimension: int, passages: int, ann_threshold: int) -> str:
        """HNSW past the threshold (built once, after the bulk load, then kept up to date
        by PostgreSQL); an exact scan below it."""
        exists = self.conn.execute("SELECT to_regclass('passages_hnsw') IS NOT NULL").fetchone()
        if passages <= ann_threshold:
            if exists and exists[0]:
                self.conn.execute("DROP INDEX passages_hnsw")
            return "flat"
        if not (exists and exists[0]):
            self._type_vectors(dimension)
            current = self.conn.execute(
                "SELECT pg_size_bytes(current_setting('maintenance_work_mem'))"
            ).fetchone()
            if (memory := hnsw_build_memory(int(current[0]) if current else 0)) is not None:
                self.conn.execute(f"SET LOCAL maintenance_work_mem = '{memory}'")
            self.conn.execute(
                "CREATE INDEX passages_hnsw ON passages USING hnsw (embedding vector_ip_ops) "
                f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
            )
        return "hnsw"

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.rollback()
        with contextlib.suppress(Exception):
            self.conn.close()
