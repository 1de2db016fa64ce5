"""A fresh ``ask`` process with and without the shared lookup tables (``onnx_tables``).

    python benchmarks/shared_tables.py            # 5 alternating runs of each
    python benchmarks/shared_tables.py --runs 9

Indexes ``corpus/`` (the bundled articles) into a work folder, which exports the four
models a question uses (the passages' model, the question encoder, the re-ranking pair),
then starts one process per run that answers the README's question as ``articlebot ask``
does and reports: seconds to the first answer (interpreter start included), peak RSS
(VmHWM), RSS after 20 more answers, and the warm answer's ms. "own copies" is the same
process with ``session_tables`` returning nothing: each session reads its table from
its export, as before the shared tables. Runs alternate, so both see the same machine.

Work files go to /tmp/articlebot-bench/shared-tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import REPO, WORK
from benchmarks.embedding_backends import _FIRST_ANSWER, now, run_json

QUESTION = "What did Aliyev say about Turkey and Israel?"
MODES = ("shared", "own copies")

# Prepended to embedding_backends' first-answer script: the sessions' own copies.
_OWN_COPIES = """
import index.embedding.onnx_inference as inference
inference.session_tables = lambda path: {}
"""


def index_corpus(index_dir: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ARTICLEBOT_INDEX_DIR": str(index_dir)}
    cmd = [sys.executable, "-m", "index", "index", str(REPO / "corpus"), "--json"]
    subprocess.run(cmd, check=True, env=env, cwd=REPO, capture_output=True)


def ask(index_dir: Path, mode: str) -> dict:
    script = (_OWN_COPIES if mode == "own copies" else "") + _FIRST_ANSWER
    args = [sys.executable, "-c", script, str(index_dir), "onnx-int8", QUESTION, *now()]
    return run_json(args, {**os.environ, "HF_HUB_OFFLINE": "1"})[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    index_dir = WORK / "shared-tables" / "index"
    if not (index_dir / "CURRENT").exists():
        index_corpus(index_dir)
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    for _ in range(args.runs):
        for mode in MODES:
            runs[mode].append(ask(index_dir, mode))
    first = runs[MODES[0]][0]["quote_texts"]
    same = all(r["quote_texts"] == first for rows in runs.values() for r in rows)
    print(f"{os.cpu_count()} CPUs; median of {args.runs} runs each; same quotes: {same}")
    print("| tables | first answer s | peak RSS MB | RSS after 21 answers MB | warm answer ms |")
    print("|---|---|---|---|---|")
    for mode, rows in runs.items():
        cols = ("first_answer_s", "maxrss_mb", "rss_mb", "warm_answer_ms")
        cells = " | ".join(f"{statistics.median(r[c] for r in rows):.2f}" for c in cols)
        print(f"| {mode} | {cells} |")


if __name__ == "__main__":
    main()
