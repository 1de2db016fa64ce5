"""Syncing a web site: 1,000 BBC articles served as HTML pages on 127.0.0.1, listed by one
RSS feed (the newest 500) and one sitemap (all 1,000), indexed by the real CLI.

    python benchmarks/web_sync.py [--pages 1000] [--delay 0]

Measures, in one run:
- the first sync (`articlebot index FEED SITEMAP`): wall time, HTTP requests, pages/s,
  peak RSS of the process;
- fetching alone (``index.web.sync.sync_web`` in this process, no embedding): pages/s;
- the re-sync of the unchanged site (`articlebot index`): requests (target: one per feed
  or sitemap, no page fetches) and wall time (target < 2 s);
- baseline: a bare `python -c "import index.cli"` start-up, so the table shows what
  the sync itself costs.

The server answers conditional requests (ETag) like a real one. ``--delay`` is the
politeness delay per host (the default setting, 0.5 s, caps one host at ~2 pages/s
with 2 connections: 1,000 pages take ~8 minutes; a local benchmark measures our cost).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import BBC
from tests.web_server import Site


def cpu_flags() -> str:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split("flags")[1].split("\n")[0].split())
    except (OSError, IndexError):
        return platform.processor() or "?"
    wanted = ["avx2", "avx512f", "avx512_vnni", "avx_vnni"]
    return ", ".join(f for f in wanted if f in flags) or "no AVX2"


def bbc_articles(n: int) -> list[tuple[str, str]]:
    """(title, body) of the first ``n`` BBC articles, sorted by path (Latin-1 tolerated)."""
    files = sorted(p for p in BBC.rglob("*.txt") if p.name != "README.txt")[:n]
    out = []
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        title, _, body = text.strip().partition("\n")
        out.append((title.strip(), body.strip()))
    return out


def page_html(title: str, body: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n") if p.strip())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "</head><body><nav><a href='/'>Home</a> | <a href='/news'>News</a></nav>"
        f"<article><h1>{html.escape(title)}</h1>{paragraphs}</article>"
        "<footer>© Example News · Cookies · Terms</footer></body></html>"
    )


def build_site(site: Site, articles: list[tuple[str, str]]) -> tuple[str, str]:
    items, urls = [], []
    for i, (title, body) in enumerate(articles):
        path = f"/news/{i:05d}"
        site.route(path, page_html(title, body), etag=f'"p{i}"')
        day = 1 + i % 28
        urls.append(f"<url><loc>{site.url(path)}</loc><lastmod>2005-02-{day:02d}</lastmod></url>")
        if i >= len(articles) // 2:  # the feed lists the newest half
            items.append(
                f"<item><title>{html.escape(title)}</title><link>{site.url(path)}</link>"
                f"<pubDate>Tue, {day:02d} Feb 2005 10:00:00 GMT</pubDate></item>"
            )
    feed = site.route(
        "/rss.xml",
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Example</title>"
        f"{''.join(items)}</channel></rss>",
        content_type="application/rss+xml",
        etag='"feed-1"',
    )
    sitemap = site.route(
        "/sitemap.xml",
        "<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        f"{''.join(urls)}</urlset>",
        content_type="application/xml",
        etag='"sitemap-1"',
    )
    return feed, sitemap


# Runs the CLI (or a bare import) and then writes the process's peak RSS to a file.
_MEASURED = """
import atexit, os, resource, runpy, sys
atexit.register(lambda: open(os.environ["RSS_FILE"], "w").write(
    str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
sys.argv = ["articlebot", *sys.argv[1:]]
if sys.argv[1:]:
    runpy.run_module("index", run_name="__main__")
else:
    import index.cli
"""


def run(args: list[str], env: dict[str, str]) -> tuple[float, float, dict[str, object]]:
    """Wall seconds, peak RSS (MB) and the JSON report of one CLI run (``args`` after
    ``articlebot``; none: just import the CLI)."""
    with tempfile.NamedTemporaryFile() as rss:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURED, *args],
            env={**env, "RSS_FILE": rss.name},
            capture_output=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{args} failed: {proc.stderr.decode()[-2000:]}")
        peak = int(Path(rss.name).read_text() or 0) / 1024
    text = proc.stdout.decode().strip()
    return elapsed, peak, (json.loads(text) if text.startswith("{") else {})


def fetch_only(site: Site, feed: str, sitemap: str, delay: float) -> tuple[float, int, int]:
    """Fetch and extract every page once, no embedding: seconds, pages, failures. (Its
    peak RSS is this process's, which also holds the served site.)"""
    from index.settings import Settings
    from index.types import WebSource, WebState
    from index.web.sync import sync_web

    settings = Settings(_env_file=None, allow_private_urls=True, fetch_delay=delay)  # type: ignore[call-arg]
    started = time.perf_counter()
    scan = sync_web(settings, [WebSource(feed), WebSource(sitemap)], WebState())
    return time.perf_counter() - started, len(scan.changed), len(scan.failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.0, help="ARTICLEBOT_FETCH_DELAY")
    opts = parser.parse_args()
    articles = bbc_articles(opts.pages)
    print(
        f"CPU: {os.cpu_count()} cores, {cpu_flags()}; {len(articles)} pages; delay {opts.delay} s"
    )
    with Site() as site, tempfile.TemporaryDirectory() as tmp:
        feed, sitemap = build_site(site, articles)
        env = {
            **os.environ,
            "ARTICLEBOT_INDEX_DIR": str(Path(tmp) / "index"),
            "ARTICLEBOT_ALLOW_PRIVATE_URLS": "true",
            "ARTICLEBOT_FETCH_DELAY": str(opts.delay),
        }
        cli = ["index", "--json"]
        base_s, base_rss, _ = run([], env)
        site.reset()
        fetch_s, pages, failed = fetch_only(site, feed, sitemap, opts.delay)
        fetch_requests = site.count()
        site.reset()
        first_s, first_rss, first = run([*cli, feed, sitemap], env)
        first_requests = site.count()
        site.reset()
        again_s, again_rss, again = run(cli, env)
        again_paths = site.paths()
        site.reset()
        # The first sync also exported the ONNX model (torch): a rebuild with the model
        # cached shows what syncing and embedding alone take.
        rebuild_s, rebuild_rss, rebuild = run([*cli, "--rebuild"], env)
        rebuild_requests = site.count()
    rows = [
        ("baseline: python -c 'import index.cli'", base_s, "-", "-", base_rss),
        (
            "fetch + extract only (no embedding)",
            fetch_s,
            fetch_requests,
            f"{pages / fetch_s:.1f} pages/s ({failed} failed)",
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        ),
        (
            "first sync: articlebot index FEED SITEMAP",
            first_s,
            first_requests,
            f"{first.get('added')} articles, {first.get('passages')} passages, "
            f"{int(first.get('added') or 0) / first_s:.1f} pages/s",
            first_rss,
        ),
        (
            "re-sync, site unchanged: articlebot index",
            again_s,
            len(again_paths),
            f"{again.get('added')} added / {again.get('updated')} updated; "
            f"requests: {', '.join(sorted(set(again_paths)))}",
            again_rss,
        ),
        (
            "the same, model cached: articlebot index --rebuild",
            rebuild_s,
            rebuild_requests,
            f"{rebuild.get('added')} articles, "
            f"{int(rebuild.get('added') or 0) / rebuild_s:.1f} pages/s",
            rebuild_rss,
        ),
    ]
    print("| run | wall s | HTTP requests | result | peak RSS MB |")
    print("|---|---|---|---|---|")
    for name, secs, requests, result, rss in rows:
        print(f"| {name} | {secs:.2f} | {requests} | {result} | {rss:.0f} |")
    print(f"re-sync minus start-up baseline: {again_s - base_s:.2f} s")


if __name__ == "__main__":
    main()
