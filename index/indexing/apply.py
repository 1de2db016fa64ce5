"""Apply a run's changes to the store's writer: delete what is gone, queue what is new
or changed for embedding, then publish the new generation."""

from __future__ import annotations

from typing import Any

from ..embedding import Embedder, embedder_backend
from ..progress import Progress
from ..settings import Settings
from ..stores.base import IndexWriter
from ..types import Article, FileRecord, WebChanges
from .embed import embed_and_store
from .report import IndexReport
from .scan import Scan
from .web_plan import WebPlan


def apply_changes(
    writer: IndexWriter,
    embedder: Embedder,
    settings: Settings,
    roots: list[str],
    scan: Scan,
    gone: list[str],
    force: bool,
    progress: Progress,
    report: IndexReport,
    web: WebPlan,
) -> None:
    """Write the run's changes and publish them as the writer's generation. ``force``:
    re-embed every article read, changed or not (a new chunk size)."""
    writer.set_roots(roots)
    for path in gone:
        _delete_origin(writer, path, report)
        writer.delete_file(path)
    for page in web.gone:
        _delete_origin(writer, page, report)
    reusable: dict[str, bytes] = {}
    pending: list[tuple[Article, str]] = []
    for record, articles in scan.changed:
        if record.sha256.startswith("="):  # content unchanged, only the stat changed
            writer.put_file(
                FileRecord(record.path, record.size, record.mtime_ns, record.sha256[1:])
            )
            report.unchanged += len(writer.articles_of(record.path))
            continue
        _diff_articles(writer, record.path, articles, force, reusable, pending, report)
        writer.put_file(record)
    for page, article in web.changed:
        _diff_articles(writer, page, [article], force, reusable, pending, report)
    _write_web(writer, web)
    embed_and_store(writer, embedder, settings, pending, reusable, progress, report)
    manifest = _manifest(writer, embedder, settings, embedded=bool(pending))
    published = writer.publish({**writer.manifest(), **manifest}, settings.ann_threshold)
    report.generation = writer.generation
    report.passages = int(published["passages"])


def _delete_origin(writer: IndexWriter, origin: str, report: IndexReport) -> None:
    """Delete the articles of a file or web page."""
    for article_id in writer.articles_of(origin):
        writer.delete_article(article_id)
        report.removed += 1


def _diff_articles(
    writer: IndexWriter,
    origin: str,
    articles: list[Article],
    force: bool,
    reusable: dict[str, bytes],
    pending: list[tuple[Article, str]],
    report: IndexReport,
) -> None:
    """Queue the new and changed articles of a file or page for embedding; delete those
    it no longer holds. An article whose content is the same is left as it is."""
    old = writer.articles_of(origin)
    for article in articles:
        if article.id in old and old.pop(article.id) == article.content_hash and not force:
            report.unchanged += 1
            continue
        if writer.has_article(article.id):
            reusable.update(writer.delete_article(article.id))
            report.updated += 1
        else:
            report.added += 1
        pending.append((article, origin))
    for article_id in old:
        writer.delete_article(article_id)
        report.removed += 1


def _write_web(writer: IndexWriter, web: WebPlan) -> None:
    # A page gone and a source removed (and maybe added again, which must read it in
    # full, not be answered 304) lose their conditional state.
    forget = [*web.gone, *(u for r in web.removed for u in (r.url, *r.feeds))]
    writer.write_web(WebChanges(web.sources, web.listed, web.fetches, forget))


def _manifest(
    writer: IndexWriter, embedder: Embedder, settings: Settings, embedded: bool
) -> dict[str, Any]:
    """What this run sets in the manifest; ``embedded``: it embedded passages."""
    manifest: dict[str, Any] = {
        "model": embedder.name,
        "dimension": embedder.dimension if embedded else _old_dimension(writer, embedder),
        "normalized": True,
        "metric": "inner_product",
        "chunk_tokens": settings.chunk_tokens,
    }
    if embedded:
        manifest["token_limit"] = embedder.max_tokens
    # An index that holds no vectors yet is of this backend's kind; left unset, it would
    # read as a legacy torch index and refuse the backend that will fill it.
    backend = embedder_backend(embedder)
    if backend is not None and (embedded or not writer.manifest().get("passages")):
        manifest["backend"] = backend  # the kind of vectors (see store.VECTOR_KINDS)
    return manifest


def _old_dimension(writer: IndexWriter, embedder: Embedder) -> int:
    dim = writer.manifest().get("dimension")
    return int(dim) if dim is not None else embedder.dimension
