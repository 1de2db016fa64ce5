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


class UnreadableSourceError(ArticlebotError):
    """One input (a file or a web page) cannot be turned into articles; it is reported
    and skipped. ``reason`` says why."""

    def __init__(self, where: object, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.reason = reason


class UnreadableFileError(UnreadableSourceError):
    """One input file cannot be turned into articles."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path


class UnreadablePageError(UnreadableSourceError):
    """A fetched web page, feed or sitemap cannot be turned into articles or listings."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.url = url


class FetchError(ArticlebotError):
    """A URL could not be fetched (or was refused); ``reason`` says why."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status  # the HTTP status when the server answered with an error


class HostRefusedError(FetchError):
    """The host is not one to talk to (private address, unresolvable): robots.txt cannot
    be asked either, so this passes through robots.txt handling unchanged."""


class RobotsDisallowedError(FetchError):
    """robots.txt disallows the URL: a page that is skipped, as its site asked, not a
    failure (a feed with one such link must not fail every sync)."""


class QuoteSpanError(ArticlebotError):
    """A quote is not an exact, trimmed span of its stored article (a bug or a damaged
    index): the answer is refused rather than misquoting."""


class EmptyQuestionError(ArticlebotError):
    """The question has no words once Discord markup is left out (or had none at all):
    nothing to search for, so it gets a hint rather than an abstention."""
