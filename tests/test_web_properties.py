"""Properties of a web sync against a hostile site (issue 23), on a real server on
127.0.0.1 and the real CLI in process (tests/web_props.py): whatever a feed, sitemap,
page or header holds, the run reports instead of crashing, blames a URL of the source,
keeps what it indexed before, stays within its memory cap and prints no control codes.

Each example re-syncs, with --prune, a copy of one index of the good site."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from index.stores.local.generations import DB_NAME, current_generation_dir

from . import web_props as w
from .web_server import Site

PROPERTY = settings(
    # CI's number keeps the file near a minute; ARTICLEBOT_PROPERTY_EXAMPLES=500 searches harder.
    max_examples=int(os.environ.get("ARTICLEBOT_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


# --- the site, and one index of its good version, per module --------------------------------
@dataclass(frozen=True)
class World:
    site: Site
    work: Path
    baseline: Path  # the index of the good site; each example re-syncs a copy
    articles: dict[str, str] = field(repr=False)  # what it holds: page URL -> text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("web-props")
    with Site() as site, w.cli_environment(work):
        w.serve_good(site)
        baseline = work / "baseline"
        urls = [site.url(p) for p in w.SOURCES]
        run = w.run_cli("index", "--index-dir", str(baseline), *urls)
        assert run.code == 0, run.err
        held = indexed(baseline)
        assert sorted(held) == sorted(site.url(p) for p in w.PAGES), run.err
        yield World(site, work, baseline, held)


def indexed(index_dir: Path) -> dict[str, str]:
    db = current_generation_dir(index_dir) / DB_NAME
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT key, text FROM articles").fetchall())


_copies = iter(range(10**9))


def resync(world: World, *flags: str) -> tuple[w.CliRun, Path]:
    """Re-sync a fresh copy of the good index against what the site serves now."""
    copy = world.work / f"run-{next(_copies)}"
    shutil.copytree(world.baseline, copy)
    return w.run_cli("index", "--index-dir", str(copy), "--prune", *flags), copy


def no_crash(run: w.CliRun) -> None:
    assert run.code in (0, 1) and "Traceback" not in run.err, f"exit {run.code}\n{run.err}"


# --- strategies -----------------------------------------------------------------------------
# Only links that fail before any lookup, or resolve on the test server: no DNS, ever.
JUNK_URLS = [
    "http://[::1", "http://a:99999/", "http://[fe80::1%25", "http://[::1]:99999/x",
    "http://127.0.0.1:-1/", "http://\x1b[31m/", "javascript:alert(1)", "http://", "\x07/x",
    "/a\x1b]0;pwned\x07", "/\x9b31m", "/%zz", "/" + "a" * 3000,
]  # fmt: skip
JUNK_TEXT = [
    "\x1b[2J\x1b]0;pwned\x07", "\x9b31m", "&amp;", "&bogus;", "&#27;", "&#x9b;", "\u202e",
    "<![CDATA[\x1b[31m]]>", "&lt;script&gt;",
]  # fmt: skip
DATES = [
    "99999999999999999999-01-01T00:00:00Z", "0000-00-00T00:00:00Z", "2005-13-45",
    "Mon, 99 Jan 99999999999 09:00:00 GMT", "9999-12-31T23:59:60Z", "-0001-01-01", "",
    "Tue, 11 Jan 2005 09:00:00 GMT",
]  # fmt: skip
urls = st.one_of(st.sampled_from(JUNK_URLS), st.text(max_size=20).map(lambda t: "/x/" + t))
texts = st.one_of(st.sampled_from(JUNK_TEXT), st.text(max_size=20))
dates = st.one_of(st.sampled_from(DATES), st.text(max_size=20))


@dataclass(frozen=True)
class Mutation:
    """One change to a body: cut at ``at``, flip bit ``bit`` of byte ``at``, or insert
    ``junk`` at ``at`` (``at`` is a fraction of the length, in ten-thousandths)."""

    kind: str
    at: int
    bit: int = 0
    junk: bytes = b""

    def apply(self, body: bytes) -> bytes:
        i = self.at * len(body) // 10_000
        if self.kind == "cut":
            return body[:i]
        if self.kind == "flip":
            return body[:i] + bytes([body[i] ^ (1 << self.bit)]) + body[i + 1 :]
        return body[:i] + self.junk + body[i:]


junk_bytes = st.one_of(
    st.sampled_from([j.encode("utf-8", "surrogatepass") for j in JUNK_URLS + JUNK_TEXT + DATES]),
    st.binary(max_size=16),
    st.sampled_from([b"<", b"</item>", b"<!--", b"]]>", b"\xff\xfe", b"\0"]),
)
fraction = st.integers(0, 9_999)
mutations = st.one_of(
    st.builds(Mutation, st.just("cut"), fraction),
    st.builds(Mutation, st.just("flip"), fraction, st.integers(0, 7)),
    st.builds(Mutation, st.just("insert"), fraction, junk=junk_bytes),
)


@dataclass(frozen=True)
class Listing:
    """A listing of the site served broken: mutated bytes, or one hostile entry more."""

    path: str
    mutation: Mutation | None
    entry: tuple[str, str, str] | None  # link, title, date

    def body(self, site: Site) -> bytes:
        extra = w.junk_entry(self.path, *self.entry) if self.entry else ""
        body = w.good_listing(site, self.path, 1, extra)
        return self.mutation.apply(body) if self.mutation else body


listings = st.builds(
    Listing,
    st.sampled_from(w.LISTINGS),
    st.none() | mutations,
    st.none() | st.tuples(urls, texts, dates),
)
# Sitemap cycles: the index names itself, or a second index that names the first.
CYCLES = {
    "self": ((w.SITEMAP_INDEX, f"<sitemap><loc>{w.SITEMAP_INDEX}</loc></sitemap>"),),
    "a-b-a": (
        (w.SITEMAP_INDEX, "<sitemap><loc>/sitemap-b.xml</loc></sitemap>"),
        ("/sitemap-b.xml", f"<sitemap><loc>{w.SITEMAP_INDEX}</loc></sitemap>"),
    ),
}
SLOW_RETRY = range(1, 61)  # a Retry-After the fetcher would honour by sleeping: not tried


def fast_retry(value: str) -> bool:
    text = value.strip()
    return not (text.isdecimal() and len(text) < 4 and int(text) in SLOW_RETRY)


HEADER_VALUES = ["١٢", "²", "-1", "1e9", "99999999999999999999", "gzip, gzip", "br", "0",
                 "\x1b[31m", "text/html; charset=\x1b", "x-gzip", "Mon, 99 Foo 2005", ""]  # fmt: skip
_any_value = st.one_of(st.sampled_from(HEADER_VALUES), st.text(max_size=30))
header_values = _any_value.map(lambda v: v.replace("\r", "").replace("\n", ""))
HEADER_NAMES = ["Retry-After", "Content-Length", "Content-Type", "Content-Encoding", "Location",
                "ETag", "Last-Modified"]  # fmt: skip
headers = st.lists(
    st.sampled_from(HEADER_NAMES).flatmap(
        lambda name: st.tuples(
            st.just(name), urls if name == "Location" else header_values.filter(fast_retry)
        )
    ),
    max_size=3,
).map(tuple)


@dataclass(frozen=True)
class Fault:
    """How one URL of the site is served broken: its body mutated, gzipped without a
    Content-Encoding, and hostile headers (503 with a Retry-After, 302 with a Location)."""

    path: str
    mutation: Mutation | None
    gzipped: bool
    headers: tuple[tuple[str, str], ...]

    def serve(self, site: Site, version: int) -> None:
        body = self.body(site, version)
        body = self.mutation.apply(body) if self.mutation else body
        body = gzip.compress(body) if self.gzipped else body
        names = {name for name, _ in self.headers}
        status = 503 if "Retry-After" in names else 302 if "Location" in names else 200
        kind = () if "Content-Type" in names else (("Content-Type", "text/html"),)
        site.handle(self.path, w.RawResponse(status, kind + self.headers, body))

    def body(self, site: Site, version: int) -> bytes:
        if self.path in w.LISTINGS:
            return w.good_listing(site, self.path, version)
        return w.page_v(self.path, version).encode()


faults = st.builds(
    Fault, st.sampled_from(w.PAGES + list(w.LISTINGS)), st.none() | mutations, st.booleans(),
    headers,
)  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    """The site as a re-sync finds it: maybe one broken listing, a sitemap cycle, and
    faults on pages; when pages are broken, every listing dates every page anew, so the
    re-sync fetches them all."""

    listing: Listing | None = None
    cycle: str | None = None
    faults: tuple[Fault, ...] = ()

    @property
    def version(self) -> int:
        return 2 if self.faults else 1

    def serve(self, site: Site) -> None:
        w.serve_good(site, self.version)
        for path, extra in CYCLES.get(self.cycle or "", ()):
            w.serve_listing(site, path, w.sitemap_index(site, self.version, extra))
        if self.listing is not None:
            w.serve_listing(site, self.listing.path, self.listing.body(site))
        for fault in self.faults:
            fault.serve(site, self.version)


broken_listings = st.builds(Scenario, listings) | st.builds(
    Scenario, cycle=st.sampled_from(sorted(CYCLES))
)
broken_pages = st.builds(Scenario, faults=st.lists(faults, min_size=1, max_size=3).map(tuple))
anything = st.builds(
    Scenario, st.none() | listings, st.none() | st.sampled_from(sorted(CYCLES)),
    st.lists(faults, max_size=3).map(tuple),
)  # fmt: skip


def report(run: w.CliRun) -> dict[str, object]:
    """The --json report; a run that crashed or stopped (exit 2) is the no-crash property's."""
    assume(run.code in (0, 1))
    return json.loads(run.out.splitlines()[-1])  # type: ignore[no-any-return]


