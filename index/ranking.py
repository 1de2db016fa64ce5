"""Which sentence answers the question: features of each candidate sentence, a small
learned model over them, and the evidence that the articles cover the question at all.

The sentences of the top passages are the candidates. Each gets features that are cheap
at question time: its MiniLM cosine to the question (sentence vectors are stored at index
time, so this is one dot product), its share of the question's rare words, its passage's
retrieval scores, its neighbours' scores (the answer often follows the sentence that
restates the question), where it sits in the article, and whether it holds the kind of
thing the question asks for (a name for "who", a date for "when", an amount for "how
much", a cause for "why") and whether the question's words sit near it. A logistic
regression fitted by ``benchmarks/fit_ranker.py`` (cross-validated there; weights in
``ranker.json``) turns them into one score.

Word overlap alone picks the sentence that repeats the question; people's questions are
paraphrased, so the model leans on the cosine and on what the question asks for.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .text import STOPWORDS, term_spans, terms

if TYPE_CHECKING:
    import numpy as np

    from .types import Hit, StoredSentence

MODEL_FILE = "ranker.json"

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
    "fifty|hundred|thousand|million|billion|dozen|half|quarter|double|doubled|tripled|halved"
)
#: What a sentence holds, by the kind of answer it can give (a "person" is a name: see
#: ``names``).
ANSWER_PATTERNS: dict[str, re.Pattern[str]] = {
    "date": re.compile(
        rf"\b(?:1[89]\d\d|20\d\d|{_MONTHS}|{_DAYS}|yesterday|today|tomorrow|"
        r"(?:last|next) (?:week|month|year)|\w+ (?:days|weeks|months|years) (?:ago|later))\b",
        re.IGNORECASE,
    ),
    "number": re.compile(rf"\d[\d,.]*|[$£€¥%]|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE),
    "place": re.compile(r"\b(?:in|at|from|to|near) (?:the )?[A-Z][a-z]+"),
    "cause": re.compile(
        r"\b(?:because|due to|as a result|after|since|amid|blamed|reasons?|caused?|led to|"
        r"following|thanks to|so that|in order to|owing to|result of|response to|"
        r"concerns?|fears?|as it|as the)\b",
        re.IGNORECASE,
    ),
}
ANSWER_TYPES = ("person", *ANSWER_PATTERNS)  # the order the model's weights follow
#: What a question asks for, by its wording ("how much", "why", "who" ...).
# "which German city", "what share", not "what did the minister say"
_WHICH = r"\b(?:what|which)\b(?:\s+(?!(?:is|was|are|were|did|does|do|has|have|had|will|would)\b)\w+){0,2}?\s+"
QUESTION_PATTERNS: dict[str, re.Pattern[str]] = {
    "person": re.compile(
        rf"\bwh(?:o|om|ose|os)\b|{_WHICH}(?:person|man|woman|player|company|firm|team|club|band|"
        r"group|actors?|singer|artist|director|manager|coach|minister|executive|boss)\b|"
        r"\bname\b|\bcalled\b"
    ),
    "date": re.compile(rf"\bwhen\b|{_WHICH}(?:year|date|day|month|time)\b"),
    "number": re.compile(
        r"\bhow (?:much|many|large|big|high|low|far|long|old|fast|often)\b|"
        rf"{_WHICH}(?:percentage|proportion|share|price|amount|number|figure|sum|rate|fee|"
        r"size|margin|factor|score|total|cost|value)\b|\bhow\b.*\b(?:cost|worth|pay|paid)\b|"
        r"\broughly\b|\bpercent"
    ),
    "place": re.compile(
        rf"\bwheres?\b|{_WHICH}(?:country|city|town|venue|stadium|place|region|state)\b"
    ),
    "cause": re.compile(
        r"\bwhy\b|\bwhat (?:reasons?|caused|led|made|prompted|drove|dragged|explanation)\b|"
        r"\bhow come\b|\breasons?\b|\bgrounds\b"
    ),
}
#: Finer kinds of amount: "what percentage" wants a percentage, not any number in the
#: sentence ("1.4 billion cubic feet ... from 2011" answers no share). Question wording,
#: then what a sentence must hold.
_COUNT = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|a few|several|a|an)"
SUBTYPE_QUESTIONS: dict[str, re.Pattern[str]] = {
    "percent": re.compile(
        r"\b(?:percent|percentage|per cent|proportion|share of|what share|fraction)\b"
    ),
    "money": re.compile(
        r"\bhow much\b|\bworth\b|\bcost\b|\bprice\b|\bpaid\b|\bpay\b|\bfee\b|\bfined?\b|"
        r"\bprofits?\b|\brevenues?\b|\bdeficit\b|\bsurplus\b|\bdebts?\b|\bbudget\b|"
        r"\bsalary\b|\bbid\b|\bvalued?\b"
    ),
    "duration": re.compile(r"\bhow long\b|\bhow many (?:years|months|weeks|days|hours|minutes)\b"),
    "measure": re.compile(r"\bwhat time\b|\bhow fast\b|\bclock(?:ed)?\b"),
}
SUBTYPE_ANSWERS: dict[str, re.Pattern[str]] = {
    "percent": re.compile(r"\d[\d.,]*\s?(?:%|per ?cent\b)", re.IGNORECASE),
    "money": re.compile(
        r"[$£€¥]\s?\d|\d[\d.,]*\s?(?:bn|m|billion|million|trillion)\b|"
        r"\d[\d,.]* (?:dollars|pounds|euros|yen)\b",
        re.IGNORECASE,
    ),
    "duration": re.compile(
        rf"\b{_COUNT}[ -](?:years?|months?|weeks?|days?|hours?|minutes?|decades?)\b",
        re.IGNORECASE,
    ),
    "measure": re.compile(
        r"\d[\d.:]*\s?(?:secs?|seconds|mins?|minutes|hours?|hrs|mph|km/h|teraflops|[ap]m)\b|"
        r"\d+:\d\d",
        re.IGNORECASE,
    ),
}
_NUMBER = re.compile(r"\d[\d,.]*")
_QUOTE_MARKS = ('"', "“", "”")
_SENTENCE_END = re.compile(r"[.!?\"'”’)]$")

#: Per-sentence features, in the order the model's weights follow.
SENTENCE_FEATURES = (
    "fused",  # passage's fused retrieval score, relative to the best passage
    "rank",  # 1 / (1 + passage rank)
    "passage_dense",  # passage cosine to the question
    "passage_lexical",  # passage BM25, relative to the best
    "coverage",  # share of the question's IDF mass found in the sentence
    "cosine",  # sentence cosine to the question
    "cosine_gap",  # cosine minus the best candidate's cosine
    "passage_best_coverage",
    "passage_best_cosine",
    "lead",  # the article's first sentence (news leads restate the story)
    "position",  # offset in the article, 0 (start) to 1 (end)
    "title_coverage",  # share of the question's IDF mass in the article's title
    "article_coverage",  # ... anywhere in the article: the story the question is about
    "length",  # log characters
    "unfinished",  # no sentence-final punctuation: a heading or a fragment
    "novelty",  # share of the sentence's words that the question does not use
    *(f"fits_{t}" for t in ANSWER_TYPES),  # asked for, and new to the question
    *(f"lacks_{t}" for t in ANSWER_TYPES),  # asked for, and nothing new of it
    "new_number",  # a "how much" question and a number the question does not hold
    "fits_subtype",  # asks for a percentage / sum of money / duration / time, and has one
    "lacks_subtype",  # asks for one of those, and has none new
    "answers_who",  # a "who" question, and the question's words beside a new name
    "answer_near",  # the question's words within NEAR_WORDS of what it asks for (nearness)
    "phrase",  # longest run of the question's words (stopwords too) found in order
    "quoted",  # reported speech
    "previous_coverage",
    "next_coverage",
    "previous_cosine",
    "next_cosine",
    "has_previous",
    "has_next",
    "tuned_cosine",  # sentence cosine to the tuned question vector (index.question_tuning)
    "tuned_cosine_gap",  # tuned cosine minus the best candidate's (as cosine_gap)
)
#: Per-question features of the abstention model.
EVIDENCE_FEATURES = (
    "best_dense",  # best passage cosine
    "best_coverage",  # best sentence's share of the question's IDF mass
    "unknown",  # share of the question's IDF mass in words no passage holds
    "top_article_coverage",  # share of it in the top article's candidates and title
    "missing_number",  # the question names a number no candidate holds
    "best_cosine",  # best sentence cosine
)


@dataclass(frozen=True)
class QueryTerms:
    """The question's words with their IDF weights, and the share of that weight in words
    that no passage of the index holds."""

    weights: Mapping[str, float]
    unknown: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.weights.values()) or 1.0

    def coverage(self, words: set[str]) -> float:
        return sum(w for t, w in self.weights.items() if t in words) / self.total


@dataclass(frozen=True)
class Candidate:
    """A sentence that may answer: its span, features and the model's score (log-odds)."""

    hit: Hit
    start: int
    end: int
    features: tuple[float, ...]
    score: float = 0.0

    @property
    def coverage(self) -> float:
        return self.features[SENTENCE_FEATURES.index("coverage")]


