"""Embedders: the ``Embedder`` protocol and the factories that pick a backend.

The backends (``torch_backend``, ``onnx_runtime``) are imported inside the factories only,
so that importing this package loads neither torch nor onnxruntime. Unit tests use a fast
deterministic embedder that follows the same protocol; the real model is loaded lazily so
that commands which embed nothing never pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..settings import Settings
from .tuning import RERANK_QUESTION_PATH, RERANK_SENTENCE_PATH, TUNING_PATH, load_tuning

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Embedder",
    "embedder_backend",
    "make_embedder",
    "make_question_embedder",
    "make_rerank_embedders",
]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    @property
    def name(self) -> str:
        """Stable model identity recorded in the index manifest."""
        ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Largest passage (in model tokens, without special tokens) the model reads whole."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def make_embedder(settings: Settings) -> Embedder:
    """The embedder ``settings.backend`` names (nothing is loaded until first use).

    ``device=cuda`` always embeds with torch: the onnxruntime package installed is the
    CPU build. ``device=auto`` with an ONNX backend embeds on the CPU. The ONNX backends
    never import torch once their export is cached (see ``onnx_runtime``).
    """
    if settings.effective_backend == "torch":
        from .torch_backend import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder.from_settings(settings)
    from .onnx_runtime import OnnxEmbedder

    return OnnxEmbedder.from_settings(settings)


def make_question_embedder(settings: Settings, path: Path = TUNING_PATH) -> Embedder | None:
    """The tuned question encoder (``tuning``) for ``settings``' backend, or None where
    there is none (another model than the one the tuning was fitted to, or no tuning file)."""
    return make_tuned_embedder(settings, path)


def make_rerank_embedders(settings: Settings) -> tuple[Embedder, Embedder] | None:
    """The re-ranking pair (``tuning``): its question tower and its sentence tower, or
    None where there is none (as for ``make_question_embedder``)."""
    question = make_tuned_embedder(settings, RERANK_QUESTION_PATH)
    sentence = make_tuned_embedder(settings, RERANK_SENTENCE_PATH)
    return None if question is None or sentence is None else (question, sentence)


def make_tuned_embedder(settings: Settings, path: Path) -> Embedder | None:
    """The default model with the tuning file ``path`` applied, for ``settings``' backend;
    None with another model or without the file."""
    if not settings.model_is_default or not path.is_file():
        return None
    tuning = load_tuning(path)
    if settings.effective_backend == "torch":
        from .torch_backend import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(
            settings.model, settings.device, settings.batch_size, tuning=tuning
        )
    from .onnx_runtime import OnnxEmbedder

    return OnnxEmbedder(
        settings.model,
        cache_root=settings.model_cache_dir,
        quantized=settings.backend == "onnx-int8",
        batch_size=settings.batch_size,
        tuning=tuning,
    )


def embedder_backend(embedder: Embedder) -> str | None:
    """The backend an embedder reports (``torch``, ``onnx``, ``onnx-int8``); None for
    embedders that don't say (test doubles, custom ones)."""
    backend = getattr(embedder, "backend", None)
    return backend if isinstance(backend, str) else None