def failed_urls(run: w.CliRun) -> list[str]:
    return [f["path"] for f in report(run)["failed"]]  # type: ignore[attr-defined]


# --- the properties -------------------------------------------------------------------------
@PROPERTY
@given(scenario=anything)
def test_no_exception_escapes_a_sync_of_a_broken_site(world: World, scenario: Scenario) -> None:
    scenario.serve(world.site)
    run, _ = resync(world, "--json")
    no_crash(run)


@PROPERTY
@given(scenario=anything)
def test_every_failure_names_a_url_of_the_source(world: World, scenario: Scenario) -> None:
    scenario.serve(world.site)
    run, _ = resync(world, "--json")
    for url in failed_urls(run):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == world.site.base, (url, run.err)


@PROPERTY
@given(scenario=broken_listings)
def test_a_listing_not_read_in_full_prunes_nothing(world: World, scenario: Scenario) -> None:
    scenario.serve(world.site)
    run, copy = resync(world, "--json")
    report(run)
    served = w.served(world.site, scenario.listing.path) if scenario.listing else b""
    if scenario.listing is None or not w.well_formed(served):
        kept = set(world.articles)  # a broken listing (or a cycle) drops nothing
    else:  # a valid listing may drop what it no longer names, and nothing else
        kept = {u for u in world.articles if urlsplit(u).path in still_named(world, scenario)}
    lost = kept - set(indexed(copy))
    assert not lost, (sorted(lost), run.err)


