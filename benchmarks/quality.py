"""Answer quality on BBC News + SQuAD 2.0: quotes, passage recall, baselines, abstention.

    python benchmarks/quality.py                        # the configured backend
    python benchmarks/quality.py --backends torch onnx-int8   # compared, in points

Each backend gets its own index of the corpus under /tmp/articlebot-bench/quality.

Reports, measured in one run: answer-in-first-quote and answer-in-any-quote rates,
passage recall@1/3/10 and MRR for hybrid retrieval, the same recall@1 for BM25-only
(bm25s over the same passages) and dense-only (exact FAISS) baselines, abstention on
SQuAD's unanswerable and on off-topic questions, a threshold sweep, and ask latency.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import WORK, corpus_roots, squad_questions

OFF_TOPIC = [
    "How long should I knead bread dough?",
    "What is a good recipe for banana bread?",
    "How do I make a sourdough starter?",
    "What temperature should I roast a chicken at?",
    "How do I caramelise onions without burning them?",
    "Can I freeze cooked rice?",
    "What spices go into garam masala?",
    "How do I make fluffy pancakes?",
    "What is the speed of light in a vacuum?",
    "Why is the sky blue?",
    "What is the second law of thermodynamics?",
    "How does quantum entanglement work?",
    "What is the Schwarzschild radius of a black hole?",
    "How do magnets work?",
    "What is the half-life of carbon-14?",
    "Why do objects fall at the same rate in a vacuum?",
    "How do I reset my router password?",
    "Why is my laptop fan so loud?",
    "How do I fix a printer that says paper jam?",
    "How can I recover a deleted file on Windows?",
    "My phone won't charge, what should I do?",
    "How do I change the DNS server on a Mac?",
    "How do I undo a git rebase?",
    "Why does my Python script say ModuleNotFoundError?",
    "How often should I water a cactus?",
    "When should I prune roses?",
    "How do I get rid of aphids on tomatoes?",
    "What is the best soil for blueberries?",
    "How many bones are in the human body?",
    "What causes hiccups?",
    "How much sleep does a teenager need?",
    "What are the symptoms of vitamin D deficiency?",
    "How do I train my puppy to stop biting?",
    "What do hamsters eat?",
    "How do I tie a bowline knot?",
    "How do I remove a red wine stain from carpet?",
    "What is the capital of Mongolia?",
    "How tall is Mount Kilimanjaro?",
    "How do I knit a scarf for beginners?",
    "What is the best way to learn to juggle?",
    "How do I descale a kettle?",
    "How do I unclog a bathroom sink?",
    "What is the difference between baking soda and baking powder?",
    "How do I calculate the area of a circle?",
    "What is the derivative of sin(x)?",
    "How do solar panels convert sunlight into electricity?",
    "What is photosynthesis?",
    "How do vaccines train the immune system?",
    "What is the boiling point of water on Everest?",
    "How do I change a flat bicycle tyre?",
]


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def contains(text: str, answers: list[str]) -> bool:
    t = normalise(text)
    return any(normalise(a) in t for a in answers)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


BACKENDS = ("torch", "onnx", "onnx-int8")
METRICS = (  # (key, label): the rows compared across backends, in points
    ("first", "answer in first quote"),
    ("any", "answer in any quote"),
    ("answered", "answered (not abstained)"),
    ("recall@1", "hybrid passage recall@1"),
    ("recall@3", "hybrid passage recall@3"),
    ("mrr", "hybrid MRR@10"),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        help="embedding backends to index and evaluate, compared with the first "
        "(default: the configured backend)",
    )
    parser.add_argument(
        "--index-root", type=Path, default=WORK / "quality", help="one index per backend here"
    )
    parser.add_argument("--skip-index", action="store_true", help="use the existing indexes")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    from index.settings import Settings

    backends = args.backends or [Settings(_env_file=None).backend]  # type: ignore[call-arg]
    results = {}
    for backend in backends:
        print(f"\n## Backend: {backend}")
        results[backend] = evaluate_backend(backend, args.index_root / backend, args.skip_index)
    if len(backends) > 1:
        compare(results, backends)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def evaluate_backend(backend: str, index_dir: Path, skip_index: bool) -> dict:
    """Index BBC + SQuAD with ``backend`` (unless skipped) and print its quality tables."""
    from index.embedding import make_embedder
    from index.indexer import run_index
    from index.retriever import Retriever
    from index.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, index_dir=index_dir, backend=backend, device="cpu"
    )
    embedder = make_embedder(settings)
    if not skip_index:
        report = run_index(settings, embedder, corpus_roots())
        print("index:", report.summary())
    retriever = Retriever(settings, embedder)
    retriever.warm_up()
    rows = answer_rows(retriever)
    metrics = summarise(rows, retriever.passage_count())
    metrics.update(abstention(retriever, settings.abstain_threshold))
    metrics.update(latency(retriever))
    metrics["rows"] = rows
    return metrics


def answer_rows(retriever: Any) -> list[dict]:
    """Per answerable SQuAD question: quotes, hybrid rank, dense and bm25s hits at 1."""
    from index.answers import answer

    conn = retriever._current().conn()
    passages = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT p.id, a.title, p.text FROM passages p JOIN articles a ON a.id = p.article_id"
        )
    }

    def relevant(q: dict, pid: int) -> bool:
        title, text = passages[pid]
        return title == q["title"] and contains(text, q["answers"])

    # BM25-only baseline: bm25s over exactly the same passages.
    import bm25s

    ids = list(passages)
    bm25 = bm25s.BM25()
    bm25.index(
        bm25s.tokenize([passages[i][1] for i in ids], stopwords="en", show_progress=False),
        show_progress=False,
    )
    rows = []
    for q in (q for q in squad_questions() if not q["impossible"]):
        ans = answer(retriever, q["question"])
        hits = retriever.search(q["question"], 10)
        ranks = [i for i, h in enumerate(hits) if relevant(q, h.passage_id)]
        dense_ids = retriever.dense_only(q["question"], 1)
        res, _ = bm25.retrieve(
            bm25s.tokenize([q["question"]], stopwords="en", show_progress=False),
            k=1,
            show_progress=False,
        )
        rows.append(
            {
                "question": q["question"],
                "answers": q["answers"],
                "abstained": ans.abstained,
                "first": bool(ans.quotes) and contains(ans.quotes[0].text, q["answers"]),
                "any": any(contains(x.text, q["answers"]) for x in ans.quotes),
                "rank": ranks[0] + 1 if ranks else None,
                "dense@1": bool(dense_ids) and relevant(q, dense_ids[0]),
                "bm25@1": relevant(q, ids[int(res[0][0])]),
                "quotes": [x.text for x in ans.quotes],
            }
        )
    return rows


def summarise(rows: list[dict], passage_count: int) -> dict:
    n = len(rows)

    def rate(key: str) -> float:
        return sum(bool(r[key]) for r in rows) / n

    recall = {k: sum(1 for r in rows if r["rank"] and r["rank"] <= k) / n for k in (1, 3, 10)}
    m = {
        "first": rate("first"),
        "any": rate("any"),
        "answered": 1 - rate("abstained"),
        **{f"recall@{k}": v for k, v in recall.items()},
        "mrr": sum(1 / r["rank"] for r in rows if r["rank"]) / n,
        "bm25@1": rate("bm25@1"),
        "dense@1": rate("dense@1"),
    }
    print(f"\nAnswerable SQuAD questions: {n}  (corpus: {passage_count} passages)")
    print("| metric | value | target |\n|---|---|---|")
    print(f"| answer in first quote | {m['first']:.3f} | >= 0.85 |")
    print(f"| answer in any quote | {m['any']:.3f} | >= 0.95 |")
    print(f"| answered (not abstained) | {m['answered']:.3f} | >= 0.95 |")
    print(
        f"| hybrid passage recall@1 / @3 / @10 | {recall[1]:.3f} / {recall[3]:.3f} / "
        f"{recall[10]:.3f} | |"
    )
    print(f"| hybrid MRR@10 | {m['mrr']:.3f} | |")
    print(f"| BM25-only (bm25s) recall@1 | {m['bm25@1']:.3f} | < hybrid |")
    print(f"| dense-only (FAISS flat) recall@1 | {m['dense@1']:.3f} | < hybrid |")
    return m


def abstention(retriever: Any, used: float) -> dict:
    """Evidence scores of answerable, off-topic and SQuAD-unanswerable questions, and the
    threshold sweep."""
    from index.answers import COVERAGE_WEIGHT, evidence, rank_sentences
    from index.answers import _term_weights as term_weights

    def evidence_of(question: str) -> float:
        hits = retriever.search(question, 6)
        texts = retriever.article_texts({h.article_id for h in hits}) if hits else {}
        return evidence(
            hits, rank_sentences(hits, texts, term_weights(retriever, question, question))
        )

    questions = squad_questions()
    ans = [evidence_of(str(q["question"])) for q in questions if not q["impossible"]]
    off = [evidence_of(q) for q in OFF_TOPIC]
    imp = [evidence_of(str(q["question"])) for q in questions if q["impossible"]]
    print(
        f"\nAbstention: evidence = best passage cosine + {COVERAGE_WEIGHT} x best sentence "
        f"coverage of the question's IDF mass; abstain below {used}"
    )
    print(
        "| threshold | answerable answered | off-topic abstained | SQuAD-unanswerable abstained |"
    )
    print("|---|---|---|---|")
    for th in sorted({0.40, 0.45, 0.50, used, 0.55, 0.60, 0.65}):
        a = sum(s >= th for s in ans) / len(ans)
        o = sum(s < th for s in off) / len(off)
        u = sum(s < th for s in imp) / len(imp)
        mark = " (used)" if abs(th - used) < 1e-9 else ""
        print(f"| {th:.2f}{mark} | {a:.3f} | {o:.3f} | {u:.3f} |")
    return {
        "off_topic_abstained": sum(s < used for s in off) / len(off),
        "evidence": {"answerable": ans, "off_topic": off, "impossible": imp},
    }


def latency(retriever: Any) -> dict:
    from index.answers import answer

    for _ in range(20):
        answer(retriever, "warm up question about the economy")
    lat = []
    for q in [q for q in squad_questions() if not q["impossible"]][:200]:
        t = time.perf_counter()
        answer(retriever, q["question"])
        lat.append((time.perf_counter() - t) * 1000)
    p50, p95 = statistics.median(lat), pct(lat, 0.95)
    print(
        f"\nask latency after warm-up ({len(lat)} questions): p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms, p99 {pct(lat, 0.99):.1f} ms"
    )
    return {"p50_ms": p50, "p95_ms": p95}


def compare(results: dict[str, dict], backends: list[str]) -> None:
    """Each backend against the first, in points (target: within 0.5)."""
    base = backends[0]
    print(f"\n## Compared with {base} (points; target: within 0.5)\n")
    print("| metric | " + " | ".join(backends) + " |")
    print("|---|" + "---|" * len(backends))
    for key, label in (*METRICS, ("off_topic_abstained", "off-topic abstained")):
        cells = [f"{results[base][key]:.3f}"]
        for other in backends[1:]:
            delta = (results[other][key] - results[base][key]) * 100
            cells.append(f"{results[other][key]:.3f} ({delta:+.1f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    cells = [f"{results[b]['p50_ms']:.1f} / {results[b]['p95_ms']:.1f}" for b in backends]
    print("| ask p50 / p95 ms | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
