"""The one writer of an index folder: an flock on ``lock``, released by the kernel when the
writer's process dies."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from ...errors import ConfigError, IndexBusyError


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir / "lock", "a+")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise ConfigError(
            f"Cannot write to the index folder {index_dir} ({exc.strerror or exc}); make it "
            "writable, or point ARTICLEBOT_INDEX_DIR at a folder that is."
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(
                f"Another `articlebot index` is writing {index_dir}; wait for it to finish."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
