"""Sitemaps (the protocol's urlset and sitemapindex); a sitemap.xml.gz arrives from the
fetcher already decompressed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# lxml ships no type hints; "unused-ignore" keeps these lines valid once stubs or a
# mypy override for lxml appear.
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from ...errors import UnreadablePageError
from .links import absolute_url
from .tolerant import never_raises, untrusted_xml_parser, xml_damage


@dataclass(frozen=True)
class SitemapEntry:
    loc: str
    lastmod: str | None  # as given (W3C datetime); a change stamp only


@dataclass(frozen=True)
class Sitemap:
    pages: list[SitemapEntry]  # <urlset>
    sitemaps: list[SitemapEntry]  # <sitemapindex>: child sitemaps to fetch
    damage: str | None = None  # why it may list less than it meant to (cut short)


@never_raises("the sitemap")
def parse_sitemap(body: bytes, url: str) -> Sitemap:
    """The pages (or child sitemaps) a sitemap lists, http(s) only, first of each kept;
    one that lxml had to recover from has its ``damage`` said."""
    parser = untrusted_xml_parser()
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise UnreadablePageError(url, f"not a sitemap: malformed XML ({exc})") from exc
    if root is None:
        raise UnreadablePageError(url, "not a sitemap: no XML found")
    name = etree.QName(root).localname
    if name not in ("urlset", "sitemapindex"):
        raise UnreadablePageError(url, f"not a sitemap: the root element is <{name}>")
    listed = _sitemap_entries(root, "url" if name == "urlset" else "sitemap", url)
    damage = xml_damage(parser.error_log, body, root)
    if name == "urlset":
        return Sitemap(pages=listed, sitemaps=[], damage=damage)
    return Sitemap(pages=[], sitemaps=listed, damage=damage)


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
        loc = absolute_url(fields.get("loc"), url)
        if loc is not None and loc not in seen:
            seen.add(loc)
            entries.append(SitemapEntry(loc=loc, lastmod=fields.get("lastmod") or None))
    return entries
