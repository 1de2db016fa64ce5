"""HTML and plain-text pages: the feeds a page advertises, and the article a page holds."""

from __future__ import annotations

import json
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
from .tolerant import never_raises

_FEED_HREF = re.compile(r"(/feed|/rss|\.rss|\.atom|feed\.xml|rss\.xml|atom\.xml)/?$", re.I)
_COMMENTS = re.compile(r"\bcomments?\b", re.I)
# Where publishers state a page's date (Open Graph, Dublin Core, schema.org, news CMSs).
_DATE_META = frozenset(
    {
        "article:published_time", "og:published_time", "datepublished", "date", "pubdate",
        "publishdate", "publish-date", "publication_date", "dc.date", "dc.date.issued",
        "dcterms.date", "dcterms.created", "dcterms.issued", "parsely-pub-date",
        "sailthru.date", "citation_publication_date", "citation_date", "article.published",
    }
)  # fmt: skip
_URL_DATE = re.compile(r"/((?:19|20)\d\d)/(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])(?:/|$)")


@never_raises("the page's feed links")
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


@never_raises("the page")
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
        date=entry_date or metadata_date(_parse_html(html), url),
        author=entry_author or clean_field(data.get("author")),
        source=clean_field(data.get("sitename")),
    )


def _extract(html: str, url: str) -> dict[str, Any]:
    import trafilatura

    try:
        # The date is read from the page's metadata below; htmldate's search of the body
        # text finds years that are no publication date ("founded in 1998", a copyright).
        doc = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            date_extraction_params={"extensive_search": False, "original_date": True},
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


def metadata_date(tree: Any, url: str) -> str | None:
    """The date a page states as its own: a date meta tag, JSON-LD's datePublished,
    a ``<time datetime>``, or a /YYYY/MM/DD/ URL path; None rather than a guess."""
    if tree is not None:
        for meta in tree.xpath("//meta[@content]"):
            name = meta.get("property") or meta.get("name") or meta.get("itemprop") or ""
            if name.strip().lower() in _DATE_META and (date := iso_date(meta.get("content"))):
                return date
        for script in tree.xpath("//script[@type='application/ld+json']"):
            if date := iso_date(_json_ld_date(script.text_content())):
                return date
        for stamp in tree.xpath("//time/@datetime"):
            if date := iso_date(stamp):
                return date
    m = _URL_DATE.search(urlsplit(url).path)
    return iso_date("-".join(m.groups())) if m else None


def _json_ld_date(text: str) -> object:
    """The first datePublished in a JSON-LD block (a dict, a list or an @graph)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # a nesting bomb is no date either
        return None
    todo = [data]
    while todo:
        item = todo.pop(0)
        if isinstance(item, dict):
            if item.get("datePublished"):
                return item["datePublished"]
            todo.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            todo.extend(item)
    return None


@never_raises("the text page")
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
