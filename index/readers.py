"""Turn files into ``Article`` values: txt, md (front matter), html, json, jsonl.

Every reader returns a ``ReadResult``; a file that cannot be read at all raises
``UnreadableFileError`` with the reason, so the indexer can report and skip it.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from .errors import UnreadableFileError
from .types import Article

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl"})

_CAPTION = re.compile(
    r"\b(photo(graph)?|image|picture|illustration|credit)s?\s*(:|by\b)"
    r"|\bvia\s+(getty|reuters|ap|afp|shutterstock)\b"
    r"|\b(getty images|afp|reuters)\s*$",
    re.IGNORECASE,
)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.DOTALL)
_MD_HEADING = re.compile(r"^#{1,2}\s+(.+?)\s*#*\s*$")
_TEXT_KEYS = ("text", "body", "content")


@dataclass
class ReadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # records skipped inside a file


def iter_article_files(
    root: Path, unreadable: list[tuple[Path, str]] | None = None
) -> Iterator[tuple[Path, bool]]:
    """Yield ``(path, supported)`` for every non-hidden file under ``root``. Folders that
    cannot be listed are added to ``unreadable`` with the reason: their files are not
    gone, only out of reach this time."""
    if root.is_file():
        yield root, root.suffix.lower() in SUPPORTED_SUFFIXES
        return

    def failed(exc: OSError) -> None:
        if unreadable is not None:
            unreadable.append((Path(exc.filename or root), exc.strerror or str(exc)))

    for folder, dirs, files in os.walk(root, onerror=failed):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder, name)
            if name.startswith(".") or not path.is_file():
                continue
            yield path, path.suffix.lower() in SUPPORTED_SUFFIXES


def too_large(size: int, max_bytes: int) -> str:
    return (
        f"file is {size / 2**20:.1f} MB, above the {max_bytes / 2**20:.0f} MB limit "
        "(raise ARTICLEBOT_MAX_FILE_MB or split the file)"
    )


def read_file(path: Path, max_bytes: int) -> ReadResult:
    """Read one file into articles; raise ``UnreadableFileError`` if nothing is usable."""
    path = path.resolve()
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UnreadableFileError(path, too_large(size, max_bytes))
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(path, f"cannot read file ({exc.strerror or exc})") from exc
    text = decode_bytes(data, path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        result = ReadResult([_read_html(text, path)])
    elif suffix == ".json":
        result = _read_json(text, path)
    elif suffix == ".jsonl":
        result = _read_jsonl(text, path)
    else:
        result = ReadResult([article_from_text(text, path)])
    if not result.articles:
        reason = "; ".join(result.problems) or "no article text found"
        raise UnreadableFileError(path, reason)
    return result


def decode_bytes(data: bytes, path: Path) -> str:
    """UTF-8 first; otherwise the encoding charset-normalizer detects."""
    if b"\x00" in data[:8192]:
        raise UnreadableFileError(path, "looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise UnreadableFileError(path, "cannot detect the text encoding; save it as UTF-8")
    # Short texts fit many code pages about equally well (charset-normalizer picks cp932
    # for a BBC article with one "£"). Windows-1252, the superset of Latin-1 that HTML5
    # uses for "latin1", is by far the likeliest legacy encoding: take it unless it is
    # clearly worse than the best guess.
    best = min(m.chaos for m in matches)
    western = [m for m in matches if m.encoding in ("cp1252", "latin_1") and m.chaos <= best + 0.1]
    return str(western[0] if western else matches[0])


def normalize_text(text: str) -> str:
    """NFC, Unix newlines, no trailing spaces on lines, no blank lines at either end."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n")


def is_caption(line: str) -> bool:
    return bool(_CAPTION.search(line)) and len(line) < 300


def looks_like_headline(line: str) -> bool:
    words = line.split()
    return (
        0 < len(words) <= 20
        and len(line) <= 150
        and not line.rstrip().endswith((".", ",", ";", ":"))
        and not line.lstrip().startswith(("-", "*", "•"))
    )


def split_header(body: str, title: str | None) -> tuple[str | None, str | None, str]:
    """Peel caption lines and (when no title is known) a headline off the top of ``body``.

    Returns ``(title, caption, remaining_text)``.
    """
    lines = body.split("\n")
    captions: list[str] = []
    i = 0
    for _ in range(3):  # a caption, a headline, maybe a caption again: in any order
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            break
        line = lines[i].strip()
        if is_caption(line):
            captions.append(line)
        elif title is None and (m := _MD_HEADING.match(line)):
            title = m.group(1)
        elif title is None and looks_like_headline(line) and i + 1 < len(lines):
            title = line
        else:
            break
        i += 1
    rest = normalize_text("\n".join(lines[i:]))
    return title, "\n".join(captions) or None, rest


