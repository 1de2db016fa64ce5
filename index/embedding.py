"""Embedders: the ``Embedder`` protocol and the sentence-transformers implementation.

Unit tests use a fast deterministic embedder that follows the same protocol; the
real model is loaded lazily so that commands which embed nothing never pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .settings import Settings

if TYPE_CHECKING:
    import numpy as np


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
    never import torch once their export is cached (see ``onnx_backend``).
    """
    if settings.effective_backend == "torch":
        from .torch_backend import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder.from_settings(settings)
    from .onnx_backend import OnnxEmbedder

    return OnnxEmbedder.from_settings(settings)


def embedder_backend(embedder: Embedder) -> str | None:
    """The backend an embedder reports (``torch``, ``onnx``, ``onnx-int8``); None for
    embedders that don't say (test doubles, custom ones)."""
    backend = getattr(embedder, "backend", None)
    return backend if isinstance(backend, str) else None
