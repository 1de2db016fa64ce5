"""The local store (SQLite + FAISS) and PostgreSQL + pgvector side by side, on a throwaway
cluster (``index.devtools.pgserver``) under /tmp/articlebot-bench/postgres.

    python benchmarks/postgres.py [--synthetic 100000] [--skip-quality]
                                  [--only-synthetic | --only-fresh-index]

Needs the benchmark index quality.py builds (BBC + SQuAD + corpus/, onnx-int8 by
default). Measures, in one run:
1. copying that index into PostgreSQL (``index.stores.copy.copy_index``, no embedding):
   seconds, passages/s, size on disk against the local generation;
2. ``ask`` latency at that size, local vs PostgreSQL exact vs PostgreSQL HNSW, in one
   process, the same 225 questions as quality.py, alternating, after a warm-up; dense
   search latency and recall@10 of HNSW against exact for ``hnsw.ef_search`` 40/128/400;
3. answer quality on both stores (quality.py's questions and metrics, 5-fold CV);
4. two ``ask`` processes at once: both on the local store, both on the primary, one on
   the primary and one on a streaming replica: questions/s, p95, peak RSS (VmHWM);
5. a synthetic scale point: N random unit vectors with Zipf pseudo-word texts written
   through the PostgreSQL writer (COPY), the HNSW build, the search path's SQL (dense +
   lexical + fusion through the view, as ``Retriever`` runs it) and recall@10;
6. a fresh index of the benchmark corpus from the articles, into PostgreSQL and into a
   local folder: seconds and size.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import DEV_QUESTIONS, WORK, squad_questions
from benchmarks.quality import METRICS, group_metrics, pct
from benchmarks.web_sync import cpu_flags

BENCH_INDEX = WORK / "quality" / "onnx-int8"
PG_WORK = WORK / "postgres"
EF_VALUES = (40, 128, 400)
WARM_UP = 20
FLAT = 10**9  # an ann_threshold no index reaches: exact search
RecallRow = tuple[str, float, float, float, float]  # label, p50, p95, recall@10, top 1


# --- set-up --------------------------------------------------------------------------------
def latency_questions() -> list[str]:
    """quality.py's latency questions: bbc-dev, then 100 answerable SQuAD questions."""
    questions = [json.loads(line)["question"] for line in DEV_QUESTIONS.read_text().splitlines()]
    questions += [str(q["question"]) for q in squad_questions() if not q["impossible"]][:100]
    return questions


def settings_for(index_dir: Path, **update: Any) -> Any:
    from index.settings import Settings

    base = Settings(  # type: ignore[call-arg]
        _env_file=None, index_dir=index_dir, backend="onnx-int8", device="cpu"
    )
    return base.model_copy(update=update)


def new_database(cluster: Any, name: str) -> str:
    """A fresh database with pgvector on ``cluster``; its URL."""
    import psycopg

    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = str(cluster.url_for(name))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    return url


def sql_value(url: str, sql: str) -> Any:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql)
        row = cur.fetchone() if cur.description else None
    return row[0] if row else None


def stats(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), pct(list(values), 0.95), pct(list(values), 0.99)


@contextmanager
def ef_search(ef: int) -> Iterator[None]:
    """Stores opened inside use ``ef`` for HNSW searches: the pool sets ``EF_SEARCH`` on
    each new connection, so a new store (new pool) picks the patched value up."""
    from index.stores.postgres import pool as postgres

    old = postgres.EF_SEARCH
    postgres.EF_SEARCH = ef
    try:
        yield
    finally:
        postgres.EF_SEARCH = old


# --- 1. the copy ---------------------------------------------------------------------------
def copy_section(index_dir: Path, flat_url: str, hnsw_url: str) -> dict[str, Any]:
    from index.stores.copy import copy_index
    from index.stores.local import LocalStore
    from index.stores.postgres import PostgresStore

    source = LocalStore(index_dir)
    view = source.open_view()
    local_bytes = view.size_on_disk()
    runs = {}
    for label, url, threshold in (("exact", flat_url, FLAT), ("HNSW", hnsw_url, 0)):
        target = PostgresStore(url)
        with target.writer_lock():
            runs[label] = copy_index(view, target, threshold)
        target.close()
        runs[label]["bytes"] = int(sql_value(url, "SELECT pg_database_size(current_database())"))
    view.close()
    print_copy(runs, local_bytes, index_dir)
    return runs


