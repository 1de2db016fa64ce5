"""Capped decompression: gzip and deflate removed without ever producing more than a
limit, so a gzip bomb costs the limit's worth of memory and stops there."""

from __future__ import annotations

import zlib

from ..errors import FetchError, UnreadablePageError

GZIP_MAGIC = b"\x1f\x8b"
MAX_GUNZIPPED = 50 * 2**20  # the sitemap protocol's own limit; also caps a gzip bomb


def too_large(url: str, cap: int) -> FetchError:
    return FetchError(url, f"response is larger than {cap / 2**20:g} MB (ARTICLEBOT_FETCH_MAX_MB)")


def content_encoding(url: str, header: str) -> str:
    """The one coding a Content-Encoding header names ("identity" for none); FetchError
    for one that is not gzip or deflate, or for several."""
    codings = [
        c.strip().lower() for c in header.split(",") if c.strip().lower() not in ("", "identity")
    ]
    if not codings:
        return "identity"
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return codings[0]
    raise FetchError(
        url, f"Content-Encoding {', '.join(codings)} is not supported (asked for gzip or deflate)"
    )


def inflate_file(url: str, body: bytes, cap: int) -> bytes:
    """A gzip file (``sitemap.xml.gz``) as what it holds, at most ``cap`` bytes."""
    inflater = Inflater(url, "gzip", cap)
    data = inflater.feed(body) + inflater.flush()
    if inflater.over:
        raise too_large(url, cap)
    return data


def gunzip(body: bytes, url: str) -> bytes:
    """Undo gzip that is part of the file (``sitemap.xml.gz``), not of the transfer;
    UnreadablePageError past ``MAX_GUNZIPPED`` or for broken data."""
    if body[:2] != GZIP_MAGIC:
        return body
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflate.decompress(body, MAX_GUNZIPPED)
    except zlib.error as exc:
        raise UnreadablePageError(url, f"broken gzip data ({exc})") from exc
    if inflate.unconsumed_tail:
        raise UnreadablePageError(url, f"gzip body expands past {MAX_GUNZIPPED // 2**20} MB")
    if not inflate.eof:
        raise UnreadablePageError(url, "broken gzip data (the file is cut short)")
    return data


class Inflater:
    """Removes gzip or deflate, never producing more than ``limit`` bytes in all: past it,
    ``over`` is set and the rest is dropped, so a gzip bomb costs ``limit`` bytes of memory."""

    def __init__(self, url: str, encoding: str, limit: int) -> None:
        self.url = url
        self.encoding = encoding
        self.limit = limit
        self.size = 0
        self.over = False
        self._z: zlib._Decompress | None = None

    def feed(self, data: bytes) -> bytes:
        if self.encoding == "identity":
            return self._count(data)
        if not data or self.over:
            return b""
        try:
            out = self._inflate(data)
        except zlib.error as exc:
            raise FetchError(self.url, f"the compressed body is damaged ({exc})") from None
        return self._count(out)

    def flush(self) -> bytes:
        if self._z is None or self.over:
            return b""
        return self._count(self._z.flush())

    def _inflate(self, data: bytes) -> bytes:
        if self._z is None:
            self._z = zlib.decompressobj(self._wbits(data))
        room = self.limit - self.size + 1  # one byte more than fits tells "too large"
        out = self._z.decompress(data, room)
        # Concatenated gzip members (a .gz file may have several) continue one stream.
        while self._z.eof and self._z.unused_data and len(out) < room:
            rest = self._z.unused_data
            self._z = zlib.decompressobj(self._wbits(rest))
            out += self._z.decompress(rest, room - len(out))
        return out

    def _wbits(self, start: bytes) -> int:
        if self.encoding != "deflate":
            return 47  # gzip or zlib header, detected
        # "deflate" is meant to be zlib-wrapped, but some servers send it raw.
        zlib_header = (
            len(start) >= 2 and start[0] & 0x0F == 8 and (start[0] * 256 + start[1]) % 31 == 0
        )
        return 15 if zlib_header else -15

    def _count(self, out: bytes) -> bytes:
        self.size += len(out)
        if self.size > self.limit:
            self.over = True
            return out[: len(out) - (self.size - self.limit)]
        return out
