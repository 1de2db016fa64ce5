"""Split an article into passages that fit the model's window, with exact spans.

Units, from coarse to fine: paragraphs (a bullet list stays with its lead-in line),
sentences, words. Paragraphs are packed together up to the target size; only a
paragraph larger than the model's window is split, with one sentence of overlap.
Token counts come from the model's own tokenizer via ``count_tokens``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .sentences import sentence_spans
from .types import Article, Passage

Span = tuple[int, int]
TokenCounter = Callable[[Sequence[str]], list[int]]

_BULLET = re.compile(r"^\s*([-*•·▪–]|\d{1,3}[.)])\s+")


def chunk_article(
    article: Article, count_tokens: TokenCounter, target: int, limit: int
) -> list[Passage]:
    """Passages covering all of ``article.text``; none longer than ``limit`` tokens."""
    text = article.text
    target = min(target, limit)
    blocks = paragraph_spans(text)
    # One batched count for all paragraphs (the tokenizer's per-call cost dominated
    # indexing's non-model time when each paragraph was counted alone).
    units: list[Span] = []
    sizes: list[int] = []
    for block, size in zip(blocks, count_tokens([text[a:b] for a, b in blocks]), strict=True):
        if size <= limit:
            units.append(block)
            sizes.append(size)
        else:
            pieces = _split_long(text, block, count_tokens, limit)
            units.extend(pieces)
            sizes.extend(count_tokens([text[a:b] for a, b in pieces]))
    spans = _pack(units, sizes, target)
    spans = _enforce_limit(text, spans, count_tokens, limit)
    return [Passage(article.id, a, b, text[a:b], ordinal=i) for i, (a, b) in enumerate(spans)]


def paragraph_spans(text: str) -> list[Span]:
    """Non-blank lines as paragraphs; bullet lines join the paragraph that leads into them."""
    spans: list[Span] = []
    for m in re.finditer(r"[^\n]+", text):
        if not m.group().strip():
            continue
        joins = (
            spans and _BULLET.match(m.group()) and text.count("\n", spans[-1][1], m.start()) <= 2
        )
        if joins:
            spans[-1] = (spans[-1][0], m.end())
        else:
            spans.append((m.start(), m.end()))
    return spans


def _split_long(text: str, block: Span, count_tokens: TokenCounter, limit: int) -> list[Span]:
    """A paragraph over the window as sentences (or word windows), packed with overlap."""
    sentences = sentence_spans(text, *block)
    sizes = count_tokens([text[a:b] for a, b in sentences])
    pieces: list[Span] = []
    for span, size in zip(sentences, sizes, strict=True):
        pieces.extend([span] if size <= limit else _word_windows(text, span, count_tokens, limit))
    return _pack_with_overlap(pieces, count_tokens([text[a:b] for a, b in pieces]), limit)


def _pack(units: list[Span], sizes: list[int], target: int) -> list[Span]:
    """Greedily join consecutive units while the sum stays within ``target``."""
    spans: list[Span] = []
    total = 0
    for (a, b), size in zip(units, sizes, strict=True):
        if spans and total + size <= target and a >= spans[-1][1]:
            spans[-1] = (spans[-1][0], b)
            total += size
        else:
            spans.append((a, b))
            total = size
    return spans


def _pack_with_overlap(pieces: list[Span], sizes: list[int], limit: int) -> list[Span]:
    """Pack sentence pieces of one long paragraph; each chunk repeats the previous last sentence."""
    chunks: list[Span] = []
    first, total = 0, 0
    for i, size in enumerate(sizes):
        if i > first and total + size > limit:
            chunks.append((pieces[first][0], pieces[i - 1][1]))
            overlap = i - 1 if i - 1 > first and sizes[i - 1] + size <= limit // 2 else i
            first, total = overlap, sum(sizes[overlap:i])
        total += size
    chunks.append((pieces[first][0], pieces[-1][1]))
    return chunks


def _word_windows(text: str, span: Span, count_tokens: TokenCounter, limit: int) -> list[Span]:
    """Split a sentence with no usable boundary into runs of whole words."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[span[0] : span[1]])]
    words = [(span[0] + a, span[0] + b) for a, b in words]
    sizes = count_tokens([text[a:b] for a, b in words])
    windows: list[Span] = []
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > limit:
            windows.append((words[start][0], words[i - 1][1]))
            start, total = i, 0
        total += size
    windows.append((words[start][0], words[-1][1]))
    out: list[Span] = []
    for a, b in windows:  # a single "word" longer than the window: halve it until it fits
        if b - a > 1 and count_tokens([text[a:b]])[0] > limit:
            mid = (a + b) // 2
            out.extend(_word_windows(text, (a, mid), count_tokens, limit))
            out.extend(_word_windows(text, (mid, b), count_tokens, limit))
        else:
            out.append((a, b))
    return out


def _enforce_limit(
    text: str, spans: list[Span], count_tokens: TokenCounter, limit: int
) -> list[Span]:
    """Exact re-count of every passage; anything over the window is split by words."""
    sizes = count_tokens([text[a:b] for a, b in spans])
    out: list[Span] = []
    for span, size in zip(spans, sizes, strict=True):
        out.extend([span] if size <= limit else _word_windows(text, span, count_tokens, limit))
    return out
