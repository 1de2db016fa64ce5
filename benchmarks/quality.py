"""Answer quality on the realistic BBC questions (bbc-dev.jsonl, per kind) next to SQuAD.

    python benchmarks/quality.py                        # the configured backend
    python benchmarks/quality.py --backends torch onnx-int8   # compared, in points
    python benchmarks/quality.py --shipped              # the shipped models, not CV
    python benchmarks/quality.py --shipped --encoder E.npz --model M.json  # candidates

Each backend gets its own index of the corpus (BBC + SQuAD articles + corpus/) under
/tmp/articlebot-bench/quality.

By default (a legacy CV mode) every question is answered with answer models refitted on
the other folds of bbc-dev + SQuAD (``benchmarks/fit_ranker.py``'s ``folds``) and with a
question encoder that never saw it: ``benchmarks/fit_question_encoder.py`` (which must
have run) fits one per bbc-train fold, and a SQuAD question takes the one fitted without
its train fold (``encoder_fold``). ``--shipped`` answers with the shipped files or the
candidates given. Reports, per kind: answer in first / any quote, answered, passage recall@1/3/10
and MRR; the same for bbc-dev with a typo in each question's rarest word ("typo",
"typo-mixed") and in chat shorthand ("chat");
off-topic abstained (the 25 news-like questions of bbc-dev and 50 general ones); the
README question; and ask latency.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import DEV_QUESTIONS, WORK, corpus_roots, squad_questions

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


def contains(text: str, answers: Sequence[str]) -> bool:
    t = normalise(text)
    return any(normalise(a) in t for a in answers)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


BACKENDS = ("torch", "onnx", "onnx-int8")
GROUPS = {  # report row -> question kinds
    "bbc-dev": ("factoid", "why", "casual"),
    "factoid": ("factoid",),
    "why": ("why",),
    "casual": ("casual",),
    "typo": ("typo",),  # bbc-dev with a typo in each question's rarest word
    "typo-mixed": ("typo-mixed",),  # ... with each of the common slips in turn
    "chat": ("chat",),  # ... in chat shorthand ("ppl", "u", "y", "govt")
    "squad": ("squad",),
}
METRICS = (  # (key, label): the rows compared across backends, in points
    ("bbc-dev.first", "bbc-dev: answer in first quote"),
    ("bbc-dev.any", "bbc-dev: answer in any quote"),
    ("bbc-dev.recall@1", "bbc-dev: passage recall@1"),
    ("offtopic.abstained", "bbc-dev: off-topic abstained"),
    ("squad.first", "SQuAD: answer in first quote"),
    ("squad.recall@1", "SQuAD: passage recall@1"),
)
README_QUESTION = "Who is trying to mend relations between Turkey and Israel?"
README_ANSWER = "Aliyev is trying to mend relations"


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
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="answer with the shipped models (index/answering/answer_model.json)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--encoder", type=Path, help="with --shipped: this question encoder (a candidate's npz)"
    )
    parser.add_argument(
        "--model", type=Path, help="with --shipped: this answer model (a candidate's json)"
    )
    args = parser.parse_args()
    if (args.encoder or args.model) and not args.shipped:
        parser.error("--encoder and --model go with --shipped")
    candidate = Candidate(args.encoder, args.model)

    from index.settings import Settings

    backends = args.backends or [Settings(_env_file=None).backend]  # type: ignore[call-arg]
    results = {}
    for backend in backends:
        print(f"\n## Backend: {backend}")
        results[backend] = evaluate_backend(
            backend, args.index_root / backend, args.skip_index, args.shipped, candidate
        )
    if len(backends) > 1:
        compare(results, backends)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


@dataclass(frozen=True)
class Candidate:
    """Files to answer with instead of the shipped ones (``--shipped`` only)."""

    encoder: Path | None = None
    model: Path | None = None

    def models(self) -> Any:
        from index.answering import load_models
        from index.answering.model import models_from_json

        if self.model is None:
            return load_models()
        return models_from_json(json.loads(self.model.read_text()))


def evaluate_backend(
    backend: str, index_dir: Path, skip_index: bool, shipped: bool, candidate: Candidate
) -> dict:
    """Index the benchmark corpus with ``backend`` (unless skipped) and print its tables."""
    from benchmarks import fit_ranker
    from index.embedding import make_embedder, make_question_embedder, make_rerank_embedders
    from index.indexing import run_index
    from index.retrieval import Retriever
    from index.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, index_dir=index_dir, backend=backend, device="cpu"
    )
    embedder = make_embedder(settings)
    if not skip_index:
        report = run_index(settings, embedder, corpus_roots())
        print("index:", report.summary())
    shipped_encoder = (
        make_question_embedder(settings, candidate.encoder)
        if candidate.encoder
        else make_question_embedder(settings)
    )
    pair = make_rerank_embedders(settings)
    retriever = Retriever(
        settings, embedder, question_embedder=shipped_encoder, rerank_embedders=pair
    )
    retriever.warm_up()
    questions = fit_ranker.load_questions()
    encoders = None if shipped else fit_ranker.fold_encoders(settings)
    if shipped:
        held_out = dict.fromkeys(range(len(questions)), candidate.models())
    fold_of = encoder_fold(questions)
    if not shipped:
        by_fold = [[i for i, k in fold_of.items() if k == f] for f in range(fit_ranker.FOLDS)]
        fit_ranker.collect(retriever, questions, encoders, by_fold)
        held_out = fit_ranker.cross_validated_models(questions)
    rows = []
    for i, q in enumerate(questions):
        if encoders is not None:  # the question encoder fitted without this question
            fit_ranker.use_fold_encoder(retriever, encoders, fold_of[i])
        rows.append(answer_row(retriever, q, held_out[i]))
    rows += typo_rows(retriever, questions, held_out, encoders, fold_of)
    retriever.set_question_embedder(shipped_encoder)  # the README question and latency
    metrics = summarise(rows, retriever.passage_count(), shipped)
    metrics.update(readme_question(retriever))
    metrics.update(latency(retriever))
    metrics["rows"] = rows
    return metrics


def encoder_fold(questions: list[Any]) -> dict[int, int]:
    """Which per-fold question encoder answers each question. They are fitted on
    bbc-train's folds (fit_question_encoder.py), so a SQuAD or general question takes the
    one fitted without its train fold; bbc-dev was never fitted on (any one is held out),
    so its questions keep their own fold's."""
    from benchmarks import fit_ranker, ranker_cv

    train = ranker_cv.load_train_questions()
    folds = ranker_cv.grouped_folds(train)
    by_text = {(train[i].kind, train[i].text): k for k, f in enumerate(folds) for i in f}
    own = fit_ranker.fold_of(questions)
    return {i: by_text.get((q.kind, q.text), own[i]) for i, q in enumerate(questions)}


