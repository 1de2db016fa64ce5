"""Values and helpers that several test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.settings import Settings
from index.stores.local.snapshot import Snapshot

from .web_server import Site

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
BBC = SHARED / "bbc-news"
SQUAD = SHARED / "squad" / "squad2-normans-complexity.json"

# --- the test embedder --------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+|[^\w\s]")


class HashEmbedder:
    """Deterministic bag-of-words vectors (feature hashing): fast, and texts that share
    words get similar vectors, which is all the indexer's tests need."""

    def __init__(self, name: str = "test/hash-embedder", dimension: int = 64, max_tokens: int = 60):
        self._name = name
        self._dimension = dimension
        self._max_tokens = max_tokens
        self.embedded: list[str] = []  # every text embedded, to assert on incrementality

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(t)) for t in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                h = int.from_bytes(
                    hashlib.blake2b(token.encode(), digest_size=8).digest(), "little"
                )
                out[i, h % self._dimension] += 1.0 if (h >> 32) & 1 else -1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
        return out


# --- corpora --------------------------------------------------------------------------------------


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


ARTICLE_A = """Ad sales boost Time Warner profit

Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn (£600m) for the three months to December, from $639m year-earlier.

The firm, which is now one of the biggest investors in Google, benefited from sales of high-speed internet connections and higher advert sales. TimeWarner said fourth quarter sales rose 2% to $11.1bn from $10.9bn.
"""

ARTICLE_B = """Dollar gains on Greenspan speech

The dollar has hit its highest level against the euro in almost three months after the Federal Reserve head said the US trade deficit is set to stabilise.

And Alan Greenspan highlighted the US government's willingness to curb spending and rising household savings as factors which may help to reduce it.
"""

ARTICLE_C = """Yukos unit buyer faces loan claim

The owners of embattled Russian oil giant Yukos are to ask the buyer of its former production unit to pay back a $900m (£479m) loan.

State-owned Rosneft bought the Yugansk unit for $9.3bn in a sale forced by Russia to part settle a $27.5bn tax claim against Yukos.
"""


TURKEY = """---
title: Turkey and Israel talks
date: 2020-12-15
source: Axios
url: https://www.axios.com/turkey-israel
---
Aliyev raised the Israel-Turkey tensions in a recent call with Turkish President Recep Tayyip Erdoğan.

Those talks dragged on until 2016, and the eventual deal unraveled two years later.
"""

FOOTBALL = "\n\n".join(
    f"Chelsea striker scored goal number {i} for the football club in the league match."
    for i in range(8)
)


def corpus(settings: Settings) -> Path:
    folder = settings.corpus[0]
    write(folder / "business" / "timewarner.txt", ARTICLE_A)
    write(folder / "business" / "dollar.md", "---\ndate: 2005-01-21\n---\n" + ARTICLE_B)
    write(folder / "world" / "yukos.txt", ARTICLE_C)
    return folder


# --- the CLI in a subprocess ---------------------------------------------------------------------


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ARTICLEBOT_INDEX_DIR": str(tmp_path / "idx"), **env}
    return subprocess.run(
        [sys.executable, "-m", "index", *args],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def seed_models(index_dir: Path, models: Path) -> None:
    """Start a new index folder with the ONNX exports another index made (hard links), so
    that a real-model test does not export the model again. The export itself is tested
    where it is made: test_cli's first index, test_onnx_backend, test_question_tuning."""
    shutil.copytree(models, index_dir / "models", copy_function=os.link)


# --- index checks ----------------------------------------------------------------------------------


def check_consistent(settings: Settings | Any) -> Snapshot:
    """Every passage is an exact span of its article and has exactly one vector."""
    snap = Snapshot.open(settings.index_dir)
    rows = snap.conn.execute(
        'SELECT p.id, p.start, p."end", p.text, a.text FROM passages p '
        "JOIN articles a ON a.id = p.article_id"
    ).fetchall()
    for _, start, end, text, article_text in rows:
        assert article_text[start:end] == text
    ids = {r[0] for r in rows}
    assert snap.vectors.ntotal == len(ids) == snap.manifest["passages"]
    for pid in ids:
        vec = snap.vectors.reconstruct(int(pid))
        assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-4
    fts = snap.conn.execute("SELECT count(*) FROM passages_fts").fetchone()[0]
    assert fts == len(ids)
    # Every passage's sentences are stored, inside the passage, with unit vectors.
    rows = snap.conn.execute(
        'SELECT p.id, p.start, p."end", s.start, s."end", s.vector FROM passages p '
        "LEFT JOIN sentences s ON s.passage_id = p.id"
    ).fetchall()
    assert {r[0] for r in rows} == {int(i) for i in ids}
    for _pid, p_start, p_end, s_start, s_end, blob in rows:
        assert s_start is not None and p_start <= s_start < s_end <= p_end
        norm = float(np.linalg.norm(np.frombuffer(blob, dtype=np.float16).astype(np.float32)))
        assert abs(norm - 1.0) < 1e-2
    return snap


# --- web stories served by tests/web_server.py ------------------------------------------------------

STORIES = {
    "/news/time-warner": ARTICLE_A,
    "/news/dollar": ARTICLE_B,
    "/news/yukos": ARTICLE_C,
}


DATE_1 = "Mon, 10 Jan 2005 09:00:00 GMT"
DATE_2 = "Tue, 11 Jan 2005 09:00:00 GMT"


def page(story: str, *, nav: str = "Home | World | Business | Sport") -> str:
    title, _, body = story.strip().partition("\n\n")
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n") if p.strip())
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<nav><ul><li>{nav}</li></ul></nav>"
        f"<article><h1>{title}</h1>{paragraphs}</article>"
        "<footer>Copyright 2005 Example News. Cookie settings. Terms of use.</footer>"
        "</body></html>"
    )


def rss(site: Site, entries: list[tuple[str, str]], *, full: dict[str, str] | None = None) -> str:
    items = []
    for path, updated in entries:
        title = STORIES[path].strip().splitlines()[0]
        content = ""
        if full and path in full:
            content = f"<content:encoded><![CDATA[{full[path]}]]></content:encoded>"
        items.append(
            f"<item><title>{title}</title><link>{site.url(path)}</link>"
            f"<pubDate>{updated}</pubDate><description>{title}</description>{content}</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Example News</title><link>{site.url('/')}</link>"
        f"{''.join(items)}</channel></rss>"
    )


def serve_stories(site: Site) -> None:
    for path, story in STORIES.items():
        site.route(path, page(story), etag=f'"{path}-v1"')
