"""Opening a published generation for reading, retrying while a writer retires it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from ...errors import IndexDamagedError, IndexMissingError
from . import dense
from .generations import DB_NAME, REPAIR, check_sizes, current_generation_dir
from .schema import connect_readonly, read_manifest


class Snapshot:
    """One published generation, opened read-only: SQLite now, FAISS on first use."""

    def __init__(self, gen_dir: Path) -> None:
        self.dir = gen_dir
        check_sizes(gen_dir)
        self.conn = connect_readonly(gen_dir / DB_NAME)
        try:
            self.manifest = read_manifest(self.conn)
        except (sqlite3.DatabaseError, ValueError) as exc:
            self.conn.close()
            raise IndexDamagedError(
                f"The index database in {gen_dir} is damaged ({exc}). {REPAIR}"
            ) from None
        self._vectors: Any = None

    @classmethod
    def open(cls, index_dir: Path) -> Snapshot:
        for attempt in range(3):  # a writer may retire the generation we just read of
            gen_dir = current_generation_dir(index_dir)
            try:
                if not (gen_dir / DB_NAME).is_file():
                    raise FileNotFoundError(gen_dir / DB_NAME)
                return cls(gen_dir)
            except (FileNotFoundError, sqlite3.OperationalError, IndexDamagedError) as exc:
                if attempt < 2:
                    time.sleep(0.05)
                    continue
                if isinstance(exc, IndexDamagedError):
                    raise
                raise IndexMissingError(
                    f"The index in {index_dir} is incomplete (missing {gen_dir.name}). {REPAIR}"
                ) from None
        raise AssertionError("unreachable")

    @property
    def generation(self) -> int:
        return int(self.manifest.get("generation", 0))

    @property
    def vectors(self) -> Any:
        if self._vectors is None:
            self._vectors = dense.load_vectors(self.dir)
        return self._vectors

    def verify(self) -> None:
        """The thorough check, on demand (``stats --check``): checksums of every file and
        SQLite's ``PRAGMA quick_check``."""
        check_sizes(self.dir, checksums=True)
        result = self.conn.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise IndexDamagedError(
                f"The index database in {self.dir} fails its check ({result}). {REPAIR}"
            )
        _ = self.vectors

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())

    def close(self) -> None:
        self.conn.close()
