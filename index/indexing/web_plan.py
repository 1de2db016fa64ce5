"""The web side of a run: what ``web.sync`` found, planned as changes to the index."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..progress import Progress
from ..settings import Settings
from ..types import Article, FetchState, WebSource, WebState
from ..web import state as web_state
from .report import FileFailure, IndexReport, UrlSkip

if TYPE_CHECKING:
    from ..web.sync import WebScan


@dataclass(frozen=True)
class WebPlan:
    """The web sources' changes to the index."""

    sources: list[WebSource] = field(default_factory=list)
    changed: list[tuple[str, Article]] = field(default_factory=list)  # page URL, article
    listed: dict[str, set[str]] = field(default_factory=dict)  # source -> pages, after
    gone: list[str] = field(default_factory=list)  # pages no source lists any more
    fetches: list[FetchState] = field(default_factory=list)
    removed: list[WebSource] = field(default_factory=list)  # sources dropped by --remove
    dirty: bool = False  # anything to write


def plan_web(
    settings: Settings,
    sources: list[WebSource],
    old: WebState,
    force: bool,
    prune: bool,
    progress: Progress,
    report: IndexReport,
) -> WebPlan:
    """Fetch what changed in the web sources and plan it as changes to the index. A
    source that fails keeps its articles; --prune drops only what a listing read in full
    no longer holds."""
    from ..web.sync import sync_web

    current = {s.url for s in sources}
    removed = [s for url, s in old.sources.items() if url not in current]
    if not sources:
        return WebPlan(gone=sorted(old.pages()), removed=removed, dirty=bool(removed))
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
    report.skipped_urls.extend(UrlSkip(s.url, s.reason) for s in scan.skipped)
    learnt = [replace(scan.sources.get(s.url, s), scopes=s.scopes) for s in sources]
    listed = _listed(sources, old, scan, prune)
    still = {p for pages in listed.values() for p in pages}
    plan = WebPlan(learnt, scan.changed, listed, sorted(old.pages() - still), scan.fetches, removed)
    _report_runs(learnt, scan, report)
    return replace(plan, dirty=_differs(plan, sources, old))


def _listed(
    sources: list[WebSource], old: WebState, scan: WebScan, prune: bool
) -> dict[str, set[str]]:
    """Each source's pages after this run: those listed before, plus those listed now
    (with --prune, a listing read in full replaces what was listed before)."""
    listed = {}
    for s in sources:
        before = old.listed.get(s.url, set())
        if s.url in scan.complete and prune:
            before = set()
        listed[s.url] = before | scan.listed.get(s.url, set())
    return listed


def _differs(plan: WebPlan, sources: list[WebSource], old: WebState) -> bool:
    """Whether the plan has anything to write."""
    listed = plan.listed
    return bool(
        plan.changed
        or plan.gone
        or plan.removed
        or listed != {u: old.listed.get(u, set()) for u in listed}
        or plan.sources != [old.sources.get(s.url) for s in sources]
        or any(f != old.fetches.get(f.url) for f in plan.fetches)
    )


def _report_runs(learnt: list[WebSource], scan: WebScan, report: IndexReport) -> None:
    for s in learnt:
        run = scan.runs.get(s.url)
        report.web[s.url] = {
            "kind": s.kind,
            "fetched": run.fetched if run else 0,
            "failed": run.failed if run else 0,
            "skipped": run.skipped if run else 0,
            "error": run.error if run else None,
        }
