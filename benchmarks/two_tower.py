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


def tower() -> tuple[Any, list[Any]]:
    """A MiniLM copy with BitFit + LoRA trainable, and those parameters."""
    from sentence_transformers import SentenceTransformer

    from benchmarks.fit_question_encoder import add_low_rank
    from index.embedding.model_path import resolve_model_path
    from index.settings import DEFAULT_MODEL

    model = SentenceTransformer(resolve_model_path(DEFAULT_MODEL), device="cpu")
    bitfit = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    for param in model.parameters():
        param.requires_grad_(False)
    trained = bitfit + [p for m in add_low_rank(model).values() for p in m.parameters()]
    for param in trained:
        param.requires_grad_(True)
    return model, trained


def fit_pair(rows: list[tuple], epochs: int) -> tuple[Any, Any]:
    """The question and sentence towers, fitted together on ``rows``."""
    import numpy as np
    import torch

    from benchmarks.fit_question_encoder import LEARNING_RATE, SEED, TAU

    torch.manual_seed(SEED)
    (questions, q_params), (sentences, s_params) = tower(), tower()
    opt = torch.optim.AdamW(q_params + s_params, lr=LEARNING_RATE, weight_decay=0.0)
    rng = np.random.default_rng(SEED)
    embed = _embedder(torch)
    for _ in range(epochs):
        order = rng.permutation(len(rows))
        for b in range(0, len(order), BATCH):
            batch = [rows[j] for j in order[b : b + BATCH]]
            qv = embed(questions, [r[0] for r in batch])
            sv = embed(sentences, [s for r in batch for s in r[1]])
            loss, at = torch.zeros(()), 0
            for k, (_, texts_, labels, weight) in enumerate(batch):
                logp = torch.log_softmax(sv[at : at + len(texts_)] @ qv[k] / TAU, 0)
                loss = loss - weight * torch.logsumexp(logp[torch.from_numpy(labels)], 0)
                at += len(texts_)
            opt.zero_grad()
            (loss / sum(r[3] for r in batch)).backward()
            opt.step()
    return questions.eval(), sentences.eval()


def _embedder(torch: Any) -> Any:
    def embed(model: Any, batch: list[str]) -> Any:
        tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 5
        out = model(tokenize(batch))["sentence_embedding"]
        return torch.nn.functional.normalize(out, dim=-1)

    return embed


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


def features(q: Any, pair: Any, keep: list[int], extra: bool) -> Any:
    import numpy as np

    base = np.asarray([c.features for c in q.ranked.candidates])[:, keep]
    if not extra:
        return base
    return np.hstack([base, pair[:, None], (pair - pair.max())[:, None]])


def cross_validate(questions: list[Any], pair: dict[int, Any], extra: bool) -> dict[str, Any]:
    """Train-CV top-1 / top-3 of the answer model (fit_ranker's weights and C), with or
    without the pair's two features."""
    import numpy as np

    from benchmarks import fit_ranker, ranker_cv
    from index.answering.features import SENTENCE_FEATURES

    config = fit_ranker.FitConfig()
    keep = [j for j, name in enumerate(SENTENCE_FEATURES) if name not in config.dropped]
    low = ranker_cv.low_overlap(questions)
    hits: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for fold in ranker_cv.grouped_folds(questions):
        held = set(fold)
        train = [
            i
            for i, q in enumerate(questions)
            if i not in held and q.answerable and q.ranked.candidates
        ]
        model = _fit(questions, train, pair, keep, extra, config)
        for i in fold:
            q = questions[i]
            if not q.answerable:
                continue
            top = model(features(q, pair[i], keep, extra)) if q.ranked.candidates else []
            hit = (bool(top) and q.labels[top[0]], any(q.labels[j] for j in top))
            for kind in {q.kind, "train" if q.kind in ranker_cv.REALISTIC else q.kind}:
                hits[kind].append(hit)
            if i in low:
                hits["low"].append(hit)
    return {k: tuple(float(np.mean(col)) for col in zip(*v, strict=True)) for k, v in hits.items()}


def _fit(
    questions: list[Any], train: list[int], pair: dict, keep: list, extra: bool, config: Any
) -> Any:
    """Logistic regression as fit_ranker.fit_linear fits it; returns a top-3 function."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from benchmarks.fit_ranker import question_weight

    x = np.vstack([features(questions[i], pair[i], keep, extra) for i in train])
    y = [label for i in train for label in questions[i].labels]
    w = [question_weight(questions[i], config) for i in train for _ in questions[i].labels]
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    lr = LogisticRegression(C=config.sentence_c, class_weight="balanced", max_iter=5000)
    lr.fit((x - mean) / scale, y, sample_weight=w)
    return lambda f: list(np.argsort(-lr.decision_function((f - mean) / scale), kind="stable")[:3])


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
