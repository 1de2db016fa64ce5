"""The benchmark corpus: BBC News (2,225 articles) + the SQuAD 2.0 Wikipedia articles +
``corpus/``.

Nothing is copied into the repository: the SQuAD paragraphs are written as one text
article per Wikipedia title (paragraphs separated by blank lines) under a work folder.
"""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
BBC = SHARED / "bbc-news"
SQUAD = SHARED / "squad" / "squad2-normans-complexity.json"
WORK = Path("/tmp/articlebot-bench")


def squad_articles(out_dir: Path) -> list[Path]:
    """Write each SQuAD title as ``<title>.txt`` (title line, blank line, paragraphs)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = json.loads(SQUAD.read_text())
    paths = []
    for article in data["data"]:
        title = article["title"].replace("_", " ")
        body = "\n\n".join(p["context"].strip() for p in article["paragraphs"])
        path = out_dir / f"{article['title']}.txt"
        text = f"{title}\n\n{body}\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        paths.append(path)
    return paths


def squad_questions() -> list[dict[str, object]]:
    data = json.loads(SQUAD.read_text())
    out = []
    for article in data["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                out.append(
                    {
                        "question": qa["question"],
                        "answers": sorted({a["text"] for a in qa["answers"]}),
                        "title": article["title"].replace("_", " "),
                        "impossible": qa.get("is_impossible", False),
                    }
                )
    return out


DEV_QUESTIONS = SHARED / "questions" / "bbc-dev.jsonl"
SAMPLE = REPO / "corpus"


def corpus_roots() -> list[Path]:
    """BBC, the SQuAD articles and the bundled sample corpus (whose README question must
    still be answered with all of BBC beside it)."""
    squad_dir = WORK / "squad-articles"
    squad_articles(squad_dir)
    return [BBC, squad_dir, SAMPLE]
