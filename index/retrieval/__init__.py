"""Retrieval: the published generation pinned per question (``Generation``), and hybrid
dense + lexical search over it (``Retriever``)."""

from __future__ import annotations

from ..errors import ConfigError
from ..settings import Settings
from .fusion import HEAD, dedupe, diversify, fuse_scores
from .generation import Generation
from .retriever import MODES, Mode, Retriever

__all__ = [
    "HEAD",
    "MODES",
    "Generation",
    "Mode",
    "Retriever",
    "dedupe",
    "diversify",
    "fuse_scores",
    "open_retriever",
]


def open_retriever(settings: Settings) -> Retriever:
    """The retriever the settings describe (refusing an index folder that is a file)."""
    if (
        not settings.database_url
        and settings.index_dir.exists()
        and not settings.index_dir.is_dir()
    ):
        raise ConfigError(f"{settings.index_dir} is not a folder; set ARTICLEBOT_INDEX_DIR.")
    return Retriever(settings)
