"""A hostile news site on 127.0.0.1, synced by the real `articlebot index` (issue 23).

    python -m benchmarks.hostile_site [--json]

The site is indexed twice into a fresh index: first its good version, then a hostile one
with --prune. The hostile version holds variants of issue 23's fault classes, not the
exact cases its regression tests pin: unparseable links (``http://a:99999/``,
``http://[fe80::1%25``), an overflowing date, a truncated Atom feed, a JSON error page
where a sitemap was, a sitemap cycle A -> B -> A, a gzip bomb served as text/plain at
/data.txt, robots.txt with a UTF-8 BOM and ``Disallow: /private*``, a Retry-After in
Arabic-Indic digits, and ESC sequences in a redirect's Location.

Targets: exit code 1 (pages failed, reported), no Traceback, every good page indexed,
peak RSS of the CLI under 700 MB (ARTICLEBOT_FETCH_MAX_MB=2), no request to a path
robots.txt disallows, and no article deleted by --prune after the broken listings.
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from index.stores.local.generations import DB_NAME, current_generation_dir
from tests.helpers import STORIES, page
from tests.web_server import Site

PEAK_RSS_MB = 700
STORY = list(STORIES.values())
GOOD_PAGES = ["/a/1", "/a/2", "/a/3", "/s/1", "/s/2", "/s/3", "/data.txt"]
ROBOTS = "\ufeffUser-agent: *\nDisallow: /private*\n"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def atom(entries: list[tuple[str, str]]) -> str:
    items = "".join(
        f'<entry><title>Story {i}</title><link href="{link}"/><id>{i}</id>'
        f"<updated>{date}</updated></entry>"
        for i, (link, date) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Hostile</title><id>h</id><updated>2005-02-01T10:00:00Z</updated>{items}</feed>"
    )


def sitemap(root: str, locs: list[str]) -> str:
    item = "sitemap" if root == "sitemapindex" else "url"
    body = "".join(f"<{item}><loc>{loc}</loc></{item}>" for loc in locs)
    return f'<{root} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</{root}>'


def serve_good(site: Site) -> None:
    site.route("/robots.txt", ROBOTS.encode("utf-8"), content_type="text/plain")
    links = [("/a/1", "2005-02-01T10:00:00Z"), ("/a/2", "2005-02-01T10:00:00Z")]
    links += [("/a/3", "2005-02-01T10:00:00Z"), ("/private-notes", "2005-02-01T10:00:00Z")]
    site.route("/atom.xml", atom(links), content_type="application/atom+xml")
    site.route("/sitemap.xml", sitemap("sitemapindex", ["/sitemap-a.xml"]), content_type="text/xml")
    site.route("/sitemap-a.xml", sitemap("urlset", ["/s/1", "/s/2", "/s/3", "/private/x"]))
    for i, path in enumerate(GOOD_PAGES[:-1]):
        site.route(path, page(STORY[i % 3]))
    site.route("/data.txt", STORY[0], content_type="text/plain")


def serve_hostile(site: Site) -> None:
    links = [("/a/1", "99999-12-31T23:59:59Z"), ("/a/2", "2005-02-02T10:00:00Z")]
    links += [("/a/3", "2005-02-02T10:00:00Z"), ("http://a:99999/", "2005-02-02T10:00:00Z")]
    links += [("http://[fe80::1%25", "+275760-09-13T00:00:00Z")]
    feed = atom(links).encode()
    site.route("/atom.xml", feed[: len(feed) * 3 // 4], content_type="application/atom+xml")
    site.route("/sitemap.xml", sitemap("sitemapindex", ["/sitemap-a.xml", "/sitemap-b.xml"]))
    site.route("/sitemap-b.xml", sitemap("sitemapindex", ["/sitemap.xml"]))  # A -> B -> A
    site.route("/sitemap-a.xml", '{"error": "rate limited"}', content_type="application/json")
    bomb = gzip.compress(b"\0" * (256 * 2**20), compresslevel=9)
    site.route("/data.txt", bomb, content_type="text/plain")
    site.handle("/a/2", retry_after_arabic)
    site.route("/a/3", "", status=302, headers={"Location": "/a/\x1b[2J\x1b]0;pwned\x07moved"})


def retry_after_arabic(request: BaseHTTPRequestHandler) -> None:
    """503 with Retry-After: ١٢ (twelve, in Arabic-Indic digits), sent as UTF-8 bytes:
    http.server would refuse the header."""
    head = "HTTP/1.1 503 Busy\r\nRetry-After: ١٢\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    request.wfile.write(head.encode("utf-8"))
    request.close_connection = True


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: int


def index(work: Path, *args: str) -> Run:
    env = {
        **os.environ,
        "ARTICLEBOT_INDEX_DIR": str(work / "idx"),
        "ARTICLEBOT_FETCH_MAX_MB": "2",
        "ARTICLEBOT_ALLOW_PRIVATE_URLS": "true",
        "ARTICLEBOT_FETCH_DELAY": "0",
        "ARTICLEBOT_CORPUS": str(work / "corpus"),
    }
    command = [sys.executable, "-m", "index", "index", *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, cwd=work, env=env, stdout=out, stderr=err, text=True)
        # wait4: this child's own peak RSS, not the largest of every child so far.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(child.returncode, out.read(), err.read(), usage.ru_maxrss // 1024)


def articles(work: Path) -> set[str]:
    db = current_generation_dir(work / "idx") / DB_NAME
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {key for (key,) in conn.execute("SELECT key FROM articles")}


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, Site() as site:
        work = Path(tmp)
        (work / "corpus").mkdir()
        serve_good(site)
        sources = [site.url(p) for p in ("/atom.xml", "/sitemap.xml", "/data.txt")]
        first = index(work, *sources)
        before = articles(work)
        serve_hostile(site)
        started = time.perf_counter()
        second = index(work, "--prune")
        seconds = time.perf_counter() - started
        after = articles(work)
        private = sorted({p for p in site.paths() if p.startswith("/private")})
    good = {site.url(p) for p in GOOD_PAGES}
    return {
        "cpu": cpu_model(),
        "first_exit": first.returncode,
        "exit": second.returncode,
        "traceback": "Traceback" in first.stderr + second.stderr,
        "good_indexed": f"{len(good & before)}/{len(good)}",
        "first_peak_rss_mb": first.peak_rss_mb,  # loads (and may export) the model
        "peak_rss_mb": second.peak_rss_mb,
        "disallowed_requests": private,
        "articles_before": len(before),
        "articles_after": len(after),
        "lost_to_prune": sorted(before - after),
        "hostile_seconds": round(seconds, 1),
        "stderr": second.stderr[-2000:],
    }


def targets(r: dict[str, object]) -> dict[str, bool]:
    return {
        "exit code 1": r["exit"] == 1,
        "no Traceback": not r["traceback"],
        "all good pages indexed": r["good_indexed"] == f"{len(GOOD_PAGES)}/{len(GOOD_PAGES)}",
        f"peak RSS < {PEAK_RSS_MB} MB": int(r["peak_rss_mb"]) < PEAK_RSS_MB,  # type: ignore[call-overload]
        "robots.txt honoured": not r["disallowed_requests"],
        "nothing lost to --prune": not r["lost_to_prune"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    result = run()
    met = targets(result)
    if args.json:
        print(json.dumps({**result, "targets": met}, ensure_ascii=True))
    else:
        print(f"CPU: {result['cpu']}")
        for key in ("first_exit", "exit", "traceback", "good_indexed", "first_peak_rss_mb"):
            print(f"{key:>22}: {result[key]}")
        for key in (
            "peak_rss_mb",
            "disallowed_requests",
            "articles_before",
            "articles_after",
            "lost_to_prune",
        ):
            print(f"{key:>22}: {result[key]}")
        print(f"{'hostile_seconds':>22}: {result['hostile_seconds']}")
        for name, ok in met.items():
            print(f"{'ok  ' if ok else 'FAIL'} {name}")
        print("stderr of the hostile run:\n" + result["stderr"].encode("unicode_escape").decode())  # type: ignore[union-attr]
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
