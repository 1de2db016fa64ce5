"""Compare two runs of ``articlebot ask --json -`` on the same questions and index: the
same quotes (text, article, span, citation, order, score), sources, abstentions,
closest titles and corrections. Timings are left out: they differ run to run.

    articlebot ask --json - < questions.txt > before.jsonl   # on the old version
    articlebot ask --json - < questions.txt > after.jsonl    # on the new one
    python benchmarks/compare_answers.py before.jsonl after.jsonl

Prints how many answers are identical and each difference; exits 1 when any differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def load(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        row.pop("timings_ms", None)
    return rows


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    keys = sorted(set(before) | set(after))
    return [
        f"  {k}: {json.dumps(before.get(k))[:200]} | {json.dumps(after.get(k))[:200]}"
        for k in keys
        if before.get(k) != after.get(k)
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    before, after = (load(Path(p)) for p in argv)
    if len(before) != len(after):
        print(f"{len(before)} answers before, {len(after)} after: not the same questions")
        return 1
    same = 0
    for old, new in zip(before, after, strict=True):
        diff = differences(old, new)
        if not diff:
            same += 1
            continue
        print(f"differs: {old.get('question', '')[:100]}")
        print("\n".join(diff))
    print(f"{same}/{len(before)} answers identical (timings aside)")
    return 0 if same == len(before) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
