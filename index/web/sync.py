"""Sync web sources: ask each feed, sitemap, site or page what changed, fetch only that.

A re-sync of an unchanged source costs one conditional request per feed or sitemap
(ETag / If-Modified-Since answered 304) and no page fetches. A listed page is fetched
only when it is new or its listing says it changed (the feed entry's updated date, the
sitemap's lastmod). Pages are fetched concurrently; the fetcher keeps it polite per host.

Nothing here writes: ``sync_web`` returns a ``WebScan`` that the indexer applies to a
new generation, together with the files it scanned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import (
    FetchError,
    RobotsDisallowedError,
    UnreadablePageError,
    UnreadableSourceError,
)
from ..progress import NoProgress, Progress
from ..settings import Settings
from ..types import SHARED, Article, FetchState, RobotsRules, WebSource, WebState
from .client import Fetched, Fetcher
from .formats.charset import decode_page
from .formats.detect import sniff
from .formats.feeds import Entry, entry_article, parse_feed
from .formats.pages import discover_feeds, page_article, text_article
from .formats.sitemaps import parse_sitemap
from .formats.tolerant import one_line

MAX_SITEMAP_DEPTH = 3  # a sitemap index of sitemap indexes of sitemaps, no deeper


@dataclass(frozen=True)
class UrlFailure:
    url: str
    reason: str


@dataclass
class SourceRun:
    """What one sync did for one source (shown by `stats` and the bot's /about)."""

    kind: str | None = None
    fetched: int = 0  # pages fetched
    failed: int = 0
    skipped: int = 0  # pages (or the source itself) that robots.txt disallows
    error: str | None = None  # why the source itself could not be read


@dataclass
class WebScan:
    changed: list[tuple[str, Article]] = field(default_factory=list)  # page URL, article
    fetches: list[FetchState] = field(default_factory=list)  # conditional state to store
    listed: dict[str, set[str]] = field(default_factory=dict)  # source -> pages listed now
    complete: set[str] = field(default_factory=set)  # sources whose whole listing was read
    sources: dict[str, WebSource] = field(default_factory=dict)  # kinds learnt this run
    failed: list[UrlFailure] = field(default_factory=list)
    skipped: list[UrlFailure] = field(default_factory=list)  # robots.txt said no: not failures
    runs: dict[str, SourceRun] = field(default_factory=dict)
    requests: int = 0
    robots: dict[str, RobotsRules] = field(default_factory=dict)  # to reuse next run


def sync_web(
    settings: Settings,
    sources: Sequence[WebSource],
    state: WebState,
    *,
    prune: bool = False,
    progress: Progress | None = None,
    robots: dict[str, RobotsRules] | None = None,
) -> WebScan:
    """Run one sync of ``sources`` (blocking: it runs its own event loop, so a bot calls
    it from a worker thread). ``robots``: robots.txt rules an earlier run fetched."""
    fetcher = Fetcher.from_settings(settings, robots)
    # Servers add sources in Discord: each of theirs fetches at most so many pages a sync.
    caps = {s.url: settings.server_max_pages for s in sources if SHARED not in s.scopes}
    return asyncio.run(_sync_all(fetcher, sources, state, prune, progress or NoProgress(), caps))


async def _sync_all(
    fetcher: Fetcher,
    sources: Sequence[WebSource],
    state: WebState,
    prune: bool,
    progress: Progress,
    caps: dict[str, int] | None = None,
) -> WebScan:
    scan = WebScan()
    async with fetcher:
        run = _Sync(fetcher, state, scan, prune, progress, caps or {})
        progress.start("fetching", None)
        await asyncio.gather(*(run.source(s) for s in sources))
        scan.requests = fetcher.requests
        scan.robots = fetcher.robots_rules()
    run.report_caps()
    # A URL's state may have been noted more than once (fetched, then stamped): the last
    # note is the one to keep.
    scan.fetches = list({f.url: f for f in scan.fetches}.values())
    return scan


class _Sync:
    def __init__(
        self,
        fetcher: Fetcher,
        state: WebState,
        scan: WebScan,
        prune: bool,
        progress: Progress,
        caps: dict[str, int],
    ) -> None:
        self.fetcher = fetcher
        self.caps = caps  # source -> pages it may fetch this run
        self.capped: dict[str, int] = {}  # source -> pages left for the next run
        self.state = state
        self.scan = scan
        self.prune = prune  # fetch every listing in full, so what it no longer lists is known
        self.progress = progress
        self.pages: dict[str, asyncio.Task[bool]] = {}  # one fetch per page URL per run
        self.known_pages = state.pages()
        self.stored: set[str] = set()  # pages turned into articles this run
        self._visited: set[tuple[str, str]] = set()  # (source, listing URL) read this run

    # --- sources and listings ------------------------------------------------------------
    async def source(self, source: WebSource) -> None:
        """Sync one source; whatever goes wrong in it is its failure, never the run's."""
        run = self.scan.runs[source.url] = SourceRun(kind=source.kind)
        self.scan.listed.setdefault(source.url, set())
        try:
            await self._sync_source(source, run)
        except RobotsDisallowedError as exc:  # its articles are kept, as for a failure
            run.skipped += 1
            self.scan.skipped.append(UrlFailure(source.url, exc.reason))
            return
        except Exception as exc:  # one source's bug must not stop the others
            run.error = _reason(exc, source.url)
            self._fail(source.url, run.error)

    async def _sync_source(self, source: WebSource, run: SourceRun) -> None:
        got = await self._get(source.url)
        if got is None:  # 304: unchanged; a site's feeds may still have news
            complete = True
            for feed in source.feeds if source.kind == "site" else ():
                complete &= await self.listing(source.url, feed)
            if complete and source.kind == "site" and self.prune:
                self.scan.complete.add(source.url)
            return
        run.kind = await self._first_listing(source, got)

    async def _first_listing(self, source: WebSource, got: Fetched) -> str:
        """Read what the source URL served: a feed, a sitemap, a site's home page, a page.
        A source keeps the kind it was first synced as: a feed that serves a web page
        today (a maintenance page) fails, and nothing of it is stored or pruned."""
        served = sniff(got.body, got.content_type, got.final_url)
        feeds = self._feeds_of(got) if _may_be_site(source, served) else []
        kind = "site" if feeds else served if served in ("feed", "sitemap") else "page"
        if source.kind is not None and kind != source.kind:
            raise UnreadablePageError(source.url, _changed_kind(source.kind, served))
        self._visited.add((source.url, source.url))
        if kind == "site":
            complete = await self._site(source.url, got, feeds)
        elif kind == "page":
            complete = await self._page_source(source.url, got)
        else:
            complete = await self._read_listing(source.url, source.url, got, kind, depth=0)
        self.scan.sources.setdefault(source.url, WebSource(source.url, kind))
        if complete:
            self.scan.complete.add(source.url)
        return kind

    async def _site(self, url: str, got: Fetched, feeds: list[str]) -> bool:
        self.scan.sources[url] = WebSource(url, "site", tuple(feeds))
        self._remember(got)
        complete = True
        for feed in feeds:
            complete &= await self.listing(url, feed)
        return complete

    async def _page_source(self, url: str, got: Fetched) -> bool:
        self.scan.listed[url].add(url)
        complete = await self._store_page(url, url, got, None)
        if complete:
            self._remember(got)
        return complete

    async def listing(self, source: str, url: str, depth: int = 0) -> bool:
        """Sync one feed or sitemap of ``source``; True when it was read in full (or is
        unchanged), so the pages it no longer lists can be pruned. Whatever goes wrong is
        this listing's failure."""
        try:
            got = await self._get(url)
            if got is None:
                return not self.prune
            kind = sniff(got.body, got.content_type, got.final_url)
            if kind not in ("feed", "sitemap"):
                raise UnreadablePageError(url, f"is {_a(kind)}, not a feed or sitemap")
            return await self._read_listing(source, url, got, kind, depth)
        except RobotsDisallowedError as exc:  # unread, so not complete: nothing is pruned
            self.scan.runs.setdefault(source, SourceRun()).skipped += 1
            self.scan.skipped.append(UrlFailure(url, exc.reason))
            return False
        except Exception as exc:  # its source's other listings go on
            self._fail(url, _reason(exc, url))
            return False

    async def _read_listing(
        self, source: str, url: str, got: Fetched, kind: str, depth: int
    ) -> bool:
        if kind == "feed":
            ok = await self._feed(source, url, got)
        else:
            ok = await self._sitemap(source, url, got, depth)
        if ok:  # a listing with a failed page is asked again next time, not told 304
            self._remember(got)
        return ok

    async def _feed(self, source: str, url: str, got: Fetched) -> bool:
        feed = parse_feed(got.body, got.final_url)
        listed = self.scan.listed.setdefault(source, set())
        jobs: list[Awaitable[bool]] = []
        for entry in feed.entries:
            listed.add(entry.link)
            stamp = entry.updated or entry.published
            if self._wanted(entry.link, stamp):
                jobs.append(self._page(source, entry.link, stamp, entry))
        read = all(await asyncio.gather(*jobs))
        return self._whole(url, "feed", feed.damage) and read

    async def _sitemap(self, source: str, url: str, got: Fetched, depth: int) -> bool:
        sitemap = parse_sitemap(got.body, got.final_url)
        listed = self.scan.listed.setdefault(source, set())
        jobs: list[Awaitable[bool]] = []
        for page in sitemap.pages:
            listed.add(page.loc)
            if self._wanted(page.loc, page.lastmod):
                jobs.append(self._page(source, page.loc, page.lastmod, None))
        for child in sitemap.sitemaps:
            if (source, child.loc) in self._visited:  # a cycle: read once this run is enough
                continue
            self._visited.add((source, child.loc))
            if depth + 1 >= MAX_SITEMAP_DEPTH:
                self._fail(child.loc, f"sitemap nested deeper than {MAX_SITEMAP_DEPTH}: skipped")
                continue
            known = self.state.fetches.get(child.loc)
            if self.prune or known is None or child.lastmod is None or known.stamp != child.lastmod:
                jobs.append(self._child_sitemap(source, child.loc, child.lastmod, depth + 1))
        read = all(await asyncio.gather(*jobs))
        return self._whole(url, "sitemap", sitemap.damage) and read

    def _whole(self, url: str, kind: str, damage: str | None) -> bool:
        """Whether a listing parsed whole; one that did not is reported, and what it
        no longer lists is not pruned (it may only have been cut short)."""
        if damage is not None:
            self._fail(
                url,
                f"{kind} is malformed or cut short ({damage}): its entries were read, "
                "nothing pruned",
            )
        return damage is None

    async def _child_sitemap(self, source: str, url: str, lastmod: str | None, depth: int) -> bool:
        ok = await self.listing(source, url, depth)
        if ok and lastmod is not None:  # next time, an unchanged lastmod skips it
            self._stamp(url, lastmod)
        return ok

    # --- pages ---------------------------------------------------------------------------
    def _wanted(self, page: str, stamp: str | None) -> bool:
        """New pages, and pages whose listing says they changed, are fetched."""
        known = self.state.fetches.get(page)
        if known is None or page not in self.known_pages:
            return True
        return stamp is not None and stamp != known.stamp

    def _page(
        self, source: str, page: str, stamp: str | None, entry: Entry | None
    ) -> asyncio.Future[bool]:
        task = self.pages.get(page)
        if task is not None:
            return task
        if self._over_cap(source):  # listed, so the next run fetches it: not complete
            left: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            left.set_result(False)
            return left
        task = asyncio.ensure_future(self._guarded_page(source, page, stamp, entry))
        self.pages[page] = task
        return task

    def _over_cap(self, source: str) -> bool:
        """Counts a page against its source's cap; True when the cap is spent."""
        if source not in self.caps:
            return False
        if self.caps[source] > 0:
            self.caps[source] -= 1
            return False
        self.capped[source] = self.capped.get(source, 0) + 1
        return True

    def report_caps(self) -> None:
        for source, left in sorted(self.capped.items()):
            self.scan.skipped.append(
                UrlFailure(
                    source,
                    f"{left} more listed page(s) wait for the next sync: a server's source "
                    "fetches at most ARTICLEBOT_SERVER_MAX_PAGES pages a sync",
                )
            )

    async def _guarded_page(
        self, source: str, page: str, stamp: str | None, entry: Entry | None
    ) -> bool:
        """One page's sync, whatever goes wrong in it that page's failure alone."""
        try:
            return await self._fetch_page(source, page, stamp, entry)
        except Exception as exc:  # the listing's other pages go on
            self.scan.runs.setdefault(source, SourceRun()).failed += 1
            self._fail(page, _reason(exc, page))
            return False

    async def _fetch_page(
        self, source: str, page: str, stamp: str | None, entry: Entry | None
    ) -> bool:
        run = self.scan.runs.setdefault(source, SourceRun())
        try:
            got = await self._get(page, listing=False)
        except (FetchError, UnreadableSourceError) as exc:
            if entry is not None and entry.content:  # the feed carries the full text
                self.stored.add(page)
                self.scan.changed.append((page, entry_article(entry, page)))
                self._stamp(page, stamp)
                return True
            if isinstance(exc, RobotsDisallowedError):  # listed, so an indexed copy stays
                run.skipped += 1
                self.scan.skipped.append(UrlFailure(page, exc.reason))
                return True
            run.failed += 1
            self._fail(page, _reason(exc, page))
            return False
        finally:
            self.progress.advance()
        if got is None:  # 304: listed as changed, but the page is the one indexed
            self._stamp(page, stamp)
            return True
        run.fetched += 1
        ok = await self._store_page(source, page, got, entry)
        if ok:
            self._remember(got, page, stamp)
        return ok

    async def _store_page(self, source: str, page: str, got: Fetched, entry: Entry | None) -> bool:
        if page in self.stored:  # a page source that a feed lists too: once is enough
            return True
        try:
            article = _article(page, got, entry)
        except UnreadableSourceError as exc:
            if entry is not None and entry.content:
                article = entry_article(entry, page)
            else:
                self.scan.runs.setdefault(source, SourceRun()).failed += 1
                self._fail(page, _reason(exc, page))
                return False
        self.stored.add(page)
        self.scan.changed.append((page, article))
        return True

    # --- fetching and bookkeeping -----------------------------------------------------------
    async def _get(self, url: str, *, listing: bool = True) -> Fetched | None:
        """GET ``url``, conditionally on what the last run saw; a listing is read in full
        for --prune, which must know every page it still lists. None: 304, unchanged."""
        known = self.state.fetches.get(url)
        if known is None or (listing and self.prune):
            known = FetchState(url)
        got = await self.fetcher.get(url, etag=known.etag, last_modified=known.last_modified)
        return None if got.status == 304 else got

    def _remember(self, got: Fetched, url: str | None = None, stamp: str | None = None) -> None:
        key = url or got.url
        if stamp is None and (old := self.state.fetches.get(key)) is not None:
            stamp = old.stamp
        self.scan.fetches.append(FetchState(key, got.etag, got.last_modified, stamp))

    def _stamp(self, url: str, stamp: str | None) -> None:
        old = next((f for f in reversed(self.scan.fetches) if f.url == url), None)
        base = old or self.state.fetches.get(url) or FetchState(url)
        self.scan.fetches.append(FetchState(url, base.etag, base.last_modified, stamp))

    def _feeds_of(self, got: Fetched) -> list[str]:
        return discover_feeds(decode_page(got.body, got.charset, got.final_url), got.final_url)

    def _fail(self, url: str, reason: str) -> None:
        self.scan.failed.append(UrlFailure(url, reason))


def _article(page: str, got: Fetched, entry: Entry | None) -> Article:
    kind = sniff(got.body, got.content_type, got.final_url)
    if kind == "html":
        return page_article(decode_page(got.body, got.charset, page), page, entry=entry)
    if kind == "text":
        return text_article(decode_page(got.body, got.charset, page), page)
    raise UnreadablePageError(page, f"is {_a(kind)}, not an article page")


def _may_be_site(source: WebSource, served: str) -> bool:
    """Whether to look for feeds: in a site's home page (its feeds are what to follow),
    not in an article page that happens to link the site's feed too."""
    home = urlsplit(source.url).path in ("", "/")
    return served == "html" and home and source.kind in (None, "site")


_SOURCE_KINDS = {
    "feed": "a feed",
    "sitemap": "a sitemap",
    "site": "a site's home page with feeds",
    "page": "a page",
}


def _changed_kind(was: str, served: str) -> str:
    site_page = was == "site" and served == "html"
    now = "a web page that advertises no feeds" if site_page else _a(served)
    return (
        f"was {_SOURCE_KINDS.get(was, was)}; it now serves {now}: nothing changed "
        "(the site may be down for maintenance)"
    )


def _a(kind: str) -> str:
    return {"feed": "a feed", "sitemap": "a sitemap", "html": "a web page", "text": "plain text"}[
        kind
    ]


def _reason(exc: Exception, url: str) -> str:
    """One line that says what happened; an exception of an unexpected type is named,
    as a bug to report, not a page to blame."""
    if isinstance(exc, FetchError | UnreadableSourceError):
        return one_line(exc.reason)
    return one_line(f"internal error reading {url}: {type(exc).__name__}: {exc}")
