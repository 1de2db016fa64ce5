"""Links found in feeds, sitemaps and pages, made absolute."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit


def absolute_url(href: object, base: str) -> str | None:
    """``href`` resolved against ``base`` if the result is an http(s) URL, else None."""
    if not isinstance(href, str) or not href.strip():
        return None
    link = urljoin(base, href.strip())
    parts = urlsplit(link)
    return link if parts.scheme in ("http", "https") and parts.netloc else None
