"""What a question asks for and what a sentence can answer with: answer-type lexicons.

A question's wording says what kind of answer it wants ("who" a name, "when" a date,
"how much" an amount, "why" a cause); a sentence answers with an instance of that kind
that the question does not hold already.
"""

from __future__ import annotations

import re

from ..text import STOPWORDS

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


NUMBER = re.compile(r"\d[\d,.]*")


NAME = re.compile(r"[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*")


LEADING = frozenset({"but", "and", "so", "yet", "now", "however", "meanwhile", "mr", "mrs"})


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
    for m in NAME.finditer(text):
        words = m.group().split()
        while words and words[0].lower() in STOPWORDS | LEADING:
            words.pop(0)
        if len(words) >= 2:
            out.append(" ".join(words))
    return out
