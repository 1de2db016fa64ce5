"""Fit the re-ranking encoders (``index/embedding/rerank_{question,sentence}.npz``): a
question tower and a sentence tower, each the bundled MiniLM with BitFit + LoRA, fitted
together so that a question's vector lands near the sentence that answers it.

    python benchmarks/fit_rerank_encoders.py            # the folds, then the shipped pair
    python benchmarks/fit_rerank_encoders.py --resume   # keep the fold pairs already fitted
    python benchmarks/fit_rerank_encoders.py --limit 80 --out-dir /tmp/pair  # a quick check

The question encoder (``fit_question_encoder.py``) tunes the question side only, against
the sentences' stored vectors; here both sides move, so the sentence side must be
re-embedded, which the answer pipeline does for its top ``RERANK_DEPTH`` candidates
(``index.answering.rerank``). Training is listwise, as for the question encoder, over each
question's answer sentence(s) and its NEGATIVES candidates closest by tuned cosine.

One pair is fitted per train-CV fold (``ranker_cv.grouped_folds``; ~10 min each on 2
cores) and saved under WORK/rerank-tuning with each held-out question's cosines to all
its candidates (``cosines.json``): ``fit_ranker.py`` fits the re-ranking stage on those,
so its train-CV sees them held out. Then the shipped pair is fitted on every question.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import WORK

FOLD_DIR = WORK / "rerank-tuning"
COSINES = "cosines.json"
EPOCHS = 1
NEGATIVES = 7  # hard negatives per question, by the fold encoder's tuned cosine
POSITIVES = 2
BATCH = 8  # questions per step (each brings 1 + POSITIVES + NEGATIVES sentences)
TOWERS = ("question", "sentence")


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


def fit_pair(rows: list[tuple]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The question and sentence towers' deltas (BitFit + LoRA each), fitted together."""
    import numpy as np
    import torch

    from benchmarks import fit_question_encoder as fqe

    torch.manual_seed(fqe.SEED)
    questions, q_tuned, q_low = fqe.trainable_copy()
    sentences, s_tuned, s_low = fqe.trainable_copy()
    starts = fqe.snapshot(q_tuned), fqe.snapshot(s_tuned)
    trained = fqe.trained_parameters(q_tuned, q_low) + fqe.trained_parameters(s_tuned, s_low)
    opt = torch.optim.AdamW(trained, lr=fqe.LEARNING_RATE, weight_decay=0.0)
    rng = np.random.default_rng(fqe.SEED)
    questions.train()
    sentences.train()
    for _ in range(EPOCHS):
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
    return (
        fqe.tuning_deltas(q_tuned, starts[0], q_low),
        fqe.tuning_deltas(s_tuned, starts[1], s_low),
    )


def pair_paths(folder: Path, stem: str) -> tuple[Path, Path]:
    return (folder / f"{stem}-question.npz", folder / f"{stem}-sentence.npz")


def save_pair(paths: tuple[Path, Path], pair: tuple[dict, dict], what: str, n: int) -> None:
    from benchmarks import fit_question_encoder as fqe
    from index.embedding.tuning import save_tuning

    for path, tower, deltas in zip(paths, TOWERS, pair, strict=True):
        meta = fqe.meta(n, what, fqe.HIGH_OVERLAP_WEIGHT)
        meta |= {
            "method": f"BitFit + LoRA, the {tower} tower of a pair fitted listwise (re-ranking)",
            "epochs": EPOCHS,
            "fitted_by": "benchmarks/fit_rerank_encoders.py",
        }
        save_tuning(path, deltas, meta)


def cosines(paths: tuple[Path, Path], questions: list[Any], indices: list[int]) -> dict:
    """Each question's cosines to all its candidates by the saved pair (torch, fp32)."""
    from index.embedding.torch_backend import SentenceTransformerEmbedder
    from index.embedding.tuning import load_tuning
    from index.settings import DEFAULT_MODEL

    q_tower, s_tower = (
        SentenceTransformerEmbedder(DEFAULT_MODEL, "cpu", 64, tuning=load_tuning(p)) for p in paths
    )
    out = {}
    for i in indices:
        q = questions[i]
        if not q.ranked.candidates:
            continue
        vector = q_tower.embed([q.text])[0]
        spans = [[c.hit.article_id, c.start] for c in q.ranked.candidates]
        out[i] = {
            "question": q.text,
            "spans": spans,
            "cosine": [float(v) for v in s_tower.embed(texts(q)) @ vector],
        }
    return out


def held_out_cosines(questions: list[Any], folder: Path, resume: bool) -> dict:
    """Each question's candidates' cosines by the pair fitted without its fold."""
    from benchmarks import ranker_cv

    out: dict[int, Any] = {}
    everyone = range(len(questions))
    for k, fold in enumerate(ranker_cv.grouped_folds(questions)):
        paths = pair_paths(folder, f"fold-{k}")
        t = time.perf_counter()
        if not (resume and all(p.exists() for p in paths)):
            held = set(fold)
            rows = training_rows(questions, [i for i in everyone if i not in held])
            save_pair(paths, fit_pair(rows), f"CV fold {k} left out", len(rows))
        out.update(cosines(paths, questions, fold))
        print(f"fold {k}: {time.perf_counter() - t:.0f} s", flush=True)
    return out


def main() -> None:
    from benchmarks import fit_ranker, ranker_cv
    from benchmarks.fit_question_encoder import FOLD_DIR as ENCODER_FOLDS
    from index.embedding.tuning import RERANK_QUESTION_PATH, RERANK_SENTENCE_PATH

    parser = argparse.ArgumentParser()
    parser.add_argument("--index-dir", type=Path, default=WORK / "quality" / "onnx-int8")
    parser.add_argument("--fold-dir", type=Path, default=ENCODER_FOLDS, help="question encoders")
    parser.add_argument("--out-dir", type=Path, default=FOLD_DIR, help="the fold pairs")
    parser.add_argument("--resume", action="store_true", help="keep fold pairs already fitted")
    parser.add_argument("--folds-only", action="store_true", help="don't write the shipped pair")
    parser.add_argument("--limit", type=int, help="only the first N questions (a quick check)")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    retriever = fit_ranker.open_benchmark_retriever(args.index_dir, tuned=True)
    questions = ranker_cv.load_train_questions()[: args.limit]
    encoders = fit_ranker.fold_encoders(retriever.settings, args.fold_dir)
    fit_ranker.collect(retriever, questions, encoders, ranker_cv.grouped_folds(questions))
    ranker_cv.mark_overlap(questions)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    held = held_out_cosines(questions, args.out_dir, args.resume)
    (args.out_dir / COSINES).write_text(json.dumps(held), "utf-8")
    if args.folds_only or args.limit:
        return
    t = time.perf_counter()
    rows = training_rows(questions, list(range(len(questions))))
    what = "bbc-train.jsonl + benchmarks/questions/ + SQuAD dev"
    save_pair((RERANK_QUESTION_PATH, RERANK_SENTENCE_PATH), fit_pair(rows), what, len(rows))
    print(f"wrote the shipped pair ({len(rows)} questions, {time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
