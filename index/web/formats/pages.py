"""HTML and plain-text pages: the feeds a page advertises, and the article a page holds."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

# lxml ships no type hints; "unused-ignore" keeps these lines valid once stubs or a
# mypy override for lxml appear.
from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from lxml import html as lxml_html  # type: ignore[import-untyped, unused-ignore]

from ...errors import UnreadableFileError, UnreadablePageError
from ...readers import article_from_text, clean_field, iso_date, normalize_text
from ...types import Article
from .detect import FEED_TYPES
from .feeds import Entry
from .links import absolute_url

_FEED_HREF = re.compile(r"(/feed|/rss|\.rss|\.atom|feed\.xml|rss\.xml|atom\.xml)/?$", re.I)
_COMMENTS = re.compile(r"\bcomments?\b", re.I)


def discover_feeds(html: str, url: str) -> list[str]:
    """Feed URLs a page advertises with ``<link rel="alternate">``, in page order; failing
    those, links that look like feeds. Comment feeds are left out: their items are
    comments, which would each come back as a copy of the post."""
    tree = _parse_html(html)
    if tree is None:
        return []
    base = absolute_url(next(iter(tree.xpath("//base/@href")), None), url) or url
    found: list[str] = []
    for link in tree.xpath("//link[@href]"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        if (
            "alternate" in rel
            and kind in FEED_TYPES
            and not _COMMENTS.search(link.get("title") or "")
        ):
            found.append(link.get("href"))
    if not found:
        found = [
            a.get("href") for a in tree.xpath("//a[@href]") if _FEED_HREF.search(a.get("href"))
        ]
    feeds = (absolute_url(href, base) for href in found)
    unique = dict.fromkeys(f for f in feeds if f and "/comments/" not in urlsplit(f).path)
    return list(unique)


def _parse_html(html: str) -> Any:
    if not html.strip():
        return None
    try:
        return lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):  # ValueError: a str with an XML declaration
        try:
            return lxml_html.document_fromstring(html.encode("utf-8"))
        except (etree.ParserError, ValueError):
            return None


def page_article(html: str, url: str, *, entry: Entry | None = None) -> Article:
    """The main text of an HTML page (navigation, footers, banners and link lists
    dropped). The feed entry's metadata, when given, wins over the page's.

    ``key`` is the URL the page was listed under, so a page is one article however it
    redirects; ``url`` is its canonical link when that is on the same site."""
    data = _extract(html, url)
    text = normalize_text(data.get("text") or "")
    if not text:
        raise UnreadablePageError(url, "no main text found in the page")
    entry_title, entry_date, entry_author = (
        (entry.title, entry.published, entry.author) if entry else (None, None, None)
    )
    return Article(
        key=url,
        url=_canonical(data.get("url"), url),
        title=entry_title or clean_field(data.get("title")) or url,
        text=text,
        date=entry_date or iso_date(data.get("date")),
        author=entry_author or clean_field(data.get("author")),
        source=clean_field(data.get("sitename")),
    )


def _extract(html: str, url: str) -> dict[str, Any]:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=True
        )
    except Exception as exc:  # trafilatura raises assorted lxml errors on broken input
        raise UnreadablePageError(url, f"cannot parse HTML ({exc})") from exc
    if doc is None:
        return {}
    return doc if isinstance(doc, dict) else doc.as_dict()


def _canonical(found: object, url: str) -> str:
    """The page's canonical URL if it stays on the listed URL's site; a page may not
    claim another site's address (a copied page keeps the original's canonical)."""
    canonical = absolute_url(found, url)
    if canonical is None:
        return url
    return canonical if _site(canonical) == _site(url) else url


def _site(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


def text_article(text: str, url: str) -> Article:
    """A text/plain page, read like a .txt file: front matter, a headline-like first line
    as the title, caption lines apart; failing a title, the URL's file name is one."""
    parts = urlsplit(url)
    # The name article_from_text falls back on for a title: the last path segment, or
    # the host for a site's root (".txt" so that the host's dots are not taken for a suffix).
    name = unquote(PurePosixPath(parts.path).name) or f"{parts.hostname or url}.txt"
    try:
        article = article_from_text(text, Path(name))
    except UnreadableFileError as exc:
        raise UnreadablePageError(url, exc.reason) from exc
    return replace(article, key=url, path=None, url=url)