def question_types(question: str) -> frozenset[str]:
    """The kinds of answer the question asks for (may be empty: "what did X say")."""
    q = question.lower()
    return frozenset(t for t, pattern in QUESTION_PATTERNS.items() if pattern.search(q))


def answer_types(sentence: str) -> frozenset[str]:
    """The kinds of answer the sentence can give."""
    return new_answer_types(sentence, "")


def new_answer_types(sentence: str, question: str) -> frozenset[str]:
    """The kinds of answer the sentence gives that the question does not already hold:
    the answer to "who met Blair?" is a name other than Blair's, to "how much in 2004?"
    an amount other than 2004."""
    q = question.lower()
    found = {"person"} if any(n.lower() not in q for n in names(sentence)) else set()
    for kind, pattern in ANSWER_PATTERNS.items():
        if any(m.group().lower() not in q for m in pattern.finditer(sentence)):
            found.add(kind)
    return frozenset(found)


_NAME = re.compile(r"[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*")


def question_subtypes(question: str) -> frozenset[str]:
    """The finer kinds of amount the question asks for ("what share" -> percent)."""
    q = question.lower()
    return frozenset(t for t, pattern in SUBTYPE_QUESTIONS.items() if pattern.search(q))


def new_subtypes(sentence: str, question: str, asked: frozenset[str]) -> frozenset[str]:
    """Which of ``asked`` the sentence holds an instance of that the question does not."""
    q = question.lower()
    return frozenset(
        t
        for t in asked
        if any(m.group().lower() not in q for m in SUBTYPE_ANSWERS[t].finditer(sentence))
    )


