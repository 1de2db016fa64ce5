"""``run_index``: one index run, from the sources planned to the generation published."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from ..embedding import Embedder, embedder_backend
from ..progress import NoProgress, Progress
from ..settings import Settings
from ..stores import open_store
from ..stores.base import IndexView, Store, check_compatible
from ..types import SHARED, WebSource, WebState
from ..web import state as web_state
from .apply import apply_changes
from .plan import plan_run
from .report import IndexReport, Request
from .scan import gone_files, scan_roots
from .web_plan import plan_web


def run_index(
    settings: Settings,
    embedder: Embedder,
    paths: Sequence[Path] = (),
    *,
    urls: Sequence[str] = (),
    rebuild: bool = False,
    remove: Sequence[Path] = (),
    remove_urls: Sequence[str] = (),
    prune: bool = False,
    scope: str = SHARED,
    progress: Progress | None = None,
    store: Store | None = None,
) -> IndexReport:
    """Bring the index (the configured store, or ``store``) in line with its sources
    (plus ``paths`` and ``urls``, minus ``remove`` and ``remove_urls``; the URLs are
    ``scope``'s: a server adds and removes only its own)."""
    request = Request(paths, urls, remove, remove_urls, rebuild, prune, scope)
    started = time.perf_counter()
    progress = progress or NoProgress()
    report = IndexReport()
    store = store or open_store(settings)
    with store.writer_lock():
        # A run killed earlier left its private copy behind: remove it even when this run
        # finds nothing to change (and so writes nothing of its own).
        store.cleanup()
        # A rebuild starts a fresh index of the same sources: the ones it remembers.
        remembered: tuple[list[str], list[WebSource]] = (
            store.remembered_sources() if rebuild else ([], [])
        )
        old = None if rebuild or not store.exists() else store.open_view()
        try:
            _sync(settings, embedder, store, old, request, progress, report, remembered)
        finally:
            if old is not None:
                old.close()
        report.seconds = time.perf_counter() - started
        if report.sources:
            web_state.write_sync_log(settings.index_dir, report.web)
    return report


def _sync(
    settings: Settings,
    embedder: Embedder,
    store: Store,
    old: IndexView | None,
    request: Request,
    progress: Progress,
    report: IndexReport,
    remembered: tuple[list[str], list[WebSource]],
) -> None:
    """Scan the files, sync the web sources, and write a new generation if anything
    changed since ``old`` (None: no index to start from)."""
    old_roots = old.roots() if old else []
    old_web = old.web_state() if old else WebState()
    force = _must_reembed(old, embedder, settings)
    sources, roots = plan_run(settings, request, old_roots, old_web, remembered, old is None)
    report.roots = roots
    report.sources = [s.url for s in sources]
    known = {} if old is None or force else old.files()
    scan = scan_roots(roots, known, settings, progress, report)
    gone = gone_files(set(old.files()) if old else set(), scan)
    web = plan_web(settings, sources, old_web, force, request.prune, progress, report)
    if old is not None and not scan.changed and not gone and roots == old_roots and not web.dirty:
        _report_unchanged(old, report)
        return
    writer = store.open_writer(fresh=old is None)
    try:
        apply_changes(writer, embedder, settings, roots, scan, gone, force, progress, report, web)
    except BaseException:
        writer.abort()
        raise


def _must_reembed(old: IndexView | None, embedder: Embedder, settings: Settings) -> bool:
    """Whether every article must be chunked and embedded again (a new chunk size).
    Refuses an index built by another model or backend."""
    if old is None:
        return False
    check_compatible(old.manifest, embedder.name, backend=embedder_backend(embedder))
    return bool(old.manifest.get("chunk_tokens") != settings.chunk_tokens)


def _report_unchanged(old: IndexView, report: IndexReport) -> None:
    """Nothing to write: the report tells what the current generation holds."""
    report.passages = int(old.manifest.get("passages", 0))
    report.unchanged = int(old.manifest.get("articles", 0))
    report.generation = int(old.manifest.get("generation", 0))
