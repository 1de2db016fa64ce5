"""A second tower for the sentences, measured by train-CV (issue 25's lead; not shipped).

    python benchmarks/two_tower.py [--fold-dir DIR] [--epochs 1] [--limit N]

The shipped question encoder tunes the question side only; sentences keep the plain
model's stored vectors. Here both sides are tuned: two copies of MiniLM, each BitFit +
LoRA as ``fit_question_encoder.py`` fits them, listwise over each question's answer
sentence(s) and its NEGATIVES candidates closest by tuned cosine, the candidates'
texts re-embedded by the sentence tower. One pair is fitted per train-CV fold
(``ranker_cv.grouped_folds``; ~10 min each on 2 cores), each held-out question's
candidates scored by its fold's pair, then the answer model is cross-validated with and
without that cosine (``pair_cosine``) and its gap to the best candidate's. Prints
markdown; ``--limit`` takes the first N questions (a quick check of the script).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import WORK

NEGATIVES = 7  # hard negatives per question, by the fold encoder's tuned cosine
POSITIVES = 2
BATCH = 8  # questions per step (each brings 1 + POSITIVES + NEGATIVES sentences)
KINDS = ("factoid", "why", "casual", "squad", "train", "low")


def texts(q: Any) -> list[str]:
    return [q.texts[c.hit.article_id][c.start : c.end] for c in q.ranked.candidates]


def training_rows(questions: list[Any], indices: list[int]) -> list[tuple]:
    """(question, sentences, labels, weight) for the answerable questions with a positive."""
    import numpy as np

    from benchmarks import fit_question_encoder as fqe
    from benchmarks.fit_ranker import FitConfig, question_weight
    from index.answering.features import SENTENCE_FEATURES

    config = FitConfig(squad_weight=fqe.SQUAD_WEIGHT, high_overlap_weight=fqe.HIGH_OVERLAP_WEIGHT)
    tuned = SENTENCE_FEATURES.index("tuned_cosine")
    rows = []
    for i in indices:
        q = questions[i]
        if not q.answerable or not any(q.labels):
            continue
        order = np.argsort([-c.features[tuned] for c in q.ranked.candidates])
        negatives = [j for j in order if not q.labels[j]][:NEGATIVES]
        positives = [j for j, y in enumerate(q.labels) if y][:POSITIVES]
        candidates = texts(q)
        sentences = [candidates[j] for j in positives + negatives]
        labels = np.array([True] * len(positives) + [False] * len(negatives))
        rows.append((q.text, sentences, labels, question_weight(q, config)))
    return rows


def fit_pair(rows: list[tuple], epochs: int) -> tuple[Any, Any]:
    """The question and sentence towers (BitFit + LoRA each), fitted together on ``rows``."""
    import numpy as np
    import torch

    from benchmarks import fit_question_encoder as fqe

    torch.manual_seed(fqe.SEED)
    questions, *q_params = fqe.trainable_copy()
    sentences, *s_params = fqe.trainable_copy()
    trained = fqe.trained_parameters(*q_params) + fqe.trained_parameters(*s_params)
    opt = torch.optim.AdamW(trained, lr=fqe.LEARNING_RATE, weight_decay=0.0)
    rng = np.random.default_rng(fqe.SEED)
    for _ in range(epochs):
        order = rng.permutation(len(rows))
        for b in range(0, len(order), BATCH):
            batch = [rows[j] for j in order[b : b + BATCH]]
            qv = fqe.embed(questions, [r[0] for r in batch])
            sv = fqe.embed(sentences, [s for r in batch for s in r[1]])
            ends = np.cumsum([len(r[1]) for r in batch])
            lists = [(sv[e - len(r[1]) : e], r[2], r[3]) for r, e in zip(batch, ends, strict=True)]
            opt.zero_grad()
            fqe.listwise_loss(qv, lists).backward()
            opt.step()
    return questions.eval(), sentences.eval()


def pair_cosines(questions: list[Any], epochs: int) -> dict[int, Any]:
    """Each question's candidates' cosines by the pair fitted without its fold."""
    import numpy as np
    import torch

    from benchmarks import ranker_cv

    out: dict[int, Any] = {}
    everyone = range(len(questions))
    for k, fold in enumerate(ranker_cv.grouped_folds(questions)):
        held = set(fold)
        rows = training_rows(questions, [i for i in everyone if i not in held])
        q_tower, s_tower = fit_pair(rows, epochs)
        with torch.no_grad():
            for i in fold:
                q = questions[i]
                if not q.ranked.candidates:
                    out[i] = np.zeros(0)
                    continue
                qv = q_tower.encode([q.text], normalize_embeddings=True)[0]
                out[i] = s_tower.encode(texts(q), batch_size=64, normalize_embeddings=True) @ qv
        print(f"fold {k}: {len(rows)} questions", flush=True)
    return out


PAIR_FEATURES = ("pair_cosine", "pair_cosine_gap")


def features(q: Any, pair: Any, extra: bool) -> Any:
    """The candidates' answer-model features, with the pair's cosine and its gap to the
    best candidate's where ``extra``."""
    import numpy as np

    base = np.asarray([c.features for c in q.ranked.candidates])
    if not extra:
        return base
    return np.hstack([base, pair[:, None], (pair - pair.max())[:, None]])


