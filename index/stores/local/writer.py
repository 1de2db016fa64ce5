"""``LocalWriter``: a private copy of the live generation, changed and then published."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...types import Article, FileRecord, Passage, WebChanges
from ..base import SCHEMA_VERSION, check_passage_span
from . import dense
from . import web as web_sql
from .generations import (
    DB_NAME,
    current_generation_dir,
    index_exists,
    make_live,
    next_generation_number,
    remove_abandoned,
)
from .schema import SCHEMA, read_manifest, write_manifest

if TYPE_CHECKING:
    import numpy as np

    from ...types import Sentences


class LocalWriter:
    """A copy of the live generation being changed; ``publish()`` makes it live."""

    def __init__(self, index_dir: Path, *, fresh: bool = False) -> None:
        self.index_dir = index_dir
        remove_abandoned(index_dir)
        base = None if fresh or not index_exists(index_dir) else current_generation_dir(index_dir)
        self.generation = next_generation_number(index_dir)
        self.final_dir = index_dir / f"gen-{self.generation:06d}"
        self.work_dir = index_dir / f"{self.final_dir.name}.tmp-{os.getpid()}"
        self.work_dir.mkdir(parents=True)
        self.conn = sqlite3.connect(self.work_dir / DB_NAME)
        self.conn.row_factory = sqlite3.Row
        if base is None:
            self.conn.executescript(SCHEMA)
            self.vectors: Any = None
        else:
            with sqlite3.connect(f"file:{base / DB_NAME}?mode=ro", uri=True) as src:
                src.backup(self.conn)
            self.vectors = dense.read_unchecked(base)
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
                article.id, article.key, file, article.path, article.url, article.title,
                article.date, article.author, article.source, article.caption,
                article.content_hash, article.text,
            ),
        )  # fmt: skip
        ids: list[int] = []
        ordinal = 0
        for n, (passage, vector) in enumerate(zip(passages, vectors, strict=True)):
            check_passage_span(article, passage)
            pid = self._insert_passage(article, passage, vector)
            ids.append(pid)
            if sentences:
                ordinal = self._insert_sentences(pid, sentences[n], ordinal)
        if ids:
            self._added.append((ids, vectors))

    def _insert_passage(self, article: Article, passage: Passage, vector: np.ndarray) -> int:
        """The passage row and its full-text entry; its id."""
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
        pid = cur.lastrowid
        if pid is None:  # pragma: no cover - sqlite3 always sets it after an INSERT
            raise RuntimeError("SQLite returned no id for the new passage")
        self.conn.execute(
            "INSERT INTO passages_fts (rowid, text, title) VALUES (?,?,?)",
            (pid, passage.text, article.title),
        )
        return pid

    def _insert_sentences(self, pid: int, sentences: Sentences, ordinal: int) -> int:
        """A passage's sentences, numbered from ``ordinal`` across the article; the next."""
        spans, sentence_vectors = sentences
        self.conn.executemany(
            'INSERT INTO sentences (passage_id, start, "end", ordinal, vector) VALUES (?,?,?,?,?)',
            [
                (pid, a, b, ordinal + i, v.astype("float16").tobytes())
                for i, ((a, b), v) in enumerate(zip(spans, sentence_vectors, strict=True))
            ],
        )
        return ordinal + len(spans)

    # --- publish -------------------------------------------------------------------------
    def publish(self, manifest: dict[str, Any], ann_threshold: int | None) -> dict[str, Any]:
        """Write everything, fsync, rename into place, then swap ``CURRENT``."""
        dimension = int(manifest["dimension"])
        vectors = self._updated_vectors(dimension, ann_threshold or dense.DEFAULT_ANN_THRESHOLD)
        counts = self.conn.execute(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages)"
        ).fetchone()
        manifest = {
            **manifest,
            "schema_version": SCHEMA_VERSION,
            "generation": self.generation,
            "articles": counts[0],
            "passages": counts[1],
            "index_type": dense.index_type(vectors),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_manifest(self.conn, manifest)
        self.conn.commit()
        self.conn.execute("PRAGMA optimize")
        self.conn.close()
        dense.write(vectors, self.work_dir)
        make_live(self.index_dir, self.work_dir, self.final_dir)
        return manifest

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def _updated_vectors(self, dimension: int, ann_threshold: int) -> Any:
        total = self.conn.execute("SELECT count(*) FROM passages").fetchone()[0]
        return dense.updated_index(
            self.vectors,
            (self._removed, self._added),
            dimension,
            total > ann_threshold,
            lambda: self._all_vectors(dimension),
        )

    def _all_vectors(self, dimension: int) -> dense.Vectors:
        import numpy as np

        rows = self.conn.execute("SELECT id, vector FROM passages ORDER BY id").fetchall()
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return ids, vecs.reshape(len(rows), dimension)
