"""Evaluate retrieval and answers on a question set: local retrieval testing for users.

Question sets are JSONL (``{"question": ..., "answers": [...], "article": ...}``; no
answers and no article means the articles should not answer it) or SQuAD 1.1/2.0 JSON
(unanswerable questions count as should-abstain). Feedback from the Discord bot
(👍/👎 in ``feedback.sqlite``) can be scored and the disliked questions exported.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .answering import Answer, answer, rank
from .errors import ConfigError
from .progress import NoProgress, Progress
from .retrieval import Mode, Retriever
from .settings import Settings
from .types import Hit


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    answers: tuple[str, ...] = ()
    article: str | None = None  # id, path (or its tail), url or title of the expected article
    kind: str | None = None  # a label to break results down by (factoid, why, ...)

    @property
    def should_abstain(self) -> bool:
        return not self.answers and self.article is None


@dataclass
class Failure:
    question: str
    expected: list[str]
    quoted: list[str]
    why: str
    kind: str | None = None


@dataclass
class ModeReport:
    mode: str
    questions: int = 0
    answerable: int = 0
    answer_first: float = 0.0
    answer_any: float = 0.0
    recall: dict[int, float] = field(default_factory=dict)
    mrr: float = 0.0
    abstain_precision: float | None = None
    abstain_recall: float | None = None
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    #: Per question ``kind``: answerable ones get n, answer_first, answer_any, recall@1;
    #: should-abstain ones n and abstained.
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self, verbose: bool = False) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k not in ("failures", "recall")}
        data.update({f"recall@{k}": v for k, v in self.recall.items()})
        if verbose:
            data["failures"] = [vars(f) for f in self.failures]
        return data


def load_questions(path: Path) -> list[EvalQuestion]:
    """JSONL questions or a SQuAD JSON file; anything else is a clear error."""
    try:
        raw = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read the question file {path}: {exc.strerror}.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8."
        ) from None
    try:  # one JSON document: SQuAD (wherever its "data" key stands)
        whole = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        whole = None
    if isinstance(whole, dict) and "data" in whole:
        return _squad_questions(whole, path)
    return _jsonl_questions(raw, path)


def _squad_questions(data: dict[str, Any], path: Path) -> list[EvalQuestion]:
    try:
        return _squad_records(data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f'{path} is not a valid SQuAD file (expected {{"data": [{{"title", '
            f'"paragraphs": [{{"qas": [...]}}]}}]}}; problem: {exc!r}).'
        ) from None


def _squad_records(data: dict[str, Any]) -> list[EvalQuestion]:
    out = []
    for article in data["data"]:
        title = str(article.get("title", "")).replace("_", " ") or None
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(str(a["text"]) for a in qa.get("answers", [])))
                impossible = qa.get("is_impossible", False) or not answers
                out.append(
                    EvalQuestion(
                        str(qa["question"]),
                        () if impossible else answers,
                        None if impossible else title,
                    )
                )
    if not out:
        raise KeyError("no questions")
    return out


def _jsonl_questions(raw: str, path: Path) -> list[EvalQuestion]:
    out = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question = str(record["question"]).strip()
        except (json.JSONDecodeError, KeyError, TypeError, RecursionError) as exc:
            raise ConfigError(
                f'{path}:{n}: each line must be a JSON object with a "question" ({exc}).'
            ) from None
        answers = record.get("answers") or []
        if isinstance(answers, str):
            answers = [answers]
        article, kind = record.get("article"), record.get("kind")
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise ConfigError(f'{path}:{n}: "answers" must be a list of strings.')
        if article is not None and not isinstance(article, str):
            raise ConfigError(f'{path}:{n}: "article" must be a string (id, path or title).')
        out.append(EvalQuestion(question, tuple(answers), article, str(kind) if kind else None))
    if not out:
        raise ConfigError(f"{path} holds no questions.")
    return out


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def contains_answer(text: str, answers: tuple[str, ...]) -> bool:
    haystack = normalise(text)
    return any(normalise(a) in haystack for a in answers)


def is_relevant(q: EvalQuestion, hit: Hit) -> bool:
    """A passage answers ``q`` when it is from the expected article (if one is named) and
    holds an expected answer string (if any are given)."""
    if q.article is not None and not _same_article(q.article, hit):
        return False
    return not q.answers or contains_answer(hit.text, q.answers)


def _same_article(expected: str, hit: Hit) -> bool:
    e = expected.strip()
    if e in (hit.article_id, hit.url) or normalise(e) == normalise(hit.title):
        return True
    return bool(hit.path) and (hit.path == e or str(hit.path).endswith("/" + e.lstrip("./")))


def evaluate(
    retriever: Retriever,
    questions: list[EvalQuestion],
    *,
    k: int = 10,
    mode: Mode = "hybrid",
    progress: Progress | None = None,
) -> ModeReport:
    progress = progress or NoProgress()
    progress.start(f"eval {mode}", len(questions))
    report = ModeReport(mode, questions=len(questions))
    latencies: list[float] = []
    first = anyq = 0
    ranks: list[int | None] = []
    abstained_right = abstained = should = 0
    for q in questions:
        started = time.perf_counter()
        result = answer(retriever, q.question, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
        # Recall of the passages as answers order them (first stage, then the answer
        # model's re-ranking of the head).
        hits = rank(retriever, q.question, k, mode=mode, question=q.question).hits
        abstained += result.abstained
        should += q.should_abstain
        abstained_right += result.abstained and q.should_abstain
        if not q.should_abstain:
            found = next((i + 1 for i, h in enumerate(hits) if is_relevant(q, h)), None)
            ranks.append(found)
            hit_first, hit_any = _answer_hits(q, result, hits)
            first += hit_first
            anyq += hit_any
            _tally(report, q, answer_first=hit_first, answer_any=hit_any, recall1=found == 1)
            if not hit_first:
                report.failures.append(_failure(q, result, found))
        else:
            _tally(report, q, abstained=result.abstained)
            if not result.abstained:
                report.failures.append(_failure(q, result, None))
        progress.advance()
    _fill(report, ranks, first, anyq, k, latencies, (abstained_right, abstained, should))
    for values in report.by_kind.values():  # counts -> shares
        n = values["n"]
        for key in values:
            if key != "n":
                values[key] = round(values[key] / n, 4)
    return report


def _tally(report: ModeReport, q: EvalQuestion, **outcomes: bool) -> None:
    """Count ``outcomes`` under the question's kind (shares are taken at the end)."""
    if q.kind is None:
        return
    values = report.by_kind.setdefault(q.kind, {"n": 0, **dict.fromkeys(outcomes, 0.0)})
    values["n"] += 1
    for key, hit in outcomes.items():
        values[key] = values.get(key, 0.0) + hit


