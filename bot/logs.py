"""The bot's logging: text lines as discord.py writes them (the default), or one JSON
object per line for a log collector (ARTICLEBOT_LOG_FORMAT=json).

A JSON line holds ``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``event`` (the
message), the fields a call passed with ``extra=`` (a question's ``server_id``,
``channel_id``, ``latency``, ``outcome``...), and ``exception`` with the traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Any

# What every LogRecord carries; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record. ``secrets`` (the Discord token) are blanked wherever
    they would appear."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self._redact(json.dumps(entry, ensure_ascii=False, default=str))

    def _redact(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, "[secret]")
        return line


def setup_logging(
    log_format: str, *, secrets: Sequence[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """Route every record (discord.py's too) to ``stream`` (stderr), at INFO."""
    if log_format != "json":
        import discord

        discord.utils.setup_logging(level=logging.INFO)
        return logging.getLogger().handlers[-1]
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


__all__ = ["JsonFormatter", "setup_logging"]
