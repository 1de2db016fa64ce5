"""What an index remembers of its web sources.

The sources, which page each lists, and the conditional-request state (ETag,
Last-Modified) of every URL are stored with the articles (``IndexWriter.write_web``),
so they are published atomically with them: a run killed after a feed answered 200 but
before its pages were indexed leaves the old ETag, and the next run asks again instead
of being told "304, nothing new". An article from the web has the page URL it was
listed under as its origin.

Beside the index, as plain files: when each source last synced (``sources.json``), and
robots.txt rules (``robots.json``, a cache).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ..types import RobotsRules

SYNC_LOG = "sources.json"  # in the index folder: when each web source last synced
ROBOTS_CACHE = "robots.json"  # robots.txt rules by origin, reused for up to 24 hours


def write_sync_log(index_dir: Path, runs: dict[str, dict[str, Any]]) -> None:
    """Record when each web source last synced and how it went. Kept beside the
    generations, not in them: a sync that changed nothing writes no generation."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    log = {url: {**run, "last_sync": now} for url, run in runs.items()}
    for url, run in log.items():
        if run.get("error") is None:
            run["last_ok"] = now
        else:
            run["last_ok"] = read_sync_log(index_dir).get(url, {}).get("last_ok")
    _atomic_json(index_dir / SYNC_LOG, log)


def read_sync_log(index_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((index_dir / SYNC_LOG).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_robots(index_dir: Path) -> dict[str, RobotsRules]:
    """robots.txt rules an earlier run fetched (a cache: unreadable means empty)."""
    try:
        data = json.loads((index_dir / ROBOTS_CACHE).read_text())
        return {o: RobotsRules(float(r["fetched_at"]), r["text"]) for o, r in data.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def write_robots(index_dir: Path, rules: dict[str, RobotsRules]) -> None:
    data = {o: {"fetched_at": r.fetched_at, "text": r.text} for o, r in rules.items()}
    _atomic_json(index_dir / ROBOTS_CACHE, data)


def _atomic_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # the PostgreSQL store has no generations here
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