def names(text: str) -> list[str]:
    """Runs of two or more capitalised words ("Ilham Aliyev", "Phoenix Venture Holdings")
    without a leading function word ("In Paris" is not a name). Single capitalised
    words were measured too: in most news sentences, so they tell nothing."""
    out = []
    for m in _NAME.finditer(text):
        words = m.group().split()
        while words and words[0].lower() in STOPWORDS | _LEADING:
            words.pop(0)
        if len(words) >= 2:
            out.append(" ".join(words))
    return out


#: How many words from the asked-for thing the question's words count as said of it.
#: Measured at 4, 6, 8 and 12 words: +1 to +5 bbc-dev first quotes each, SQuAD recall@1
#: within two questions (benchmarks/README.md).
NEAR_WORDS = 8


def nearness(
    sentence: str, question: str, asked: frozenset[str], subtypes: frozenset[str], query: QueryTerms
) -> float:
    """The share of the question's IDF mass within ``NEAR_WORDS`` words of an instance of
    what the question asks for (a new name for "who", an amount for "how much", a cause
    for "why"), at the best instance. The answering sentence states the answer about the
    question's subject ("Alan Thompson scored from the penalty spot"); a sentence that
    only shares the subject holds its names and numbers elsewhere."""
    spans = set(_instances(sentence, question, asked, subtypes))
    if not spans:
        return 0.0
    tokens = term_spans(sentence)
    starts = [a for a, _, _ in tokens]
    ends = [b for _, b, _ in tokens]
    best = 0.0
    for start, end in spans:
        first = bisect.bisect_right(ends, start)  # the first word ending after the start
        last = bisect.bisect_left(starts, end) - 1  # the last word starting before the end
        if first > last:
            continue
        lo, hi = max(0, first - NEAR_WORDS), last + NEAR_WORDS + 1
        # The instance's own words ("Alan Thompson") are not the question's words.
        near = {w for a, b, w in tokens[lo:hi] if a < start or b > end}
        best = max(best, query.coverage(near))
    return best


