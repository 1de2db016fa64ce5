"""RSS and Atom feeds: their entries, and an article from an entry that carries the full text."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

# lxml ships no type hints; "unused-ignore" keeps these lines valid once stubs or a
# mypy override for lxml appear.
from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from lxml import html as lxml_html  # type: ignore[import-untyped, unused-ignore]

from ...errors import UnreadablePageError
from ...readers import clean_field, iso_date, normalize_text
from ...types import Article
from .links import absolute_url
from .tolerant import feed_xml_damage, never_raises

FULL_TEXT_CHARS = 400  # feed content at least this long is the article, not a teaser

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
    }
)  # fmt: skip
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Entry:
    """One feed item; ``link`` is absolute."""

    link: str
    title: str | None
    published: str | None  # YYYY-MM-DD
    updated: str | None  # ISO 8601 datetime if known, else the date; a change stamp only
    author: str | None
    content: str | None  # the full text as plain text; None when the feed has a teaser only
    summary: str | None  # plain text


@dataclass(frozen=True)
class Feed:
    title: str | None
    entries: list[Entry]
    damage: str | None = None  # why the feed may list less than it meant to (cut short)


@never_raises("the feed")
def parse_feed(body: bytes, url: str) -> Feed:
    """Entries of an RSS (0.9x, 1.0, 2.0) or Atom feed, first of each link kept; a feed
    that did not parse whole has its ``damage`` said."""
    import feedparser

    # Bytes, never a str: feedparser fetches a str that looks like a URL, or opens it
    # as a file. content-location is the base that relative links resolve against.
    parsed = feedparser.parse(body, response_headers={"content-location": url})
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f" ({problem})" if problem else ""
        raise UnreadablePageError(url, f"not an RSS or Atom feed{detail}")
    entries: list[Entry] = []
    seen: set[str] = set()
    for item in parsed.entries:
        entry = _entry(item, url)
        if entry is not None and entry.link not in seen:
            seen.add(entry.link)
            entries.append(entry)
    return Feed(clean_field(parsed.feed.get("title")), entries, _damage(parsed, body))


def _damage(parsed: Any, body: bytes) -> str | None:
    """Why a feed may be incomplete; None when it parsed whole. feedparser's strict
    parser stops at the first XML error of any kind (an &nbsp; too), so lxml, which
    reads on, judges whether any error lost content."""
    from feedparser.exceptions import ThingsNobodyCaresAboutButMe

    problem = parsed.get("bozo_exception")
    if not parsed.get("bozo") or isinstance(problem, ThingsNobodyCaresAboutButMe):
        return None  # e.g. a charset the HTTP header overrides: nothing lost
    return feed_xml_damage(body)


def _entry(parsed: Any, url: str) -> Entry | None:
    # A plain dict of what the feed said: feedparser's own mapping answers "updated" with
    # "published" (and a deprecation warning) when an item has no updated date.
    item = dict(dict.items(parsed))
    link = absolute_url(item.get("link"), url)
    if link is None:  # nothing to fetch and nothing to key the article on
        return None
    summary = _html_to_text(item.get("summary") or "") or None
    return Entry(
        link=link,
        title=clean_field(item.get("title")),
        published=_entry_date(item, "published") or _entry_date(item, "updated"),
        updated=_change_stamp(item),
        author=clean_field((item.get("author_detail") or {}).get("name") or item.get("author")),
        content=_full_text(item.get("content") or [], summary),
        summary=summary,
    )


def _entry_date(item: Any, field: str) -> str | None:
    """The date the publisher wrote; feedparser's parsed value is in UTC, which can move
    a late-evening article to the next day, so the raw text is tried first."""
    raw = item.get(field)
    if date := iso_date(raw):
        return date
    try:
        return parsedate_to_datetime(str(raw)).date().isoformat()  # RFC 822, as RSS uses
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    when = _struct_to_datetime(item.get(f"{field}_parsed"))
    return when.date().isoformat() if when else None


def _change_stamp(item: Any) -> str | None:
    when = _struct_to_datetime(item.get("updated_parsed") or item.get("published_parsed"))
    if when:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _entry_date(item, "updated") or _entry_date(item, "published")


def _struct_to_datetime(value: Any) -> datetime | None:
    """feedparser's parsed date (in UTC) as a datetime; None when there is none or it is
    out of any calendar (year 0, a 20-digit year): an unreadable date is no date."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (ValueError, OverflowError, OSError, TypeError):
        return None


def _full_text(contents: list[Any], summary: str | None) -> str | None:
    """The longest content block, if it is the article rather than a teaser.

    feedparser copies content:encoded into ``summary`` when there is no description, so
    "longer than the summary" alone would miss a full text that stands alone.
    """
    texts = [_content_text(c) for c in contents]
    text = max(texts, key=len, default="")
    if not text:
        return None
    if len(text) >= FULL_TEXT_CHARS or len(text) >= 2 * len(summary or ""):
        return text
    return None


def _content_text(content: Any) -> str:
    value = str(content.get("value") or "")
    if content.get("type") == "text/plain":
        return normalize_text(value)
    return _html_to_text(value)


def _html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: one line per block, whitespace as a browser shows it."""
    if not fragment.strip():
        return ""
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    for junk in root.xpath(".//script | .//style | .//noscript | .//template"):
        junk.drop_tree()
    # A set of the elements themselves: holding them keeps lxml's proxies (and so their
    # identity) alive while the tree is walked.
    preformatted = {el for pre in root.iter("pre") for el in pre.iter()}
    for el in root.iter():
        if el not in preformatted:  # source line breaks are not the text's
            el.text = el.text and _SPACES.sub(" ", el.text)
            el.tail = el.tail and _SPACES.sub(" ", el.tail)
        if el.tag in _BLOCK_TAGS:
            el.text = "\n" + (el.text or "")
            el.tail = "\n" + (el.tail or "")
        elif el.tag == "br":
            el.tail = "\n" + (el.tail or "")
    lines = (line.strip() for line in root.text_content().split("\n"))
    return normalize_text("\n".join(line for line in lines if line))


def entry_article(entry: Entry, url: str) -> Article:
    """An article from a feed entry that carries the full text (its page could not be
    fetched, or need not be)."""
    if entry.content is None:
        raise UnreadablePageError(url, "the feed entry has only a summary, not the full text")
    return Article(
        key=url,
        url=entry.link,
        title=entry.title or url,
        text=entry.content,
        date=entry.published,
        author=entry.author,
    )
