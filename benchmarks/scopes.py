"""What reading by scope costs `ask`: 100k passages across 100 server scopes plus shared.

    python benchmarks/scopes.py [--passages 100000] [--scopes 100] [--store local|postgres]

The BBC index that quality.py builds (real texts, real MiniLM vectors) is copied until it
holds ``--passages`` passages: copy 0 stays shared (files), each later copy is split
over the scopes as web pages of one feed per scope. Then bbc-dev's questions are asked
through ``answer()`` three ways, interleaved question by question on one warm retriever:

- ``all``: no scope filter (what every question did before scopes);
- ``server``: the scopes a question in a server reads (shared + that server), servers
  taken in turn, so after the first round each one's filter is cached;
- ``cold``: the first question of each server (its passage set built then).

The target (issue 24): ``server`` p50 and p95 within 1.5x of ``all``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import WORK

SOURCE = WORK / "quality" / "onnx-int8"
DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "questions" / "bbc-dev.jsonl"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def read_source(
    db: Path,
) -> list[tuple[object, str | None, list[object], np.ndarray, list[object]]]:
    """Each article of the source index with its origin, passages, vectors and sentences."""
    from index.types import Article, Passage

    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT id, key, file, path, url, title, date, author, source, caption, text FROM articles"
    ).fetchall()
    out = []
    for aid, key, file, path, url, title, date, author, source, caption, text in rows:
        article = Article(key, title, text, path, url, date, author, source, caption)
        prows = conn.execute(
            'SELECT id, ordinal, start, "end", text, vector FROM passages WHERE article_id = ? '
            "ORDER BY ordinal",
            (aid,),
        ).fetchall()
        passages = [Passage(article.id, s, e, t, o) for _, o, s, e, t, _ in prows]
        vectors = np.stack([np.frombuffer(v, dtype=np.float32) for *_, v in prows])
        sentences = []
        for pid, *_ in prows:
            srows = conn.execute(
                'SELECT start, "end", vector FROM sentences WHERE passage_id = ? ORDER BY ordinal',
                (pid,),
            ).fetchall()
            spans = [(s, e) for s, e, _ in srows]
            vecs = np.stack([np.frombuffer(v, dtype=np.float16) for *_, v in srows])
            sentences.append((spans, vecs))
        out.append((article, file, passages, vectors, sentences))
    conn.close()
    return out


def build(settings: object, passages: int, scopes: int) -> dict[str, object]:
    """The scoped index, written by the project's own store writer."""
    from dataclasses import replace

    from index.stores import open_store
    from index.types import WebChanges, WebSource

    source = read_source(SOURCE / "gen-000001" / "index.sqlite")
    per_copy = sum(len(p) for _, _, p, _, _ in source)
    copies = -(-passages // per_copy)
    store = open_store(settings, read=False)  # type: ignore[arg-type]
    started = time.perf_counter()
    with store.writer_lock():
        writer = store.open_writer(fresh=True)
        listed: dict[str, set[str]] = {}
        n = 0
        for copy in range(copies):
            for article, file, ps, vecs, sents in source:
                if copy == 0:
                    writer.add_article(article, file, ps, vecs, sents)
                    continue
                scope = n % scopes
                n += 1
                page = f"https://s{scope}.example/{copy}/{article.id}"
                feed = f"https://s{scope}.example/feed"
                listed.setdefault(feed, set()).add(page)
                twin = replace(article, key=page, path=None, url=page)
                twin_ps = [replace(p, article_id=twin.id) for p in ps]
                writer.add_article(twin, page, twin_ps, vecs, sents)
        sources = [
            WebSource(f"https://s{s}.example/feed", "feed", (), frozenset({str(s)}))
            for s in range(scopes)
        ]
        writer.write_web(WebChanges(sources, listed, (), ()))
        manifest = json.loads(json.dumps(store_manifest()))
        writer.publish(manifest, None)
    store.close()
    return {"copies": copies, "build_s": time.perf_counter() - started}


def store_manifest() -> dict[str, object]:
    conn = sqlite3.connect(SOURCE / "gen-000001" / "index.sqlite")
    keep = ("model", "dimension", "normalized", "metric", "chunk_tokens", "token_limit", "backend")
    rows = dict(conn.execute("SELECT key, value FROM manifest").fetchall())
    conn.close()
    return {k: json.loads(rows[k]) for k in keep if k in rows}


def measure(settings: object, scopes: int, rounds: int) -> dict[str, object]:
    from index.answering import answer
    from index.retrieval import Retriever
    from index.types import Filters, reading_scopes

    questions = [json.loads(line)["question"] for line in DEV.read_text().splitlines()]
    retriever = Retriever(settings)  # type: ignore[arg-type]
    retriever.warm_up()
    for q in questions[:10]:
        answer(retriever, q)
    times: dict[str, list[float]] = {"all": [], "server": [], "cold": []}
    asked = 0
    for _ in range(rounds):
        for q in questions:
            server = asked % scopes
            kind = "cold" if asked < scopes else "server"
            asked += 1
            for label, filters in (
                ("all", None),
                (kind, Filters(scopes=reading_scopes(server))),
            ):
                t = time.perf_counter()
                answer(retriever, q, filters)
                times[label].append((time.perf_counter() - t) * 1000)
    passages = int(retriever.view.manifest["passages"])
    out: dict[str, object] = {"passages": passages}
    for label, values in times.items():
        out[label] = {
            "n": len(values),
            "p50": round(statistics.median(values), 1),
            "p95": round(pct(values, 0.95), 1),
        }
    out["ratio_p50"] = round(out["server"]["p50"] / out["all"]["p50"], 2)  # type: ignore[index]
    out["ratio_p95"] = round(out["server"]["p95"] / out["all"]["p95"], 2)  # type: ignore[index]
    return out


def scratch_cluster(data_dir: Path) -> tuple[Any, str, bool]:
    """A local PostgreSQL cluster in ``data_dir`` (made on the first run, started again
    on later ones), its benchmark database's URL, and whether that database is new."""
    from benchmarks.postgres import new_database
    from index.devtools.pgserver import create_cluster, open_cluster

    if (data_dir / "PG_VERSION").exists():
        cluster = open_cluster(data_dir)
        cluster.start()
        return cluster, str(cluster.url_for("scopes")), False
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    cluster = create_cluster(data_dir)
    return cluster, new_database(cluster, "scopes"), True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--scopes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["local", "postgres"], default="local")
    parser.add_argument("--database-url", help="with --store postgres")
    args = parser.parse_args()
    from pydantic import SecretStr

    from index.settings import Settings

    if not (SOURCE / "gen-000001").exists():
        sys.exit(f"{SOURCE} is missing: run `python benchmarks/quality.py` first (it builds it)")
    out_dir = WORK / "scopes" / f"{args.store}-{args.passages}-{args.scopes}"
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, index_dir=out_dir, backend="onnx-int8", device="cpu"
    )
    cluster, fresh = None, True
    if args.store == "postgres":
        url = args.database_url
        if url is None:  # a throwaway cluster, as benchmarks/postgres.py makes; kept
            cluster, url, fresh = scratch_cluster(out_dir / "pg")
        settings = settings.model_copy(update={"database_url": SecretStr(url)})
    # The ONNX export of the source index, so the questions embed without a new export.
    models = out_dir / "models"
    if not models.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        models.symlink_to(SOURCE / "models")
    done = (out_dir / "CURRENT").exists() if args.store == "local" else not fresh
    built = {"build_s": 0.0} if done else build(settings, args.passages, args.scopes)
    try:
        result = {**built, **measure(settings, args.scopes, args.rounds)}
    finally:
        if cluster is not None:
            cluster.stop(mode="immediate")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
