"""Fit the question encoder (``index/embedding/question_tuning.npz``): BitFit and LoRA of
the bundled MiniLM for questions, and one per cross-validation fold for the held-out numbers.

    python benchmarks/fit_question_encoder.py          # the folds, then the shipped one
    python benchmarks/fit_question_encoder.py --folds-only
    python benchmarks/fit_question_encoder.py --resume   # keep the fold files already fitted
    python benchmarks/fit_question_encoder.py --out /tmp/candidate.npz  # not over the shipped

Training data come from the benchmark index (``benchmarks/quality.py`` builds it) through
the product's code path, as for ``fit_ranker.py``: for every answerable question of
bbc-train, of our own (``benchmarks/questions/``) and of SQuAD
(``ranker_cv.load_train_questions``; bbc-dev is never fitted on), weighed as
``fit_ranker.question_weight`` weighs them, the
sentences of its top passages with their *stored* vectors, those
that hold an expected answer (in the expected article) being positive. Only the biases
and LayerNorm parameters of a copy of the model (BitFit) and a rank-RANK change to each
of its transformer's linear weights (LoRA) are trained, listwise: the
softmax of the question's cosines to its candidates (temperature TAU) should put its
mass on the positives. Sentences keep the plain model's vectors, so nothing is
re-indexed. The folds are fit_ranker's train-CV folds (``ranker_cv.grouped_folds``, by
article); each fold's encoder is fitted without that fold's questions and saved under
WORK/question-tuning, and ``fit_ranker.py`` computes each train question's features with
its fold's encoder, so its train-CV and its fit see ``tuned_cosine`` held out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import WORK
from index.embedding.tuning import LORA_DOWN, LORA_UP

FOLD_DIR = WORK / "question-tuning"
EPOCHS = 3
LEARNING_RATE = 5e-4
RANK = 8
LORA_SCALE = 2.0  # alpha / rank, as LoRA's authors set alpha = 2 x rank
TAU = 0.05  # softmax temperature over cosines (MiniLM's cosines span ~0.1-0.8)
BATCH = 16
#: A SQuAD question against a bbc-train one (2); fit_ranker.py's answer model has its own.
SQUAD_WEIGHT = 0.5
#: A high-overlap bbc-train question against another (fit_ranker.HIGH_OVERLAP_WEIGHT's
#: split): the encoder learns paraphrase from the low-overlap half (benchmarks/README.md).
HIGH_OVERLAP_WEIGHT = 0.25
SEED = 0


@dataclass(frozen=True)
class Sample:
    question: str
    vectors: Any  # the candidates' stored sentence vectors (n x d, float32)
    labels: Any  # bool (n)
    weight: float


def fold_path(k: int, folder: Path = FOLD_DIR) -> Path:
    return folder / f"fold-{k}.npz"


def samples(
    retriever: Any, questions: list[Any], indices: list[int], high_overlap_weight: float
) -> list[Sample]:
    """The answerable questions among ``indices`` with a positive candidate, weighed as
    fit_ranker.py weighs them."""
    import numpy as np

    from benchmarks.fit_ranker import FitConfig, question_weight

    config = FitConfig(squad_weight=SQUAD_WEIGHT, high_overlap_weight=high_overlap_weight)

    out = []
    for i in indices:
        q = questions[i]
        if not q.answerable or not any(q.labels):
            continue
        pids = list(dict.fromkeys(c.hit.passage_id for c in q.ranked.candidates))
        stored = retriever.view.sentences(pids)
        by_span = {(pid, s.start): s.vector for pid in pids for s in stored.get(pid, ())}
        vectors = np.stack([by_span[(c.hit.passage_id, c.start)] for c in q.ranked.candidates])
        weight = question_weight(q, config)
        out.append(Sample(q.text, vectors.astype(np.float32), np.array(q.labels), weight))
    return out


def fit(train: list[Sample]) -> dict[str, Any]:
    """BitFit deltas and LoRA factor pairs (parameter name -> array) fitted on ``train``."""
    import torch

    torch.manual_seed(SEED)
    model, tuned, low_rank = trainable_copy()
    start = snapshot(tuned)
    train_listwise(model, trained_parameters(tuned, low_rank), train)
    return tuning_deltas(tuned, start, low_rank)


def snapshot(tuned: dict[str, Any]) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in tuned.items()}


def tuning_deltas(
    tuned: dict[str, Any], start: dict[str, Any], low_rank: dict[str, Any]
) -> dict[str, Any]:
    """What training changed, as ``index.embedding.tuning`` stores it: BitFit deltas by
    parameter name, LoRA factor pairs by weight name."""
    deltas = {n: (p.detach() - start[n]).numpy() for n, p in tuned.items()}
    for name, change in low_rank.items():
        deltas[name + LORA_DOWN] = change.down.detach().numpy().copy()
        deltas[name + LORA_UP] = (change.up.detach() * LORA_SCALE).numpy()
    return deltas


def trainable_copy() -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A fresh copy of the bundled MiniLM with only its biases and LayerNorms (BitFit) and
    a low-rank change on each transformer weight (LoRA) trainable: the model, the BitFit
    parameters by name and the low-rank changes by weight name."""
    from index.embedding.model_path import resolve_model_path
    from index.settings import DEFAULT_MODEL

    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model_path(DEFAULT_MODEL), device="cpu")
    tuned = {n: p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n}
    for param in model.parameters():
        param.requires_grad_(False)
    low_rank = add_low_rank(model)
    for param in trained_parameters(tuned, low_rank):
        param.requires_grad_(True)
    return model, tuned, low_rank


def trained_parameters(tuned: dict[str, Any], low_rank: dict[str, Any]) -> list[Any]:
    return [*tuned.values(), *(p for m in low_rank.values() for p in m.parameters())]


