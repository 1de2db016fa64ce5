"""Query latency of `ask` (retrieve + quote selection) at the benchmark corpus size and at
100k / 1M passages (synthetic texts and vectors), with ANN recall against exact search.

    python benchmarks/latency.py                 # real corpus (index built by quality.py)
    python benchmarks/latency.py --backend onnx --synthetic 100000 1000000

``--backend`` picks the embedding backend for the questions (default: the configured
one); the real corpus is the index quality.py built with it. A synthetic index records
the backend it was built for; ones built before manifests recorded a backend count as
torch, which the fp32 ``onnx`` backend (same vectors) may query and ``onnx-int8`` may not.

Synthetic indexes are written with the project's own store (LocalWriter), so the
index type is chosen by size exactly as `articlebot index` would (HNSW above
ARTICLEBOT_ANN_THRESHOLD). Texts are Zipf-distributed pseudo-words; vectors are random
unit vectors. Queries are real questions embedded by the real model.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import WORK, squad_questions


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_synthetic(index_dir: Path, n: int, dim: int, ann_threshold: int, backend: str) -> float:
    """Write an index of ``n`` synthetic passages; returns build seconds."""
    from index.stores.local.generations import index_exists
    from index.stores.local.writer import LocalWriter
    from index.types import Article, Passage

    if index_exists(index_dir):
        return 0.0
    rng = np.random.default_rng(0)
    vocab = [f"w{i}x{rng.integers(1e6)}" for i in range(30000)]
    ranks = np.arange(1, len(vocab) + 1)
    probs = (1 / ranks) / (1 / ranks).sum()
    started = time.perf_counter()
    writer = LocalWriter(index_dir, fresh=True)
    per_article = 10
    for a in range(n // per_article):
        words = rng.choice(len(vocab), size=(per_article, 60), p=probs)
        paras = [" ".join(vocab[w] for w in row) + "." for row in words]
        text = "\n\n".join(paras)
        article = Article(key=f"synthetic/{a}", title=f"Synthetic article {a}", text=text)
        passages, pos = [], 0
        for i, p in enumerate(paras):
            passages.append(Passage(article.id, pos, pos + len(p), p, i))
            pos += len(p) + 2
        vecs = rng.standard_normal((per_article, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        writer.add_article(article, None, passages, vecs)
    manifest = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "dimension": dim,
        "normalized": True,
        "metric": "inner_product",
        "chunk_tokens": 160,
        "backend": backend,
    }
    writer.publish(manifest, ann_threshold)
    return time.perf_counter() - started


def ann_recall(retriever: object, dim: int, queries: int = 200) -> tuple[float, float] | None:
    """For queries planted next to stored vectors (noise of norm 0.5: cosine ~0.9 to their
    seed): (how often the live index returns the seed first, recall@10 against exact
    inner-product search). Random unit vectors are near-equidistant, so beyond the seed
    the exact top 10 are near-ties; recall@10 is a worst case, not what clustered real
    embeddings see."""
    import faiss

    index = retriever.view.snapshot.vectors  # type: ignore[attr-defined]
    inner = faiss.downcast_index(index.index)
    if not isinstance(inner, faiss.IndexHNSW):
        return None
    ids = faiss.vector_to_array(index.id_map)
    data = faiss.downcast_index(inner.storage).reconstruct_n(0, inner.ntotal)
    rng = np.random.default_rng(1)
    seeds = rng.integers(len(data), size=queries)
    noise = rng.standard_normal((queries, dim))
    q = data[seeds] + 0.5 * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    _, got = index.search(q, 10)
    first = float(np.mean(got[:, 0] == ids[seeds]))
    exact = np.argsort(-(q @ data.T), axis=1)[:, :10]
    hits = sum(len(set(got[i]) & set(ids[exact[i]])) for i in range(queries))
    return first, hits / (queries * 10)


def measure(index_dir: Path, label: str, questions: list[str], backend: str) -> dict[str, object]:
    from index.answering import answer
    from index.retrieval import Retriever
    from index.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, index_dir=index_dir, backend=backend, device="cpu"
    )
    t0 = time.perf_counter()
    retriever = Retriever(settings)
    retriever.warm_up()
    load_s = time.perf_counter() - t0
    for q in questions[:20]:
        answer(retriever, q)
    times = []
    for q in questions:
        t = time.perf_counter()
        answer(retriever, q)
        times.append((time.perf_counter() - t) * 1000)
    m = retriever.view.snapshot.manifest
    return {
        "corpus": label,
        "passages": m["passages"],
        "index": m["index_type"],
        "p50": statistics.median(times),
        "p95": pct(times, 0.95),
        "p99": pct(times, 0.99),
        "recall@10": ann_recall(retriever, int(m["dimension"])),
        "load_s": load_s,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "disk_mb": retriever.view.snapshot.size_on_disk() / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic", type=int, nargs="*", default=[])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--backend", choices=("torch", "onnx", "onnx-int8"))
    args = parser.parse_args()
    from index.settings import Settings

    backend = args.backend or Settings(_env_file=None).backend  # type: ignore[call-arg]
    print(f"backend: {backend}")
    questions = [str(q["question"]) for q in squad_questions()][: args.questions]
    rows = []
    if not args.skip_real:
        rows.append(measure(WORK / "quality" / backend, "BBC + SQuAD", questions, backend))
    for n in args.synthetic:
        index_dir = WORK / f"synthetic-{n}"
        build_s = build_synthetic(index_dir, n, 384, 200_000, backend)
        row = measure(index_dir, f"synthetic {n:,}", questions, backend)
        row["build_s"] = build_s
        rows.append(row)
    print(
        "| corpus | passages | index | ask p50 ms | p95 ms | p99 ms | ANN seed found / recall@10 | "
        "RSS MB | disk MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ann = r["recall@10"]
        rec = "exact" if ann is None else f"{ann[0]:.3f} / {ann[1]:.3f}"  # type: ignore[index]
        print(
            f"| {r['corpus']} | {r['passages']:,} | {r['index']} | {r['p50']:.1f} | "
            f"{r['p95']:.1f} | {r['p99']:.1f} | {rec} | {r['rss_mb']:.0f} | {r['disk_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
