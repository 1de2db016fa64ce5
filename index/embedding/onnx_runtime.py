"""The ONNX Runtime embedding backend at query time: ``OnnxEmbedder`` runs a cached export.

It is what answering uses: once the export is cached it imports only ``onnxruntime``,
``tokenizers`` and ``numpy`` (never torch, never the ``onnx`` package), so a fresh process
answers far sooner and smaller than with torch (see benchmarks/README.md). A missing
export is made on first use by ``onnx_export`` (torch and sentence-transformers, once per
model and backend).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..settings import DEFAULT_MODEL, Settings
from .onnx_files import ONNX_NAME, ModelFiles, cache_dir_for, model_folder, read_model_files
from .onnx_inference import Tokenizers, default_threads, make_session, prepare, run_batch

if TYPE_CHECKING:
    import numpy as np

    from .tuning import Tuning

#: Padded tokens (rows x longest row) per ONNX Runtime call: small batches keep the
#: activations in the cores' caches, and a budget in tokens rather than rows lets short
#: texts batch wider (see benchmarks/README.md).
MAX_BATCH_TOKENS = 1024


class OnnxEmbedder:
    """A sentence-transformers model run by ONNX Runtime (``onnx`` or ``onnx-int8``).

    The export is found in the cache (or made) on the first ``embed``. One session runs
    batches and single questions alike on ``threads`` (default: all cores): all cores
    serve both batches and single questions best (see benchmarks/README.md).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        cache_root: Path,
        quantized: bool = True,
        batch_size: int = 32,
        threads: int | None = None,
        tuning: Tuning | None = None,
    ) -> None:
        self._model_name = model or DEFAULT_MODEL
        self._tuning = tuning  # the question encoder's deltas (index.embedding.tuning)
        self._cache_root = Path(cache_root)
        self._backend = "onnx-int8" if quantized else "onnx"
        self._batch_size = batch_size
        self._threads = threads or default_threads()
        self._lock = threading.Lock()
        self._files: ModelFiles | None = None
        self._tokenizers: Tokenizers | None = None
        self._path: Path | None = None
        self._session: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OnnxEmbedder:
        return cls(
            settings.model,
            cache_root=settings.model_cache_dir,
            quantized=settings.backend == "onnx-int8",
            batch_size=settings.batch_size,
        )

    # --- identity (cheap: reads the model's small config files) --------------------------
    @property
    def name(self) -> str:
        return self._model_name

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def files(self) -> ModelFiles:
        if self._files is None:
            self._files = read_model_files(model_folder(self._model_name), self._model_name)
        return self._files

    @property
    def dimension(self) -> int:
        return self.files.dimension

    @property
    def max_tokens(self) -> int:
        """The window without the special tokens ([CLS] and [SEP] for BERT)."""
        return self.files.max_seq_length - self.tokenizers.special_tokens

    @property
    def tokenizers(self) -> Tokenizers:
        if self._tokenizers is None:
            with self._lock:
                if self._tokenizers is None:
                    self._tokenizers = Tokenizers(self.files)
        return self._tokenizers

    @property
    def model_path(self) -> Path:
        """The cached ONNX file, exported now if missing."""
        if self._path is None:
            with self._lock:
                if self._path is None:
                    self._path = self._find_or_export()
        return self._path

    # --- work ------------------------------------------------------------------------------
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.tokenizers.counter.encode_batch(
            prepare(texts, self.files), add_special_tokens=False
        )
        return [len(e.ids) for e in encoded]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        tokenizers = self.tokenizers
        encoded = tokenizers.window.encode_batch(prepare(texts, self.files))
        session = self.session
        lengths = [len(e.ids) for e in encoded]
        out = np.empty((len(encoded), self.dimension), dtype=np.float32)
        for rows in batches(lengths, self._batch_size, MAX_BATCH_TOKENS):
            out[rows] = run_batch(
                session, [encoded[i].ids for i in rows], tokenizers.pad_id, self.files.pooling
            )
        return out

    def warm_up(self) -> None:
        """Export (or find) and load the model now rather than on the first texts."""
        self.embed(["warm up"])

    # --- loading ------------------------------------------------------------------------------
    def _find_or_export(self) -> Path:
        files = self.files
        target = cache_dir_for(
            self._cache_root, self._model_name, self._backend, files, self._tuning
        )
        path = target / ONNX_NAME
        if not path.is_file():
            from .onnx_export import export_cached

            export_cached(
                self._model_name, files, self._backend, self._cache_root, target, self._tuning
            )
        return path

    @property
    def session(self) -> Any:
        """The ONNX Runtime session (thread-safe: ``run`` may be called concurrently)."""
        if self._session is None:
            path = self.model_path
            with self._lock:
                if self._session is None:
                    # The question encoder runs beside the passages' model: no spinning.
                    spin = self._tuning is None
                    self._session = make_session(path, self._threads, spin=spin)
        return self._session


def batches(lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[list[int]]:
    """Indices of ``lengths`` in batches of similar length, longest first: each batch has
    at most ``max_rows`` rows and, padded to its longest, at most ``max_tokens`` tokens
    (a single row longer than the budget goes alone)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    out: list[list[int]] = []
    current: list[int] = []
    for i in order:  # the first row of a batch is its longest
        if current and (
            len(current) >= max_rows or (len(current) + 1) * lengths[current[0]] > max_tokens
        ):
            out.append(current)
            current = []
        current.append(i)
    if current:
        out.append(current)
    return out
