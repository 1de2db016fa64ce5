"""Sync the index with its sources — folders, files and web URLs: add, update, remove,
incrementally.

Only files whose size, mtime and then content hash changed are read, and only web pages
that are new or listed as changed are fetched (``web.sync``); only articles whose content
changed are re-chunked; only passages whose text is new are embedded. All changes go into
a new generation that is published atomically (see ``store``).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .chunking import chunk_article
from .embedding import Embedder, embedder_backend
from .errors import ConfigError, UnreadableFileError
from .progress import NoProgress, Progress
from .readers import iter_article_files, read_file, too_large
from .sentences import quote_spans
from .settings import Settings
from .stores import open_store
from .stores.base import IndexView, IndexWriter, Store, check_compatible
from .types import Article, FetchState, FileRecord, Passage, WebChanges, WebSource, WebState
from .web import state as web_state
from .web.guard import check_url

if TYPE_CHECKING:
    import numpy as np

EMBED_GROUP = 256  # passages per embed() call: small enough for a lively progress bar


@dataclass(frozen=True)
class FileFailure:
    path: str
    reason: str


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[FileFailure] = field(default_factory=list)
    skipped: int = 0  # unsupported file types
    passages: int = 0  # in the index after the run
    embedded: int = 0  # distinct passage texts embedded by this run
    embedded_sentences: int = 0  # distinct sentence texts embedded by this run
    seconds: float = 0.0
    generation: int | None = None
    roots: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # web sources (URLs)
    requests: int = 0  # HTTP requests made for web sources
    web: dict[str, dict[str, object]] = field(default_factory=dict)  # per web source
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        web = f" / {self.requests} HTTP requests" if self.sources else ""
        return (
            f"added {self.added} / updated {self.updated} / unchanged {self.unchanged} / "
            f"removed {self.removed} / failed {len(self.failed)} / passages {self.passages} "
            f"(embedded {self.embedded}, sentences {self.embedded_sentences}){web} / "
            f"{self.seconds:.1f} s"
        )


@dataclass
class _Scan:
    changed: list[tuple[FileRecord, list[Article]]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)  # folders that could not be listed


@dataclass(frozen=True)
class Request:
    """What one index run is asked to change, beside re-syncing what it has."""

    paths: Sequence[Path] = ()  # folders or files to add
    urls: Sequence[str] = ()  # web sources to add: feeds, sitemaps, sites, pages
    remove: Sequence[Path] = ()
    remove_urls: Sequence[str] = ()
    rebuild: bool = False
    prune: bool = False  # drop web articles their source no longer lists


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
    progress: Progress | None = None,
    store: Store | None = None,
) -> IndexReport:
    """Bring the index (the configured store, or ``store``) in line with its sources
    (plus ``paths`` and ``urls``)."""
    request = Request(paths, urls, remove, remove_urls, rebuild, prune)
    started = time.perf_counter()
    progress = progress or NoProgress()
    report = IndexReport()
    store = store or open_store(settings)
    with store.writer_lock():
        # A run killed earlier left its private copy behind: remove it even when this run
        # finds nothing to change (and so writes nothing of its own).
        store.cleanup()
        # A rebuild starts a fresh index of the same sources: the ones it remembers.
        remembered = store.remembered_sources() if rebuild else ([], [])
        old = None if rebuild or not store.exists() else store.open_view()
        try:
            _run(settings, embedder, store, old, request, progress, report, remembered)
        finally:
            if old is not None:
                old.close()
        report.seconds = time.perf_counter() - started
        if report.sources:
            web_state.write_sync_log(settings.index_dir, report.web)
    return report


def _run(
    settings: Settings,
    embedder: Embedder,
    store: Store,
    old: IndexView | None,
    request: Request,
    progress: Progress,
    report: IndexReport,
    remembered: tuple[list[str], list[str]] = ([], []),
) -> None:
    paths, remove = request.paths, request.remove
    old_roots = old.roots() if old else []
    old_web = old.web_state() if old else WebState()
    force = False
    if old is not None:
        check_compatible(old.manifest, embedder.name, backend=embedder_backend(embedder))
        force = old.manifest.get("chunk_tokens") != settings.chunk_tokens
    remembered_roots_, remembered_urls = remembered
    sources = plan_sources(
        list(old_web.sources.values()) or [WebSource(u) for u in remembered_urls],
        request.urls,
        request.remove_urls,
    )
    if old is None and (remembered_roots_ or remembered_urls):  # --rebuild
        roots = plan_roots(remembered_roots_, paths, remove, [])
    else:
        # A new index of URLs only does not also take in the default corpus folder.
        default = settings.corpus if old is None and not sources else []
        roots = plan_roots(old_roots, paths, remove, default)
    report.roots = roots
    report.sources = [s.url for s in sources]
    known = {} if old is None or force else old.files()
    live_roots = [r for r in roots if Path(r).exists()]
    for r in sorted(set(roots) - set(live_roots)):
        report.failed.append(
            FileFailure(r, f"folder is missing; its articles are kept (--remove {r} drops them)")
        )
    scan = _scan(live_roots, known, settings, progress, report)
    indexed_files = set(old.files()) if old else set()
    # A file not seen is gone only if its folder was read: a missing root or a folder
    # that could not be listed (permissions, a failing disk) loses nothing.
    out_of_reach = (set(roots) - set(live_roots)) | scan.unreachable
    gone = sorted(f for f in indexed_files - scan.seen if not _under_any(f, out_of_reach))
    web = _sync_web(settings, sources, old_web, force, request.prune, progress, report)
    if old is not None and not scan.changed and not gone and roots == old_roots and not web.dirty:
        report.passages = int(old.manifest.get("passages", 0))
        report.unchanged = int(old.manifest.get("articles", 0))
        report.generation = int(old.manifest.get("generation", 0))
        return
    writer = store.open_writer(fresh=old is None)
    try:
        _apply(writer, embedder, settings, roots, scan, gone, force, progress, report, web)
    except BaseException:
        writer.abort()
        raise


def plan_sources(
    old: Sequence[WebSource], urls: Sequence[str], remove: Sequence[str]
) -> list[WebSource]:
    """Remembered web sources, plus new URLs, minus removed ones (each checked: http(s)
    only, a host present)."""
    from .errors import FetchError

    try:
        added = [check_url(u) for u in urls]
        dropped = {check_url(u) for u in remove}
    except FetchError as exc:
        raise ConfigError(f"{exc}. Give an http:// or https:// URL.") from None
    known = {s.url: s for s in old}
    unknown = dropped - set(known) - set(added)
    if unknown:
        raise ConfigError(
            f"{', '.join(sorted(unknown))} is not an indexed web source; "
            f"the web sources are: {', '.join(sorted(known)) or '(none)'}."
        )
    for url in added:
        known.setdefault(url, WebSource(url))
    return [known[u] for u in sorted(known) if u not in dropped]


def plan_roots(
    old_roots: Sequence[str], paths: Sequence[Path], remove: Sequence[Path], default: Sequence[Path]
) -> list[str]:
    """Remembered roots, plus new paths (unless already covered), minus removed ones."""
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path} does not exist; give a folder or file of articles.")
    if not old_roots and not paths:
        for path in default:
            if not path.exists():
                raise ConfigError(
                    f"The corpus {path} does not exist. Give a path (`articlebot index PATH`) "
                    "or set ARTICLEBOT_CORPUS."
                )
        paths = default
    roots = list(old_roots)
    for new in (str(p.resolve()) for p in paths):
        if _under_any(new, set(roots)):
            continue
        roots = [r for r in roots if not _under_any(r, {new})] + [new]
    dropped = {str(p.resolve()) for p in remove}
    unknown = dropped - set(roots)
    if unknown:
        raise ConfigError(
            f"{', '.join(sorted(unknown))} is not an indexed root; "
            f"the roots are: {', '.join(roots) or '(none)'}."
        )
    return sorted(r for r in roots if r not in dropped)


def _valid_name(path: str) -> bool:
    """A path that can be stored and shown: bytes that are not UTF-8 in a file name
    arrive as lone surrogates, which SQLite and JSON refuse."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _under_any(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _scan(
    roots: Sequence[str],
    known: dict[str, FileRecord],
    settings: Settings,
    progress: Progress,
    report: IndexReport,
) -> _Scan:
    """Read the files that changed since the last run; stat() is enough for the rest."""
    scan = _Scan()
    max_bytes = int(settings.max_file_mb * 2**20)
    progress.start("scanning", None)
    for root in roots:
        unreadable: list[tuple[Path, str]] = []
        inside = str(Path(root).resolve())
        for path, supported in iter_article_files(Path(root), unreadable):
            if not supported:
                report.skipped += 1
                continue
            key = str(path.resolve())
            if key in scan.seen:  # the same file again, through a link: once is enough
                continue
            if not settings.follow_external_links and not _under_any(key, [inside]):
                report.skipped += 1
                report.warnings.append(
                    f"{path} links outside {root} to {key}: not indexed "
                    "(ARTICLEBOT_FOLLOW_EXTERNAL_LINKS=true indexes such files)"
                )
                continue
            if not _valid_name(key):
                report.failed.append(
                    FileFailure(
                        os.fsencode(key).decode("utf-8", "replace"),
                        "the file name is not valid UTF-8; rename the file",
                    )
                )
                continue
            scan.seen.add(key)
            progress.advance()
            try:
                record = _changed_record(path, known.get(key), max_bytes)
                if record is None:
                    continue
                result = read_file(path, max_bytes)
                scan.changed.append((record, result.articles))
                # Records a file could not give (a malformed line, a duplicate id) fail
                # alone: reported, while the file's other records are indexed.
                report.failed.extend(FileFailure(key, problem) for problem in result.problems)
            except UnreadableFileError as exc:
                report.failed.append(FileFailure(str(exc.path), exc.reason))
            except Exception as exc:
                # A reader bug or a hostile file (nesting 100,000 deep, an impossible
                # front-matter date): that file fails, the run goes on.
                reason = f"cannot read file ({type(exc).__name__}: {str(exc)[:200]})"
                report.failed.append(FileFailure(str(path), reason))
        for folder, why in unreadable:
            scan.unreachable.add(str(folder.resolve()))
            reason = f"cannot read folder ({why}); its articles are kept"
            report.failed.append(FileFailure(str(folder), reason))
    return scan