def still_named(world: World, scenario: Scenario) -> set[str]:
    source = w.SOURCE_OF[scenario.listing.path]  # type: ignore[union-attr]
    others = [s for s in w.SOURCES if s != source]
    untouched = {p for p in w.PAGES if any(p.startswith(w.LISTED_BY[s]) for s in others)}
    return untouched | w.still_listed(world.site, source)


@PROPERTY
@given(scenario=broken_pages)
def test_a_page_that_fails_keeps_its_previous_version(world: World, scenario: Scenario) -> None:
    scenario.serve(world.site)
    run, copy = resync(world, "--json")
    failed = set(failed_urls(run))
    now = indexed(copy)
    lost = set(world.articles) - set(now)
    assert not lost, (sorted(lost), run.err)
    changed = [u for u in failed if u in world.articles and now[u] != world.articles[u]]
    assert not changed, (changed, run.err)


@PROPERTY
@given(scenario=anything)
def test_the_cli_prints_no_control_characters(world: World, scenario: Scenario) -> None:
    scenario.serve(world.site)
    run, copy = resync(world)
    assume(run.code is not None)
    stats = w.run_cli("stats", "--index-dir", str(copy))
    printed = run.out + run.err + stats.out + stats.err
    assert not w.control_chars(printed), (w.control_chars(printed), printed)


# Peak over the same sync of one good page: raw chunks, inflated data, their join and the
# text decoded from it (up to 4 bytes a character) hold at most the cap each; 8 x cap.
FETCH_MAX_MB = 1
HUGE_MB = 32


@pytest.mark.parametrize(
    "path",
    ["/bomb.xml", "/bomb-encoded.xml", "/bomb-encoded.html", "/sitemap.xml.gz", "/huge.txt"],
)
def test_peak_memory_stays_under_the_fetch_cap(tmp_path: Path, path: str) -> None:
    bomb = w.gzip_bomb(HUGE_MB)
    with Site() as site, w.cli_environment(tmp_path, fetch_max_mb=FETCH_MAX_MB):
        site.route("/good.html", w.page_v("/news/dollar", 1))
        site.route("/bomb.xml", bomb, content_type="application/xml")
        site.handle("/bomb-encoded.xml", w.RawResponse(200, w.ENCODED_XML, bomb))
        site.handle("/bomb-encoded.html", w.RawResponse(200, w.ENCODED_HTML, bomb))
        site.route("/sitemap.xml.gz", bomb, content_type="application/gzip")
        site.handle("/huge.txt", w.Endless(HUGE_MB))
        w.run_cli("index", "--index-dir", str(tmp_path / "warm"), site.url("/good.html"))
        good = peak(tmp_path / "good", site.url("/good.html"))
        hostile = peak(tmp_path / "hostile", site.url(path))
    bound = good + 8 * FETCH_MAX_MB * 2**20
    assert hostile < bound, f"{path}: peak {hostile / 2**20:.1f} MB over {bound / 2**20:.1f} MB"


def peak(index_dir: Path, url: str) -> int:
    """tracemalloc's peak over one `articlebot index URL` into a new index."""
    tracemalloc.start()
    try:
        w.run_cli("index", "--index-dir", str(index_dir), url)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
