"""``PostgresWriter``: an index run as one transaction, under the store's advisory lock."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...types import FileRecord, WebChanges
from ..base import SCHEMA_VERSION, check_passage_span
from . import vectors as pg_vectors
from . import web as web_sql
from .lexical import postings
from .migrations import migrate

if TYPE_CHECKING:
    import numpy as np

    from ...types import Article, Passage, Sentences
    from .pool import Connections


class PostgresWriter:
    """One transaction: everything ``publish`` commits, nothing if the run dies."""

    def __init__(self, store: Connections, *, fresh: bool) -> None:
        self.store = store
        self.conn = store.connect()
        self.conn.autocommit = False
        migrate(self.conn)
        if fresh:
            self.conn.execute(
                "TRUNCATE articles, article_scopes, passages, passage_terms, sentences, files, "
                "roots, term_stats, web_sources, web_scopes, web_fetches, web_listed"
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
        """Type ``embedding`` once per run (``vectors.type_vectors``)."""
        if self._typed:
            return
        pg_vectors.type_vectors(self.conn, dimension)
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
                check_passage_span(article, passage)
                copy.write_row(
                    (
                        pid, article.id, passage.ordinal, passage.start, passage.end,
                        passage.text, pg_vectors.vector_text(vector),
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
        web_sql.write(self.conn, changes)

    def publish(self, manifest: dict[str, Any], ann_threshold: int | None) -> dict[str, Any]:
        """Fold the new passages into the term statistics, build HNSW when the index has
        grown past ``ann_threshold`` (None: the store's default), write the manifest and
        commit: readers see it all."""
        counts = self._update_statistics()
        web_sql.update_article_scopes(self.conn)
        threshold = ann_threshold or pg_vectors.DEFAULT_ANN_THRESHOLD
        index_type = self._vector_index(int(manifest["dimension"]), int(counts[1]), threshold)
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
        self.conn.execute("DELETE FROM manifest")
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO manifest (key, value) VALUES (%s, %s::jsonb)",
                [(k, json.dumps(v)) for k, v in manifest.items()],
            )
        # Fresh statistics after a bulk load: stale ones made the planner misjudge the
        # lexical join (see benchmarks/README.md).
        self.conn.execute("ANALYZE passages, passage_terms, term_stats, articles, article_scopes")
        self.conn.commit()
        self.conn.close()
        return manifest

    def _update_statistics(self) -> tuple[Any, ...]:
        """Document frequencies with the passages added; then the counts of articles and
        passages and the passages' average length."""
        if self._added:
            self.conn.execute(
                "INSERT INTO term_stats (term, df) SELECT term, count(*) FROM passage_terms "
                "WHERE passage_id = ANY(%s) GROUP BY term "
                "ON CONFLICT (term) DO UPDATE SET df = term_stats.df + EXCLUDED.df",
                (self._added,),
            )
        self.conn.execute("DELETE FROM term_stats WHERE df <= 0")
        counts = self.conn.execute(
            "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM passages), "
            "(SELECT coalesce(avg(length), 0) FROM (SELECT DISTINCT ON (passage_id) length "
            "FROM passage_terms) l)"
        ).fetchone()
        if counts is None:  # pragma: no cover - a SELECT of scalars always returns a row
            raise RuntimeError("PostgreSQL returned no counts")
        return tuple(counts)

    def _vector_index(self, dimension: int, passages: int, ann_threshold: int) -> str:
        """HNSW past the threshold (built once, after the bulk load, then kept up to date
        by PostgreSQL); an exact scan below it."""
        exists = pg_vectors.has_hnsw(self.conn)
        if passages <= ann_threshold:
            if exists:
                self.conn.execute("DROP INDEX passages_hnsw")
            return "flat"
        if not exists:
            self._type_vectors(dimension)
            pg_vectors.build_hnsw(self.conn)
        return "hnsw"

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.rollback()
        with contextlib.suppress(Exception):
            self.conn.close()
