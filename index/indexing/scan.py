"""The files side of a run: walk the roots, read only the files that changed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UnreadableFileError
from ..progress import Progress
from ..readers import iter_article_files, read_file, too_large
from ..settings import Settings
from ..types import Article, FileRecord
from .plan import under_any
from .report import FileFailure, IndexReport


@dataclass
class Scan:
    changed: list[tuple[FileRecord, list[Article]]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)  # roots missing, folders unlistable


def scan_roots(
    roots: Sequence[str],
    known: dict[str, FileRecord],
    settings: Settings,
    progress: Progress,
    report: IndexReport,
) -> Scan:
    """Read the files that changed since the last run; stat() is enough for the rest."""
    scan = Scan()
    live = [r for r in roots if Path(r).exists()]
    for r in sorted(set(roots) - set(live)):
        scan.unreachable.add(r)
        report.failed.append(
            FileFailure(r, f"folder is missing; its articles are kept (--remove {r} drops them)")
        )
    scanner = _Scanner(known, settings, progress, report, scan)
    progress.start("scanning", None)
    for root in live:
        scanner.scan_root(root)
    return scan


def gone_files(indexed: set[str], scan: Scan) -> list[str]:
    """The indexed files not seen. A file not seen is gone only if its folder was read:
    a missing root or a folder that could not be listed (permissions, a failing disk)
    loses nothing."""
    return sorted(f for f in indexed - scan.seen if not under_any(f, scan.unreachable))


class _Scanner:
    """One scan's walk: which files to look at, and reading those that changed."""

    def __init__(
        self,
        known: dict[str, FileRecord],
        settings: Settings,
        progress: Progress,
        report: IndexReport,
        scan: Scan,
    ) -> None:
        self.known = known
        self.max_bytes = int(settings.max_file_mb * 2**20)
        self.follow_links = settings.follow_external_links
        self.progress = progress
        self.report = report
        self.scan = scan

    def scan_root(self, root: str) -> None:
        unreadable: list[tuple[Path, str]] = []
        inside = str(Path(root).resolve())
        for path, supported in iter_article_files(Path(root), unreadable):
            key = self._admit(path, supported, root, inside)
            if key is None:
                continue
            self.scan.seen.add(key)
            self.progress.advance()
            self._read_changed(path, key)
        for folder, why in unreadable:
            self.scan.unreachable.add(str(folder.resolve()))
            reason = f"cannot read folder ({why}); its articles are kept"
            self.report.failed.append(FileFailure(str(folder), reason))

    def _admit(self, path: Path, supported: bool, root: str, inside: str) -> str | None:
        """The file's key, or None when it is not to be indexed (reported as such)."""
        report = self.report
        if not supported:
            report.skipped += 1
            return None
        key = str(path.resolve())
        if key in self.scan.seen:  # the same file again, through a link: once is enough
            return None
        if not self.follow_links and not under_any(key, [inside]):
            report.skipped += 1
            report.warnings.append(
                f"{path} links outside {root} to {key}: not indexed "
                "(ARTICLEBOT_FOLLOW_EXTERNAL_LINKS=true indexes such files)"
            )
            return None
        if not _valid_name(key):
            report.failed.append(
                FileFailure(
                    os.fsencode(key).decode("utf-8", "replace"),
                    "the file name is not valid UTF-8; rename the file",
                )
            )
            return None
        return key

    def _read_changed(self, path: Path, key: str) -> None:
        report = self.report
        try:
            record = _changed_record(path, self.known.get(key), self.max_bytes)
            if record is None:
                return
            result = read_file(path, self.max_bytes)
            self.scan.changed.append((record, result.articles))
            # Records a file could not give (a malformed line, a duplicate id) fail
            # alone: reported, while the file's other records are indexed.
            report.failed.extend(FileFailure(key, problem) for problem in result.problems)
        except UnreadableFileError as exc:
            report.failed.append(FileFailure(str(exc.path), exc.reason))
        except Exception as exc:
            # A reader bug or a hostile file (nesting 100,000 deep, an impossible
            # front-matter date): that file fails, the run goes on.
            reason = f"cannot read file ({type(exc).__name__}: {str(exc)[:200]})"
            report.failed.append(FileFailure(str(path), reason))


def _valid_name(path: str) -> bool:
    """A path that can be stored and shown: bytes that are not UTF-8 in a file name
    arrive as lone surrogates, which SQLite and JSON refuse."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _changed_record(path: Path, old: FileRecord | None, max_bytes: int) -> FileRecord | None:
    """None when the file is the one already indexed; else its new record. A file over
    the size limit fails before it is read, so a huge file costs no time or memory."""
    try:
        st = path.stat()
        if old and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
            return None
        if st.st_size > max_bytes:
            raise UnreadableFileError(path, too_large(st.st_size, max_bytes))
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise UnreadableFileError(path, f"cannot read file ({exc.strerror or exc})") from exc
    record = FileRecord(str(path.resolve()), st.st_size, st.st_mtime_ns, digest)
    if old and old.sha256 == digest:
        # Touched but identical: remember the new mtime so the next run skips it by stat().
        return FileRecord(record.path, record.size, record.mtime_ns, "=" + digest)
    return record