@dataclass
class _WebPlan:
    """The web side of a run: what ``web.sync`` found, as changes to the index."""

    sources: list[WebSource] = field(default_factory=list)
    changed: list[tuple[str, Article]] = field(default_factory=list)  # page URL, article
    listed: dict[str, set[str]] = field(default_factory=dict)  # source -> pages, after
    gone: list[str] = field(default_factory=list)  # pages no source lists any more
    fetches: list[FetchState] = field(default_factory=list)
    removed: list[WebSource] = field(default_factory=list)  # sources dropped by --remove
    dirty: bool = False  # anything to write


def _sync_web(
    settings: Settings,
    sources: list[WebSource],
    old: WebState,
    force: bool,
    prune: bool,
    progress: Progress,
    report: IndexReport,
) -> _WebPlan:
    """Fetch what changed in the web sources and plan it as changes to the index. A
    source that fails keeps its articles; --prune drops only what a listing read in full
    no longer holds."""
    from .web.sync import sync_web

    current = {s.url for s in sources}
    removed = [s for url, s in old.sources.items() if url not in current]
    if not sources:
        return _WebPlan(gone=sorted(old.pages()), removed=removed, dirty=bool(removed))
    # A new chunk size re-reads every page, as it re-reads every file.
    robots = web_state.read_robots(settings.index_dir)
    scan = sync_web(
        settings,
        sources,
        WebState() if force else old,
        prune=prune,
        progress=progress,
        robots=robots,
    )
    if scan.robots != robots:
        web_state.write_robots(settings.index_dir, scan.robots)
    report.requests = scan.requests
    report.failed.extend(FileFailure(f.url, f.reason) for f in scan.failed)
    learnt = [scan.sources.get(s.url, s) for s in sources]
    listed = {}
    for s in sources:
        before = old.listed.get(s.url, set())
        if s.url in scan.complete and prune:
            before = set()
        listed[s.url] = before | scan.listed.get(s.url, set())
    still = {p for pages in listed.values() for p in pages}
    plan = _WebPlan(
        learnt, scan.changed, listed, sorted(old.pages() - still), scan.fetches, removed
    )
    plan.dirty = bool(
        plan.changed
        or plan.gone
        or plan.removed
        or listed != {u: old.listed.get(u, set()) for u in listed}
        or learnt != [old.sources.get(s.url) for s in sources]
        or any(f != old.fetches.get(f.url) for f in plan.fetches)
    )
    for s in learnt:
        run = scan.runs.get(s.url)
        report.web[s.url] = {
            "kind": s.kind,
            "fetched": run.fetched if run else 0,
            "failed": run.failed if run else 0,
            "error": run.error if run else None,
        }
    return plan


