"""Typos in questions, corrected against the index's own words.

People type to a bot as they type to a friend: "suposed", "succesful", "Gallagher" as
"galagher". A misspelt rare word is the question's most telling word lost twice: the
lexical search finds no passage with it, and MiniLM splits it into word pieces that
mean something else (``benchmarks/quality.py``'s typo rows measure what it costs and
what correcting wins back: see benchmarks/README.md).

A word is corrected only when no passage holds it, English does not know it either
("reset", "prune" and "belies" are words, not typos, whether or not the articles use
them), and one common typing slip (a doubled letter typed once, two letters swapped, a
letter left out, a neighbouring key, a letter typed twice), first letter kept, gives a
word that the articles hold, spelt so: the likeliest slip wins, then the most frequent
word. Names that the articles never mention ("OpenAI", "Brexit") have no such neighbour
and stay as they are, so questions about them can still be declined.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: Shorter words have too many neighbours ("elon": "alon", "eton", "elan") to guess from.
MIN_LENGTH = 5
#: Variants checked for being written as such in the articles, likeliest first.
MAX_TRIES = 4
_WORD = re.compile(r"[^\W\d_]+")
#: Typed without the apostrophe ("wasnt bryan ferrys son ..."): words, not typos.
_CONTRACTIONS = frozenset(
    {"didnt", "doesnt", "wasnt", "werent", "arent", "hasnt", "havent", "hadnt", "couldnt"}
    | {"wouldnt", "shouldnt", "mustnt", "neednt", "youre", "theyre", "thats", "whats"}
    | {"theres", "wheres", "youve", "theyve", "youll", "theyll"}
)
KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_VOWELS = "aeiouy"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _neighbours() -> dict[str, str]:
    """Each letter's neighbouring keys on a QWERTY keyboard (same row and the rows
    above and below, one step left or right), and for vowels the other vowels."""
    where = {c: (r, i) for r, row in enumerate(KEYBOARD_ROWS) for i, c in enumerate(row)}
    near: dict[str, str] = {}
    for c, (r, i) in where.items():
        keys = {
            d for d, (r2, i2) in where.items() if d != c and abs(r2 - r) <= 1 and abs(i2 - i) <= 1
        }
        if c in _VOWELS:
            keys |= set(_VOWELS) - {c}
        near[c] = "".join(sorted(keys))
    return near


_NEAR = _neighbours()


@dataclass(frozen=True)
class Correction:
    text: str  # the question with its typos corrected (the same string when none)
    changes: tuple[tuple[str, str], ...]  # (as typed, as corrected)


#: Chat shorthand, read as the words it stands for ("how many ppl", "y did u"): the
#: lexical index and MiniLM know the words, not the shorthand. The bbc-dev questions
#: typed so lost first quotes and answers (``benchmarks/quality.py``'s chat row).
CHAT = {
    "ppl": "people",
    "govt": "government",
    "u": "you",
    "ur": "your",
    "r": "are",
    "y": "why",
    "bc": "because",
    "b/c": "because",
    "cuz": "because",
    "coz": "because",
    "thru": "through",
    "tho": "though",
    "abt": "about",
    "b4": "before",
    "w/": "with",
    "w/o": "without",
    "pls": "please",
    "plz": "please",
    "wat": "what",
    "wot": "what",
    "wut": "what",
    "yr": "year",
    "yrs": "years",
}
# Longest first ("w/o" before "w/"), and not inside a longer token: "U.S.", "R&B",
# "U-turn", "b/w" stay as they are.
_CHAT_WORD = re.compile(
    r"(?<![\w.&'\u2019/-])("
    + "|".join(re.escape(w) for w in sorted(CHAT, key=len, reverse=True))
    + r")(?![\w&'\u2019/-]|\.\w)",
    re.IGNORECASE,
)


def expand_chat(text: str) -> Correction:
    """``text`` with chat shorthand (CHAT) written out. A single letter only in lower
    case: "Generation Y" and "R" (the language) are not shorthand."""
    changes: dict[str, str] = {}

    def written_out(match: re.Match[str]) -> str:
        typed = match.group()
        if len(typed) == 1 and not typed.islower():
            return typed
        changes[typed] = _same_case(typed, CHAT[typed.lower()])
        return changes[typed]

    expanded = _CHAT_WORD.sub(written_out, text)
    return Correction(expanded, tuple(changes.items()))


def variants(word: str) -> dict[str, int]:
    """Words one typing slip away from ``word`` (lower case), its first letter kept,
    each with how unlikely its slip is (0 most likely): a doubled letter typed once
    ("suposed"), two letters swapped ("Cutris"), a letter left out or a key beside the
    right one (or another vowel), a letter typed twice. Every letter may have been left
    out, so a 10-letter word has ~330 variants (each a lookup only while unknown)."""
    out: dict[str, int] = {}

    def add(variant: str, rank: int) -> None:
        if variant != word and out.get(variant, rank + 1) > rank:
            out[variant] = rank

    for i in range(1, len(word)):
        a, c, b = word[:i], word[i], word[i + 1 :]
        add(a + c + c + b, 0)
        if b:
            add(a + b[0] + c + b[1:], 1)
        for other in _NEAR.get(c, ""):
            add(a + other + b, 2)
        # A letter left out ("goverment", "tryng"): any letter, so the most lookups.
        for letter in _LETTERS:
            add(a + letter + c + b, 2)
        # A letter typed twice ("untill"). Dropping any other letter would "correct"
        # more real words than typos: "facet" -> "face", "reset" -> "rest".
        if c == a[-1]:
            add(a + b, 3)
    for letter in _LETTERS:  # the last letter left out
        add(word + letter, 2)
    return out


def correct(
    text: str,
    frequency: Callable[[str], int],
    written: Callable[[str], bool] = lambda word: True,
    english: Callable[[str], bool] = lambda word: False,
) -> Correction:
    """``text`` with chat shorthand written out (``expand_chat``), then each unknown word
    (``frequency`` 0, not ``english``) of MIN_LENGTH letters or more replaced by its
    likeliest known variant, case kept. ``frequency`` gives the number of passages that
    hold a (lower-case) word as the lexical index sees it, stemmed: so "facte" counts as
    "fact", and ``written`` says whether the articles hold the word itself, spelt so
    (only asked of the few variants that could win)."""
    chat = expand_chat(text)
    typos: dict[str, str] = {}
    for word in dict.fromkeys(_WORD.findall(chat.text)):
        lower = word.lower()
        if len(lower) < MIN_LENGTH or not lower.isascii() or lower in _CONTRACTIONS:
            continue
        if frequency(lower) > 0 or english(lower):
            continue
        fixed = _likeliest(lower, frequency, written)
        if fixed is not None:
            typos[word] = _same_case(word, fixed)
    if not typos:
        return chat
    fixed_text = _WORD.sub(lambda m: typos.get(m.group(), m.group()), chat.text)
    return Correction(fixed_text, chat.changes + tuple(typos.items()))


def _likeliest(
    word: str, frequency: Callable[[str], int], written: Callable[[str], bool]
) -> str | None:
    """The likeliest slip first, then the most frequent word: "Cutris" is one swap from
    "Curtis" and one key from "Curris", and the swap is the likelier slip. A word of one
    passage (often a name: "Hirst") only for the two likeliest slips: "tenner" is one
    vowel from a one-off "Tanner". Slip by slip, so the many "letter left out" variants
    are looked up only when no likelier slip gives a word."""
    by_rank: dict[int, list[str]] = {}
    for variant, rank in variants(word).items():
        by_rank.setdefault(rank, []).append(variant)
    tries = MAX_TRIES
    for rank in sorted(by_rank):
        known = sorted(
            (-n, v) for v in by_rank[rank] if (n := frequency(v)) > 1 or (n == 1 and rank <= 1)
        )
        for _, variant in known[:tries]:
            if written(variant):
                return variant
        tries -= min(tries, len(known))
        if not tries:
            return None
    return None


def _same_case(typed: str, word: str) -> str:
    """``word`` in the case ``typed`` was in: all capitals, a capital first, or letter
    by letter where the two agree from either end ("McIllroy" -> "McIlroy")."""
    if typed.isupper():
        return word.upper()
    if typed[1:].islower() or typed[1:] == "":
        return word[0].upper() + word[1:] if typed[0].isupper() else word
    out = list(word)
    for i in range(min(len(typed), len(word))):  # from the start, up to the slip
        if typed[i].lower() != word[i]:
            break
        out[i] = typed[i]
    for i in range(1, min(len(typed), len(word))):  # from the end, back to the slip
        if typed[-i].lower() != word[-i]:
            break
        out[-i] = typed[-i]
    return "".join(out)