def typo_rows(
    retriever: Any, questions: list[Any], held_out: dict, encoders: Any, fold_of: dict
) -> list[dict]:
    """The bbc-dev questions again, typed otherwise: kind "typo" (one typo in the rarest
    word: a doubled letter typed once, else a swap), "typo-mixed" (the four common slips
    in turn: a letter left out, a neighbouring key, a swap, a letter typed twice) and
    "chat" (chat shorthand: "ppl", "u", "y", "govt")."""
    import copy

    from benchmarks import fit_ranker

    rows = []
    bbc = [(i, q) for i, q in enumerate(questions) if q.kind in GROUPS["bbc-dev"]]
    for kind in ("typo", "typo-mixed", "chat"):
        for n, (i, q) in enumerate(bbc):
            if encoders is not None:
                fit_ranker.use_fold_encoder(retriever, encoders, fold_of[i])
            typed = copy.copy(q)
            if kind == "chat":
                typed.text = with_chat(q.text)
            else:
                slip = None if kind == "typo" else SLIPS[n % len(SLIPS)]
                typed.text = with_typo(q.text, retriever.document_frequency, slip)
            typed.kind = kind
            rows.append(answer_row(retriever, typed, held_out[i]))
    return rows


#: Words and the chat shorthand people type for them (chosen here, apart from the
#: product's list in index/spelling.py).
SHORTHAND = {
    "people": "ppl",
    "you": "u",
    "your": "ur",
    "are": "r",
    "why": "y",
    "what": "wat",
    "because": "cuz",
    "government": "govt",
    "through": "thru",
    "about": "abt",
    "with": "w/",
    "before": "b4",
    "please": "pls",
}