def _answer_hits(q: EvalQuestion, result: Answer, hits: list[Hit]) -> tuple[bool, bool]:
    """Whether the first / any quote holds an expected answer and is cited to the expected
    article (each check only when the question names one)."""
    if result.abstained or not result.quotes:
        return False, False
    by_citation = {s.citation: s for s in result.sources}
    found = [
        (not q.answers or contains_answer(x.text, q.answers))
        and (q.article is None or _quote_from(q.article, by_citation[x.citation], x.article_id))
        for x in result.quotes
    ]
    return found[0], any(found)


def _quote_from(expected: str, source: Any, article_id: str) -> bool:
    fake = Hit(0, article_id, source.title, 0, 0, "", 0.0, None, None, source.path, source.url)
    return _same_article(expected, fake)


def _failure(q: EvalQuestion, result: Answer, rank: int | None) -> Failure:
    if q.should_abstain:
        why = "answered a question the articles should not answer"
    elif result.abstained:
        why = "abstained"
    else:
        why = "expected answer not in the first quote" + (
            f" (best relevant passage at rank {rank})" if rank else " (no relevant passage found)"
        )
    expected = list(q.answers) or ([q.article] if q.article else ["(abstain)"])
    return Failure(q.question, expected, [x.text for x in result.quotes], why, q.kind)


def _fill(
    report: ModeReport,
    ranks: list[int | None],
    first: int,
    anyq: int,
    k: int,
    latencies: list[float],
    abstention: tuple[int, int, int],
) -> None:
    n = len(ranks)
    report.answerable = n
    if n:
        report.answer_first = first / n
        report.answer_any = anyq / n
        for cutoff in sorted({1, 3, k}):
            report.recall[cutoff] = sum(1 for r in ranks if r and r <= cutoff) / n
        report.mrr = sum(1 / r for r in ranks if r) / n
    right, abstained, should = abstention
    report.abstain_precision = right / abstained if abstained else None
    report.abstain_recall = right / should if should else None
    ordered = sorted(latencies)
    if ordered:
        report.latency_p50_ms = round(ordered[len(ordered) // 2], 2)
        report.latency_p95_ms = round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2)


# --- bot feedback ----------------------------------------------------------------------------
def feedback_summary(settings: Settings, export: Path | None = None) -> dict[str, Any]:
    """Fraction of 👍 among votes; disliked questions optionally written as JSONL with an
    empty ``answers`` list to fill in (then usable as an eval question set)."""
    from .stores.feedback import open_feedback

    if not settings.database_url and not (settings.index_dir / "feedback.sqlite").exists():
        raise ConfigError(
            f"No feedback yet ({settings.index_dir / 'feedback.sqlite'} does not exist): "
            "the Discord bot writes it."
        )
    feedback = open_feedback(settings, create=False)
    try:
        rows = feedback.rows()
    finally:
        feedback.close()
    liked = sum(1 for r in rows if r[2] > 0)
    disliked = [r for r in rows if r[2] < 0]
    if export is not None:
        with open(export, "w", encoding="utf-8") as handle:
            for question, quotes, _ in disliked:
                record = {
                    "question": question,
                    "answers": [],
                    "quoted": [q["text"] for q in quotes],
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {
        "votes": len(rows),
        "liked": liked,
        "disliked": len(disliked),
        "liked_fraction": liked / len(rows) if rows else None,
    }
