"""On-disk index: generations of (SQLite + FAISS), published by an atomic pointer swap.

Layout of ``index_dir``::

    CURRENT              name of the live generation ("gen-000007"), replaced atomically
    gen-000007/          index.sqlite (articles, passages, FTS5, manifest) + vectors.faiss
    gen-000008.tmp-PID/  a run in progress; never read, removed by the next writer
    lock                 flock held by the one writer

A writer copies the live generation, changes the copy, fsyncs it, renames the
folder into place and only then swaps ``CURRENT``. A run killed at any moment
leaves the live generation untouched; readers never see half-written files.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    ConfigError,
    IndexBusyError,
    IndexDamagedError,
    IndexMissingError,
)
from ..fs import atomic_write, fsync_path
from ..types import (
    Article,
    FileRecord,
    Filters,
    Passage,
    PassageRow,
    StoredSentence,
    WebChanges,
    WebState,
)
from . import local_web as web_sql
from .base import SCHEMA_VERSION

if TYPE_CHECKING:
    import numpy as np

    from ..types import Sentences

DB_NAME = "index.sqlite"
FAISS_NAME = "vectors.faiss"
HNSW_EF_SEARCH = 128
#: HNSW past this many passages when ARTICLEBOT_ANN_THRESHOLD is unset: FAISS's exact
#: scan is fast in memory (benchmarks/latency.py), and HNSW costs build time and recall.
DEFAULT_ANN_THRESHOLD = 200_000
KEEP_GENERATIONS = 2  # the live one and the one before, for readers still opening it

_SCHEMA = """
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


def index_exists(index_dir: Path) -> bool:
    return (index_dir / "CURRENT").is_file()


REPAIR = "Run `articlebot index --repair` to rebuild it from its sources."
CHECKSUMS_NAME = "CHECKSUMS"  # sizes and sha256 of the generation's files, as published
_GENERATION_NAME = re.compile(r"gen-\d{6}")


def current_generation_dir(index_dir: Path) -> Path:
    pointer = index_dir / "CURRENT"
    try:
        name = pointer.read_bytes().decode("ascii").strip()
    except FileNotFoundError:
        raise IndexMissingError(
            f"No index in {index_dir}. Run `articlebot index` to build one "
            "(or point ARTICLEBOT_INDEX_DIR / --index-dir at an existing one)."
        ) from None
    except (UnicodeDecodeError, OSError):
        name = ""
    if not _GENERATION_NAME.fullmatch(name):
        raise IndexDamagedError(f"The index pointer {pointer} is damaged. {REPAIR}")
    return index_dir / name


