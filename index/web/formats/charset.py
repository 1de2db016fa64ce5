"""A page's bytes as text: a BOM, the declared charset, or detection."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from ...errors import UnreadableFileError, UnreadablePageError
from ...readers import decode_bytes

META_CHARSET_BYTES = 2048  # where HTML5 requires a <meta charset> to be

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-z0-9._:-]+)"""
    rb"""|<\?xml[^>]+encoding\s*=\s*["']([a-z0-9._:-]+)""",
    re.I,
)

_LATIN = frozenset({"ascii", "iso8859-1", "cp1252"})
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_page(body: bytes, charset: str | None, url: str) -> str:
    """The page as text: a BOM, then the HTTP header's charset, then the page's own
    ``<meta charset>``, then detection. A declared charset the body does not decode in
    is skipped, and UTF-8 labelled Latin-1 (a common server default) is read as UTF-8."""
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
        raise UnreadablePageError(url, exc.reason) from exc


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
