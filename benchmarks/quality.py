"""Answer quality on BBC News + SQuAD 2.0: quotes, passage recall, baselines, abstention.

    python benchmarks/quality.py            # indexes into /tmp/articlebot-bench first

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index-dir", type=Path, default=WORK / "index")
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    from index.answers import answer
    from index.embedding import SentenceTransformerEmbedder
    from index.indexer import run_index
    from index.retriever import Retriever
    from index.settings import Settings

    settings = Settings(_env_file=None, index_dir=args.index_dir)  # type: ignore[call-arg]
    embedder = SentenceTransformerEmbedder.from_settings(settings)
    if not args.skip_index:
        report = run_index(settings, embedder, corpus_roots())
        print("index:", report.summary())
    retriever = Retriever(settings, embedder)
    retriever.warm_up()
    conn = retriever._current().conn()
    passages = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT p.id, a.title, p.text FROM passages p JOIN articles a ON a.id = p.article_id"
        )
    }

    questions = squad_questions()
    answerable = [q for q in questions if not q["impossible"]]
    impossible = [q for q in questions if q["impossible"]]

    def relevant(q: dict, pid: int) -> bool:
        title, text = passages[pid]
        return title == q["title"] and contains(text, q["answers"])  # type: ignore[arg-type]

    # BM25-only baseline: bm25s over exactly the same passages.
    import bm25s

    ids = list(passages)
    bm25 = bm25s.BM25()
    bm25.index(
        bm25s.tokenize([passages[i][1] for i in ids], stopwords="en", show_progress=False),
        show_progress=False,
    )

    rows = []
    latencies = []
    for q in answerable:
        t = time.perf_counter()
        ans = answer(retriever, q["question"])  # type: ignore[arg-type]
        latencies.append((time.perf_counter() - t) * 1000)
        hits = retriever.search(q["question"], 10)  # type: ignore[arg-type]
        ranks = [i for i, h in enumerate(hits) if relevant(q, h.passage_id)]
        dense_ids = retriever.dense_only(q["question"], 1)  # type: ignore[arg-type]
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
                "first": bool(ans.quotes) and contains(ans.quotes[0].text, q["answers"]),  # type: ignore[arg-type]
                "any": any(contains(x.text, q["answers"]) for x in ans.quotes),  # type: ignore[arg-type]
                "rank": ranks[0] + 1 if ranks else None,
                "dense@1": bool(dense_ids) and relevant(q, dense_ids[0]),
                "bm25@1": relevant(q, ids[int(res[0][0])]),
                "best_dense": max((h.dense or 0.0) for h in hits) if hits else 0.0,
                "quotes": [x.text for x in ans.quotes],
            }
        )
    n = len(rows)

    def rate(key: str) -> float:
        return sum(bool(r[key]) for r in rows) / n

    recall = {k: sum(1 for r in rows if r["rank"] and r["rank"] <= k) / n for k in (1, 3, 10)}
    mrr = sum(1 / r["rank"] for r in rows if r["rank"]) / n
    print(f"\nAnswerable SQuAD questions: {n}  (corpus: {retriever.passage_count()} passages)")
    print("| metric | value | target |\n|---|---|---|")
    print(f"| answer in first quote | {rate('first'):.3f} | >= 0.85 |")
    print(f"| answer in any quote | {rate('any'):.3f} | >= 0.95 |")
    print(f"| answered (not abstained) | {1 - rate('abstained'):.3f} | >= 0.95 |")
    print(
        f"| hybrid passage recall@1 / @3 / @10 | {recall[1]:.3f} / {recall[3]:.3f} / {recall[10]:.3f} | |"
    )
    print(f"| hybrid MRR@10 | {mrr:.3f} | |")
    print(f"| BM25-only (bm25s) recall@1 | {rate('bm25@1'):.3f} | < hybrid |")
    print(f"| dense-only (FAISS flat) recall@1 | {rate('dense@1'):.3f} | < hybrid |")

    from index.answers import COVERAGE_WEIGHT, evidence, rank_sentences
    from index.answers import _term_weights as term_weights

    def evidence_of(question: str) -> float:
        hits = retriever.search(question, 6)
        texts = retriever.article_texts({h.article_id for h in hits}) if hits else {}
        return evidence(
            hits, rank_sentences(hits, texts, term_weights(retriever, question, question))
        )

    ans_scores = [evidence_of(str(q["question"])) for q in answerable]
    off = [evidence_of(q) for q in OFF_TOPIC]
    imp = [evidence_of(str(q["question"])) for q in impossible]
    used = settings.abstain_below
    print(
        f"\nAbstention: evidence = best passage cosine + {COVERAGE_WEIGHT} x best sentence "
        f"coverage of the question's IDF mass; abstain below {used}"
    )
    print(
        "| threshold | answerable answered | off-topic abstained | SQuAD-unanswerable abstained |"
    )
    print("|---|---|---|---|")
    for th in sorted({0.40, 0.45, 0.50, used, 0.55, 0.60, 0.65}):
        a = sum(s >= th for s in ans_scores) / len(ans_scores)
        o = sum(s < th for s in off) / len(off)
        u = sum(s < th for s in imp) / len(imp)
        mark = " (used)" if abs(th - used) < 1e-9 else ""
        print(f"| {th:.2f}{mark} | {a:.3f} | {o:.3f} | {u:.3f} |")

    for _ in range(20):
        answer(retriever, "warm up question about the economy")
    lat = []
    for q in answerable[:200]:
        t = time.perf_counter()
        answer(retriever, q["question"])  # type: ignore[arg-type]
        lat.append((time.perf_counter() - t) * 1000)
    print(
        f"\nask latency after warm-up ({len(lat)} questions): p50 {statistics.median(lat):.1f} ms, "
        f"p95 {pct(lat, 0.95):.1f} ms, p99 {pct(lat, 0.99):.1f} ms"
    )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "off": off, "impossible": imp}, indent=1))


if __name__ == "__main__":
    main()