def _instances(
    sentence: str, question: str, asked: frozenset[str], subtypes: frozenset[str]
) -> list[tuple[int, int]]:
    """Spans of ``sentence`` that are what the question asks for and not in it already."""
    q = question.lower()
    # "What percentage" is answered by a percentage, not by any number near the
    # question's words ("1.4 billion cubic feet of gas from Qatar"). "How much" stays
    # any amount: it asks for a share as often as for a sum of money.
    exact = subtypes - {"money"}
    general = [t for t in asked if t in ANSWER_PATTERNS and not (t == "number" and exact)]
    patterns = [ANSWER_PATTERNS[t] for t in general] + [SUBTYPE_ANSWERS[t] for t in subtypes]
    spans = [m.span() for p in patterns for m in p.finditer(sentence) if m.group().lower() not in q]
    if "person" in asked:
        spans += [
            m.span()
            for m in _NAME.finditer(sentence)
            if len(m.group().split()) >= 2 and m.group().lower() not in q
        ]
    return spans


_LEADING = frozenset({"but", "and", "so", "yet", "now", "however", "meanwhile", "mr", "mrs"})


def candidates(
    question: str,
    vector: np.ndarray | None,
    hits: Sequence[Hit],
    texts: Mapping[str, str],
    sentences: Mapping[int, Sequence[StoredSentence]],
    query: QueryTerms,
    tuned: np.ndarray | None = None,
) -> list[Candidate]:
    """Every stored sentence of ``hits`` with its features, in passage order (unscored).
    ``tuned`` is the question's vector from the tuned question encoder, where there is
    one; without it ``tuned_cosine`` is the plain cosine."""
    rows = [
        (rank, hit, s, texts[hit.article_id][s.start : s.end])
        for rank, hit in enumerate(hits)
        if hit.article_id in texts
        for s in sentences.get(hit.passage_id, ())
    ]
    if not rows:
        return []
    cosines = _cosines(vector, [s.vector for _, _, s, _ in rows])
    tuned_cosines = cosines if tuned is None else _cosines(tuned, [s.vector for *_, s, _ in rows])
    coverages = [query.coverage(set(terms(text))) for _, _, _, text in rows]
    context = _Context(question, hits, query, cosines, coverages, rows, tuned_cosines)
    return [
        Candidate(hit, s.start, s.end, context.features(i, rank, hit, s, text, texts))
        for i, (rank, hit, s, text) in enumerate(rows)
    ]


def _cosines(vector: np.ndarray | None, vectors: list[np.ndarray]) -> list[float]:
    import numpy as np

    if vector is None:  # lexical-only evaluation: no question vector
        return [0.0] * len(vectors)
    return [float(x) for x in np.stack(vectors).astype(np.float32) @ vector]


