"""Citations: articles numbered in order of first quote, each quote checked to be an
exact, trimmed span of its stored article, and links that scroll to the quote."""

from __future__ import annotations

from urllib.parse import quote as percent_encode

from ..errors import QuoteSpanError
from .features import Candidate
from .result import Quote, Source


def cite(
    chosen: list[Candidate], texts: dict[str, str]
) -> tuple[tuple[Quote, ...], tuple[Source, ...]]:
    """Number articles in order of first quote; build quotes with verified spans."""
    numbers: dict[str, int] = {}
    sources: list[Source] = []
    quotes: list[Quote] = []
    for cand in chosen:
        text = texts[cand.hit.article_id]
        quoted = text[cand.start : cand.end]
        if not quoted or quoted != quoted.strip():
            raise QuoteSpanError(
                f"A quote of article {cand.hit.article_id} is not a trimmed span of its text "
                f"({cand.start}:{cand.end}); run `articlebot stats --check`."
            )
        hit = cand.hit
        if hit.article_id not in numbers:
            numbers[hit.article_id] = len(numbers) + 1
            link = text_fragment_url(hit.url, quoted) if hit.url else None
            sources.append(
                Source(
                    numbers[hit.article_id],
                    hit.article_id,
                    hit.title,
                    hit.url,
                    hit.path,
                    hit.date,
                    hit.author,
                    hit.source,
                    link,
                )
            )
        quotes.append(
            Quote(
                text=quoted,
                article_id=hit.article_id,
                start=cand.start,
                end=cand.end,
                score=cand.score,
                citation=numbers[hit.article_id],
                elided_before=_inside_paragraph(text, cand.start, before=True),
                elided_after=_inside_paragraph(text, cand.end, before=False),
            )
        )
    return tuple(quotes), tuple(sources)


def _inside_paragraph(text: str, pos: int, *, before: bool) -> bool:
    if before:
        return pos > 0 and text[:pos].rstrip(" \t")[-1:] not in ("", "\n")
    return pos < len(text) and text[pos:].lstrip(" \t")[:1] not in ("", "\n")


def text_fragment_url(url: str, quoted: str) -> str:
    """``url#:~:text=start,end`` (Text Fragments spec): a browser scrolls to the quote."""
    words = quoted.split()
    base = url.split("#", 1)[0]
    if len(words) <= 8:
        return f"{base}#:~:text={_fragment_part(' '.join(words))}"
    start, end = " ".join(words[:4]), " ".join(words[-4:])
    return f"{base}#:~:text={_fragment_part(start)},{_fragment_part(end)}"


def _fragment_part(text: str) -> str:
    # quote() leaves "-" alone, but in a text directive it is syntax and must be %2D.
    return percent_encode(text, safe="").replace("-", "%2D")