def article_from_text(raw: str, path: Path) -> Article:
    """A plain-text or Markdown article: YAML front matter, then a headline-like first
    line as the title and caption lines apart; failing a title, ``path``'s name is one."""
    text = normalize_text(raw)
    meta: dict[str, Any] = {}
    if m := _FRONT_MATTER.match(text + "\n"):
        meta = _parse_front_matter(m.group(1), path)
        text = normalize_text(text[m.end() :])
    title, caption, body = split_header(text, clean_field(meta.get("title")))
    if not body:
        raise UnreadableFileError(path, "no article text (the file is empty)")
    return Article(
        key=str(path),
        path=str(path),
        title=title or _title_from_name(path),
        text=body,
        url=clean_field(meta.get("url")),
        date=iso_date(meta.get("date")),
        author=clean_field(meta.get("author")),
        source=clean_field(meta.get("source")),
        caption=clean_field(meta.get("caption")) or caption,
    )


MAX_FRONT_MATTER = 64 * 1024  # characters; metadata, not content


def _parse_front_matter(block: str, path: Path) -> dict[str, Any]:
    import yaml

    if len(block) > MAX_FRONT_MATTER:
        raise UnreadableFileError(
            path, f"front matter is over {MAX_FRONT_MATTER // 1024} KB; keep it to metadata"
        )
    try:
        meta = yaml.load(block, Loader=_front_matter_loader())
    except yaml.YAMLError as exc:
        raise UnreadableFileError(path, f"malformed YAML front matter ({exc})") from exc
    if not isinstance(meta, dict):
        raise UnreadableFileError(path, "front matter must be a YAML mapping (key: value)")
    return meta


@cache
def _front_matter_loader() -> type:
    """PyYAML's safe loader without aliases (a 400-byte "billion laughs" expands to
    gigabytes) and with dates left as text (``2024-02-30`` must not fail the file:
    ``iso_date`` judges it)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not allowed in front matter"
                )
            return super().compose_node(parent, index)

    resolvers = {
        first: [(tag, rx) for tag, rx in found if tag != "tag:yaml.org,2002:timestamp"]
        for first, found in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    setattr(Loader, "yaml_implicit_resolvers", resolvers)  # the class's own copy  # noqa: B010
    return Loader


def _read_html(raw: str, path: Path) -> Article:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(raw, with_metadata=True, include_comments=False)
    except Exception as exc:  # trafilatura raises assorted lxml errors on broken input
        raise UnreadableFileError(path, f"cannot parse HTML ({exc})") from exc
    data: dict[str, Any] = {}
    if doc is not None:
        data = doc if isinstance(doc, dict) else doc.as_dict()
    text = normalize_text(data.get("text") or "")
    if not text:
        raise UnreadableFileError(path, "no main text found in the HTML page")
    return Article(
        key=str(path),
        path=str(path),
        title=clean_field(data.get("title")) or _title_from_name(path),
        text=text,
        url=clean_field(data.get("url")),
        date=iso_date(data.get("date")),
        author=clean_field(data.get("author")),
        source=clean_field(data.get("sitename")),
    )


def _read_json(raw: str, path: Path) -> ReadResult:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UnreadableFileError(path, f"malformed JSON at line {exc.lineno}: {exc.msg}") from exc
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    records = data if isinstance(data, list) else [data]
    return _records_to_articles(enumerate(records, 1), path)


def _read_jsonl(raw: str, path: Path) -> ReadResult:
    records: list[tuple[int, Any]] = []
    problems: list[str] = []
    for n, line in enumerate(raw.split("\n"), 1):
        if not line.strip():
            continue
        try:
            records.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: malformed JSON ({exc.msg})")
    result = _records_to_articles(records, path)
    result.problems[:0] = problems
    return result


def _records_to_articles(records: Any, path: Path) -> ReadResult:
    result = ReadResult()
    first_of: dict[str, int] = {}  # record key -> the record that used it first
    for n, record in records:
        if not isinstance(record, dict):
            result.problems.append(f"record {n}: not an object")
            continue
        text = next((record[k] for k in _TEXT_KEYS if isinstance(record.get(k), str)), "")
        text = normalize_text(text)
        if not text:
            result.problems.append(f"record {n}: no text/body/content")
            continue
        key = f"{path}#{record.get('id', n)}"
        if key in first_of:
            result.problems.append(
                f"record {n}: id {record.get('id')!r} is also record {first_of[key]}'s "
                "(ids must be unique; the first is kept)"
            )
            continue
        first_of[key] = n
        url = clean_field(record.get("url"))
        result.articles.append(
            Article(
                key=key,
                path=str(path),
                title=clean_field(record.get("title")) or f"{_title_from_name(path)} #{n}",
                text=text,
                url=url,
                date=iso_date(record.get("date")),
                author=clean_field(record.get("author")),
                source=clean_field(record.get("source")),
            )
        )
    return result


def iso_date(value: object) -> str | None:
    """Dates as ISO ``YYYY-MM-DD`` when they parse; otherwise None: a date filter must be
    able to trust every stored date ("yesterday" or "2024-13-45" would compare as text)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    # OverflowError: a year of twenty digits, as a hostile feed or page may give.
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except (ValueError, OverflowError):
        pass
    for fmt in ("%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except (ValueError, OverflowError):
            continue
    return None


def clean_field(value: object) -> str | None:
    """A metadata value as NFC text, stripped; None when there is nothing left."""
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def _title_from_name(path: Path) -> str:
    return re.sub(r"[_-]+", " ", path.stem).strip() or path.name
