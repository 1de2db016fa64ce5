"""articlebot's core: read articles, split them into passages, embed, store, retrieve, answer.

Nothing here imports ``bot``; heavy libraries (torch, faiss, sentence-transformers)
are imported inside the functions that need them so the CLI starts instantly.

The names below are the public surface the bot imports (``from index import ...``).
Those whose modules import third-party libraries (pydantic, numpy) are loaded on first
use, so that ``import index`` stays as light as before: every CLI command pays it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    ArticlebotError,
    ConfigError,
    FetchError,
    IndexBusyError,
    IndexDamagedError,
    IndexMissingError,
)
from .sentences import sentence_spans
from .stores import open_store
from .stores.base import check_compatible
from .stores.feedback import FeedbackLog, SqliteFeedback, open_feedback
from .types import SHARED, Filters, reading_scopes
from .web.guard import check_public, check_url

if TYPE_CHECKING:
    from .answering import Answer, Quote, Source, answer
    from .indexing import FileFailure, IndexReport, run_index
    from .retrieval import Retriever, open_retriever
    from .settings import Settings

__version__ = "0.1.0"

# name -> the module it is loaded from on first use
_LAZY = {
    "Answer": ".answering",
    "Quote": ".answering",
    "Source": ".answering",
    "answer": ".answering",
    "Settings": ".settings",
    "Retriever": ".retrieval",
    "open_retriever": ".retrieval",
    "FileFailure": ".indexing",
    "IndexReport": ".indexing",
    "run_index": ".indexing",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # once: later lookups skip this hook
    return value


__all__ = [
    "SHARED",
    "Answer",
    "ArticlebotError",
    "ConfigError",
    "FeedbackLog",
    "FetchError",
    "FileFailure",
    "Filters",
    "IndexBusyError",
    "IndexDamagedError",
    "IndexMissingError",
    "IndexReport",
    "Quote",
    "Retriever",
    "Settings",
    "Source",
    "SqliteFeedback",
    "answer",
    "check_compatible",
    "check_public",
    "check_url",
    "open_feedback",
    "open_retriever",
    "open_store",
    "reading_scopes",
    "run_index",
    "sentence_spans",
]
