"""What the format modules promise: a hostile body gives ``UnreadablePageError`` with a
one-line reason, or a value; never another exception (lxml, feedparser and trafilatura
raise assorted ones on input they were not written for)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

# lxml ships no type hints; "unused-ignore" keeps these lines valid once stubs or a
# mypy override for lxml appear.
from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from ...errors import UnreadablePageError

P = ParamSpec("P")
R = TypeVar("R")

MAX_REASON = 300  # characters: a reason is one line of a report, not a dump

# XML errors that lose nothing a listing holds: entities HTML writers use (&nbsp;, a bare
# &) and undeclared namespace prefixes; a recovering parser reads every element around them.
_HARMLESS_XML_ERRORS = frozenset({23, 26, 27, 68})


def one_line(text: object, limit: int = MAX_REASON) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def never_raises(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make an unexpected exception of a format function (body, url, ...) an
    ``UnreadablePageError`` that names ``what`` could not be read."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except UnreadablePageError:
                raise
            except Exception as exc:  # the promise this module makes
                url = str(args[1] if len(args) > 1 else kwargs.get("url"))
                reason = f"cannot read {what} ({type(exc).__name__}: {one_line(exc)})"
                raise UnreadablePageError(url, one_line(reason)) from exc

        return call

    return wrap


_END_TAIL = 1024  # bytes: where a document's closing tag is, after comments or blanks


def xml_damage(errors: Any, body: bytes, root: Any) -> str | None:
    """The first error in a recovering lxml parser's ``error_log`` that may have cost
    content (mismatched tags, a cut-short body); None when the XML was read whole. After
    one error libxml2 reports no more, so the root's closing tag is looked for too."""
    for error in errors:
        if error.level < etree.ErrorLevels.ERROR or error.domain == etree.ErrorDomains.NAMESPACE:
            continue
        if error.type not in _HARMLESS_XML_ERRORS:
            return one_line(f"line {error.line}: {error.message}")
    name = etree.QName(root).localname if root is not None else None
    if name and not _closes(body, name):
        return f"the document ends before its closing </{name}>"
    return None


def _closes(body: bytes, name: str) -> bool:
    # NULs dropped: UTF-16 spells ASCII tag names with one between letters.
    tail = body[-_END_TAIL:].replace(b"\x00", b"")
    end = rb"</(?:[\w.-]+:)?" + re.escape(name.encode()) + rb"\s*>(?:\s|<!--.*?-->|<\?.*?\?>)*\Z"
    return re.search(end, tail, re.S) is not None


def untrusted_xml_parser() -> Any:
    """A recovering lxml parser for XML from the web: no entities, no DTD loading, no
    network (XXE), no huge trees."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, recover=True, load_dtd=False
    )


def feed_xml_damage(body: bytes) -> str | None:
    """``xml_damage`` of a feed body, read the way sitemaps are (no entities, no DTD, no
    network); a body lxml cannot start on at all is damage too."""
    parser = untrusted_xml_parser()
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        return one_line(exc)
    return xml_damage(parser.error_log, body, root)