def _changed_record(path: Path, old: FileRecord | None, max_bytes: int) -> FileRecord | None:
    """None when the file is the one already indexed; else its new record. A file over
    the size limit fails before it is read: hashing a 2 GB file whole cost 2 GB of RAM."""
    try:
        st = path.stat()
        if old and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
            return None
        if st.st_size > max_bytes:
            raise UnreadableFileError(path, too_large(st.st_size, max_bytes))
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise UnreadableFileError(path, f"cannot read file ({exc.strerror or exc})") from exc
    record = FileRecord(str(path.resolve()), st.st_size, st.st_mtime_ns, digest)
    if old and old.sha256 == digest:
        # Touched but identical: remember the new mtime so the next run skips it by stat().
        return FileRecord(record.path, record.size, record.mtime_ns, "=" + digest)
    return record


def _apply(
    writer: IndexWriter,
    embedder: Embedder,
    settings: Settings,
    roots: list[str],
    scan: _Scan,
    gone: list[str],
    force: bool,
    progress: Progress,
    report: IndexReport,
    web: _WebPlan,
) -> None:
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
    _embed_and_store(writer, embedder, settings, pending, reusable, progress, report)
    manifest = {
        "model": embedder.name,
        "dimension": embedder.dimension if pending else _old_dimension(writer, embedder),
        "normalized": True,
        "metric": "inner_product",
        "chunk_tokens": settings.chunk_tokens,
    }
    if pending:
        manifest["token_limit"] = embedder.max_tokens
        if (backend := embedder_backend(embedder)) is not None:
            manifest["backend"] = backend  # the kind of vectors (see store.VECTOR_KINDS)
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


