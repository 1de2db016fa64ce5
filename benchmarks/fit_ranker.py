"""Fit the answer model, the re-ranking stage and the evidence model
(``index/answering/answer_model.json``) on bbc-train, cross-validate them there, and check
them once on bbc-dev.

    python benchmarks/fit_ranker.py            # train-CV, bbc-dev check, write the model
    python benchmarks/fit_ranker.py --cv-only  # ... without writing it
    python benchmarks/fit_ranker.py --search   # also the SQuAD weight / C grid and ablation

Training data come from the benchmark index (``benchmarks/quality.py`` builds it) through
the product's own code path (``Retriever.candidates``), so the features are exactly
those used when answering:
- the answer model (per sentence): the sentences of the top passages of every answerable
  question of ``bbc-train.jsonl`` and of SQuAD; a sentence is positive when it holds an
  expected answer string and comes from the expected article;
- the re-ranking stage (per sentence of the answer model's best ``RERANK_DEPTH``): the
  answer model's score and the re-ranking pair's cosine, held out
  (``fit_rerank_encoders.py``'s fold pairs; ``rerank_stage``);
- the evidence model (per question): answerable questions of both sets are positive;
  the off-topic questions of ``bbc-train.jsonl`` and the general off-topic questions of
  ``quality.py`` are negative.

All three are logistic regressions on standardised features (scikit-learn). Every choice
(C, SQuAD's weight, the features kept) is made by 5-fold CV on bbc-train with folds
grouped by article (``ranker_cv.py``); each train question's features come from the
question encoder fitted without its fold (``fit_question_encoder.py``, same folds). bbc-dev
is never fitted on: the shipped pair (encoder + model) and the new one answer it through
``index.answering.answer`` as the untouched check (``--encoder``: the new encoder, e.g. a
candidate file; ``--out``: where the new model goes). (``load_questions``, bbc-dev +
SQuAD, is what ``quality.py``'s CV mode still uses.)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import DEV_QUESTIONS, WORK, squad_questions

MODEL_PATH = Path(__file__).resolve().parent.parent / "index" / "answering" / "answer_model.json"
FOLDS = 5
#: Chosen by train-CV (``--search``; the grid is in benchmarks/README.md): C and SQuAD's
#: weight against a bbc-train question. With the easy half of bbc-train down-weighted,
#: SQuAD at 2 keeps its train-CV top-1 at no cost to bbc-train's.
SENTENCE_C = 0.03
REALISTIC_WEIGHT = 2.0
SQUAD_WEIGHT = 2.0
#: A bbc-train question sharing more of its answer's words than the median one, against
#: one sharing fewer. Chosen by the train-CV objective over all of bbc-train
#: (``--overlap-search``). Judged on the low-overlap half alone, 0.25 won, and that model
#: learnt that overlap doesn't answer: on the bundled article it stopped quoting the
#: sentence naming the Azeri foreign minister (benchmarks/README.md).
HIGH_OVERLAP_WEIGHT = 1.0
EVIDENCE_C = 1.0
#: Sentence features whose weight is fixed at 0: dropping each alone, and all together,
#: cost nothing measurable in train-CV (``--search`` ablation, benchmarks/README.md).
#: fits_subtype / lacks_subtype cost nothing either way and are kept: without them a
#: "what percentage" question leads with the sentence holding other numbers.
DROPPED = frozenset(
    {
        "rank",
        "title_coverage",
        "cosine_gap",
        "unfinished",
        "previous_cosine",
        "answers_who",
        "fits_place",
        "fits_cause",
        "lacks_place",
    }
)


@dataclass(frozen=True)
class FitConfig:
    """What the sentence fit is given: its regularisation, how much a SQuAD question
    weighs against a realistic one, and the features whose weight is fixed at 0."""

    sentence_c: float = SENTENCE_C
    squad_weight: float = SQUAD_WEIGHT
    realistic_weight: float = REALISTIC_WEIGHT
    high_overlap_weight: float = HIGH_OVERLAP_WEIGHT
    dropped: frozenset[str] = DROPPED


@dataclass
class Question:
    """One question as the fit sees it."""

    text: str
    kind: str  # factoid / why / casual / offtopic (bbc-dev), squad, general (off-topic)
    answers: tuple[str, ...]
    article: str | None  # bbc-dev: path tail; squad: title
    ranked: Any = None  # index.answering.gather(...) result
    texts: Any = None
    labels: tuple[bool, ...] = ()
    high_overlap: bool = False  # shares more with its answer than the median question
    pair: dict[tuple[str, int], float] | None = None  # held-out pair cosines (rerank_stage)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def load_questions() -> list[Question]:
    from benchmarks.quality import OFF_TOPIC

    out = []
    for line in DEV_QUESTIONS.read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(Question(d["question"], d["kind"], tuple(d["answers"]), d.get("article")))
    for q in squad_questions():
        if not q["impossible"]:
            out.append(Question(str(q["question"]), "squad", tuple(q["answers"]), str(q["title"])))  # type: ignore[arg-type]
    out.extend(Question(q, "general", (), None) for q in OFF_TOPIC)
    return out


def right_article(q: Question, hit: Any) -> bool:
    if q.article is None:
        return False
    if q.kind == "squad":
        return hit.title == q.article
    tail = q.article.split("bbc-news/", 1)[-1]
    return bool(hit.path) and str(hit.path).endswith("/" + tail)


def collect(
    retriever: Any,
    questions: list[Question],
    encoders: list[Any] | None = None,
    by_fold: list[list[int]] | None = None,
) -> None:
    """Candidates and labels of every question, through the product's code path;
    ``encoders`` (one tuned question encoder per fold, ``fold_encoders``) embed each
    question with the encoder fitted without its fold (``by_fold``; by default
    ``fold_of``'s), so ``tuned_cosine`` stays held out."""
    from index.answering import gather
    from index.retrieval import HEAD as CANDIDATE_PASSAGES

    fold = (
        fold_of(questions) if by_fold is None else {i: k for k, f in enumerate(by_fold) for i in f}
    )
    for i, q in enumerate(questions):
        if encoders is not None:
            use_fold_encoder(retriever, encoders, fold[i])
        q.ranked = gather(retriever, q.text, CANDIDATE_PASSAGES, question=q.text)
        q.texts = q.ranked.texts
        q.labels = tuple(
            right_article(q, c.hit)
            and any(
                normalise(a) in normalise(q.texts[c.hit.article_id][c.start : c.end])
                for a in q.answers
            )
            for c in q.ranked.candidates
        )


def fold_encoders(settings: Any, folder: Path | None = None) -> list[Any]:
    """The question encoders fitted without each fold (fit_question_encoder.py)."""
    from benchmarks.fit_question_encoder import FOLD_DIR, fold_path
    from index.embedding import make_question_embedder

    paths = [fold_path(k, folder or FOLD_DIR) for k in range(FOLDS)]
    if not all(p.is_file() for p in paths):
        sys.exit("No per-fold question encoders: run benchmarks/fit_question_encoder.py first.")
    return [make_question_embedder(settings, p) for p in paths]


def use_fold_encoder(retriever: Any, encoders: list[Any], k: int) -> None:
    if retriever.question_embedder is not encoders[k]:
        retriever.set_question_embedder(encoders[k])


def label_of(q: Question, cand: Any) -> bool:
    """The label of a (scored) candidate: found by its passage and span."""
    for c, label in zip(q.ranked.candidates, q.labels, strict=True):
        if (c.hit.passage_id, c.start) == (cand.hit.passage_id, cand.start):
            return label
    raise KeyError(cand.start)


def fit_linear(
    rows: list[tuple[float, ...]],
    labels: list[bool],
    names: tuple[str, ...],
    c: float,
    weights: list[float] | None = None,
    dropped: frozenset[str] = frozenset(),
) -> Any:
    """Logistic regression on standardised features; a ``dropped`` feature keeps its
    place in the model with its weight fixed at 0, so the product's features stay put."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from index.answering import LinearModel

    x = np.asarray(rows, dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    keep = [i for i, name in enumerate(names) if name not in dropped]
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    model.fit(((x - mean) / scale)[:, keep], np.asarray(labels), sample_weight=weights)
    coef = np.zeros(len(names))
    coef[keep] = model.coef_[0]
    return LinearModel(
        names,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in coef),
        float(model.intercept_[0]),
    )


def fit_sentence(questions: list[Question], config: FitConfig | None = None) -> Any:
    """Pointwise: does this sentence hold the answer? (A listwise softmax fit per
    question was measured too: no better held out, see benchmarks/README.md.)"""
    from index.answering.features import SENTENCE_FEATURES

    config = config or FitConfig()
    rows, labels, weights = [], [], []
    for q in questions:
        if q.answerable:
            rows.extend(c.features for c in q.ranked.candidates)
            labels.extend(q.labels)
            weights.extend([question_weight(q, config)] * len(q.labels))
    return fit_linear(rows, labels, SENTENCE_FEATURES, config.sentence_c, weights, config.dropped)


def question_weight(q: Question, config: FitConfig) -> float:
    """How much a question counts in a fit: SQuAD's by its own weight, an easy bbc-train
    one (``high_overlap``) by a share of a bbc-train one's."""
    if q.kind == "squad":
        return config.squad_weight
    return config.realistic_weight * (config.high_overlap_weight if q.high_overlap else 1.0)


def evidence_row(q: Question, models: Any) -> tuple[float, ...]:
    from benchmarks.rerank_stage import ranked
    from index.answering.evidence import evidence_features

    cands = ranked(q, models)
    return evidence_features(q.text, q.ranked.hits, cands, q.texts, q.ranked.query)


def fit_evidence(questions: list[Question], models: Any) -> Any:
    """The evidence model, on the candidates as ``models`` (sentence, re-ranking) rank them."""
    from index.answering.evidence import EVIDENCE_FEATURES

    usable = [q for q in questions if q.ranked.candidates]
    rows = [evidence_row(q, models) for q in usable]
    return fit_linear(rows, [q.answerable for q in usable], EVIDENCE_FEATURES, EVIDENCE_C)


def fit_models(questions: list[Question], config: FitConfig | None = None) -> Any:
    """The sentence model, the re-ranking stage on it (where the questions have pair
    cosines, ``rerank_stage``), then the evidence model on their ranking."""
    from benchmarks.rerank_stage import fit_rerank
    from index.answering import AnswerModels

    config = config or FitConfig()
    sentence = fit_sentence(questions, config)
    ranking = AnswerModels(sentence, sentence, fit_rerank(questions, sentence, config))
    return replace(ranking, evidence=fit_evidence(questions, ranking))


def folds(questions: list[Question], k: int = FOLDS) -> list[list[int]]:
    """Question indices in ``k`` folds, each kind spread evenly (deterministic)."""
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(questions):
        by_kind[q.kind].append(i)
    out: list[list[int]] = [[] for _ in range(k)]
    n = 0
    for kind in sorted(by_kind):
        for i in by_kind[kind]:
            out[n % k].append(i)
            n += 1
    return out


def fold_of(questions: list[Question]) -> dict[int, int]:
    """Each question's fold (by index)."""
    return {i: k for k, fold in enumerate(folds(questions)) for i in fold}


def cross_validated_models(questions: list[Question]) -> dict[int, Any]:
    """For each question, the models fitted on the folds it is not in."""
    held_out: dict[int, Any] = {}
    for fold in folds(questions):
        test = set(fold)
        models = fit_models([q for i, q in enumerate(questions) if i not in test])
        for i in fold:
            held_out[i] = models
    return held_out


def open_benchmark_retriever(index_dir: Path, *, tuned: bool = True) -> Any:
    """The benchmark index's retriever; ``tuned``: with the shipped question encoder."""
    from index.embedding import make_embedder, make_question_embedder, make_rerank_embedders
    from index.retrieval import Retriever
    from index.settings import Settings

    settings = Settings(_env_file=None, index_dir=index_dir, backend="onnx-int8", device="cpu")  # type: ignore[call-arg]
    encoder = make_question_embedder(settings) if tuned else None
    pair = make_rerank_embedders(settings)
    retriever = Retriever(
        settings, make_embedder(settings), question_embedder=encoder, rerank_embedders=pair
    )
    retriever.warm_up()
    return retriever


def main() -> None:
    from benchmarks import ranker_cv, rerank_stage
    from index.embedding import TUNING_PATH

    parser = argparse.ArgumentParser()
    parser.add_argument("--index-dir", type=Path, default=WORK / "quality" / "onnx-int8")
    parser.add_argument("--cv-only", action="store_true", help="report, don't write the model")
    parser.add_argument(
        "--search", action="store_true", help="also the SQuAD weight / C grid and the ablation"
    )
    parser.add_argument(
        "--encoder", type=Path, default=TUNING_PATH, help="the all-train question encoder"
    )
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="where to write the model")
    parser.add_argument(
        "--overlap-search", action="store_true", help="also the high-overlap weight, by train-CV"
    )
    parser.add_argument("--fold-dir", type=Path, help="the fold encoders (fit_question_encoder.py)")
    parser.add_argument(
        "--plain", action="store_true", help="no question encoder: tuned_cosine is the cosine"
    )
    parser.add_argument(
        "--no-rerank", action="store_true", help="without the re-ranking stage (comparison)"
    )
    parser.add_argument(
        "--rerank-cosines",
        type=Path,
        default=rerank_stage.COSINES_PATH,
        help="held-out pair cosines (fit_rerank_encoders.py)",
    )
    args = parser.parse_args()
    retriever = open_benchmark_retriever(args.index_dir, tuned=True)
    train = ranker_cv.load_train_questions()
    # Each train question is embedded by the question encoder fitted without its fold
    # (fit_question_encoder.py fits one per train-CV fold), so tuned_cosine is held out.
    encoders = None if args.plain else fold_encoders(retriever.settings, args.fold_dir)
    if args.plain:
        retriever.set_question_embedder(None)
    collect(retriever, train, encoders, ranker_cv.grouped_folds(train))
    ranker_cv.mark_overlap(train)
    if not args.no_rerank:
        rerank_stage.attach_cosines(train, args.rerank_cosines)
    config = FitConfig()
    if args.overlap_search:
        config = ranker_cv.overlap_search(train, config)
    if args.search:
        config = ranker_cv.search_weights(train, config)
        ranker_cv.ablation(train, config)
    print_cv(ranker_cv.cv_metrics(train, ranker_cv.held_out_models(train, config)))
    models = fit_models(train, config)
    dev_check(retriever, models, None if args.plain else args.encoder)
    if not args.cv_only:
        write_models(models, args.out)


