"""Whether the question's words sit near what it asks for in a sentence ("answer_near").

The answering sentence states the answer about the question's subject; a sentence that
only shares the subject holds its names and numbers elsewhere.
"""

from __future__ import annotations

import bisect
import itertools
import re
from functools import lru_cache

from ..text import term_spans, terms
from .lexicons import ANSWER_PATTERNS, NAME, SUBTYPE_ANSWERS
from .query_terms import QueryTerms

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
        held = _question_terms(question)
        spans += [span for m in NAME.finditer(sentence) if (span := _name_span(m, held, q))]
    return spans


@lru_cache(maxsize=64)
def _question_terms(question: str) -> frozenset[str]:
    """The question's words, once per question rather than once per candidate sentence."""
    return frozenset(terms(question, keep_stopwords=True))


def _name_span(match: re.Match[str], held: frozenset[str], q: str) -> tuple[int, int] | None:
    """A name's span without the leading title words the question holds: in "Azeri
    Foreign Minister Jeyhun Bayramov", asked "who is the Azeri foreign minister?", the
    name is "Jeyhun Bayramov" and the title is the question's own words beside it."""
    words = term_spans(match.group())
    if len(words) < 2:
        return None
    kept = list(itertools.dropwhile(lambda w: w[2] in held, words))
    if not kept:
        return None
    start = match.start() + kept[0][0]
    name = match.string[start : match.end()]
    return None if name.lower() in q else (start, match.end())