class _Context:
    """What features of one sentence need from the others: bests and neighbours."""

    def __init__(
        self,
        question: str,
        hits: Sequence[Hit],
        query: QueryTerms,
        cosines: list[float],
        coverages: list[float],
        rows: list[tuple[int, Hit, StoredSentence, str]],
        tuned_cosines: list[float],
    ) -> None:
        self.query = query
        self.tuned_cosines = tuned_cosines
        self.question = question
        self.types = question_types(question)
        self.subtypes = question_subtypes(question)
        self.question_words = set(terms(question))
        self.question_tokens = terms(question, keep_stopwords=True)
        self.question_numbers = set(_NUMBER.findall(question))
        self.cosines, self.coverages = cosines, coverages
        self.best_cosine = max(cosines)
        self.best_tuned = max(tuned_cosines)
        self.top_fused = max((h.score for h in hits), default=1.0) or 1.0
        self.top_lexical = max((h.lexical or 0.0 for h in hits), default=1.0) or 1.0
        self.passage_best: dict[int, tuple[float, float]] = {}
        self._article_coverage: dict[str, float] = {}
        self.index_of: dict[tuple[int, int], int] = {}
        for i, (_, hit, s, _) in enumerate(rows):
            cov, cos = self.passage_best.get(hit.passage_id, (0.0, -1.0))
            self.passage_best[hit.passage_id] = (max(cov, coverages[i]), max(cos, cosines[i]))
            self.index_of[(hit.passage_id, s.ordinal)] = i

    def article_coverage(self, article_id: str, text: str) -> float:
        if article_id not in self._article_coverage:
            self._article_coverage[article_id] = self.query.coverage(set(terms(text)))
        return self._article_coverage[article_id]

    def _phrase_overlap(self, text: str) -> tuple[float, float]:
        """An answer sentence often says the question's own phrase with the answer in
        place of "who" or "what": "[Aliyev] is trying to mend relations between ..."."""
        words = terms(text, keep_stopwords=True)
        q = self.question_tokens
        if len(q) < 2 or not words:
            return 0.0, 0.0
        pairs = set(itertools.pairwise(words))
        q_pairs = list(itertools.pairwise(q))
        longest = run = 0
        for pair in q_pairs:
            run = run + 1 if pair in pairs else 0
            longest = max(longest, run)
        return longest / len(q_pairs), sum(p in pairs for p in q_pairs) / len(q_pairs)

    def features(
        self,
        i: int,
        rank: int,
        hit: Hit,
        s: StoredSentence,
        text: str,
        texts: Mapping[str, str],
    ) -> tuple[float, ...]:
        words = set(terms(text))
        found = new_answer_types(text, self.question)
        subtypes = new_subtypes(text, self.question, self.subtypes)
        numbers = set(_NUMBER.findall(text))
        prev = self.index_of.get((hit.passage_id, s.ordinal - 1))
        nxt = self.index_of.get((hit.passage_id, s.ordinal + 1))
        best_cov, best_cos = self.passage_best[hit.passage_id]
        article = texts[hit.article_id]
        values = [
            hit.score / self.top_fused,
            1.0 / (1 + rank),
            hit.dense or 0.0,
            (hit.lexical or 0.0) / self.top_lexical,
            self.coverages[i],
            self.cosines[i],
            self.cosines[i] - self.best_cosine,
            best_cov,
            best_cos,
            float(s.ordinal == 0),
            s.start / max(1, len(article)),
            self.query.coverage(set(terms(hit.title))),
            self.article_coverage(hit.article_id, article),
            math.log1p(len(text)),
            float(not _SENTENCE_END.search(text)),
            len(words - self.question_words) / (len(words) or 1),
            *(float(t in self.types and t in found) for t in ANSWER_TYPES),
            *(float(t in self.types and t not in found) for t in ANSWER_TYPES),
            float("number" in self.types and bool(numbers - self.question_numbers)),
            float(bool(subtypes)),
            float(bool(self.subtypes) and not subtypes),
            self.coverages[i] * float("person" in self.types and "person" in found),
            nearness(text, self.question, self.types, self.subtypes, self.query),
            self._phrase_overlap(text)[0],
            float(any(mark in text for mark in _QUOTE_MARKS)),
            self.coverages[prev] if prev is not None else 0.0,
            self.coverages[nxt] if nxt is not None else 0.0,
            self.cosines[prev] if prev is not None else 0.0,
            self.cosines[nxt] if nxt is not None else 0.0,
            float(prev is not None),
            float(nxt is not None),
            self.tuned_cosines[i],
            self.tuned_cosines[i] - self.best_tuned,
        ]
        return tuple(values)


