"""Cross-validation on bbc-train for ``fit_ranker.py``: folds grouped by article, the
held-out metrics, the SQuAD-weight / C search and the feature ablation, and the one
evaluation on bbc-dev (never fitted on, never chosen by).

Train-CV metrics per kind: the best sentence holds the answer ("top-1", what the first
quote shows) and one of the best three does ("top-3", close to "any quote"); answerable
questions answered and off-topic ones declined at the product's abstention threshold.
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.corpus import DEV_QUESTIONS, SHARED
from benchmarks.fit_ranker import FOLDS, FitConfig, Question, fit_models, fit_sentence, label_of

TRAIN_QUESTIONS = SHARED / "questions" / "bbc-train.jsonl"
#: Hand-written questions on bbc-train's articles, in people's words (few shared words).
OWN_QUESTIONS = Path(__file__).resolve().parent / "questions"
REALISTIC = ("factoid", "why", "casual")
THRESHOLD = 0.5  # index.settings.ABSTAIN_DEFAULT

#: The sentence features in groups, as features.py describes them.
FEATURE_GROUPS = {
    "retrieval": ("fused", "rank", "passage_dense", "passage_lexical"),
    "overlap": ("coverage", "passage_best_coverage", "title_coverage", "article_coverage"),
    "phrase/novelty": ("phrase", "novelty"),
    "cosine": ("cosine", "cosine_gap", "passage_best_cosine"),
    "tuned cosine": ("tuned_cosine", "tuned_cosine_gap"),
    "position": ("lead", "position"),
    "form": ("length", "unfinished", "quoted"),
    "neighbours": (
        "previous_coverage",
        "next_coverage",
        "previous_cosine",
        "next_cosine",
        "has_previous",
        "has_next",
    ),
    "nearness": ("answer_near", "answers_who"),
}


def answer_type_features() -> tuple[str, ...]:
    from index.answering.features import SENTENCE_FEATURES

    grouped = {f for names in FEATURE_GROUPS.values() for f in names}
    return tuple(f for f in SENTENCE_FEATURES if f not in grouped)


def read_questions(path: Any) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [Question(d["question"], d["kind"], tuple(d["answers"]), d.get("article")) for d in rows]


def load_train_questions() -> list[Question]:
    """bbc-train, our own questions on its articles (``OWN_QUESTIONS``), SQuAD's
    answerable questions and the general off-topic ones."""
    from benchmarks.fit_ranker import load_questions

    own = [q for path in sorted(OWN_QUESTIONS.glob("*.jsonl")) for q in read_questions(path)]
    extra = [q for q in load_questions() if q.kind in ("squad", "general")]
    return read_questions(TRAIN_QUESTIONS) + own + extra


def load_dev_questions() -> list[Question]:
    return read_questions(DEV_QUESTIONS)


def grouped_folds(questions: list[Question], k: int = FOLDS) -> list[list[int]]:
    """Question indices in ``k`` folds; a bbc-train article's questions share a fold (by
    a hash of its path, deterministic), SQuAD's and the off-topic ones go round."""
    out: list[list[int]] = [[] for _ in range(k)]
    turn: dict[str, int] = defaultdict(int)
    for i, q in enumerate(questions):
        if q.kind in REALISTIC and q.article:
            out[zlib.crc32(q.article.encode()) % k].append(i)
        else:
            out[turn[q.kind] % k].append(i)
            turn[q.kind] += 1
    return out


def held_out_models(
    questions: list[Question], config: FitConfig, sentence_only: bool = False
) -> dict[int, Any]:
    """For each question, the models (or sentence model) fitted without its fold."""
    held: dict[int, Any] = {}
    for fold in grouped_folds(questions):
        test = set(fold)
        train = [q for i, q in enumerate(questions) if i not in test]
        models = fit_sentence(train, config) if sentence_only else fit_models(train, config)
        held.update(dict.fromkeys(fold, models))
    return held


