"""Recognise and parse what a web source serves: feeds, sitemaps, HTML and text pages.

Pure functions over bytes and strings (no network, no files): the fetcher hands over a
body, these say what it is and turn it into listings (``Feed``, ``Sitemap``) or
``Article`` values. A body that cannot be used raises ``UnreadableFileError`` with the
URL and the reason, like an unreadable file does.
"""

from __future__ import annotations

import calendar
import codecs
import re
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import unquote, urljoin, urlsplit

# lxml ships no type hints; "unused-ignore" keeps these lines valid once stubs or a
# mypy override for lxml appear.
from lxml import etree  # type: ignore[import-untyped, unused-ignore]
from lxml import html as lxml_html  # type: ignore[import-untyped, unused-ignore]

from ..errors import UnreadableFileError
from ..readers import _clean, _read_text, decode_bytes, iso_date, normalize_text
from ..types import Article

Kind = Literal["feed", "sitemap", "html", "text"]

SNIFF_BYTES = 4096  # the root element of any real feed, sitemap or page starts well before
META_CHARSET_BYTES = 2048  # where HTML5 requires a <meta charset> to be
FULL_TEXT_CHARS = 400  # feed content at least this long is the article, not a teaser
MAX_GUNZIPPED = 50 * 2**20  # the sitemap protocol's own limit; also caps a gzip bomb

_ROOT_KINDS: dict[str, Kind] = {
    "rss": "feed",
    "feed": "feed",  # Atom
    "rdf": "feed",  # RSS 1.0: <rdf:RDF>
    "urlset": "sitemap",
    "sitemapindex": "sitemap",
    "html": "html",
}
_FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+xml"}
)
# Prolog items that may come before the root element, each skipped whole.
_PROLOG = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->|<!doctype[^\[>]*(\[.*?\])?\s*>", re.I | re.S)
_DOCTYPE_NAME = re.compile(r"<!doctype\s+([\w:.-]+)", re.I)
_ROOT = re.compile(r"<([A-Za-z_][\w:.-]*)")
_HTML_TAGS = re.compile(r"<(head|body|div|p|meta|title|article|section|main|span|a|h[1-6])\b", re.I)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-z0-9._:-]+)"""
    rb"""|<\?xml[^>]+encoding\s*=\s*["']([a-z0-9._:-]+)""",
    re.I,
)
_FEED_HREF = re.compile(r"(/feed|/rss|\.rss|\.atom|feed\.xml|rss\.xml|atom\.xml)/?$", re.I)
_COMMENTS = re.compile(r"\bcomments?\b", re.I)
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
    }
)  # fmt: skip
_SPACES = re.compile(r"\s+")
_LATIN = frozenset({"ascii", "iso8859-1", "cp1252"})


# ---- What is it? ----------------------------------------------------------------------


def sniff(body: bytes, content_type: str, url: str) -> Kind:
    """Say what ``body`` is by its root element; the content type only breaks ties.

    Content comes first because servers mislabel: feeds go out as text/xml, text/plain
    or text/html, and sitemaps as application/octet-stream. Only the first 4 KB are
    read. ``url`` is not used yet; it is part of the signature for URL-based hints.
    """
    head = _head_text(body)
    kind = _root_kind(head)
    if kind is not None:
        return kind
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in _FEED_TYPES or ctype.endswith(("rss+xml", "atom+xml")):
        return "feed"
    if ctype == "text/plain":
        return "text"
    if "html" in ctype or _HTML_TAGS.search(head):
        return "html"
    return "text" if not head.lstrip().startswith("<") else "html"


def _head_text(body: bytes) -> str:
    """The first few KB as text, good enough to read tag names (not to keep)."""
    head = body[:SNIFF_BYTES]
    if head[:2] == b"\x1f\x8b":  # a .xml.gz sitemap: the start is enough
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, SNIFF_BYTES)
        except zlib.error:
            return ""
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            return head[2:].decode(codec, errors="ignore")
    # Every ASCII-compatible encoding spells tag names the same way.
    return head.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")


def _root_kind(head: str) -> Kind | None:
    """The kind the first element (or the doctype's name) says, after the prolog."""
    pos = 0
    while m := _PROLOG.match(head, pos):
        doctype = _DOCTYPE_NAME.match(m.group())
        if doctype and _local_name(doctype.group(1)) in _ROOT_KINDS:
            return _ROOT_KINDS[_local_name(doctype.group(1))]
        pos = m.end()
    root = _ROOT.match(head, pos)
    return _ROOT_KINDS.get(_local_name(root.group(1))) if root else None


def _local_name(name: str) -> str:
    return name.rpartition(":")[2].lower()


def _gunzip(body: bytes, url: str) -> bytes:
    """Undo gzip that is part of the file (``sitemap.xml.gz``), not of the transfer."""
    if body[:2] != b"\x1f\x8b":
        return body
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflate.decompress(body, MAX_GUNZIPPED)
    except zlib.error as exc:
        raise UnreadableFileError(url, f"broken gzip data ({exc})") from exc
    if inflate.unconsumed_tail:
        raise UnreadableFileError(url, f"gzip body expands past {MAX_GUNZIPPED // 2**20} MB")
    if not inflate.eof:
        raise UnreadableFileError(url, "broken gzip data (the file is cut short)")
    return data


