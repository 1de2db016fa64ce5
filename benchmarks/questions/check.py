"""Check the hand-written training questions in this folder (``*.jsonl``, bbc-train's
format): each names a bbc-train article (``train-articles.txt``), each answer string is
in that article verbatim, and the question shares few words with the answer's sentence.

    python benchmarks/questions/check.py            # every file here
    python benchmarks/questions/check.py mine.jsonl # one file

Prints one line per problem, then per file: questions, kinds, and the mean share of a
question's content words found in its answer's sentence (bbc-train 0.34, bbc-dev 0.24).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.corpus import SHARED
from index.text import STOPWORDS

HERE = Path(__file__).resolve().parent
KINDS = ("factoid", "why", "casual", "offtopic")
WORD = re.compile(r"[a-z0-9]+")


def content_words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2}


def answer_sentence(article: str, answer: str) -> str:
    """The stretch of the article around ``answer``, from one sentence end to the next."""
    at = article.find(answer)
    start = max(article.rfind(". ", 0, at), article.rfind("\n", 0, at)) + 1
    ends = [e for e in (article.find(". ", at + len(answer)), article.find("\n", at)) if e >= 0]
    return article[start : min(ends) if ends else len(article)]


def overlap(question: str, sentence: str) -> float:
    words = content_words(question)
    return len(words & content_words(sentence)) / len(words) if words else 0.0


def check(path: Path, allowed: set[str]) -> list[float]:
    shares, kinds = [], Counter()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        where = f"{path.name}:{n}"
        kinds[row.get("kind")] += 1
        if row.get("kind") not in KINDS:
            print(f"{where}: kind must be one of {KINDS}")
        if row["kind"] == "offtopic":
            continue
        if row.get("article") not in allowed:
            print(f"{where}: {row.get('article')} is not in train-articles.txt")
            continue
        text = (SHARED / row["article"]).read_text(errors="replace")
        missing = [a for a in row["answers"] if a not in text]
        if missing or not row["answers"]:
            print(f"{where}: answer not verbatim in the article: {missing or 'none given'}")
            continue
        shares.append(overlap(row["question"], answer_sentence(text, row["answers"][0])))
    mean = sum(shares) / len(shares) if shares else float("nan")
    print(f"{path.name}: {sum(kinds.values())} questions {dict(kinds)}, overlap {mean:.2f}")
    return shares


def main() -> None:
    allowed = set((SHARED / "questions" / "train-articles.txt").read_text().split())
    paths = [Path(p) for p in sys.argv[1:]] or sorted(HERE.glob("*.jsonl"))
    for path in paths:
        check(path, allowed)


if __name__ == "__main__":
    main()
