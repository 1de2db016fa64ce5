"""Web sources end to end: feeds, sitemaps, sites and pages served over real HTTP on
127.0.0.1, indexed by ``run_index`` into a real index, then re-synced."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from index.cli import SKIPS_SHOWN, main, print_index_report
from index.indexing import IndexReport, run_index
from index.indexing.report import UrlSkip
from index.settings import Settings
from index.stores.local.generations import DB_NAME, current_generation_dir

from .helpers import (
    ARTICLE_A,
    ARTICLE_B,
    DATE_1,
    DATE_2,
    STORIES,
    HashEmbedder,
    cli,
    page,
    rss,
    seed_models,
    serve_stories,
)
from .web_server import Site


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    # The test server is on 127.0.0.1: allowed here, refused by default.
    return settings.model_copy(update={"allow_private_urls": True, "fetch_delay": 0.0})


def index(settings: Settings, **kwargs: object) -> IndexReport:
    return run_index(settings, HashEmbedder(), **kwargs)  # type: ignore[arg-type]


def articles(settings: Settings) -> dict[str, dict[str, str]]:
    db = current_generation_dir(settings.index_dir) / DB_NAME
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = conn.execute("SELECT key, url, title, date, text FROM articles").fetchall()
    conn.close()
    return {r["key"]: dict(r) for r in rows}


def test_rss_feed_is_indexed_with_feed_metadata(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    entries = [(p, DATE_1) for p in STORIES]
    feed = site.route("/rss.xml", rss(site, entries), content_type="application/rss+xml")
    report = index(web_settings, urls=[feed])
    assert not report.failed, report.failed
    assert report.added == 3
    got = articles(web_settings)
    story = got[site.url("/news/yukos")]
    assert story["title"] == "Yukos unit buyer faces loan claim"
    assert story["date"] == "2005-01-10"  # from the feed entry
    assert story["url"] == site.url("/news/yukos")
    assert "Rosneft bought the Yugansk unit" in story["text"]
    assert "Cookie settings" not in story["text"] and "Business | Sport" not in story["text"]
    assert report.sources == [feed]


def test_resync_of_unchanged_feed_is_one_conditional_request(
    site: Site, web_settings: Settings
) -> None:
    serve_stories(site)
    entries = [(p, DATE_1) for p in STORIES]
    body = rss(site, entries)
    feed = site.route("/rss.xml", body, content_type="application/rss+xml", etag='"f1"')
    index(web_settings, urls=[feed])
    site.reset()
    embedder = HashEmbedder()
    report = run_index(web_settings, embedder)
    # robots.txt is remembered for 24 hours (RFC 9309): not asked again.
    assert site.paths() == ["/rss.xml"]
    assert site.hits[-1].headers.get("If-None-Match") == '"f1"'
    assert report.added == report.updated == report.removed == 0
    assert report.requests == 1
    assert embedder.embedded == []


def test_robots_txt_older_than_a_day_is_fetched_again(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    feed = site.route("/rss.xml", rss(site, []), content_type="application/rss+xml", etag='"f"')
    index(web_settings, urls=[feed])
    cache = web_settings.index_dir / "robots.json"
    rules = json.loads(cache.read_text())
    assert list(rules) == [site.base]
    rules[site.base]["fetched_at"] -= 25 * 3600
    cache.write_text(json.dumps(rules))
    site.reset()
    index(web_settings)
    assert site.paths() == ["/robots.txt", "/rss.xml"]


def test_changed_entry_is_refetched_and_new_entry_added(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    two = [("/news/time-warner", DATE_1), ("/news/dollar", DATE_1)]
    site.route("/rss.xml", rss(site, two), content_type="application/rss+xml", etag='"f1"')
    feed = site.url("/rss.xml")
    index(web_settings, urls=[feed])
    # The dollar story is updated (new date, new text); the yukos story is new.
    site.route("/news/dollar", page(ARTICLE_B + "\nThe euro fell 2% on the news.\n"))
    three = [("/news/time-warner", DATE_1), ("/news/dollar", DATE_2), ("/news/yukos", DATE_1)]
    site.route("/rss.xml", rss(site, three), content_type="application/rss+xml", etag='"f2"')
    site.reset()
    report = index(web_settings)
    fetched = sorted(p for p in site.paths() if p.startswith("/news/"))
    assert fetched == ["/news/dollar", "/news/yukos"]  # not the unchanged one
    assert (report.added, report.updated) == (1, 1)
    assert "The euro fell 2%" in articles(web_settings)[site.url("/news/dollar")]["text"]


def test_feed_that_loses_an_entry_keeps_it_unless_pruned(
    site: Site, web_settings: Settings
) -> None:
    serve_stories(site)
    entries = [(p, DATE_1) for p in STORIES]
    feed = site.route("/rss.xml", rss(site, entries), content_type="application/rss+xml")
    index(web_settings, urls=[feed])
    site.route("/rss.xml", rss(site, entries[:2]), content_type="application/rss+xml")
    report = index(web_settings)
    assert report.removed == 0 and len(articles(web_settings)) == 3
    report = index(web_settings, prune=True)
    assert report.removed == 1
    assert site.url("/news/yukos") not in articles(web_settings)


def test_entry_with_full_text_survives_a_failing_page(site: Site, web_settings: Settings) -> None:
    site.route("/news/time-warner", page(ARTICLE_A))
    site.route("/news/dollar", "oops", status=500, content_type="text/plain")
    full = {"/news/dollar": "<p>" + ARTICLE_B.replace("\n\n", "</p><p>") + "</p>" * 3}
    entries = [("/news/time-warner", DATE_1), ("/news/dollar", DATE_1), ("/news/yukos", DATE_1)]
    feed = site.route("/rss.xml", rss(site, entries, full=full), content_type="application/rss+xml")
    report = index(web_settings, urls=[feed])
    got = articles(web_settings)
    assert "Alan Greenspan highlighted" in got[site.url("/news/dollar")]["text"]
    # The yukos page is not served at all and the entry has no full text: reported.
    assert [f.path for f in report.failed] == [site.url("/news/yukos")]
    assert "404" in report.failed[0].reason
    assert len(got) == 2


def test_atom_feed(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    entries = "".join(
        f"<entry><title>{STORIES[p].strip().splitlines()[0]}</title>"
        f'<link href="{p}"/><id>{p}</id><updated>2005-02-0{i + 1}T10:00:00Z</updated>'
        f"<author><name>Reporter {i}</name></author></entry>"
        for i, p in enumerate(STORIES)
    )
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        f'xml:base="{site.url("/")}"><title>Example</title><id>x</id>'
        f"<updated>2005-02-03T10:00:00Z</updated>{entries}</feed>"
    )
    feed = site.route("/atom.xml", atom, content_type="application/atom+xml")
    report = index(web_settings, urls=[feed])
    assert report.added == 3, report.failed
    got = articles(web_settings)
    assert got[site.url("/news/dollar")]["date"] == "2005-02-02"


def test_sitemap_index_with_gzipped_sitemap(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    urlset = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(
            f"<url><loc>{site.url(p)}</loc><lastmod>2005-01-10</lastmod></url>" for p in STORIES
        )
        + "</urlset>"
    )
    site.route(
        "/sitemap-news.xml.gz", gzip.compress(urlset.encode()), content_type="application/x-gzip"
    )
    index_xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{site.url('/sitemap-news.xml.gz')}</loc>"
        "<lastmod>2005-01-10</lastmod></sitemap></sitemapindex>"
    )
    sitemap = site.route("/sitemap.xml", index_xml, content_type="application/xml", etag='"s1"')
    report = index(web_settings, urls=[sitemap])
    assert report.added == 3, report.failed
    site.reset()
    report = index(web_settings)
    assert site.paths() == ["/sitemap.xml"]
    assert report.added == report.updated == 0


def test_home_page_feeds_are_discovered(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    entries = [(p, DATE_1) for p in STORIES]
    site.route("/feeds/all.rss", rss(site, entries), content_type="application/rss+xml")
    home = (
        '<html><head><link rel="alternate" type="application/rss+xml" href="/feeds/all.rss">'
        "</head><body><h1>Example News</h1><p>Latest stories.</p></body></html>"
    )
    report = index(web_settings, urls=[site.route("/", home)])
    assert report.added == 3, report.failed
    assert report.web[site.url("/")]["kind"] == "site"


def test_single_page_in_a_legacy_charset(site: Site, web_settings: Settings) -> None:
    story = "Café owners protest\n\nThe café owners of Zürich said the new tax was unfair."
    html = page(story).encode("windows-1252")
    url = site.route("/cafe", html, content_type="text/html; charset=windows-1252")
    report = index(web_settings, urls=[url])
    assert report.added == 1, report.failed
    assert "The café owners of Zürich" in articles(web_settings)[url]["text"]


def disallow(site: Site, settings: Settings, path: str) -> None:
    """Serve a robots.txt that disallows ``path``, and forget the one cached."""
    site.route("/robots.txt", f"User-agent: *\nDisallow: {path}\n", content_type="text/plain")
    (settings.index_dir / "robots.json").unlink(missing_ok=True)


def test_robots_txt_disallowed_page_is_a_skip_not_a_failure(
    site: Site, web_settings: Settings
) -> None:
    serve_stories(site)
    disallow(site, web_settings, "/news/yukos")
    entries = [(p, DATE_1) for p in STORIES]
    feed = site.route("/rss.xml", rss(site, entries), content_type="application/rss+xml")
    report = index(web_settings, urls=[feed])
    assert report.added == 2 and report.failed == []
    assert report.skipped_urls == [UrlSkip(site.url("/news/yukos"), "disallowed by robots.txt")]
    assert report.web[feed]["skipped"] == 1 and report.web[feed]["failed"] == 0
    assert "/news/yukos" not in site.paths()


def test_page_disallowed_later_stays_indexed_and_prune_still_works(
    site: Site, web_settings: Settings
) -> None:
    serve_stories(site)
    entries = [(p, DATE_1) for p in STORIES]
    feed = site.route("/rss.xml", rss(site, entries), content_type="application/rss+xml")
    index(web_settings, urls=[feed])
    disallow(site, web_settings, "/news/yukos")
    # The yukos story changed, and the time-warner story left the feed.
    changed = [("/news/dollar", DATE_1), ("/news/yukos", DATE_2)]
    site.route("/rss.xml", rss(site, changed), content_type="application/rss+xml")
    site.reset()
    report = index(web_settings, prune=True)
    assert report.failed == [] and [s.url for s in report.skipped_urls] == [site.url("/news/yukos")]
    # The listing was read in full despite the skip: what it dropped is pruned.
    assert report.removed == 1
    assert sorted(articles(web_settings)) == [site.url("/news/dollar"), site.url("/news/yukos")]
    assert "/news/yukos" not in site.paths()


def test_disallowed_source_is_a_skip_and_keeps_its_articles(
    site: Site, web_settings: Settings
) -> None:
    serve_stories(site)
    entries = [(p, DATE_1) for p in STORIES]
    feed = site.route("/rss.xml", rss(site, entries), content_type="application/rss+xml")
    index(web_settings, urls=[feed])
    disallow(site, web_settings, "/rss.xml")
    site.reset()
    report = index(web_settings, prune=True)
    assert report.failed == [] and report.removed == 0
    assert report.skipped_urls == [UrlSkip(feed, "disallowed by robots.txt")]
    assert report.web[feed]["skipped"] == 1 and report.web[feed]["error"] is None
    assert len(articles(web_settings)) == 3
    assert site.paths() == ["/robots.txt"]


def test_failing_source_keeps_what_was_indexed(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    entries = [(p, DATE_1) for p in STORIES]
    feed = site.route("/rss.xml", rss(site, entries), content_type="application/rss+xml")
    index(web_settings, urls=[feed])
    site.route("/rss.xml", "down", status=500, content_type="text/plain")
    report = index(web_settings)
    assert [f.path for f in report.failed] == [feed]
    assert report.removed == 0 and len(articles(web_settings)) == 3


def test_remove_source_drops_its_articles(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    entries = [(p, DATE_1) for p in STORIES]
    feed = site.route("/rss.xml", rss(site, entries), content_type="application/rss+xml")
    one = site.url("/news/dollar")
    index(web_settings, urls=[feed, one])
    report = index(web_settings, remove_urls=[feed])
    assert report.removed == 2  # the dollar story is still listed by the page source
    assert list(articles(web_settings)) == [one]


def test_image_link_is_reported_and_skipped(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    site.route("/photo.png", b"\x89PNG\r\n\x1a\n" + bytes(100), content_type="image/png")
    body = rss(site, [("/news/dollar", DATE_1)]).replace(
        "</channel>",
        f"<item><title>Photo</title><link>{site.url('/photo.png')}</link></item></channel>",
    )
    feed = site.route("/rss.xml", body, content_type="application/rss+xml")
    report = index(web_settings, urls=[feed])
    assert report.added == 1
    assert [f.path for f in report.failed] == [site.url("/photo.png")]
    assert "image/png" in report.failed[0].reason


@pytest.mark.slow
def test_cli_index_url_exit_code_and_stats(
    site: Site, tmp_path: Path, exported_models: Path
) -> None:
    """The real CLI and model: a feed with one failing page indexes the rest, exits 1,
    and `stats` lists the source with its article count and last sync."""
    seed_models(tmp_path / "idx", exported_models)
    serve_stories(site)
    site.remove("/news/yukos")
    entries = [(p, DATE_1) for p in STORIES]
    feed = site.route("/rss.xml", rss(site, entries), content_type="application/rss+xml")
    env = {"ARTICLEBOT_ALLOW_PRIVATE_URLS": "true", "ARTICLEBOT_FETCH_DELAY": "0"}
    result = cli(tmp_path, "index", feed, **env)
    assert result.returncode == 1, result.stderr
    assert f"failed: {site.url('/news/yukos')}: HTTP 404" in result.stderr
    stats = cli(tmp_path, "stats", "--json", **env)
    [source] = json.loads(stats.stdout)["sources"]
    assert (source["url"], source["kind"], source["articles"]) == (feed, "feed", 2)
    assert source["last_sync"] and source["error"] is None
    assert "(feed): 2 articles" in cli(tmp_path, "stats", **env).stdout


def test_many_skips_are_shown_first_few_then_counted(
    site: Site, web_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    disallow(site, web_settings, "/private/")
    links = "".join(
        f"<item><title>P{i}</title><link>{site.url(f'/private/{i}')}</link></item>"
        for i in range(SKIPS_SHOWN + 2)
    )
    body = rss(site, []).replace("</channel>", links + "</channel>")
    report = index(web_settings, urls=[site.route("/rss.xml", body, content_type="text/xml")])
    print_index_report(report, as_json=True)
    printed = capsys.readouterr()
    err = printed.err.splitlines()
    shown = [line for line in err if line.startswith("skipped: http")]
    assert len(shown) == SKIPS_SHOWN and shown[0].endswith(": disallowed by robots.txt")
    assert "skipped: 2 more URL(s) that robots.txt disallows (--json lists them all)" in err
    assert len(json.loads(printed.out)["skipped_urls"]) == SKIPS_SHOWN + 2


def test_escape_sequences_in_a_link_reach_no_terminal(
    site: Site, web_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_stories(site)
    hostile = site.url("/news/\x1b]0;pwned\x07\x1b[2J\u202egnp.exe")
    body = rss(site, [("/news/dollar", DATE_1)]).replace(
        "</channel>", f"<item><title>x</title><link>{hostile}</link></item></channel>"
    )
    feed = site.route("/rss.xml", body, content_type="text/xml")
    report = index(web_settings, urls=[feed])
    # The raw link, as the feed had it; and the feed itself, as raw ESC is not XML.
    assert sorted(f.path for f in report.failed) == sorted([hostile, feed])
    print_index_report(report, as_json=False)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    assert "failed: " + site.url("/news/\\u001b]0;pwned\\u0007\\u001b[2J\\u202egnp.exe") in err


@pytest.mark.slow
def test_cli_feed_whose_only_problem_is_a_robots_disallowed_link_exits_0(
    site: Site, tmp_path: Path, exported_models: Path
) -> None:
    seed_models(tmp_path / "idx", exported_models)
    serve_stories(site)
    site.route("/robots.txt", "User-agent: *\nDisallow: /news/yukos\n", content_type="text/plain")
    entries = [(p, DATE_1) for p in STORIES]
    feed = site.route("/rss.xml", rss(site, entries), content_type="application/rss+xml")
    env = {"ARTICLEBOT_ALLOW_PRIVATE_URLS": "true", "ARTICLEBOT_FETCH_DELAY": "0"}
    result = cli(tmp_path, "index", "--json", feed, **env)
    assert result.returncode == 0, result.stderr
    yukos = site.url("/news/yukos")
    assert f"skipped: {yukos}: disallowed by robots.txt" in result.stderr
    report = json.loads(result.stdout)
    assert report["failed"] == [] and report["added"] == 2
    assert report["skipped_urls"] == [{"url": yukos, "reason": "disallowed by robots.txt"}]
    assert "/news/yukos" not in site.paths()
    [source] = json.loads(cli(tmp_path, "stats", "--json", **env).stdout)["sources"]
    assert (source["articles"], source["skipped"], source["error"]) == (2, 1, None)
    assert "(feed): 2 articles · last sync" in cli(tmp_path, "stats", **env).stdout
    assert "· 1 skipped (robots.txt)" in cli(tmp_path, "stats", **env).stdout


@pytest.mark.slow
def test_cli_prints_no_escape_sequence_from_a_source_or_its_links(
    site: Site, tmp_path: Path, exported_models: Path
) -> None:
    """A source URL given with ESC in it, and a feed entry link with an OSC title and a
    clear-screen in it: `index` and `stats` print them escaped, never the raw bytes."""
    seed_models(tmp_path / "idx", exported_models)
    serve_stories(site)
    hostile = site.url("/news/\x1b]0;pwned\x07\x1b[2J")
    body = rss(site, [("/news/dollar", DATE_1)]).replace(
        "</channel>", f"<item><title>x</title><link>{hostile}</link></item></channel>"
    )
    feed = site.route("/rss.xml", body, content_type="application/rss+xml")
    bad_source = site.url("/feed\x1b[2J.xml")
    env = {"ARTICLEBOT_ALLOW_PRIVATE_URLS": "true", "ARTICLEBOT_FETCH_DELAY": "0"}
    result = cli(tmp_path, "index", feed, bad_source, **env)
    assert result.returncode == 1
    # The link, the bad source, and the feed (raw ESC is not XML: read, not pruned).
    assert result.stderr.count("failed: ") == 3, result.stderr
    assert site.url("/news/\\u001b]0;pwned\\u0007\\u001b[2J") in result.stderr
    stats = cli(tmp_path, "stats", **env)
    assert site.url("/feed\\u001b[2J.xml") in stats.stdout
    for output in (result.stdout, result.stderr, stats.stdout, stats.stderr):
        assert "\x1b" not in output and "\x07" not in output


def test_private_addresses_refused_by_default(site: Site, settings: Settings) -> None:
    feed = site.route("/rss.xml", "<rss/>", content_type="application/rss+xml")
    report = run_index(settings, HashEmbedder(), urls=[feed])
    assert [f.path for f in report.failed] == [feed]
    assert "ARTICLEBOT_ALLOW_PRIVATE_URLS" in report.failed[0].reason
    assert site.count() == 0


def test_unsupported_scheme_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["index", "--index-dir", str(tmp_path / "i"), "ftp://example.com/feed"])
    assert code == 2
    err = capsys.readouterr().err
    assert "ftp://example.com/feed" in err and "http" in err


# --- a hostile site (issue 23): each case fails alone, loses nothing, invents nothing ------------


def stored_kind(settings: Settings, url: str) -> str | None:
    db = current_generation_dir(settings.index_dir) / DB_NAME
    conn = sqlite3.connect(db)
    row = conn.execute("SELECT kind FROM web_sources WHERE url = ?", (url,)).fetchone()
    conn.close()
    return row[0] if row else None


BAD_URLS = ("http://[::1", "http://a:99999/", "http://a:x/")


def test_unparseable_urls_in_a_sitemap_and_home_page_are_dropped(
    site: Site, web_settings: Settings
) -> None:
    serve_stories(site)
    locs = [*BAD_URLS, site.url("/news/dollar")]
    urlset = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
        + "</urlset>"
    )
    sitemap = site.route("/sitemap.xml", urlset, content_type="application/xml")
    entries = rss(site, [("/news/yukos", DATE_1)]).replace(
        "</channel>", f"<item><title>Bad</title><link>{BAD_URLS[0]}</link></item></channel>"
    )
    site.route("/feeds/all.rss", entries, content_type="application/rss+xml")
    links = "".join(
        f'<link rel="alternate" type="application/rss+xml" href="{href}">'
        for href in (*BAD_URLS, "/feeds/all.rss")
    )
    home = site.route("/", f"<html><head>{links}</head><body><p>News.</p></body></html>")
    for _ in range(2):  # the second run used to crash too, until the source was removed
        report = index(web_settings, urls=[sitemap, home])
        assert not report.failed, report.failed
    assert sorted(articles(web_settings)) == [site.url("/news/dollar"), site.url("/news/yukos")]
    assert report.web[home]["kind"] == "site"


def test_a_source_that_is_not_a_feed_fails_alone(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    bad = site.route("/bad.xml", "<rss><channel><title>cut", content_type="application/rss+xml")
    good = site.route(
        "/rss.xml", rss(site, [(p, DATE_1) for p in STORIES]), content_type="application/rss+xml"
    )
    site.route("/broken.xml", "<feed>oops", content_type="application/atom+xml")
    report = index(web_settings, urls=[bad, good, site.url("/broken.xml")])
    assert report.added == 3 and len(articles(web_settings)) == 3
    failed = {f.path: f.reason for f in report.failed}
    assert set(failed) == {bad, site.url("/broken.xml")}  # the CLI exits 1
    assert all("\n" not in reason for reason in failed.values())


def test_an_internal_error_in_one_source_is_its_failure_in_one_line(
    site: Site, web_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any exception type, not only the expected ones: a bug stands in as one."""
    import index.web.sync as sync

    serve_stories(site)
    good = site.route(
        "/rss.xml", rss(site, [(p, DATE_1) for p in STORIES]), content_type="application/rss+xml"
    )
    bad = site.route("/odd.xml", rss(site, []), content_type="application/rss+xml")
    real = sync.sniff

    def sniff(body: bytes, content_type: str, url: str) -> str:
        if url == bad:
            raise ValueError("a bug\nover two lines")
        return real(body, content_type, url)

    monkeypatch.setattr(sync, "sniff", sniff)
    report = index(web_settings, urls=[bad, good])
    assert report.added == 3
    [failure] = report.failed
    assert failure.path == bad
    assert failure.reason == f"internal error reading {bad}: ValueError: a bug over two lines"
    assert report.web[bad]["error"] == failure.reason