def cv_metrics(questions: list[Question], held: dict[int, Any]) -> dict[str, float]:
    """Held-out top-1 / top-3 sentences per kind, and for the bbc-train questions that
    share least with their answer ("low overlap", as people's questions do); where
    ``held`` has both models, the answer in the first / any quote as ``choose_quotes``
    makes them (``first`` / ``any``), and answered / declined."""
    from benchmarks.rerank_stage import ranked
    from index.answering import AnswerModels
    from index.answering.model import score
    from index.answering.pipeline import coverage_probability

    rows: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    passed: dict[str, list[bool]] = defaultdict(list)
    low = low_overlap(questions)
    for i, q in enumerate(questions):
        m = held[i]
        if isinstance(m, AnswerModels):
            cands = ranked(q, m) if q.ranked.candidates else []
        else:
            cands = score(q.ranked.candidates, m) if q.ranked.candidates else []
        if q.answerable:
            labels = [label_of(q, c) for c in cands[:3]]
            hit = (bool(labels) and labels[0], any(labels))
            if isinstance(m, AnswerModels):
                hit += quote_hits(q, cands)
            rows[q.kind].append(hit)
            rows["train" if q.kind in REALISTIC else "other"].append(hit)
            if i in low:
                rows["low"].append(hit)
        if isinstance(m, AnswerModels):
            p = coverage_probability(q.text, replace(q.ranked, candidates=cands), m) if cands else 0
            passed["answerable" if q.kind in REALISTIC else q.kind].append(p >= THRESHOLD)
    out = {}
    for kind, hits in rows.items():
        for k, name in enumerate(("top1", "top3", "first", "any")[: len(hits[0])]):
            out[f"{kind}.{name}"] = _mean([h[k] for h in hits])
    if passed:
        out["answered"] = _mean(passed["answerable"])
        out["offtopic.declined"] = 1 - _mean(passed["offtopic"])
        out["general.declined"] = 1 - _mean(passed["general"])
        out["squad.answered"] = _mean(passed["squad"])
    return out


def quote_hits(q: Question, cands: list[Any]) -> tuple[bool, bool]:
    """Whether the first / any quote made from ``cands`` holds an answer, cited to the
    expected article (as ``quality.py`` counts quotes)."""
    from benchmarks.fit_ranker import right_article
    from benchmarks.quality import contains
    from index.answering.quotes import choose_quotes

    quotes = choose_quotes(cands, q.texts) if cands else []
    found = [
        right_article(q, c.hit) and contains(q.texts[c.hit.article_id][c.start : c.end], q.answers)
        for c in quotes
    ]
    return bool(found) and found[0], any(found)


