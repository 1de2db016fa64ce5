"""Move an index from the local store into another (PostgreSQL) without re-embedding.

``copy_index`` reads a published local generation (SQLite) and writes it through the
target's ``IndexWriter`` only, so the target stores it exactly as `articlebot index`
would have: one transaction, published at the end, readers see the old state or the
copy. Everything the next incremental run needs travels with it: roots, file records
(size, mtime, sha256), the articles' origins and the web sources' state, so a re-index
of the target after the copy embeds nothing.

Passage vectors are read from ``passages.vector`` (float32), the bytes the FAISS index
was built from (local.py rebuilds HNSW from them); sentence vectors (float16) are
passed on unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import IndexMismatchError
from ..progress import NoProgress, Progress
from ..types import Article, Passage, WebChanges
from .base import SCHEMA_VERSION, Store
from .local import LocalStore, LocalView

if TYPE_CHECKING:
    import sqlite3

    import numpy as np

    from ..types import Sentences
    from .base import IndexWriter

    #: An article, its origin (file or page), passages, their vectors and sentences.
    ArticleRows = tuple[Article, str | None, list[Passage], np.ndarray, list[Sentences]]

#: Manifest keys the target's writer computes itself at publish (counts, generation...).
COMPUTED_KEYS = frozenset(
    {"schema_version", "generation", "articles", "passages", "index_type", "built_at"}
)

_ARTICLE_COLUMNS = "id, key, file, path, url, title, date, author, source, caption, text"


def copy_index(
    source: LocalStore | LocalView,
    target: Store,
    ann_threshold: int | None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Copy everything ``source`` holds into ``target`` (replacing what it held), in the
    target writer's one transaction. The caller holds ``target.writer_lock()``. Returns
    a summary: articles, passages, sentences, files, seconds, generation."""
    view = source.open_view() if isinstance(source, LocalStore) else source
    try:
        return _copy_view(view, target, ann_threshold, progress or NoProgress())
    finally:
        if view is not source:
            view.close()


def _copy_view(
    view: LocalView, target: Store, ann_threshold: int | None, progress: Progress
) -> dict[str, Any]:
    manifest = copied_manifest(view.manifest)
    started = time.perf_counter()
    writer = target.open_writer(fresh=True)
    try:
        counts = _write_all(view, writer, int(manifest["dimension"]), progress)
        published = writer.publish(manifest, ann_threshold)
    except BaseException:
        writer.abort()
        raise
    return {
        **counts,
        "articles": int(published["articles"]),
        "passages": int(published["passages"]),
        "index_type": published.get("index_type"),
        "generation": int(published["generation"]),
        "seconds": time.perf_counter() - started,
    }


def copied_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the copy publishes: the source's manifest (model, backend, dimension,
    chunk_tokens, token_limit...) without what the target counts itself."""
    if manifest.get("schema_version") != SCHEMA_VERSION:
        # Copying would label an older layout as the current one: rebuild it first.
        raise IndexMismatchError(
            f"The local index has schema version {manifest.get('schema_version')}, this "
            f"articlebot copies version {SCHEMA_VERSION}. Run `articlebot index --rebuild` "
            "on it first."
        )
    return {k: v for k, v in manifest.items() if k not in COMPUTED_KEYS}


def _write_all(
    view: LocalView, writer: IndexWriter, dimension: int, progress: Progress
) -> dict[str, int]:
    """Roots, files, articles with their passages and sentences, then the web state."""
    files = view.files()
    writer.set_roots(view.roots())
    for record in files.values():
        writer.put_file(record)
    conn = view.conn()
    total = int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
    progress.start("copying", total)
    sentences = 0
    for article, origin, passages, vectors, spans in _articles(conn, dimension):
        writer.add_article(article, origin, passages, vectors, spans)
        sentences += sum(len(s[0]) for s in spans)
        progress.advance()
    state = view.web_state()
    writer.write_web(
        WebChanges(list(state.sources.values()), state.listed, list(state.fetches.values()), [])
    )
    return {"files": len(files), "sentences": sentences, "web_sources": len(state.sources)}


def _articles(conn: sqlite3.Connection, dimension: int) -> Iterator[ArticleRows]:
    """Each article with its passages (in order), their vectors and their sentences:
    one article in memory at a time, whatever the size of the index. In the order they
    were written (rowid), so the target numbers passages in the source's order and breaks
    ties between equal scores as an index built there directly would."""
    rows = conn.execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY rowid")
    for stored_id, key, origin, path, url, title, date, author, source, caption, text in rows:
        article = Article(key, title, text, path, url, date, author, source, caption)
        if article.id != stored_id:
            raise IndexMismatchError(
                f"The local index stores article {key!r} under id {stored_id}, not "
                f"{article.id}: it was written by another articlebot. Rebuild it first."
            )
        passages, vectors, ids = _passages(conn, article, dimension)
        sentences = _sentences(conn, ids)
        yield article, origin, passages, vectors, [sentences[i] for i in ids]


def _passages(
    conn: sqlite3.Connection, article: Article, dimension: int
) -> tuple[list[Passage], np.ndarray, list[int]]:
    import numpy as np

    rows = conn.execute(
        'SELECT id, ordinal, start, "end", text, vector FROM passages WHERE article_id = ? '
        "ORDER BY ordinal, id",
        (article.id,),
    ).fetchall()
    passages = [Passage(article.id, r[2], r[3], r[4], r[1]) for r in rows]
    blob = b"".join(r[5] for r in rows)
    vectors = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), dimension)
    return passages, vectors, [int(r[0]) for r in rows]


def _sentences(conn: sqlite3.Connection, passage_ids: list[int]) -> dict[int, Sentences]:
    """Per passage: its sentence spans and their float16 vectors, in their order (the
    writer numbers them again across the article, as the indexer did)."""
    spans: dict[int, list[tuple[int, int]]] = {pid: [] for pid in passage_ids}
    blobs: dict[int, list[bytes]] = {pid: [] for pid in passage_ids}
    if passage_ids:
        marks = ",".join("?" * len(passage_ids))
        for pid, start, end, blob in conn.execute(
            f'SELECT passage_id, start, "end", vector FROM sentences '
            f"WHERE passage_id IN ({marks}) ORDER BY ordinal",
            passage_ids,
        ):
            spans[pid].append((int(start), int(end)))
            blobs[pid].append(blob)
    return {pid: (spans[pid], _float16_rows(blobs[pid])) for pid in passage_ids}


def _float16_rows(blobs: list[bytes]) -> np.ndarray:
    import numpy as np

    if not blobs:
        return np.zeros((0, 0), dtype=np.float16)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(blobs), -1)