# ---- Feeds ----------------------------------------------------------------------------


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


def parse_feed(body: bytes, url: str) -> Feed:
    """Entries of an RSS (0.9x, 1.0, 2.0) or Atom feed, first of each link kept."""
    import feedparser

    # Bytes, never a str: feedparser fetches a str that looks like a URL, or opens it
    # as a file. content-location is the base that relative links resolve against.
    parsed = feedparser.parse(_gunzip(body, url), response_headers={"content-location": url})
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f" ({problem})" if problem else ""
        raise UnreadableFileError(url, f"not an RSS or Atom feed{detail}")
    entries: list[Entry] = []
    seen: set[str] = set()
    for item in parsed.entries:
        entry = _entry(item, url)
        if entry is not None and entry.link not in seen:
            seen.add(entry.link)
            entries.append(entry)
    return Feed(title=_clean(parsed.feed.get("title")), entries=entries)


def _entry(parsed: Any, url: str) -> Entry | None:
    # A plain dict of what the feed said: feedparser's own mapping answers "updated" with
    # "published" (and a deprecation warning) when an item has no updated date.
    item = dict(dict.items(parsed))
    link = _absolute(item.get("link"), url)
    if link is None:  # nothing to fetch and nothing to key the article on
        return None
    summary = _html_to_text(item.get("summary") or "") or None
    return Entry(
        link=link,
        title=_clean(item.get("title")),
        published=_entry_date(item, "published") or _entry_date(item, "updated"),
        updated=_change_stamp(item),
        author=_clean((item.get("author_detail") or {}).get("name") or item.get("author")),
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
    except (TypeError, ValueError, IndexError):
        pass
    parsed = item.get(f"{field}_parsed")
    return _struct_to_datetime(parsed).date().isoformat() if parsed else None


def _change_stamp(item: Any) -> str | None:
    parsed = item.get("updated_parsed") or item.get("published_parsed")
    if parsed:
        return _struct_to_datetime(parsed).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _entry_date(item, "updated") or _entry_date(item, "published")


def _struct_to_datetime(value: Any) -> datetime:
    return datetime.fromtimestamp(calendar.timegm(value), UTC)  # feedparser's are in UTC


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


# ---- Sitemaps -------------------------------------------------------------------------


@dataclass(frozen=True)
class SitemapEntry:
    loc: str
    lastmod: str | None  # as given (W3C datetime); a change stamp only


@dataclass(frozen=True)
class Sitemap:
    pages: list[SitemapEntry]  # <urlset>
    sitemaps: list[SitemapEntry]  # <sitemapindex>: child sitemaps to fetch


def parse_sitemap(body: bytes, url: str) -> Sitemap:
    """The pages (or child sitemaps) a sitemap lists, http(s) only, first of each kept."""
    # No entities, no DTD loading, no network: a sitemap is untrusted XML (XXE).
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, recover=True, load_dtd=False
    )
    try:
        root = etree.fromstring(_gunzip(body, url), parser)
    except etree.XMLSyntaxError as exc:
        raise UnreadableFileError(url, f"not a sitemap: malformed XML ({exc})") from exc
    if root is None:
        raise UnreadableFileError(url, "not a sitemap: no XML found")
    name = etree.QName(root).localname
    if name not in ("urlset", "sitemapindex"):
        raise UnreadableFileError(url, f"not a sitemap: the root element is <{name}>")
    listed = _sitemap_entries(root, "url" if name == "urlset" else "sitemap", url)
    return Sitemap(pages=listed, sitemaps=[]) if name == "urlset" else Sitemap([], listed)


def _sitemap_entries(root: Any, item: str, url: str) -> list[SitemapEntry]:
    entries: list[SitemapEntry] = []
    seen: set[str] = set()
    for el in root:
        if not isinstance(el.tag, str) or etree.QName(el).localname != item:
            continue  # comments, processing instructions, foreign elements
        fields = {
            etree.QName(child).localname: (child.text or "").strip()
            for child in el
            if isinstance(child.tag, str)
        }
        loc = _absolute(fields.get("loc"), url)
        if loc is not None and loc not in seen:
            seen.add(loc)
            entries.append(SitemapEntry(loc=loc, lastmod=fields.get("lastmod") or None))
    return entries


def _absolute(href: object, base: str) -> str | None:
    """``href`` resolved against ``base`` if the result is an http(s) URL, else None."""
    if not isinstance(href, str) or not href.strip():
        return None
    link = urljoin(base, href.strip())
    parts = urlsplit(link)
    return link if parts.scheme in ("http", "https") and parts.netloc else None


# ---- HTML pages -----------------------------------------------------------------------


