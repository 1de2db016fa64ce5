"""A generation's folder: its files, the ``CURRENT`` pointer that names the live one, the
checksums it is published with, and the folders that are retired or were abandoned."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ...errors import IndexDamagedError, IndexMissingError
from ...fs import atomic_write, fsync_path

DB_NAME = "index.sqlite"
FAISS_NAME = "vectors.faiss"
CHECKSUMS_NAME = "CHECKSUMS"  # sizes and sha256 of the generation's files, as published
KEEP_GENERATIONS = 2  # the live one and the one before, for readers still opening it
REPAIR = "Run `articlebot index --repair` to rebuild it from its sources."
_GENERATION_NAME = re.compile(r"gen-\d{6}")


def index_exists(index_dir: Path) -> bool:
    return (index_dir / "CURRENT").is_file()


def current_generation_dir(index_dir: Path) -> Path:
    pointer = index_dir / "CURRENT"
    try:
        name = pointer.read_bytes().decode("ascii").strip()
    except FileNotFoundError:
        raise IndexMissingError(
            f"No index in {index_dir}. Run `articlebot index` to build one "
            "(or point ARTICLEBOT_INDEX_DIR / --index-dir at an existing one)."
        ) from None
    except (UnicodeDecodeError, OSError):
        name = ""
    if not _GENERATION_NAME.fullmatch(name):
        raise IndexDamagedError(f"The index pointer {pointer} is damaged. {REPAIR}")
    return index_dir / name


def next_generation_number(index_dir: Path) -> int:
    numbers = [_generation_number(p) for p in index_dir.glob("gen-*")]
    return max(numbers, default=0) + 1


def _generation_number(gen_dir: Path) -> int:
    return int(gen_dir.name.split("-")[1].split(".")[0])


def make_live(index_dir: Path, work_dir: Path, final_dir: Path) -> None:
    """Checksum and fsync the written ``work_dir``, rename it into place, then swap
    ``CURRENT``: a run killed at any moment leaves the live generation untouched."""
    write_checksums(work_dir)
    for name in (DB_NAME, FAISS_NAME, CHECKSUMS_NAME):
        fsync_path(work_dir / name)
    os.rename(work_dir, final_dir)
    fsync_path(index_dir)
    atomic_write(index_dir / "CURRENT", final_dir.name + "\n")
    _remove_old_generations(index_dir, keep=final_dir.name)


def remove_abandoned(index_dir: Path) -> None:
    """Folders of runs that were killed before publishing; safe under the writer lock."""
    for path in index_dir.glob("gen-*.tmp-*"):
        shutil.rmtree(path, ignore_errors=True)


def _remove_old_generations(index_dir: Path, keep: str) -> None:
    published = sorted(p for p in index_dir.glob("gen-*") if ".tmp-" not in p.name)
    for path in published[:-KEEP_GENERATIONS]:
        if path.name != keep:
            shutil.rmtree(path, ignore_errors=True)


# --- checksums ------------------------------------------------------------------------------
def write_checksums(gen_dir: Path) -> None:
    sums = {name: _file_sum(gen_dir / name) for name in (DB_NAME, FAISS_NAME)}
    (gen_dir / CHECKSUMS_NAME).write_text(json.dumps(sums, indent=1))


def _file_sum(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return {"size": path.stat().st_size, "sha256": digest}


def check_sizes(gen_dir: Path, *, checksums: bool = False) -> None:
    """Cheap on every open: each file has the size it was published with (a truncated or
    replaced file is caught before SQLite or FAISS trip over it). ``checksums`` also
    compares the sha256 of every file."""
    path = gen_dir / CHECKSUMS_NAME
    if not path.exists():
        return  # a generation published before checksums were kept
    try:
        expected = json.loads(path.read_text())
    except (OSError, ValueError):
        raise IndexDamagedError(f"{path} is damaged. {REPAIR}") from None
    for name, want in expected.items():
        try:
            size = (gen_dir / name).stat().st_size
        except OSError:
            raise IndexDamagedError(f"{gen_dir / name} is missing. {REPAIR}") from None
        bad = size != want.get("size") or (
            checksums and _file_sum(gen_dir / name)["sha256"] != want.get("sha256")
        )
        if bad:
            raise IndexDamagedError(f"{gen_dir / name} is damaged (not as published). {REPAIR}")
