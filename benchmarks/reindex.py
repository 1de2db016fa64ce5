"""Re-index cost: the whole `articlebot index` command on an unchanged corpus, and after
one article changed (the BBC + SQuAD index quality.py built with the configured backend).

    python benchmarks/reindex.py

Target: unchanged re-run < 2 s per 10k passages. Baseline in the same run: a bare
`python -c "import index.cli"` start-up, so the table shows what the sync itself costs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import WORK, corpus_roots


def timed(args: list[str], env: dict[str, str]) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    return elapsed, (json.loads(out.stdout) if out.stdout.strip().startswith("{") else {})


def main() -> None:
    from index.settings import Settings

    backend = Settings(_env_file=None).backend  # type: ignore[call-arg]
    index_dir = WORK / "quality" / backend
    env = {**os.environ, "ARTICLEBOT_INDEX_DIR": str(index_dir), "ARTICLEBOT_BACKEND": backend}
    print(f"backend: {backend}")
    roots = [str(p) for p in corpus_roots()]
    cmd = [sys.executable, "-m", "index", "index", "--json"]
    timed([*cmd, *roots], env)  # make sure the index is complete and in sync
    startup, _ = timed([sys.executable, "-c", "import index.cli"], env)
    runs = [timed(cmd, env) for _ in range(3)]
    unchanged = min(t for t, _ in runs)
    report = runs[0][1]
    passages = int(report["passages"])  # type: ignore[call-overload]

    article = Path(roots[1]) / "Normans.txt"
    original = article.read_text()
    try:
        article.write_text(original + "\nA new closing paragraph was added for the benchmark.\n")
        changed, changed_report = timed(cmd, env)
    finally:
        article.write_text(original)
    restored, _ = timed(cmd, env)
    per_10k = unchanged / passages * 10_000
    print("| run | seconds | passages embedded | note |\n|---|---|---|---|")
    print(f"| python start-up + import (baseline) | {startup:.2f} | - | |")
    print(
        f"| unchanged corpus ({passages:,} passages) | {unchanged:.2f} | "
        f"{report['embedded']} | {per_10k:.2f} s per 10k passages (target < 2) |"
    )
    print(
        f"| one article changed | {changed:.2f} | {changed_report['embedded']} | "
        f"updated {changed_report['updated']} |"
    )
    print(f"| changed back | {restored:.2f} | - | |")


if __name__ == "__main__":
    main()
