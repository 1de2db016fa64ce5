"""The values of an index run: what it is asked to do, and what it did."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..types import SHARED


@dataclass(frozen=True)
class Request:
    """What one index run is asked to change, beside re-syncing what it has."""

    paths: Sequence[Path] = ()  # folders or files to add
    urls: Sequence[str] = ()  # web sources to add: feeds, sitemaps, sites, pages
    remove: Sequence[Path] = ()
    remove_urls: Sequence[str] = ()
    rebuild: bool = False
    prune: bool = False  # drop web articles their source no longer lists
    scope: str = SHARED  # whose web sources ``urls`` and ``remove_urls`` add and remove


@dataclass(frozen=True)
class FileFailure:
    path: str
    reason: str


@dataclass(frozen=True)
class UrlSkip:
    """A page left out as its site asked (robots.txt): reported, not a failure."""

    url: str
    reason: str


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[FileFailure] = field(default_factory=list)
    skipped: int = 0  # unsupported file types
    passages: int = 0  # in the index after the run
    embedded: int = 0  # distinct passage texts embedded by this run
    embedded_sentences: int = 0  # distinct sentence texts embedded by this run
    seconds: float = 0.0
    generation: int | None = None
    roots: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # web sources (URLs)
    requests: int = 0  # HTTP requests made for web sources
    web: dict[str, dict[str, object]] = field(default_factory=dict)  # per web source
    warnings: list[str] = field(default_factory=list)
    skipped_urls: list[UrlSkip] = field(default_factory=list)  # robots.txt said no

    def summary(self) -> str:
        web = f" / {self.requests} HTTP requests" if self.sources else ""
        return (
            f"added {self.added} / updated {self.updated} / unchanged {self.unchanged} / "
            f"removed {self.removed} / failed {len(self.failed)} / passages {self.passages} "
            f"(embedded {self.embedded}, sentences {self.embedded_sentences}){web} / "
            f"{self.seconds:.1f} s"
        )