def connect_readonly(db_path: Path) -> sqlite3.Connection:
    # Published generations never change, so "immutable" skips all locking.
    conn = sqlite3.connect(f"file:{db_path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def read_manifest(conn: sqlite3.Connection) -> dict[str, Any]:
    return {row[0]: json.loads(row[1]) for row in conn.execute("SELECT key, value FROM manifest")}


class Snapshot:
    """One published generation, opened read-only: SQLite now, FAISS on first use."""

    def __init__(self, gen_dir: Path) -> None:
        self.dir = gen_dir
        check_sizes(gen_dir)
        self.conn = connect_readonly(gen_dir / DB_NAME)
        try:
            self.manifest = read_manifest(self.conn)
        except (sqlite3.DatabaseError, ValueError) as exc:
            self.conn.close()
            raise IndexDamagedError(
                f"The index database in {gen_dir} is damaged ({exc}). {REPAIR}"
            ) from None
        self._vectors: Any = None

    @classmethod
    def open(cls, index_dir: Path) -> Snapshot:
        for attempt in range(3):  # a writer may retire the generation we just read of
            gen_dir = current_generation_dir(index_dir)
            try:
                if not (gen_dir / DB_NAME).is_file():
                    raise FileNotFoundError(gen_dir / DB_NAME)
                return cls(gen_dir)
            except (FileNotFoundError, sqlite3.OperationalError, IndexDamagedError) as exc:
                if attempt < 2:
                    time.sleep(0.05)
                    continue
                if isinstance(exc, IndexDamagedError):
                    raise
                raise IndexMissingError(
                    f"The index in {index_dir} is incomplete (missing {gen_dir.name}). {REPAIR}"
                ) from None
        raise AssertionError("unreachable")

    @property
    def generation(self) -> int:
        return int(self.manifest.get("generation", 0))

    @property
    def vectors(self) -> Any:
        if self._vectors is None:
            import faiss

            try:
                index: Any = faiss.read_index(str(self.dir / FAISS_NAME))
            except RuntimeError as exc:
                reason = str(exc).strip().splitlines()[-1][:200]
                raise IndexDamagedError(
                    f"The vector file of {self.dir} is damaged ({reason}). {REPAIR}"
                ) from None
            inner = faiss.downcast_index(index.index)
            if isinstance(inner, faiss.IndexHNSW):
                # faiss's default (16) trades too much recall for speed at 1M passages.
                inner.hnsw.efSearch = HNSW_EF_SEARCH
            self._vectors = index
        return self._vectors

    def verify(self) -> None:
        """The thorough check, on demand (``stats --check``): checksums of every file and
        SQLite's ``PRAGMA quick_check``."""
        check_sizes(self.dir, checksums=True)
        result = self.conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise IndexDamagedError(
                f"The index database in {self.dir} fails its check ({result}). {REPAIR}"
            )
        _ = self.vectors

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir / "lock", "a+")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise ConfigError(
            f"Cannot write to the index folder {index_dir} ({exc.strerror or exc}); make it "
            "writable, or point ARTICLEBOT_INDEX_DIR at a folder that is."
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(
                f"Another `articlebot index` is writing {index_dir}; wait for it to finish."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class GenerationWriter:
    """A copy of the live generation being changed; ``publish()`` makes it live."""

    def __init__(self, index_dir: Path, *, fresh: bool = False) -> None:
        self.index_dir = index_dir
        remove_abandoned(index_dir)
        base = None if fresh or not index_exists(index_dir) else current_generation_dir(index_dir)
        self.generation = _next_generation_number(index_dir)
        self.final_dir = index_dir / f"gen-{self.generation:06d}"
        self.work_dir = index_dir / f"{self.final_dir.name}.tmp-{os.getpid()}"
        self.work_dir.mkdir(parents=True)
        self.conn = sqlite3.connect(self.work_dir / DB_NAME)
        self.conn.row_factory = sqlite3.Row
        if base is None:
            self.conn.executescript(_SCHEMA)
            self.vectors: Any = None
        else:
            with sqlite3.connect(f"file:{base / DB_NAME}?mode=ro", uri=True) as src:
                src.backup(self.conn)
            import faiss

            self.vectors = faiss.read_index(str(base / FAISS_NAME))
        # The copy is private until published: durability comes from fsync at the end.
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self._removed: list[int] = []
        self._added: list[tuple[list[int], np.ndarray]] = []

    # --- reads against the copy --------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return read_manifest(self.conn)

    # --- changes -------------------------------------------------------------------------
    def set_roots(self, roots: Iterable[str]) -> None:
        self.conn.execute("DELETE FROM roots")
        self.conn.executemany("INSERT INTO roots (path) VALUES (?)", [(r,) for r in roots])

    def put_file(self, record: FileRecord) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256) VALUES (?,?,?,?)",
            (record.path, record.size, record.mtime_ns, record.sha256),
        )

    def delete_file(self, path: str) -> None:
        self.conn.execute("DELETE FROM files WHERE path = ?", (path,))

    def articles_of(self, origin: str) -> dict[str, str]:
        rows = self.conn.execute("SELECT id, content_hash FROM articles WHERE file = ?", (origin,))
        return {r[0]: r[1] for r in rows}

    def has_article(self, article_id: str) -> bool:
        found = self.conn.execute("SELECT 1 FROM articles WHERE id = ?", (article_id,))
        return found.fetchone() is not None

    def write_web(self, changes: WebChanges) -> None:
        web_sql.write(self.conn, changes)

    def delete_article(self, article_id: str) -> dict[str, bytes]:
        """Remove an article, its passages and sentences; returns their vectors (float32
        bytes) by text for reuse."""
        import numpy as np

        text = self.conn.execute("SELECT text FROM articles WHERE id = ?", (article_id,))
        article_text = (text.fetchone() or [""])[0]
        rows = self.conn.execute(
            "SELECT id, text, vector FROM passages WHERE article_id = ?", (article_id,)
        ).fetchall()
        ids = [r[0] for r in rows]
        reusable = {
            article_text[r[0] : r[1]]: np.frombuffer(r[2], dtype=np.float16)
            .astype("float32")
            .tobytes()
            for r in self.conn.execute(
                'SELECT s.start, s."end", s.vector FROM sentences s JOIN passages p '
                "ON p.id = s.passage_id WHERE p.article_id = ?",
                (article_id,),
            )
        }
        self.conn.execute(
            "DELETE FROM sentences WHERE passage_id IN "
            "(SELECT id FROM passages WHERE article_id = ?)",
            (article_id,),
        )
        self.conn.executemany("DELETE FROM passages_fts WHERE rowid = ?", [(i,) for i in ids])
        self.conn.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
        self.conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        self._removed.extend(ids)
        reusable.update({r[1]: r[2] for r in rows})
        return reusable

    def add_article(
        self,
        article: Article,
        file: str | None,
        passages: list[Passage],
        vectors: np.ndarray,
        sentences: Sequence[Sentences] = (),
    ) -> None:
        """Store ``article`` with its passages and their vectors; ``sentences`` holds, per
        passage, its quotable sentence spans and their vectors."""
        self.conn.execute(
            "INSERT INTO articles (id, key, file, path, url, title, date, author, source, "
            "caption, content_hash, text) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                article.id,
                article.key,
                file,
                article.path,
                article.url,
                article.title,
                article.date,
                article.author,
                article.source,
                article.caption,
                article.content_hash,
                article.text,
            ),
        )
        ids: list[int] = []
        ordinal = 0
        for n, (passage, vector) in enumerate(zip(passages, vectors, strict=True)):
            assert article.text[passage.start : passage.end] == passage.text
            cur = self.conn.execute(
                'INSERT INTO passages (article_id, ordinal, start, "end", text, vector) '
                "VALUES (?,?,?,?,?,?)",
                (
                    article.id,
                    passage.ordinal,
                    passage.start,
                    passage.end,
                    passage.text,
                    vector.astype("float32").tobytes(),
                ),
            )
            assert cur.lastrowid is not None
            ids.append(cur.lastrowid)
            self.conn.execute(
                "INSERT INTO passages_fts (rowid, text, title) VALUES (?,?,?)",
                (cur.lastrowid, passage.text, article.title),
            )
            if sentences:
                spans, sentence_vectors = sentences[n]
                self.conn.executemany(
                    'INSERT INTO sentences (passage_id, start, "end", ordinal, vector) '
                    "VALUES (?,?,?,?,?)",
                    [
                        (cur.lastrowid, a, b, ordinal + i, v.astype("float16").tobytes())
                        for i, ((a, b), v) in enumerate(zip(spans, sentence_vectors, strict=True))
                    ],
                )
                ordinal += len(spans)
        if ids:
            self._added.append((ids, vectors))

    # --- publish -------------------------------------------------------------------------
    def publish(self, manifest: dict[str, Any], ann_threshold: int | None) -> dict[str, Any]:
        """Write everything, fsync, rename into place, then swap ``CURRENT``."""
        dimension = int(manifest["dimension"])
        vectors = self._updated_vectors(dimension, ann_threshold or DEFAULT_ANN_THRESHOLD)
        counts = self.conn.execute(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages)"
        ).fetchone()
        manifest = {
            **manifest,
            "schema_version": SCHEMA_VERSION,
            "generation": self.generation,
            "articles": counts[0],
            "passages": counts[1],
            "index_type": _index_type(vectors),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.conn.execute("DELETE FROM manifest")
        self.conn.executemany(
            "INSERT INTO manifest (key, value) VALUES (?, ?)",
            [(k, json.dumps(v)) for k, v in manifest.items()],
        )
        self.conn.commit()
        self.conn.execute("PRAGMA optimize")
        self.conn.close()
        import faiss

        faiss.write_index(vectors, str(self.work_dir / FAISS_NAME))
        write_checksums(self.work_dir)
        for name in (DB_NAME, FAISS_NAME, CHECKSUMS_NAME):
            fsync_path(self.work_dir / name)
        os.rename(self.work_dir, self.final_dir)
        fsync_path(self.index_dir)
        atomic_write(self.index_dir / "CURRENT", self.final_dir.name + "\n")
        _remove_old_generations(self.index_dir, keep=self.final_dir.name)
        return manifest

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def _updated_vectors(self, dimension: int, ann_threshold: int) -> Any:
        import numpy as np

        total = self.conn.execute("SELECT count(*) FROM passages").fetchone()[0]
        want_ann = total > ann_threshold
        exact = self.vectors is not None and _index_type(self.vectors) == "flat"
        if self.vectors is not None and self.vectors.d != dimension:
            exact = False
        if exact and not want_ann:
            index = self.vectors
            if self._removed:
                index.remove_ids(np.asarray(self._removed, dtype=np.int64))
            for ids, vecs in self._added:
                index.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))
            return index
        # HNSW cannot delete; rebuild from the vectors kept in SQLite.
        return build_vector_index(self._all_vectors(dimension), dimension, want_ann)

    def _all_vectors(self, dimension: int) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        rows = self.conn.execute("SELECT id, vector FROM passages ORDER BY id").fetchall()
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, vecs.reshape(len(rows), dimension)