def low_overlap(questions: list[Question]) -> set[int]:
    """The bbc-train questions whose best answering sentence covers less of the
    question's rare words than the median one does (bbc-dev's questions overlap less)."""
    overlap = {
        i: max(
            (c.coverage for c, y in zip(q.ranked.candidates, q.labels, strict=True) if y),
            default=0.0,
        )
        for i, q in enumerate(questions)
        if q.kind in REALISTIC and q.answerable
    }
    median = sorted(overlap.values())[len(overlap) // 2]
    return {i for i, v in overlap.items() if v < median}


def mark_overlap(questions: list[Question]) -> None:
    """Mark the answerable bbc-train questions outside ``low_overlap`` as high-overlap
    (``FitConfig.high_overlap_weight`` weighs them); after ``collect``."""
    low = low_overlap(questions)
    for i, q in enumerate(questions):
        q.high_overlap = q.kind in REALISTIC and q.answerable and i not in low


def objective(m: dict[str, float]) -> float:
    """What the choices maximise: train-CV first quote and any quote alike."""
    return (m["train.top1"] + m["train.top3"]) / 2


def _mean(values: list[bool]) -> float:
    return sum(values) / len(values) if values else float("nan")


def search_weights(questions: list[Question], base: FitConfig) -> FitConfig:
    """SQuAD's weight and the sentence C by train-CV; prints every variant."""
    print(
        "\n| squad weight | C | train top-1 | train top-3 | low-overlap top-1 | why top-1 | squad top-1 |"
    )
    print("|---|---|---|---|---|---|---|")
    best, best_score = base, -1.0
    for squad_weight in (0.25, 0.5, 1.0, 2.0):
        for c in (0.03, 0.1, 0.3):
            config = replace(base, squad_weight=squad_weight, sentence_c=c)
            m = cv_metrics(questions, held_out_models(questions, config, sentence_only=True))
            print(
                f"| {squad_weight} | {c} | {m['train.top1']:.3f} | {m['train.top3']:.3f} | "
                f"{m['low.top1']:.3f} | {m['why.top1']:.3f} | {m['squad.top1']:.3f} |",
                flush=True,
            )
            if objective(m) > best_score:
                best, best_score = config, objective(m)
    return best


def overlap_search(questions: list[Question], base: FitConfig) -> FitConfig:
    """The high-overlap questions' weight, by the train-CV objective over all of
    bbc-train (as every other choice); prints every variant, the low-overlap half too
    (judged on that half alone, a lower weight always wins: it tunes the model to it)."""
    print(
        "\n| high-overlap weight | train top-1 / top-3 | low-overlap top-1 / top-3 | why top-1 / top-3 |"
    )
    print("|---|---|---|---|")
    best, best_score = base, -1.0
    for weight in (1.0, 0.5, 0.25, 0.1):
        config = replace(base, high_overlap_weight=weight)
        m = cv_metrics(questions, held_out_models(questions, config, sentence_only=True))
        print(
            f"| {weight} | {m['train.top1']:.3f} / {m['train.top3']:.3f} | "
            f"{m['low.top1']:.3f} / {m['low.top3']:.3f} | {m['why.top1']:.3f} / {m['why.top3']:.3f} |",
            flush=True,
        )
        if objective(m) > best_score:
            best, best_score = config, objective(m)
    return best


def ablation(questions: list[Question], base: FitConfig) -> dict[str, float]:
    """Train-CV objective change (points) when each group, then each feature, is dropped."""
    groups = {**FEATURE_GROUPS, "answer types": answer_type_features()}
    first = cv_metrics(questions, held_out_models(questions, base, True))
    start, base_low = objective(first), first["low.top1"]
    print(f"\nablation from train-CV objective {start:.4f} (mean of top-1 and top-3)")
    print("| dropped | Δ top-1/top-3 mean (points) | Δ low-overlap top-1 |\n|---|---|---|")
    deltas = {}
    for name, features in [*groups.items(), *((f, (f,)) for g in groups.values() for f in g)]:
        config = replace(base, dropped=base.dropped | frozenset(features))
        m = cv_metrics(questions, held_out_models(questions, config, True))
        deltas[name] = (objective(m) - start) * 100
        low = (m["low.top1"] - base_low) * 100
        print(f"| {name} | {deltas[name]:+.2f} | {low:+.2f} |", flush=True)
    return deltas


def dev_report(retriever: Any, dev: list[Question], variants: dict[str, Any]) -> dict:
    """bbc-dev answered through the product's ``answer`` / ``rank`` with each variant's
    models (quality.answer_row), by kind."""
    from benchmarks.quality import answer_row, group_metrics

    groups = {"bbc-dev": REALISTIC, **{k: (k,) for k in REALISTIC}}
    print("\n| bbc-dev (never fitted on) | model | first | any | recall@1 | answered |")
    print("|---|---|---|---|---|---|")
    out: dict[str, dict[str, float]] = {}
    for label, models in variants.items():
        rows = [answer_row(retriever, q, models) for q in dev]
        for name, kinds in groups.items():
            g = group_metrics([r for r in rows if r["kind"] in kinds])
            out[f"{label}/{name}"] = g
            print(
                f"| {name} | {label} | {g['first']:.3f} | {g['any']:.3f} | "
                f"{g['recall@1']:.3f} | {g['answered']:.3f} |"
            )
        off = [r for r in rows if r["kind"] == "offtopic"]
        declined = sum(r["abstained"] for r in off) / len(off)
        out[f"{label}/offtopic"] = {"declined": declined}
        print(f"| off-topic declined | {label} | {declined:.3f} | | | |")
    return out
