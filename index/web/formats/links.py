"""Links found in feeds, sitemaps and pages, made absolute."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit


def absolute_url(href: object, base: str) -> str | None:
    """``href`` resolved against ``base`` if the result is an http(s) URL with a host and
    a valid port, else None: a link from the web that does not parse is dropped."""
    if not isinstance(href, str) or not href.strip():
        return None
    try:
        link = urljoin(base, href.strip())
        parts = urlsplit(link)
        parts.port  # noqa: B018  # raises ValueError for a port that is not 0-65535
    except ValueError:  # "http://[::1", "http://a:x/": urllib raises on these
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return link