def train_listwise(model: Any, trained: list[Any], train: list[Sample]) -> None:
    """EPOCHS of AdamW on ``trained`` (``listwise_loss`` over the stored vectors)."""
    import numpy as np
    import torch

    opt = torch.optim.AdamW(trained, lr=LEARNING_RATE, weight_decay=0.0)
    rng = np.random.default_rng(SEED)
    model.train()
    for _ in range(EPOCHS):
        order = rng.permutation(len(train))
        for b in range(0, len(order), BATCH):
            batch = [train[j] for j in order[b : b + BATCH]]
            qv = embed(model, [s.question for s in batch])
            lists = [(torch.from_numpy(s.vectors), s.labels, s.weight) for s in batch]
            loss = listwise_loss(qv, lists)
            opt.zero_grad()
            loss.backward()
            opt.step()


def embed(model: Any, texts: list[str]) -> Any:
    """Unit vectors of ``texts`` by a sentence-transformers model, with gradients."""
    import torch

    tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 5
    out = model(tokenize(texts))["sentence_embedding"]
    return torch.nn.functional.normalize(out, dim=-1)


def listwise_loss(qv: Any, lists: list[tuple[Any, Any, float]]) -> Any:
    """Question k's softmax over its candidates' cosines (TAU), ``lists[k]`` = (candidate
    vectors, positive labels, weight), should put its mass on the positives; the
    weighted mean over the questions."""
    import torch

    loss = torch.zeros(())
    for k, (vectors, labels, weight) in enumerate(lists):
        logp = torch.log_softmax(vectors @ qv[k] / TAU, 0)
        loss = loss - weight * torch.logsumexp(logp[torch.from_numpy(labels)], 0)
    return loss / sum(weight for _, _, weight in lists)


def add_low_rank(model: Any) -> dict[str, Any]:
    """A trainable rank-RANK change on each transformer linear weight (torch
    parametrization: the weight reads as itself plus ``up @ down``), by weight name."""
    import torch
    from torch.nn.utils import parametrize

    class LowRank(torch.nn.Module):
        def __init__(self, outputs: int, inputs: int) -> None:
            super().__init__()
            self.down = torch.nn.Parameter(torch.randn(RANK, inputs) / inputs**0.5)
            self.up = torch.nn.Parameter(torch.zeros(outputs, RANK))  # starts as no change

        def forward(self, weight: Any) -> Any:
            return weight + self.up @ self.down * LORA_SCALE

    out = {}
    for name, module in list(model.named_modules()):
        if isinstance(module, torch.nn.Linear) and ".encoder.layer." in name:
            change = LowRank(module.out_features, module.in_features)
            parametrize.register_parametrization(module, "weight", change)
            out[f"{name}.weight"] = change
    return out


def meta(n_questions: int, what: str, high_overlap_weight: float) -> dict[str, Any]:
    from index.settings import DEFAULT_MODEL

    return {
        "base": DEFAULT_MODEL,
        "method": "BitFit (biases and LayerNorm) + LoRA, listwise softmax over stored sentence "
        "vectors",
        "rank": RANK,
        "fitted_on": what,
        "questions": n_questions,
        "epochs": EPOCHS,
        "learning_rate": LEARNING_RATE,
        "tau": TAU,
        "high_overlap_weight": high_overlap_weight,
        "fitted_by": "benchmarks/fit_question_encoder.py",
    }


def main() -> None:
    from benchmarks import fit_ranker, ranker_cv
    from index.embedding.tuning import TUNING_PATH, save_tuning

    parser = argparse.ArgumentParser()
    parser.add_argument("--index-dir", type=Path, default=WORK / "quality" / "onnx-int8")
    parser.add_argument("--folds-only", action="store_true", help="don't write the shipped one")
    parser.add_argument("--out", type=Path, default=TUNING_PATH, help="the all-train encoder")
    parser.add_argument(
        "--resume", action="store_true", help="keep fold encoders already fitted (same seed)"
    )
    parser.add_argument(
        "--high-overlap-weight",
        type=float,
        default=HIGH_OVERLAP_WEIGHT,
        help="how much an easy (high-overlap) bbc-train question counts",
    )
    parser.add_argument("--fold-dir", type=Path, default=FOLD_DIR, help="where the folds go")
    args = parser.parse_args()
    retriever = fit_ranker.open_benchmark_retriever(args.index_dir, tuned=False)
    questions = ranker_cv.load_train_questions()
    fit_ranker.collect(retriever, questions)
    ranker_cv.mark_overlap(questions)
    weight = args.high_overlap_weight
    folder = args.fold_dir
    folder.mkdir(parents=True, exist_ok=True)
    everyone = list(range(len(questions)))
    for k, fold in enumerate(ranker_cv.grouped_folds(questions)):
        if args.resume and fold_path(k, folder).exists():
            print(f"fold {k}: kept {fold_path(k, folder)}", flush=True)
            continue
        t = time.perf_counter()
        held = set(fold)
        train = samples(retriever, questions, [i for i in everyone if i not in held], weight)
        save_tuning(
            fold_path(k, folder), fit(train), meta(len(train), f"CV fold {k} left out", weight)
        )
        print(f"fold {k}: {len(train)} questions, {time.perf_counter() - t:.0f} s", flush=True)
    if not args.folds_only:
        train = samples(retriever, questions, everyone, weight)
        t = time.perf_counter()
        save_tuning(
            args.out,
            fit(train),
            meta(len(train), "bbc-train.jsonl + benchmarks/questions/ + SQuAD dev", weight),
        )
        print(f"wrote {args.out} ({len(train)} questions, {time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