def with_chat(question: str) -> str:
    """``question`` with every word that has a chat shorthand typed so, lower case."""
    pattern = r"\b(" + "|".join(SHORTHAND) + r")\b"
    return re.sub(pattern, lambda m: SHORTHAND[m.group().lower()], question, flags=re.I)


SLIPS = ("omit", "neighbour", "swap", "twice")


def with_typo(question: str, frequency: Any, slip: str | None = None) -> str:
    """``question`` with a slip in its rarest word of 5+ letters, the one that tells the
    most. By default a doubled letter typed once ("suposed"), or else two middle letters
    swapped ("Cutris"); ``slip`` names one of SLIPS, made at the word's middle letter
    that is not one of a doubled pair. Deterministic, so runs compare."""
    words = [w for w in re.findall(r"[A-Za-z]+", question) if len(w) >= 5]
    known = [w for w in words if frequency(w.lower()) > 0]
    if not known:
        return question
    word = min(known, key=lambda w: (frequency(w.lower()), w))
    double = re.search(r"(\w)\1", word)
    if slip is None and double:
        typo = word[: double.start()] + word[double.start() + 1 :]
    else:
        typo = _slip(word, slip or "swap")
    return re.sub(rf"\b{word}\b", typo, question, count=1)


def _slip(word: str, slip: str) -> str:
    i = len(word) // 2
    while i > 1 and (word[i] == word[i - 1] or word[i] == word[min(i + 1, len(word) - 1)]):
        i -= 1  # "committee": leaving out one of "mm" is the doubled-letter slip
    c = word[i]
    if slip == "omit":
        return word[:i] + word[i + 1 :]
    if slip == "twice":
        return word[:i] + c + word[i:]
    if slip == "neighbour":
        from index.spelling import KEYBOARD_ROWS

        row = next((r for r in KEYBOARD_ROWS if c.lower() in r), None)
        if row is None:
            return word
        j = row.index(c.lower())
        near = row[j + 1] if j + 1 < len(row) else row[j - 1]
        return word[:i] + (near.upper() if c.isupper() else near) + word[i + 1 :]
    i = max(i, 2)  # a swap with the first letter is not a slip the corrector tries
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def answer_row(retriever: Any, q: Any, models: Any) -> dict:
    """One question answered (as ``ask`` does) and retrieved (as ``search`` does)."""
    from benchmarks.fit_ranker import right_article
    from index.answering import answer, rank

    ans = answer(retriever, q.text, models=models)
    hits = rank(retriever, q.text, 10, question=q.text, models=models).hits
    ranks = [i for i, h in enumerate(hits) if right_article(q, h) and contains(h.text, q.answers)]
    # A quote counts when it holds an answer and is cited to the expected article (as
    # ``articlebot eval`` counts it): "$2bn" in another story is not the answer.
    sources = {s.citation: s for s in ans.sources}
    found = [
        contains(x.text, q.answers) and right_article(q, sources[x.citation]) for x in ans.quotes
    ]
    return {
        "question": q.text,
        "kind": q.kind,
        "answers": list(q.answers),
        "abstained": ans.abstained,
        "first": bool(found) and found[0],
        "any": any(found),
        # The answer string in a quote cited to any article: BBC tells some facts in
        # more than one story, and the strict count wants the story the question is from.
        "first_any_story": bool(ans.quotes) and contains(ans.quotes[0].text, q.answers),
        "any_any_story": any(contains(x.text, q.answers) for x in ans.quotes),
        "rank": ranks[0] + 1 if ranks else None,
        "quotes": [x.text for x in ans.quotes],
    }