def cross_validate(questions: list[Any], pair: dict[int, Any], extra: bool) -> dict[str, Any]:
    """Train-CV top-1 / top-3 of the answer model (fit_ranker's weights and C), with or
    without the pair's two features."""
    import numpy as np

    from benchmarks import fit_ranker, ranker_cv

    config = fit_ranker.FitConfig()
    low = ranker_cv.low_overlap(questions)
    hits: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for fold in ranker_cv.grouped_folds(questions):
        held = set(fold)
        train = [
            i
            for i, q in enumerate(questions)
            if i not in held and q.answerable and q.ranked.candidates
        ]
        model = _fit(questions, train, pair, extra, config)
        for i in fold:
            q = questions[i]
            if not q.answerable:
                continue
            top = model(features(q, pair[i], extra)) if q.ranked.candidates else []
            hit = (bool(top) and q.labels[top[0]], any(q.labels[j] for j in top))
            for kind in {q.kind, "train" if q.kind in ranker_cv.REALISTIC else q.kind}:
                hits[kind].append(hit)
            if i in low:
                hits["low"].append(hit)
    return {k: tuple(float(np.mean(col)) for col in zip(*v, strict=True)) for k, v in hits.items()}


def _fit(questions: list[Any], train: list[int], pair: dict, extra: bool, config: Any) -> Any:
    """The sentence model as fit_ranker fits it (``fit_linear``), with the pair's features
    where ``extra``; returns a function from a question's features to its top 3."""
    import numpy as np

    from benchmarks.fit_ranker import fit_linear, question_weight
    from index.answering.features import SENTENCE_FEATURES

    names = SENTENCE_FEATURES + (PAIR_FEATURES if extra else ())
    rows = np.vstack([features(questions[i], pair[i], extra) for i in train])
    labels = [label for i in train for label in questions[i].labels]
    weights = [question_weight(questions[i], config) for i in train for _ in questions[i].labels]
    model = fit_linear(list(rows), labels, names, config.sentence_c, weights, config.dropped)
    return lambda f: list(np.argsort(-np.asarray(model.scores(f.tolist())), kind="stable")[:3])


def main() -> None:
    from benchmarks import fit_ranker, ranker_cv
    from benchmarks.fit_question_encoder import FOLD_DIR

    parser = argparse.ArgumentParser()
    parser.add_argument("--index-dir", type=Path, default=WORK / "quality" / "onnx-int8")
    parser.add_argument("--fold-dir", type=Path, default=FOLD_DIR, help="the fold encoders")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--limit", type=int, help="only the first N questions (a quick check)")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    retriever = fit_ranker.open_benchmark_retriever(args.index_dir, tuned=True)
    questions = ranker_cv.load_train_questions()[: args.limit]
    encoders = fit_ranker.fold_encoders(retriever.settings, args.fold_dir)
    fit_ranker.collect(retriever, questions, encoders, ranker_cv.grouped_folds(questions))
    ranker_cv.mark_overlap(questions)
    pair = pair_cosines(questions, args.epochs)
    print("\n| answer-model features | " + " | ".join(KINDS) + " |")
    print("|---" * (len(KINDS) + 1) + "|")
    for label, extra in (("shipped", False), ("+ pair cosine and its gap", True)):
        m = cross_validate(questions, pair, extra)
        cells = " | ".join(f"{m[k][0]:.3f} / {m[k][1]:.3f}" if k in m else "" for k in KINDS)
        print(f"| {label} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
