"""The values that pass between articlebot's parts: articles and passages, what a store
returns, search hits, filters, and what an index remembers of its web sources.

Frozen dataclasses and nothing else: this module imports nothing of the project (and
numpy only for type checking), so every layer can share them without import knots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    #: A passage's quotable sentence spans (article offsets) and their vectors.
    Sentences = tuple[list[tuple[int, int]], np.ndarray]

#: ``(article_id, start, end)``: a span of one article's text (a quote already shown).
Span = tuple[str, int, int]

#: The scope of what the operator indexes (the CLI, the bot's owner): answered everywhere.
#: A Discord server's own sources have the server's id (decimal) as their scope.
SHARED = "shared"


def reading_scopes(server: str | int | None) -> frozenset[str]:
    """What a question in ``server`` may be answered from (None: a DM or the CLI): the
    shared articles, and that server's own."""
    return frozenset({SHARED} if server is None else {SHARED, str(server)})


# --- articles ---------------------------------------------------------------------------
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


# --- what a store holds and returns -----------------------------------------------------
@dataclass(frozen=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class PassageRow:
    """A passage with its article's citation fields, as retrieval returns it."""

    id: int
    article_id: str
    start: int
    end: int
    text: str
    title: str
    path: str | None
    url: str | None
    date: str | None
    author: str | None
    source: str | None


@dataclass(frozen=True)
class StoredSentence:
    """A sentence of a passage as the index stores it: span, ordinal in the article,
    and its vector."""

    passage_id: int
    start: int
    end: int
    ordinal: int
    vector: np.ndarray


@dataclass(frozen=True)
class Filters:
    """Restrict results to matching articles. ``source`` is a glob (``*sport*``) or a prefix
    of the path (absolute, or relative under a root, e.g. ``sport/``), url or source name."""

    source: str | None = None
    date_from: str | None = None  # ISO date, inclusive
    date_to: str | None = None
    scopes: frozenset[str] | None = None  # articles of any of these scopes (None: all)

    def __bool__(self) -> bool:
        return bool(self.source or self.date_from or self.date_to or self.scopes is not None)


# --- search -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """A passage found by search, with its scores and its article's citation fields."""

    passage_id: int
    article_id: str
    title: str
    start: int
    end: int
    text: str
    score: float  # fused
    dense: float | None  # cosine similarity, when the dense retriever found it
    lexical: float | None  # BM25 (higher is better), when the lexical retriever found it
    path: str | None = None
    url: str | None = None
    date: str | None = None
    author: str | None = None
    source: str | None = None

    @classmethod
    def of(cls, row: PassageRow, score: float, dense: float | None, lexical: float | None) -> Hit:
        return cls(
            passage_id=row.id,
            article_id=row.article_id,
            title=row.title,
            start=row.start,
            end=row.end,
            text=row.text,
            score=score,
            dense=dense,
            lexical=lexical,
            path=row.path,
            url=row.url,
            date=row.date,
            author=row.author,
            source=row.source,
        )


# --- web sources ------------------------------------------------------------------------
@dataclass(frozen=True)
class WebSource:
    url: str
    kind: str | None = None  # feed, sitemap, site (a home page with feeds) or page
    feeds: tuple[str, ...] = ()  # a site's feeds, as discovered when it last changed
    # Who added it: SHARED and/or servers' ids. Its pages' articles belong to each scope.
    scopes: frozenset[str] = frozenset({SHARED})


@dataclass(frozen=True)
class FetchState:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    stamp: str | None = None  # the feed's updated date or the sitemap's lastmod, as listed


@dataclass
class WebState:
    sources: dict[str, WebSource] = field(default_factory=dict)
    fetches: dict[str, FetchState] = field(default_factory=dict)
    listed: dict[str, set[str]] = field(default_factory=dict)  # source -> its pages

    def pages(self) -> set[str]:
        return {page for pages in self.listed.values() for page in pages}


@dataclass(frozen=True)
class WebChanges:
    """The web side of an index run, written with everything else."""

    sources: Sequence[WebSource]  # all web sources after the run
    listed: dict[str, set[str]]  # source -> the pages it lists
    fetches: Sequence[FetchState]  # conditional-request state to store
    forget: Sequence[str]  # URLs whose conditional state goes (pages gone, sources removed)


@dataclass(frozen=True)
class RobotsRules:
    """robots.txt of one origin as fetched: ``text`` None means "no rules" (a 4xx)."""

    fetched_at: float  # time.time()
    text: str | None