def print_copy(runs: dict[str, dict[str, Any]], local_bytes: int, index_dir: Path) -> None:
    models = sum(p.stat().st_size for p in (index_dir / "models").rglob("*") if p.is_file())
    print("\n## 1. Copy of the benchmark index into PostgreSQL (no embedding)\n")
    print("| store | seconds | passages/s | size on disk MB | vs local |")
    print("|---|---|---|---|---|")
    print(f"| local generation (SQLite + FAISS flat) | | | {local_bytes / 2**20:.0f} | 1.00 |")
    for label, r in runs.items():
        print(
            f"| PostgreSQL, {label} (copy_index) | {r['seconds']:.1f} | "
            f"{r['passages'] / r['seconds']:.0f} | {r['bytes'] / 2**20:.0f} | "
            f"{r['bytes'] / local_bytes:.2f} |"
        )
    r = runs["exact"]
    print(
        f"\n{r['articles']:,} articles, {r['passages']:,} passages, {r['sentences']:,} sentence "
        f"vectors, {r['files']:,} file records. The ONNX model cache beside the local index "
        f"({models / 2**20:.0f} MB) is not part of either. Re-embedding the corpus instead "
        "took 308 s (benchmarks/README.md, issue 10)."
    )


# --- 2. latency and ANN recall at BBC size ---------------------------------------------------
def latency_section(
    retrievers: dict[str, Any], questions: list[str]
) -> dict[str, tuple[float, float, float]]:
    """``answer`` on every store for each question in turn (the order rotating), after a
    warm-up of each: the same process, the same machine load."""
    from index.answering import answer

    for retriever in retrievers.values():
        retriever.warm_up()
        for q in questions[:WARM_UP]:
            answer(retriever, q)
    times: dict[str, list[float]] = {name: [] for name in retrievers}
    steps: dict[str, dict[str, list[float]]] = {name: {} for name in retrievers}
    names = list(retrievers)
    for i, q in enumerate(questions):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t = time.perf_counter()
            result = answer(retrievers[name], q)
            times[name].append((time.perf_counter() - t) * 1000)
            for step, ms in result.timings_ms.items():
                steps[name].setdefault(step, []).append(ms)
    out = {name: stats(t) for name, t in times.items()}
    print_latency(out, steps, len(questions))
    return out