def group_metrics(rows: list[dict]) -> dict[str, float]:
    n = len(rows)

    def rate(key: str) -> float:
        return sum(bool(r[key]) for r in rows) / n

    recall = {k: sum(1 for r in rows if r["rank"] and r["rank"] <= k) / n for k in (1, 3, 10)}
    return {
        "n": n,
        "first": rate("first"),
        "any": rate("any"),
        "first_any_story": rate("first_any_story"),
        "any_any_story": rate("any_any_story"),
        "answered": 1 - rate("abstained"),
        **{f"recall@{k}": v for k, v in recall.items()},
        "mrr": sum(1 / r["rank"] for r in rows if r["rank"]) / n,
    }


def summarise(rows: list[dict], passage_count: int, shipped: bool) -> dict:
    how = (
        "the shipped models (bbc-dev never fitted on; SQuAD in-sample)" if shipped else "5-fold CV"
    )
    print(f"\nQuestions answered with {how}; corpus: {passage_count} passages")
    print("| questions | n | first quote | any quote | answered | recall@1 / @3 / @10 | MRR |")
    print("|---|---|---|---|---|---|---|")
    m: dict[str, float] = {}
    for name, kinds in GROUPS.items():
        g = group_metrics([r for r in rows if r["kind"] in kinds])
        m.update({f"{name}.{k}": v for k, v in g.items()})
        print(
            f"| {name} | {g['n']} | {g['first']:.3f} | {g['any']:.3f} | {g['answered']:.3f} | "
            f"{g['recall@1']:.3f} / {g['recall@3']:.3f} / {g['recall@10']:.3f} | {g['mrr']:.3f} |"
        )
    for kind, label in (("offtopic", "bbc-dev off-topic (news-like)"), ("general", "general")):
        group = [r for r in rows if r["kind"] == kind]
        m[f"{kind}.abstained"] = sum(r["abstained"] for r in group) / len(group)
        print(f"| {label}: abstained | {len(group)} | {m[f'{kind}.abstained']:.3f} | | | | |")
    print(
        "\nThe answer string in the first / any quote, cited to any article (the same fact"
        " told by another story counts): "
        + ", ".join(
            f"{name} {m[name + '.first_any_story']:.3f} / {m[name + '.any_any_story']:.3f}"
            for name in ("bbc-dev", "squad")
        )
    )
    return m


def readme_question(retriever: Any) -> dict:
    """The README's question with all of BBC beside the sample article."""
    from index.answering import answer

    ans = answer(retriever, README_QUESTION)
    first = ans.quotes[0].text if ans.quotes else "(abstained)"
    ok = README_ANSWER in first
    print(f"\nREADME question leads with the Aliyev sentence: {ok} ({first[:90]!r})")
    return {"readme_question": ok}


def latency(retriever: Any) -> dict:
    from index.answering import answer

    for _ in range(20):
        answer(retriever, "warm up question about the economy")
    questions = [json.loads(line)["question"] for line in DEV_QUESTIONS.read_text().splitlines()]
    questions += [str(q["question"]) for q in squad_questions() if not q["impossible"]][:100]
    lat = []
    for q in questions:
        t = time.perf_counter()
        answer(retriever, q)
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
    for key, label in METRICS:
        cells = [f"{results[base][key]:.3f}"]
        for other in backends[1:]:
            delta = (results[other][key] - results[base][key]) * 100
            cells.append(f"{results[other][key]:.3f} ({delta:+.1f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    cells = [f"{results[b]['p50_ms']:.1f} / {results[b]['p95_ms']:.1f}" for b in backends]
    print("| ask p50 / p95 ms | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
