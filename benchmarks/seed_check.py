"""The bundled sample article (``corpus/``), asked in people's words: the one-article
corpus a new user answers first, where a model fitted on BBC's many stories can go wrong
(every candidate is from the same story). A check, never fitted on.

    python benchmarks/seed_check.py                       # the shipped pair
    python benchmarks/seed_check.py --encoder E.npz --model M.json   # a candidate pair

Prints each question's first quote and whether it (or any quote) holds the answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = Path(__file__).with_name("seed_questions.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", type=Path, help="a candidate question encoder (npz)")
    parser.add_argument("--model", type=Path, help="a candidate answer model (json)")
    args = parser.parse_args()

    from benchmarks.quality import Candidate, contains
    from index.answering import answer
    from index.embedding import (
        TUNING_PATH,
        make_embedder,
        make_question_embedder,
        make_rerank_embedders,
    )
    from index.indexing import run_index
    from index.retrieval import Retriever
    from index.settings import Settings

    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    models = Candidate(args.encoder, args.model).models()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, index_dir=Path(tmp), corpus=[REPO / "corpus"])  # type: ignore[call-arg]
        embedder = make_embedder(settings)
        run_index(settings, embedder)
        tuned = make_question_embedder(settings, args.encoder or TUNING_PATH)
        pair = make_rerank_embedders(settings)
        retriever = Retriever(settings, embedder, question_embedder=tuned, rerank_embedders=pair)
        first = any_ = 0
        for row in rows:
            ans = answer(retriever, row["question"], models=models)
            found = [contains(q.text, row["answers"]) for q in ans.quotes]
            first += bool(found) and found[0]
            any_ += any(found)
            mark = "first" if found and found[0] else "any" if any(found) else "MISS"
            lead = ans.quotes[0].text[:70] if ans.quotes else "(declined)"
            print(f"{mark:5s} | {row['question']} | {lead}")
    print(f"\nseed article: first {first}/{len(rows)}, any {any_}/{len(rows)}")


if __name__ == "__main__":
    main()
