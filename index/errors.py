"""A small error hierarchy: every message says what to do next."""

from __future__ import annotations


class ArticlebotError(Exception):
    """Base class for errors the CLI reports as one clear line (exit code 2)."""

    exit_code = 2


class ConfigError(ArticlebotError):
    """A setting is missing or invalid."""


class IndexMissingError(ArticlebotError):
    """No index exists where one was expected."""


class IndexMismatchError(ArticlebotError):
    """The index on disk was built with another model, dimension or schema."""


class IndexDamagedError(ArticlebotError):
    """A file of the published index is truncated, garbage or missing."""


class IndexBusyError(ArticlebotError):
    """Another process is writing the same index."""


class UnreadableFileError(ArticlebotError):
    """One input file cannot be turned into articles; it is reported and skipped."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class QuoteSpanError(ArticlebotError):
    """A quote is not an exact, trimmed span of its stored article (a bug or a damaged
    index): the answer is refused rather than misquoting."""
