"""Progress reporting for long runs: a rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    """What a long run reports to: stages, each with a count (None: unknown)."""

    def start(self, stage: str, total: int | None) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class NoProgress:
    def start(self, stage: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


class PlainProgress:
    """One line per stage and then at most one every ``interval`` seconds (logs, CI)."""

    def __init__(self, stream: TextIO = sys.stderr, interval: float = 5.0) -> None:
        self.stream = stream
        self.interval = interval
        self.stage = ""
        self.total: int | None = None
        self.done = 0
        self.last = 0.0

    def start(self, stage: str, total: int | None) -> None:
        self._finish()
        self.stage, self.total, self.done, self.last = stage, total, 0, time.monotonic()
        if total is not None:
            print(f"{stage}: 0/{total}", file=self.stream, flush=True)

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.total is not None and now - self.last >= self.interval:
            self.last = now
            print(f"{self.stage}: {self.done}/{self.total}", file=self.stream, flush=True)

    def _finish(self) -> None:
        if self.stage and self.total is not None and self.done:
            print(f"{self.stage}: {self.done}/{self.total} done", file=self.stream, flush=True)

    def close(self) -> None:
        self._finish()
        self.stage = ""


class RichProgress:
    """A live bar per stage on the terminal."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._bar.start()
        self._task: Any = None

    def start(self, stage: str, total: int | None) -> None:
        if self._task is not None:
            self._bar.update(self._task, completed=self._bar.tasks[-1].completed)
        self._task = self._bar.add_task(stage, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, n)

    def close(self) -> None:
        self._bar.stop()


def make_progress(enabled: bool = True) -> PlainProgress | RichProgress:
    if enabled and sys.stderr.isatty():
        return RichProgress()
    return PlainProgress()