def test_unreadable_feed_dates_are_no_dates(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    body = rss(site, [(p, DATE_1) for p in STORIES])
    body = body.replace(DATE_1, "Mon, 10 Jan 20000000000000000000 09:00:00 GMT", 1)
    body = body.replace(DATE_1, "0000-00-00T00:00:00Z", 1)
    feed = site.route("/rss.xml", body, content_type="application/rss+xml")
    report = index(web_settings, urls=[feed])
    assert not report.failed, report.failed
    dates = sorted(str(a["date"]) for a in articles(web_settings).values())
    assert dates == ["2005-01-10", "None", "None"]


def test_a_cut_short_feed_prunes_nothing(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    body = rss(site, [(p, DATE_1) for p in STORIES])
    feed = site.route("/rss.xml", body, content_type="application/rss+xml")
    index(web_settings, urls=[feed])
    cut = body[: body.index("/news/yukos")]  # the third item's link is never read
    site.route("/rss.xml", cut, content_type="application/rss+xml")
    report = index(web_settings, prune=True)
    assert report.removed == 0 and len(articles(web_settings)) == 3
    [failure] = report.failed
    assert failure.path == feed
    assert "feed is malformed or cut short" in failure.reason
    assert failure.reason.endswith("its entries were read, nothing pruned")


def test_a_feed_serving_a_maintenance_page_keeps_its_kind_and_articles(
    site: Site, web_settings: Settings
) -> None:
    serve_stories(site)
    body = rss(site, [(p, DATE_1) for p in STORIES])
    feed = site.route("/rss.xml", body, content_type="application/rss+xml")
    index(web_settings, urls=[feed], prune=True)
    down = "<html><body><h1>Down for maintenance</h1><p>Back soon, we promise.</p></body></html>"
    site.route("/rss.xml", down)
    report = index(web_settings, prune=True)
    assert [f.path for f in report.failed] == [feed]
    assert "was a feed; it now serves a web page: nothing changed" in report.failed[0].reason
    site.route("/rss.xml", body, content_type="application/rss+xml")
    last = index(web_settings, prune=True)
    assert not last.failed and report.removed == last.removed == 0
    got = articles(web_settings)
    assert sorted(got) == sorted(site.url(p) for p in STORIES)
    assert not any("maintenance" in a["text"] for a in got.values())
    assert stored_kind(web_settings, feed) == "feed" and last.web[feed]["kind"] == "feed"


def test_a_site_whose_home_page_loses_its_feeds_fails(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    feeds = '<link rel="alternate" type="application/rss+xml" href="/feeds/all.rss">'
    site.route("/feeds/all.rss", rss(site, [(p, DATE_1) for p in STORIES]))
    home = site.route("/", f"<html><head>{feeds}</head><body><p>News today.</p></body></html>")
    index(web_settings, urls=[home])
    site.route("/", "<html><body><h1>Down for maintenance</h1><p>Back soon.</p></body></html>")
    report = index(web_settings, prune=True)
    assert [f.path for f in report.failed] == [home]
    assert "now serves a web page that advertises no feeds" in report.failed[0].reason
    assert sorted(articles(web_settings)) == sorted(site.url(p) for p in STORIES)
    assert stored_kind(web_settings, home) == "site"


def test_a_sitemap_index_listing_itself_is_read_once(site: Site, web_settings: Settings) -> None:
    serve_stories(site)
    urlset = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in STORIES)
        + "</urlset>"
    )
    site.route("/pages.xml", urlset, content_type="application/xml")
    children = "".join(
        f"<sitemap><loc>{site.url(p)}</loc></sitemap>" for p in ("/sitemap.xml", "/pages.xml")
    )
    xml = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{children}</sitemapindex>"
    )
    sitemap = site.route("/sitemap.xml", xml, content_type="application/xml")
    report = index(web_settings, urls=[sitemap], prune=True)
    assert not report.failed, report.failed  # exit 0
    assert report.added == 3
    assert site.count("/sitemap.xml") == site.count("/pages.xml") == 1


def test_a_page_date_comes_from_its_metadata_never_its_text(
    site: Site, web_settings: Settings
) -> None:
    story = (
        "Family bakery marks a milestone\n\n"
        "The bakery, founded in 1998 by two brothers, still bakes every loaf by hand.\n\n"
        "Its sourdough recipe has not changed since 1998, the owners said on the day."
    )
    plain = site.route("/bakery", page(story))  # its footer says "Copyright 2005"
    meta = '<meta property="article:published_time" content="2024-03-05T10:00:00Z">'
    dated = site.route("/bakery-dated", page(story).replace("<head>", f"<head>{meta}"))
    report = index(web_settings, urls=[plain, dated])
    assert report.added == 2, report.failed
    got = articles(web_settings)
    assert got[plain]["date"] is None
    assert got[dated]["date"] == "2024-03-05"
