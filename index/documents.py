"""Value types for what the index holds: articles and their passages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Article:
    """One article as stored: ``text`` is what quotes are cut from."""

    key: str  # unique source key: a file path, or "path#record" for JSON records
    title: str
    text: str
    path: str | None = None  # absolute path of the file it came from
    url: str | None = None
    date: str | None = None  # ISO 8601 (YYYY-MM-DD) when known
    author: str | None = None
    source: str | None = None  # publisher, e.g. "Axios"
    caption: str | None = None  # photo caption/credit lines, kept out of ``text``
    id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", article_id(self.key))

    @property
    def content_hash(self) -> str:
        """Changes whenever anything a reader or a citation sees changes."""
        parts = [self.title, self.text, self.url, self.date, self.author, self.source, self.caption]
        digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode("utf-8"))
        return digest.hexdigest()


@dataclass(frozen=True)
class Passage:
    """A span of an article's text: ``article.text[start:end] == text``."""

    article_id: str
    start: int
    end: int
    text: str
    ordinal: int = 0  # position within the article


def article_id(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