def _write_web(writer: IndexWriter, web: _WebPlan) -> None:
    # A page gone and a source removed (and maybe added again, which must read it in
    # full, not be answered 304) lose their conditional state.
    forget = [*web.gone, *(u for r in web.removed for u in (r.url, *r.feeds))]
    writer.write_web(WebChanges(web.sources, web.listed, web.fetches, forget))


def _old_dimension(writer: IndexWriter, embedder: Embedder) -> int:
    dim = writer.manifest().get("dimension")
    return int(dim) if dim is not None else embedder.dimension


def _embed_and_store(
    writer: IndexWriter,
    embedder: Embedder,
    settings: Settings,
    pending: list[tuple[Article, str]],
    reusable: dict[str, bytes],
    progress: Progress,
    report: IndexReport,
) -> None:
    if not pending:
        return
    if manifest := writer.manifest():  # empty for a new index
        check_compatible(
            manifest, embedder.name, embedder.dimension, backend=embedder_backend(embedder)
        )
    progress.start("chunking", len(pending))
    chunked: list[list[Passage]] = []
    for article, _file in pending:
        chunked.append(
            chunk_article(
                article, embedder.count_tokens, settings.chunk_tokens, embedder.max_tokens
            )
        )
        progress.advance()
    texts = [p.text for passages in chunked for p in passages]
    vectors = _embed_new(embedder, texts, reusable, progress, "embedding passages")
    report.embedded += vectors.distinct
    # Every quotable sentence gets its own vector too: answers rank sentences by their
    # cosine to the question (index/ranking.py).
    spans = [
        [quote_spans(article.text, p.start, p.end) for p in passages]
        for (article, _file), passages in zip(pending, chunked, strict=True)
    ]
    sentence_texts = [
        article.text[a:b]
        for (article, _file), article_spans in zip(pending, spans, strict=True)
        for passage_spans in article_spans
        for a, b in passage_spans
    ]
    # A one-sentence passage was just embedded as a passage: reuse that vector.
    known = {**reusable, **{t: v.tobytes() for t, v in zip(texts, vectors.vectors, strict=True)}}
    sentence_vectors = _embed_new(embedder, sentence_texts, known, progress, "embedding sentences")
    report.embedded_sentences += sentence_vectors.distinct
    offset = sentence_offset = 0
    for (article, file), passages, article_spans in zip(pending, chunked, spans, strict=True):
        sentences = []
        for passage_spans in article_spans:
            end = sentence_offset + len(passage_spans)
            sentences.append((passage_spans, sentence_vectors.vectors[sentence_offset:end]))
            sentence_offset = end
        passage_vectors = vectors.vectors[offset : offset + len(passages)]
        writer.add_article(article, file, passages, passage_vectors, sentences)
        offset += len(passages)
    assert offset == len(texts) and sentence_offset == len(sentence_texts)


@dataclass(frozen=True)
class _Embedded:
    vectors: np.ndarray  # one row per text
    distinct: int  # texts embedded now (the others were reused or repeated)


def _embed_new(
    embedder: Embedder,
    texts: list[str],
    reusable: dict[str, bytes],
    progress: Progress,
    stage: str,
) -> _Embedded:
    """Vectors for ``texts``: reused where the same text was embedded before, else embedded
    once per distinct text (news archives repeat stories: 7% of BBC's passages are
    duplicates) in length-sorted groups (similar lengths batch with little padding)."""
    import numpy as np

    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    rows_of: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        if text in reusable:
            out[i] = np.frombuffer(reusable[text], dtype=np.float32)
        else:
            rows_of.setdefault(text, []).append(i)
    todo = sorted(rows_of, key=len, reverse=True)
    progress.start(stage, len(todo))
    for g in range(0, len(todo), EMBED_GROUP):
        group = todo[g : g + EMBED_GROUP]
        vectors = embedder.embed(group)
        for text, vector in zip(group, vectors, strict=True):
            out[rows_of[text]] = vector
        progress.advance(len(group))
    return _Embedded(out, len(todo))
