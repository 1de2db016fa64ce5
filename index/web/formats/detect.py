"""What a fetched body is (feed, sitemap, HTML page or plain text), by its root element."""

from __future__ import annotations

import codecs
import re
from typing import Literal

Kind = Literal["feed", "sitemap", "html", "text"]

SNIFF_BYTES = 4096  # the root element of any real feed, sitemap or page starts well before

_ROOT_KINDS: dict[str, Kind] = {
    "rss": "feed",
    "feed": "feed",  # Atom
    "rdf": "feed",  # RSS 1.0: <rdf:RDF>
    "urlset": "sitemap",
    "sitemapindex": "sitemap",
    "html": "html",
}
FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+xml"}
)
# Prolog items that may come before the root element, each skipped whole.
_PROLOG = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->|<!doctype[^\[>]*(\[.*?\])?\s*>", re.I | re.S)
_DOCTYPE_NAME = re.compile(r"<!doctype\s+([\w:.-]+)", re.I)
_ROOT = re.compile(r"<([A-Za-z_][\w:.-]*)")
_HTML_TAGS = re.compile(r"<(head|body|div|p|meta|title|article|section|main|span|a|h[1-6])\b", re.I)


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
    if ctype in FEED_TYPES or ctype.endswith(("rss+xml", "atom+xml")):
        return "feed"
    if ctype == "text/plain":
        return "text"
    if "html" in ctype or _HTML_TAGS.search(head):
        return "html"
    return "text" if not head.lstrip().startswith("<") else "html"


def _head_text(body: bytes) -> str:
    """The first few KB as text, good enough to read tag names (not to keep)."""
    head = body[:SNIFF_BYTES]  # never compressed: the fetcher removed every gzip layer
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