def dev_check(retriever: Any, models: Any, encoder_path: Path | None) -> dict:
    """bbc-dev, once: the shipped pair (question encoder + answer model), the shipped
    model with the new encoder, and the new pair (None: without a question encoder)."""
    from benchmarks import ranker_cv
    from index.answering import load_models
    from index.embedding import make_question_embedder

    dev = ranker_cv.load_dev_questions()
    retriever.set_question_embedder(make_question_embedder(retriever.settings))
    out = ranker_cv.dev_report(retriever, dev, {"shipped pair": load_models()})
    new = make_question_embedder(retriever.settings, encoder_path) if encoder_path else None
    retriever.set_question_embedder(new)
    variants = {"shipped model, new encoder": load_models(), "refit pair": models}
    out.update(ranker_cv.dev_report(retriever, dev, variants))
    return out


def print_cv(m: dict[str, float]) -> None:
    print(
        "\n| train-CV (5 folds by article) | top-1 sentence | top-3 | first quote | any quote |"
        "\n|---|---|---|---|---|"
    )
    names = {"factoid": "factoid", "why": "why", "casual": "casual", "squad": "squad"}
    names |= {"train": "bbc-train", "low": "bbc-train, low overlap"}
    for kind, label in names.items():
        cells = " | ".join(f"{m[f'{kind}.{k}']:.3f}" for k in ("top1", "top3", "first", "any"))
        print(f"| {label} | {cells} |")
    print(
        f"\nanswered {m['answered']:.3f}, off-topic declined {m['offtopic.declined']:.3f}, "
        f"general declined {m['general.declined']:.3f}, SQuAD answered {m['squad.answered']:.3f}"
    )


def write_models(models: Any, path: Path = MODEL_PATH) -> None:
    data = {
        "about": "Fitted by benchmarks/fit_ranker.py on bbc-train.jsonl, "
        "benchmarks/questions/ and SQuAD dev "
        "(logistic regression on standardised features).",
        "sentence": models.sentence.to_json(),
        "evidence": models.evidence.to_json(),
    }
    if models.rerank is not None:
        data["rerank"] = models.rerank.to_json()
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"\nwrote {path}")
    for name, c in sorted(
        zip(models.sentence.features, models.sentence.coef, strict=True),
        key=lambda t: -abs(t[1]),
    ):
        print(f"  sentence {name:24s} {c:+.3f}")
    for name, c in zip(models.evidence.features, models.evidence.coef, strict=True):
        print(f"  evidence {name:24s} {c:+.3f}")
    if models.rerank is not None:
        for name, c in zip(models.rerank.features, models.rerank.coef, strict=True):
            print(f"  rerank   {name:24s} {c:+.3f}")


if __name__ == "__main__":
    main()
