"""What a response's status line and headers say: its media type and charset, whether
articlebot reads that type, how long a Retry-After asks to wait, the status in words."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from urllib.parse import urlsplit

from ..errors import FetchError

_READABLE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/xml",
        "application/xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "text/plain",
    }
)
# ASCII digits only (str.isdigit() also takes "²", which float() refuses); 18 at most,
# so int() never meets a number too long to convert.
_DIGITS = re.compile(r"[0-9]{1,18}")
GZIP_TYPES = frozenset({"application/gzip", "application/x-gzip"})


def content_type(header: str) -> tuple[str, str | None]:
    """("text/html", "utf-8") from "text/html; charset=UTF-8"."""
    media, *params = header.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip("\"'"):
            charset = value.strip().strip("\"'").lower()
    return media.strip().lower(), charset


def check_type(url: str, media: str) -> None:
    if not media or media in _READABLE_TYPES or media in GZIP_TYPES:
        return  # no type: the caller sniffs the body
    if media == "application/octet-stream" and urlsplit(url).path.lower().endswith(".gz"):
        return  # how many servers label a sitemap.xml.gz
    raise FetchError(url, f"{media} is not a web page, feed, sitemap or plain text: skipped")


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date; None for a value
    that cannot be read (the caller's own backoff applies), never an exception."""
    value = (value or "").strip()
    if _DIGITS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, OverflowError, IndexError):  # e.g. a 20-digit year
        return None


def content_length(value: str | None) -> int | None:
    """The Content-Length header as a number; None when absent or unreadable."""
    value = (value or "").strip()
    return int(value) if _DIGITS.fullmatch(value) else None


def validator(value: str | None) -> str | None:
    """An ETag or Last-Modified to send back, or None for one that cannot be sent as a
    header (not printable ASCII): the request is then unconditional."""
    if value and value.isascii() and value.isprintable():
        return value
    return None


def status_reason(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"