def discover_feeds(html: str, url: str) -> list[str]:
    """Feed URLs a page advertises with ``<link rel="alternate">``, in page order; failing
    those, links that look like feeds. Comment feeds are left out: their items are
    comments, which would each come back as a copy of the post."""
    tree = _parse_html(html)
    if tree is None:
        return []
    base = _absolute(next(iter(tree.xpath("//base/@href")), None), url) or url
    found: list[str] = []
    for link in tree.xpath("//link[@href]"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        if (
            "alternate" in rel
            and kind in _FEED_TYPES
            and not _COMMENTS.search(link.get("title") or "")
        ):
            found.append(link.get("href"))
    if not found:
        found = [
            a.get("href") for a in tree.xpath("//a[@href]") if _FEED_HREF.search(a.get("href"))
        ]
    feeds = (_absolute(href, base) for href in found)
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


def decode_page(body: bytes, charset: str | None, url: str) -> str:
    """The page as text: a BOM, then the HTTP header's charset, then the page's own
    ``<meta charset>``, then detection. A declared charset the body does not decode in
    is skipped, and UTF-8 labelled Latin-1 (a common server default) is read as UTF-8."""
    body = _gunzip(body, url)
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    for label in (charset, _meta_charset(body)):
        declared = _codec(label)
        if declared is None:
            continue
        if declared in _LATIN and _is_utf8(body):
            declared = "utf-8"
        try:
            return body.decode(declared)
        except (UnicodeDecodeError, LookupError):  # LookupError: e.g. "base64", not text
            continue
    try:
        return decode_bytes(body, Path(url))  # the path only names it in errors
    except UnreadableFileError as exc:
        raise UnreadableFileError(url, exc.reason) from exc


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _meta_charset(body: bytes) -> str | None:
    m = _META_CHARSET.search(body[:META_CHARSET_BYTES])
    if m is None:
        return None
    return (m.group(1) or m.group(2)).decode("ascii")


def _codec(label: str | None) -> str | None:
    """Python's codec for a charset label; Latin-1 and ASCII labels mean windows-1252,
    as in every browser (pages so labelled use its curly quotes and dashes)."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    return "cp1252" if name in ("ascii", "iso8859-1") else name


def _is_utf8(body: bytes) -> bool:
    """Non-ASCII and valid UTF-8: legacy-encoded text almost never is by chance."""
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def page_article(html: str, url: str, *, entry: Entry | None = None) -> Article:
    """The main text of an HTML page (navigation, footers, banners and link lists
    dropped). The feed entry's metadata, when given, wins over the page's.

    ``key`` is the URL the page was listed under, so a page is one article however it
    redirects; ``url`` is its canonical link when that is on the same site."""
    data = _extract(html, url)
    text = normalize_text(data.get("text") or "")
    if not text:
        raise UnreadableFileError(url, "no main text found in the page")
    entry_title, entry_date, entry_author = (
        (entry.title, entry.published, entry.author) if entry else (None, None, None)
    )
    return Article(
        key=url,
        url=_canonical(data.get("url"), url),
        title=entry_title or _clean(data.get("title")) or url,
        text=text,
        date=entry_date or iso_date(data.get("date")),
        author=entry_author or _clean(data.get("author")),
        source=_clean(data.get("sitename")),
    )


def _extract(html: str, url: str) -> dict[str, Any]:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=True
        )
    except Exception as exc:  # trafilatura raises assorted lxml errors on broken input
        raise UnreadableFileError(url, f"cannot parse HTML ({exc})") from exc
    if doc is None:
        return {}
    return doc if isinstance(doc, dict) else doc.as_dict()


def _canonical(found: object, url: str) -> str:
    """The page's canonical URL if it stays on the listed URL's site; a page may not
    claim another site's address (a copied page keeps the original's canonical)."""
    canonical = _absolute(found, url)
    if canonical is None:
        return url
    return canonical if _site(canonical) == _site(url) else url


def _site(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


# ---- Entries and text pages -----------------------------------------------------------


def entry_article(entry: Entry, url: str) -> Article:
    """An article from a feed entry that carries the full text (its page could not be
    fetched, or need not be)."""
    if entry.content is None:
        raise UnreadableFileError(url, "the feed entry has only a summary, not the full text")
    return Article(
        key=url,
        url=entry.link,
        title=entry.title or url,
        text=entry.content,
        date=entry.published,
        author=entry.author,
    )


def text_article(text: str, url: str) -> Article:
    """A text/plain page, read like a .txt file: front matter, a headline-like first line
    as the title, caption lines apart; failing a title, the URL's file name is one."""
    parts = urlsplit(url)
    # The name _read_text falls back on for a title: the last path segment, or the host
    # for a site's root (".txt" so that the host's dots are not taken for a suffix).
    name = unquote(PurePosixPath(parts.path).name) or f"{parts.hostname or url}.txt"
    try:
        article = _read_text(text, Path(name))
    except UnreadableFileError as exc:
        raise UnreadableFileError(url, exc.reason) from exc
    return replace(article, key=url, path=None, url=url)