def build_vector_index(data: tuple[np.ndarray, np.ndarray], dimension: int, ann: bool) -> Any:
    """Exact inner product (vectors are normalised, so cosine); HNSW when ``ann``."""
    import faiss

    inner: Any
    if ann:
        inner = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = 80
    else:
        inner = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIDMap2(inner)
    ids, vecs = data
    if len(ids):
        index.add_with_ids(vecs, ids)
    return index


def write_checksums(gen_dir: Path) -> None:
    sums = {name: _file_sum(gen_dir / name) for name in (DB_NAME, FAISS_NAME)}
    (gen_dir / CHECKSUMS_NAME).write_text(json.dumps(sums, indent=1))


def _file_sum(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return {"size": path.stat().st_size, "sha256": digest}


def check_sizes(gen_dir: Path, *, checksums: bool = False) -> None:
    """Cheap on every open: each file has the size it was published with (a truncated or
    replaced file is caught before SQLite or FAISS trip over it). ``checksums`` also
    compares the sha256 of every file."""
    path = gen_dir / CHECKSUMS_NAME
    if not path.exists():
        return  # a generation published before checksums were kept
    try:
        expected = json.loads(path.read_text())
    except (OSError, ValueError):
        raise IndexDamagedError(f"{path} is damaged. {REPAIR}") from None
    for name, want in expected.items():
        try:
            size = (gen_dir / name).stat().st_size
        except OSError:
            raise IndexDamagedError(f"{gen_dir / name} is missing. {REPAIR}") from None
        bad = size != want.get("size") or (
            checksums and _file_sum(gen_dir / name)["sha256"] != want.get("sha256")
        )
        if bad:
            raise IndexDamagedError(f"{gen_dir / name} is damaged (not as published). {REPAIR}")


def _index_type(index: Any) -> str:
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    return "hnsw" if isinstance(inner, faiss.IndexHNSW) else "flat"


def _generation_number(gen_dir: Path) -> int:
    return int(gen_dir.name.split("-")[1].split(".")[0])


def _next_generation_number(index_dir: Path) -> int:
    numbers = [_generation_number(p) for p in index_dir.glob("gen-*")]
    return max(numbers, default=0) + 1


def remove_abandoned(index_dir: Path) -> None:
    """Folders of runs that were killed before publishing; safe under the writer lock."""
    for path in index_dir.glob("gen-*.tmp-*"):
        shutil.rmtree(path, ignore_errors=True)


def _remove_old_generations(index_dir: Path, keep: str) -> None:
    published = sorted(p for p in index_dir.glob("gen-*") if ".tmp-" not in p.name)
    for path in published[:-KEEP_GENERATIONS]:
        if path.name != keep:
            shutil.rmtree(path, ignore_errors=True)


# --- the Store interface ----------------------------------------------------------------
class LocalView:
    """A published generation for reading: SQLite (one read-only connection per thread:
    sqlite3 objects are not shared across threads) and FAISS, loaded once."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.manifest = snapshot.manifest
        self._local = threading.local()
        # A filtered question asks for the same ids in its dense and its lexical search.
        self._allowed_ids = functools.lru_cache(maxsize=64)(self._matching_ids)

    def warm_up(self) -> None:
        """Load the vectors now: the first question should not wait for them."""
        _ = self.snapshot.vectors
        _single_threaded_faiss()

    @property
    def version(self) -> str:
        return self.snapshot.dir.name

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect_readonly(self.snapshot.dir / DB_NAME)
            self._local.conn = conn
        return conn

    # --- retrieval -----------------------------------------------------------------------
    def dense(self, vector: np.ndarray, k: int, filters: Filters | None) -> list[tuple[int, float]]:
        import faiss
        import numpy as np

        index = self.snapshot.vectors
        allowed = self._allowed_ids(filters)
        if index.ntotal == 0 or (allowed is not None and not allowed):
            return []
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.fromiter(allowed, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        n = min(k, index.ntotal)
        scores, ids = index.search(vector.reshape(1, -1), n, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def lexical(self, words: list[str], k: int, filters: Filters | None) -> list[tuple[int, float]]:
        """FTS5's BM25 over passage text (weight 1) and article title (0.5); words ORed."""
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        where, params = "passages_fts MATCH ?", [match]
        allowed = self._allowed_ids(filters)
        if allowed is not None:
            where += " AND rowid IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(allowed)))
        sql = (
            "SELECT rowid, -bm25(passages_fts, 1.0, 0.5) AS score FROM passages_fts "
            f"WHERE {where} ORDER BY bm25(passages_fts, 1.0, 0.5) LIMIT {int(k)}"
        )
        return [(int(r[0]), float(r[1])) for r in self.conn().execute(sql, params)]

    def document_frequency(self, word: str) -> int:
        sql = "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ?"
        return int(self.conn().execute(sql, (f'"{word}"',)).fetchone()[0])

    def _matching_ids(self, filters: Filters | None) -> frozenset[int] | None:
        """Passage ids of the articles ``filters`` allow (None: no filter)."""
        if not filters:
            return None
        clauses: list[str] = []
        params: list[Any] = []
        if filters.source:
            clauses.append(_source_clause(filters.source, params))
        if filters.date_from:
            clauses.append("a.date >= ?")
            params.append(filters.date_from)
        if filters.date_to:
            clauses.append("a.date <= ?")
            params.append(filters.date_to + "\uffff")  # inclusive of timestamps on that day
        sql = (
            "SELECT p.id FROM passages p JOIN articles a ON a.id = p.article_id WHERE "
            + " AND ".join(clauses)
        )
        return frozenset(int(r[0]) for r in self.conn().execute(sql, params))

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn().execute(
            'SELECT p.id, p.article_id, p.start, p."end", p.text, a.title, a.path, a.url, '
            "a.date, a.author, a.source FROM passages p JOIN articles a ON a.id = p.article_id "
            f"WHERE p.id IN ({marks})",
            list(ids),
        )
        return {int(r[0]): PassageRow(*r) for r in rows}

    def article_texts(self, ids: set[str]) -> dict[str, str]:
        marks = ",".join("?" * len(ids))
        sql = f"SELECT id, text FROM articles WHERE id IN ({marks})"
        return {r[0]: r[1] for r in self.conn().execute(sql, list(ids))}

    def sentences(self, passage_ids: Sequence[int]) -> dict[int, list[StoredSentence]]:
        import numpy as np

        if not passage_ids:
            return {}
        marks = ",".join("?" * len(passage_ids))
        rows = self.conn().execute(
            f'SELECT passage_id, start, "end", ordinal, vector FROM sentences '
            f"WHERE passage_id IN ({marks}) ORDER BY passage_id, ordinal",
            list(passage_ids),
        )
        out: dict[int, list[StoredSentence]] = {}
        for pid, start, end, ordinal, blob in rows:
            vector = np.frombuffer(blob, dtype=np.float16)
            out.setdefault(pid, []).append(StoredSentence(pid, start, end, ordinal, vector))
        return out

    # --- what it holds --------------------------------------------------------------------
    def roots(self) -> list[str]:
        return [r[0] for r in self.conn().execute("SELECT path FROM roots ORDER BY path")]

    def files(self) -> dict[str, FileRecord]:
        rows = self.conn().execute("SELECT path, size, mtime_ns, sha256 FROM files")
        return {r[0]: FileRecord(r[0], r[1], r[2], r[3]) for r in rows}

    def web_state(self) -> WebState:
        return web_sql.read_state(self.conn())

    def web_article_counts(self) -> dict[str, int]:
        return web_sql.article_counts(self.conn())

    def articles_page(self, offset: int, limit: int) -> tuple[int, list[tuple[str, str | None]]]:
        conn = self.conn()
        total = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        rows = conn.execute(
            "SELECT title, date FROM articles ORDER BY title LIMIT ? OFFSET ?", (limit, offset)
        )
        return int(total), [(r[0], r[1]) for r in rows]

    def matching_articles(self, text: str, limit: int) -> list[tuple[str, str]]:
        like = f"%{text}%"
        rows = self.conn().execute(
            "SELECT DISTINCT title, coalesce(path, url, '') FROM articles "
            "WHERE title LIKE ? OR path LIKE ? OR source LIKE ? ORDER BY title LIMIT ?",
            (like, like, like, limit),
        )
        return [(r[0], r[1]) for r in rows]

    def size_on_disk(self) -> int:
        return self.snapshot.size_on_disk()

    def verify(self) -> None:
        self.snapshot.verify()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self.snapshot.close()


def _single_threaded_faiss() -> None:
    """One query at a time gains nothing from OpenMP threads, and faiss's OpenMP runtime
    fights torch's for the cores (measured: p95 latency 3x worse with both at default)."""
    import faiss

    faiss.omp_set_num_threads(1)


def _source_clause(pattern: str, params: list[Any]) -> str:
    if any(c in pattern for c in "*?["):
        params.extend([pattern] * 3 + [pattern.lower()])
        return "(a.path GLOB ? OR a.url GLOB ? OR a.source GLOB ? OR lower(a.source) GLOB ?)"
    absolute = str(Path(pattern).expanduser().resolve()) if pattern[0] in "/~." else pattern
    relative = "*/" + pattern.strip("/") + ("/*" if pattern.endswith("/") else "*")
    params.extend([absolute, absolute, relative, pattern, pattern, pattern.lower()])
    return (
        "(substr(a.path, 1, length(?)) = ? OR a.path GLOB ? "
        "OR substr(a.url, 1, length(?)) = ? OR lower(a.source) = ?)"
    )


class LocalStore:
    """SQLite + FAISS generations in ``index_dir`` (the default store)."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir

    def exists(self) -> bool:
        return index_exists(self.index_dir)

    def version(self) -> str:
        return current_generation_dir(self.index_dir).name

    def open_view(self) -> LocalView:
        snapshot = Snapshot.open(self.index_dir)
        try:
            return LocalView(snapshot)
        except BaseException:
            snapshot.close()
            raise

    def writer_lock(self) -> contextlib.AbstractContextManager[None]:
        return writer_lock(self.index_dir)

    def open_writer(self, *, fresh: bool) -> GenerationWriter:
        return GenerationWriter(self.index_dir, fresh=fresh)

    def remembered_sources(self) -> tuple[list[str], list[str]]:
        """Read straight from the database: a rebuild or repair must not depend on the
        rest of the index (the vectors) being sound."""
        if not index_exists(self.index_dir):
            return [], []
        try:
            conn = connect_readonly(current_generation_dir(self.index_dir) / DB_NAME)
        except Exception:
            return [], []
        try:
            roots = [r[0] for r in conn.execute("SELECT path FROM roots ORDER BY path")]
            return roots, web_sql.source_urls(conn)
        except sqlite3.Error:
            return [], []
        finally:
            conn.close()

    def cleanup(self) -> None:
        remove_abandoned(self.index_dir)