def evidence_features(
    question: str,
    hits: Sequence[Hit],
    cands: Sequence[Candidate],
    texts: Mapping[str, str],
    query: QueryTerms,
) -> tuple[float, ...]:
    """Question-level evidence that the articles answer it (see EVIDENCE_FEATURES)."""
    cos_at = SENTENCE_FEATURES.index("cosine")
    best_dense = max((h.dense for h in hits if h.dense is not None), default=0.0)
    best_coverage = max((c.coverage for c in cands), default=0.0)
    best_cosine = max((c.features[cos_at] for c in cands), default=0.0)
    top = cands[0].hit if cands else None
    words: set[str] = set()
    candidate_text = []
    for c in cands:
        sentence = texts[c.hit.article_id][c.start : c.end]
        candidate_text.append(sentence)
        if top is not None and c.hit.article_id == top.article_id:
            words.update(terms(sentence))
    if top is not None:
        words.update(terms(top.title))
    joined = " ".join(candidate_text)
    numbers = set(_NUMBER.findall(question))
    missing = float(bool(numbers) and any(n not in joined for n in numbers))
    return (
        best_dense,
        best_coverage,
        query.unknown,
        query.coverage(words),
        missing,
        best_cosine,
    )


@dataclass(frozen=True)
class LinearModel:
    """Standardise, then logistic regression: ``score = coef · (x - mean) / scale + b``."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearModel:
        return cls(
            tuple(data["features"]),
            tuple(data["mean"]),
            tuple(data["scale"]),
            tuple(data["coef"]),
            float(data["intercept"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
        }

    def scores(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Log-odds for each row of features."""
        import numpy as np

        if not rows:
            return []
        x = (np.asarray(rows, dtype=np.float64) - self.mean) / self.scale
        return [float(v) for v in x @ np.asarray(self.coef) + self.intercept]


@dataclass(frozen=True)
class Models:
    sentence: LinearModel  # log-odds that a sentence answers the question
    evidence: LinearModel  # log-odds that the articles answer the question


@cache
def load_models() -> Models:
    """The fitted models shipped with the package (``index/ranker.json``)."""
    raw = json.loads(resources.files("index").joinpath(MODEL_FILE).read_text("utf-8"))
    models = Models(LinearModel.from_json(raw["sentence"]), LinearModel.from_json(raw["evidence"]))
    if models.sentence.features != SENTENCE_FEATURES:
        raise RuntimeError(f"{MODEL_FILE} was fitted on other sentence features: refit it.")
    if models.evidence.features != EVIDENCE_FEATURES:
        raise RuntimeError(f"{MODEL_FILE} was fitted on other evidence features: refit it.")
    return models


def score(cands: list[Candidate], model: LinearModel) -> list[Candidate]:
    """``cands`` with their scores, best first."""
    scored = [
        Candidate(c.hit, c.start, c.end, c.features, s)
        for c, s in zip(cands, model.scores([c.features for c in cands]), strict=True)
    ]
    scored.sort(key=lambda c: c.score, reverse=True)
    return scored


def rerank_passages(hits: list[Hit], scored: Sequence[Candidate]) -> list[Hit]:
    """Hits ordered by their best sentence's score: a passage that holds the answering
    sentence beats one that only shares the question's words. Hits without scored
    sentences keep their place after those with."""
    best: dict[int, float] = {}
    for c in scored:
        best.setdefault(c.hit.passage_id, c.score)  # scored is best first

    def key(i: int) -> tuple[bool, float, int]:
        pid = hits[i].passage_id
        return (pid not in best, -best.get(pid, 0.0), i)

    return [hits[i] for i in sorted(range(len(hits)), key=key)]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))
