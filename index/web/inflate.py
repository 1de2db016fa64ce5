"""Capped decompression, the only decompression there is: gzip and deflate removed while
the body streams in, never producing more than a limit, so a gzip bomb costs the limit's
worth of memory and stops there. Parsers get bodies that are never compressed."""

from __future__ import annotations

import zlib

from ..errors import FetchError

GZIP_MAGIC = b"\x1f\x8b"


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


class BodyDecoder:
    """A response body as what it holds: its Content-Encoding removed, then a gzip file
    layer (a ``sitemap.xml.gz``, or gzip sent under any type or name) recognised by its
    magic bytes and removed too. Each stage stops at ``limit`` bytes; ``over`` says one
    did, so one cap holds however many layers a body has."""

    def __init__(self, url: str, encoding: str, limit: int) -> None:
        self.url = url
        self._transfer = Inflater(url, encoding, limit)
        self._file: Inflater | None = None  # decided by the body's first two bytes
        self._head = b""
        self._limit = limit

    @property
    def over(self) -> bool:
        return self._transfer.over or (self._file is not None and self._file.over)

    def feed(self, data: bytes) -> bytes:
        return self._file_feed(self._transfer.feed(data))

    def flush(self) -> bytes:
        out = self._file_feed(self._transfer.flush())
        if self._file is None:  # under two bytes in all: too short to be gzip
            out, self._head = self._head, b""
            return out
        out += self._file.flush()
        if not (self._file.complete or self.over):
            raise FetchError(self.url, "the gzip file is cut short")
        return out

    def _file_feed(self, data: bytes) -> bytes:
        if self._file is None:
            self._head += data
            if len(self._head) < len(GZIP_MAGIC):
                return b""
            gzipped = self._head.startswith(GZIP_MAGIC)
            self._file = Inflater(self.url, "gzip" if gzipped else "identity", self._limit)
            data, self._head = self._head, b""
        return self._file.feed(data)


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

    @property
    def complete(self) -> bool:
        """Whether the compressed stream reached its end (not cut short)."""
        return self._z is None or self._z.eof

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