def print_latency(
    out: dict[str, tuple[float, float, float]],
    steps: dict[str, dict[str, list[float]]],
    count: int,
) -> None:
    base = next(iter(out.values()))
    print(f"\n## 2. `ask` latency, {count} questions, alternating, after warm-up\n")
    print("| store | p50 ms | p95 ms | p99 ms | p50 / p95 vs local |")
    print("|---|---|---|---|---|")
    for name, (p50, p95, p99) in out.items():
        ratio = f"{p50 / base[0]:.2f} / {p95 / base[1]:.2f}"
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {ratio} |")
    keys = [
        k
        for k in ("embed", "dense", "lexical", "fuse", "rank", "quotes")
        if k in steps[next(iter(steps))]
    ]
    print("\nWhere the time goes (p50 ms per step, from the answers' own timings)\n")
    print("| store | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for name, by_step in steps.items():
        cells = " | ".join(f"{statistics.median(by_step[k]):.1f}" for k in keys)
        print(f"| {name} | {cells} |")


def dense_recall(flat_url: str, hnsw_url: str, vectors: np.ndarray, k: int = 10) -> list[RecallRow]:
    """Dense search alone through ``PostgresView.dense``: exact, then HNSW at each
    ef_search; (label, p50 ms, p95 ms, recall@k against exact)."""
    from index.stores.postgres import PostgresStore

    exact, ms = timed_dense(PostgresStore(flat_url), vectors, k)
    rows = [("exact (no ANN index)", *stats(ms)[:2], 1.0, 1.0)]
    return rows + hnsw_rows(hnsw_url, vectors, exact, k)


def hnsw_rows(url: str, vectors: np.ndarray, exact: list[list[int]], k: int) -> list[RecallRow]:
    """Dense search on the HNSW database at each ef_search, and whether the server used
    the HNSW index for it (pgvector's cost estimate grows with ef_search: past some ef
    the planner prefers a scan, which is exact)."""
    from index.stores.postgres import PostgresStore

    rows = []
    for ef in EF_VALUES:
        before = hnsw_scans(url)
        with ef_search(ef):
            got, ms = timed_dense(PostgresStore(url), vectors, k)
        used = hnsw_scans(url) - before >= len(vectors)
        hits = sum(len(set(a) & set(b)) for a, b in zip(got, exact, strict=True))
        first = sum(a[:1] == b[:1] for a, b in zip(got, exact, strict=True))
        plan = "HNSW index scan" if used else "planner chose a scan: exact"
        label = f"ef_search {ef} ({plan})"
        rows.append((label, *stats(ms)[:2], hits / (k * len(exact)), first / len(exact)))
    return rows


def timed_dense(store: Any, vectors: np.ndarray, k: int) -> tuple[list[list[int]], list[float]]:
    """``PostgresView.dense`` for each vector after a warm-up: ids and ms; closes the
    store (its pool) at the end."""
    view = store.open_view()
    for v in vectors[:WARM_UP]:
        view.dense(v, k, None)
    ids, ms = [], []
    for v in vectors:
        t = time.perf_counter()
        ids.append([pid for pid, _ in view.dense(v, k, None)])
        ms.append((time.perf_counter() - t) * 1000)
    store.close()
    return ids, ms


def hnsw_scans(url: str) -> int:
    """Scans of HNSW indexes so far, from the statistics the server keeps (closed
    connections have flushed theirs): whatever SQL the view runs, this says whether the
    index served it."""
    time.sleep(0.5)  # the pool's backends flush their counters as they exit
    sql = (
        "SELECT coalesce(sum(s.idx_scan), 0) FROM pg_stat_user_indexes s "
        "JOIN pg_class c ON c.oid = s.indexrelid JOIN pg_am am ON am.oid = c.relam "
        "WHERE am.amname = 'hnsw'"
    )
    return int(sql_value(url, sql))


def print_recall(title: str, rows: list[RecallRow]) -> None:
    print(f"\n{title}\n")
    print("| dense search | p50 ms | p95 ms | recall@10 vs exact | top 1 = exact top 1 |")
    print("|---|---|---|---|---|")
    for label, p50, p95, recall, first in rows:
        print(f"| {label} | {p50:.2f} | {p95:.2f} | {recall:.3f} | {first:.3f} |")


def agreement(local: Any, pg: Any, questions: list[str], k: int = 10) -> None:
    """How far the two stores' first stages agree on the same questions: passages are
    compared by their span and text, not by id (each store numbers its own)."""
    shares: dict[str, list[float]] = {"dense": [], "lexical": [], "hybrid top 1": []}
    for q in questions:
        for mode in ("dense", "lexical"):
            a, b = (spans(r, r.search(q, k, mode=mode)) for r in (local, pg))
            shares[mode].append(len(set(a) & set(b)) / max(1, len(a)))
        a, b = (spans(r, r.search(q, 1)) for r in (local, pg))
        shares["hybrid top 1"].append(float(a == b))
    print(f"\nFirst stage, local vs PostgreSQL, {len(questions)} questions\n")
    print("| ranking | overlap of the top 10 (top 1 for hybrid) |")
    print("|---|---|")
    for mode, values in shares.items():
        print(f"| {mode} | {statistics.mean(values):.3f} |")


def spans(retriever: Any, hits: list[Any]) -> list[tuple[int, str]]:
    # By start and text, not article: BBC holds duplicate stories (same text, same
    # vector, the same score), whose order each store breaks its own way.
    return [(h.start, h.text) for h in hits]


# --- 3. answer quality ---------------------------------------------------------------------
def quality_of(retriever: Any) -> dict[str, float]:
    """quality.py's evaluation (5-fold CV models) through ``retriever``, quietly."""
    from benchmarks import fit_ranker
    from benchmarks.quality import GROUPS, answer_row

    questions = fit_ranker.load_questions()
    fit_ranker.collect(retriever, questions)
    held_out = fit_ranker.cross_validated_models(questions)
    rows = [answer_row(retriever, q, held_out[i]) for i, q in enumerate(questions)]
    m: dict[str, float] = {}
    for name, kinds in GROUPS.items():
        group = group_metrics([r for r in rows if r["kind"] in kinds])
        m.update({f"{name}.{key}": value for key, value in group.items()})
    for kind in ("offtopic", "general"):
        off = [r for r in rows if r["kind"] == kind]
        m[f"{kind}.abstained"] = sum(r["abstained"] for r in off) / len(off)
    return m


def quality_section(retrievers: dict[str, Any]) -> dict[str, dict[str, float]]:
    results = {name: quality_of(r) for name, r in retrievers.items()}
    names = list(results)
    base = results[names[0]]
    print("\n## 3. Answer quality (quality.py's questions, 5-fold CV; target: within 2 points)\n")
    print("| metric | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    rows = [*METRICS, ("bbc-dev.mrr", "bbc-dev: MRR"), ("squad.any", "SQuAD: answer in any quote")]
    for key, label in rows:
        cells = [f"{base[key]:.3f}"]
        for other in names[1:]:
            delta = (results[other][key] - base[key]) * 100
            cells.append(f"{results[other][key]:.3f} ({delta:+.1f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    return results


# --- 4. two answering processes ------------------------------------------------------------
_STATUS_HWM = re.compile(r"VmHWM:\s+(\d+)")


def worker(questions_file: Path, passes: int) -> None:
    """One answering process (the environment names the store): warm up, say so, wait
    for "go" on stdin, answer every question ``passes`` times, print what it measured."""
    from index.answering import answer
    from index.retrieval import open_retriever
    from index.settings import Settings

    questions = json.loads(questions_file.read_text())
    retriever = open_retriever(Settings(_env_file=None))  # type: ignore[call-arg]
    retriever.warm_up()
    for q in questions[:WARM_UP]:
        answer(retriever, q)
    print("ready", flush=True)
    sys.stdin.readline()
    started, ms = time.time(), []
    for q in questions * passes:
        t = time.perf_counter()
        answer(retriever, q)
        ms.append((time.perf_counter() - t) * 1000)
    hwm = int(_STATUS_HWM.search(Path("/proc/self/status").read_text())[1])  # type: ignore[index]
    print(json.dumps({"start": started, "end": time.time(), "ms": ms, "hwm_kb": hwm}))


def run_workers(envs: list[dict[str, str]], questions_file: Path, passes: int) -> dict[str, Any]:
    """Start one worker per environment, let them all go at once; their totals."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", str(questions_file), "--passes", str(passes)],
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for env in envs
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [json.loads(proc.communicate()[0]) for proc in procs]
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    ms = [x for r in results for x in r["ms"]]
    return {
        "qps": len(ms) / wall,
        "p50": statistics.median(ms),
        "p95": pct(ms, 0.95),
        "hwm_mb": [r["hwm_kb"] / 1024 for r in results],
    }


def processes_section(
    index_dir: Path, primary_url: str, replica_url: str, questions: list[str], passes: int
) -> None:
    questions_file = PG_WORK / "questions.json"
    questions_file.write_text(json.dumps(questions))
    base = {
        "ARTICLEBOT_INDEX_DIR": str(index_dir),
        "ARTICLEBOT_BACKEND": "onnx-int8",
        "ARTICLEBOT_DEVICE": "cpu",
        "ARTICLEBOT_DATABASE_URL": "",
        "ARTICLEBOT_DATABASE_READ_URL": "",
    }
    on_primary = {**base, "ARTICLEBOT_DATABASE_URL": primary_url}
    on_replica = {**on_primary, "ARTICLEBOT_DATABASE_READ_URL": replica_url}
    setups = {
        "1 process, local": [base],
        "2 processes, local": [base, base],
        "2 processes, PostgreSQL primary (exact)": [on_primary, on_primary],
        "2 processes, primary + replica (exact)": [on_primary, on_replica],
    }
    print(f"\n## 4. Answering processes at once ({len(questions)} questions x {passes} each)\n")
    print("| setup | questions/s | vs 2 local | p50 ms | p95 ms | peak RSS MB per process |")
    print("|---|---|---|---|---|---|")
    baseline = None
    for label, envs in setups.items():
        r = run_workers(envs, questions_file, passes)
        baseline = r["qps"] if label == "2 processes, local" else baseline
        ratio = f"{r['qps'] / baseline:.2f}" if baseline else ""
        rss = " / ".join(f"{x:.0f}" for x in r["hwm_mb"])
        print(f"| {label} | {r['qps']:.1f} | {ratio} | {r['p50']:.1f} | {r['p95']:.1f} | {rss} |")


# --- 5. synthetic scale --------------------------------------------------------------------
SYNTHETIC_MODEL = "synthetic/planted-vectors"


class PlantedEmbedder:
    """Query vectors chosen by the benchmark (planted next to stored vectors), looked up
    by the query text: the search path runs as for a real question, minus the model."""

    name = SYNTHETIC_MODEL
    dimension = 384
    max_tokens = 256

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def synthetic_corpus(n: int, dim: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """latency.py's recipe: 60 Zipf-distributed pseudo-words per passage (30,000-word
    vocabulary), random unit vectors. Returns the vocabulary, word ids, vectors."""
    rng = np.random.default_rng(0)
    vocab = [f"w{i}x{rng.integers(1_000_000)}" for i in range(30_000)]
    ranks = np.arange(1, len(vocab) + 1)
    probs = (1 / ranks) / (1 / ranks).sum()
    words = rng.choice(len(vocab), size=(n, 60), p=probs)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vocab, words, vectors


def write_synthetic(url: str, vocab: list[str], words: np.ndarray, vectors: np.ndarray) -> float:
    """Through the PostgreSQL writer (COPY per article of 10 passages), published flat;
    returns seconds."""
    from index.stores.postgres import PostgresStore
    from index.types import Article, Passage

    store = PostgresStore(url)
    started = time.perf_counter()
    writer = store.open_writer(fresh=True)
    for a in range(len(words) // 10):
        paras = [" ".join(vocab[w] for w in row) + "." for row in words[a * 10 : a * 10 + 10]]
        article = Article(
            key=f"synthetic/{a}", title=f"Synthetic article {a}", text="\n\n".join(paras)
        )
        passages, pos = [], 0
        for i, p in enumerate(paras):
            passages.append(Passage(article.id, pos, pos + len(p), p, i))
            pos += len(p) + 2
        writer.add_article(article, None, passages, vectors[a * 10 : a * 10 + 10])
    manifest = {"model": SYNTHETIC_MODEL, "dimension": vectors.shape[1], "normalized": True}
    writer.publish({**manifest, "metric": "inner_product", "chunk_tokens": 160}, FLAT)
    store.close()
    return time.perf_counter() - started


def build_hnsw(url: str, memory: str) -> float:
    """HNSW as `articlebot index` builds it past ann_threshold: a writer publishing the
    index (nothing else to write) with a threshold of 0; seconds. ``memory`` is set as
    the database's maintenance_work_mem: with the server default (64 MB) the graph of
    100k 384-d vectors does not fit and pgvector builds on disk (460 s in a trial run on
    this machine; 100 s with 1 GB)."""
    from index.stores.postgres import PostgresStore

    database = sql_value(url, "SELECT current_database()")
    sql_value(url, f"ALTER DATABASE {database} SET maintenance_work_mem = '{memory}'")
    store = PostgresStore(url)
    started = time.perf_counter()
    writer = store.open_writer(fresh=False)
    published = writer.publish(writer.manifest(), 0)
    seconds = time.perf_counter() - started
    store.close()
    assert published["index_type"] == "hnsw", published
    return seconds


def planted_queries(
    vocab: list[str], words: np.ndarray, vectors: np.ndarray, count: int
) -> dict[str, np.ndarray]:
    """Query text (5 words of a stored passage) -> a vector near that passage's (noise of
    norm 0.5, cosine ~0.9), as in latency.py."""
    rng = np.random.default_rng(1)
    out: dict[str, np.ndarray] = {}
    for seed in rng.choice(len(vectors), size=count, replace=False):
        text = " ".join(vocab[w] for w in rng.choice(words[seed], size=5, replace=False))
        noise = rng.standard_normal(vectors.shape[1], dtype=np.float32)
        q = vectors[seed] + 0.5 * noise / np.linalg.norm(noise)
        out[text] = q / np.linalg.norm(q)
    return out


def search_path(url: str, queries: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """``Retriever.search`` (dense + lexical + fusion through the view, ef_search 128):
    p50/p95 ms of each step and of the whole."""
    from index.retrieval import Retriever
    from index.stores.postgres import PostgresStore

    store = PostgresStore(url)
    retriever = Retriever(settings_for(WORK), PlantedEmbedder(queries), store=store)
    texts = list(queries)
    for q in texts[:WARM_UP]:
        retriever.search_timed(q)
    steps: dict[str, list[float]] = {"dense": [], "lexical": [], "fuse": [], "total": []}
    for q in texts:
        t = time.perf_counter()
        _, timings = retriever.search_timed(q)
        steps["total"].append((time.perf_counter() - t) * 1000)
        for key in ("dense", "lexical", "fuse"):
            steps[key].append(timings[key])
    store.close()
    return {key: stats(v)[:2] for key, v in steps.items()}


def synthetic_section(cluster: Any, n: int, queries_count: int, memory: str) -> None:
    from index.stores.postgres import PostgresStore

    dim = 384
    t = time.perf_counter()
    vocab, words, vectors = synthetic_corpus(n, dim)
    generated_s = time.perf_counter() - t
    url = new_database(cluster, "synthetic")
    write_s = write_synthetic(url, vocab, words, vectors)
    size_flat = int(sql_value(url, "SELECT pg_database_size(current_database())"))
    queries = planted_queries(vocab, words, vectors, queries_count)
    qvecs = np.stack(list(queries.values()))
    exact, exact_ms = timed_dense(PostgresStore(url), qvecs, 10)
    hnsw_s = build_hnsw(url, memory)
    size_hnsw = int(sql_value(url, "SELECT pg_database_size(current_database())"))
    rows = [("exact (no ANN index)", *stats(exact_ms)[:2], 1.0, 1.0)]
    rows += hnsw_rows(url, qvecs, exact, 10)
    path = search_path(url, queries)
    print_synthetic(n, (generated_s, write_s, hnsw_s), (size_flat, size_hnsw), memory)
    print_recall(f"Dense search at {n:,} passages ({len(queries)} planted queries)", rows)
    print_search_path(n, path)


def print_synthetic(
    n: int, seconds: tuple[float, float, float], sizes: tuple[int, int], memory: str
) -> None:
    gen_s, write_s, hnsw_s = seconds
    print(f"\n## 5. Synthetic scale point: {n:,} passages (384-d random unit vectors)\n")
    print("| step | seconds | rate | database MB |")
    print("|---|---|---|---|")
    print(f"| generate texts and vectors (numpy) | {gen_s:.1f} | | |")
    print(
        f"| write through PostgresWriter (COPY) + publish | {write_s:.1f} | "
        f"{n / write_s:,.0f} passages/s | {sizes[0] / 2**20:.0f} |"
    )
    print(
        f"| HNSW build: a writer's publish past ann_threshold (maintenance_work_mem {memory}) | "
        f"{hnsw_s:.1f} | {n / hnsw_s:,.0f} vectors/s | {sizes[1] / 2**20:.0f} |"
    )


def print_search_path(n: int, path: dict[str, tuple[float, float]]) -> None:
    print(
        f"\nSearch path at {n:,} passages, HNSW ef_search 128 (Retriever.search_timed: the "
        "view's dense + lexical SQL, then fusion and the passage rows), p50 / p95 ms\n"
    )
    print("| dense | lexical | fuse (passage rows) | total |")
    print("|---|---|---|---|")
    steps = ("dense", "lexical", "fuse", "total")
    print("| " + " | ".join(f"{path[k][0]:.1f} / {path[k][1]:.1f}" for k in steps) + " |")


# --- 6. a fresh index from the articles -----------------------------------------------------
def fresh_index_section(cluster: Any) -> None:
    """``articlebot index`` of the benchmark corpus from nothing into PostgreSQL, then into
    a new local folder (the same embedder, one after the other): seconds and size."""
    from benchmarks.corpus import corpus_roots
    from index.embedding import make_embedder
    from index.indexing import run_index
    from index.stores.local import LocalStore
    from index.stores.postgres import PostgresStore

    url = new_database(cluster, "fresh")
    local_dir = PG_WORK / "fresh-local"
    settings = settings_for(local_dir)
    embedder = make_embedder(settings)
    embedder.warm_up()
    rows = []
    for label, store in (("PostgreSQL", PostgresStore(url)), ("local", LocalStore(local_dir))):
        started = time.perf_counter()
        report = run_index(settings, embedder, corpus_roots(), store=store)
        seconds = time.perf_counter() - started
        if isinstance(store, PostgresStore):
            size = int(sql_value(url, "SELECT pg_database_size(current_database())"))
            store.close()
        else:
            size = sum(f.stat().st_size for f in local_dir.rglob("*") if f.is_file())
        rows.append((label, seconds, report.passages, size))
    print("\n## 6. A fresh index of the benchmark corpus (`run_index`, onnx-int8)\n")
    print("| store | seconds | passages | size on disk MB |")
    print("|---|---|---|---|")
    for label, seconds, passages, size in rows:
        print(f"| {label} | {seconds:.1f} | {passages:,} | {size / 2**20:.0f} |")


# --- main ----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=BENCH_INDEX, help="the local index")
    parser.add_argument("--synthetic", type=int, default=100_000, help="passages (0: skip)")
    parser.add_argument("--queries", type=int, default=100, help="synthetic queries")
    parser.add_argument(
        "--hnsw-memory", default="1GB", help="maintenance_work_mem for the synthetic HNSW build"
    )
    parser.add_argument("--passes", type=int, default=2, help="question passes per process")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument(
        "--only-synthetic", action="store_true", help="run the synthetic scale point alone"
    )
    parser.add_argument(
        "--only-fresh-index", action="store_true", help="run the fresh-index section alone"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.passes)
        return
    started = time.perf_counter()
    print_header()
    shutil.rmtree(PG_WORK, ignore_errors=True)
    PG_WORK.mkdir(parents=True)
    from index.devtools.pgserver import create_cluster

    clusters = [create_cluster(PG_WORK / "primary")]
    try:
        run_sections(args, clusters)
    finally:
        for cluster in reversed(clusters):  # the replica first
            cluster.stop(mode="immediate")
        shutil.rmtree(PG_WORK, ignore_errors=True)
    print(f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s")


def print_header() -> None:
    import faiss
    import psycopg

    print(
        f"CPU: {os.cpu_count()} cores, {cpu_flags()}; Python {sys.version.split()[0]}, "
        f"faiss {faiss.__version__}, psycopg {psycopg.__version__}"
    )


def run_sections(args: argparse.Namespace, clusters: list[Any]) -> None:
    """Every section on the primary in ``clusters`` (the replica is added to it)."""
    from index.embedding import make_embedder
    from index.retrieval import Retriever
    from index.stores.local import LocalStore
    from index.stores.postgres import PostgresStore

    primary = clusters[0]
    version = sql_value(primary.url, "SELECT version()").split(" on ")[0]
    pgvector = sql_value(primary.url, "SELECT extversion FROM pg_extension WHERE extname='vector'")
    print(f"Server: {version}, pgvector {pgvector}, server defaults (pgserver's cluster)")
    if args.only_synthetic:
        synthetic_section(primary, args.synthetic, args.queries, args.hnsw_memory)
        return
    if args.only_fresh_index:
        fresh_index_section(primary)
        return
    flat_url, hnsw_url = new_database(primary, "bbc"), new_database(primary, "bbc_hnsw")
    copy_section(args.index, flat_url, hnsw_url)
    settings = settings_for(args.index)
    embedder = make_embedder(settings)
    retrievers = {
        "local (FAISS flat)": Retriever(settings, embedder, store=LocalStore(args.index)),
        "PostgreSQL exact": Retriever(settings, embedder, store=PostgresStore(flat_url)),
        "PostgreSQL HNSW (ef 128)": Retriever(settings, embedder, store=PostgresStore(hnsw_url)),
    }
    questions = latency_questions()
    latency_section(retrievers, questions)
    vectors = embedder.embed(questions)
    print_recall(
        f"Dense search alone at {retrievers['PostgreSQL exact'].passage_count():,} passages "
        "(PostgresView.dense, the same questions, k 10)",
        dense_recall(flat_url, hnsw_url, vectors),
    )
    agreement(retrievers["local (FAISS flat)"], retrievers["PostgreSQL exact"], questions)
    if not args.skip_quality:
        quality_section({k: retrievers[k] for k in ("local (FAISS flat)", "PostgreSQL exact")})
    for r in retrievers.values():
        if isinstance(r.store, PostgresStore):
            r.store.close()
    replica = primary.replica(PG_WORK / "replica")
    clusters.append(replica)
    processes_section(args.index, flat_url, replica.url_for("bbc"), questions, args.passes)
    replica.stop(mode="fast")  # the synthetic load need not stream anywhere
    fresh_index_section(primary)
    if args.synthetic:
        synthetic_section(primary, args.synthetic, args.queries, args.hnsw_memory)


if __name__ == "__main__":
    main()
