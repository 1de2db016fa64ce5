"""Running an exported model: the model's own tokenizer, an ONNX Runtime session, and
pooling as sentence-transformers pools (mean / CLS / max, then L2 normalisation, in numpy).

Needs only ``onnxruntime``, ``tokenizers`` and ``numpy``, each imported where it is used:
never torch, never the ``onnx`` package.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .onnx_files import ModelFiles, read_json
from .onnx_tables import session_tables

if TYPE_CHECKING:
    import numpy as np


class Tokenizers:
    """The model's own fast tokenizer, twice: for counting (no limit) and for embedding
    (truncated to the window, special tokens included, as sentence-transformers does)."""

    def __init__(self, files: ModelFiles) -> None:
        from tokenizers import Tokenizer

        tokenizer_file = str(files.transformer / "tokenizer.json")
        self.counter = Tokenizer.from_file(tokenizer_file)
        self.counter.no_truncation()
        self.counter.no_padding()
        self.window = Tokenizer.from_file(tokenizer_file)
        self.window.no_padding()  # padded per length-sorted batch in run_batch
        self.window.enable_truncation(max_length=files.max_seq_length)
        self.special_tokens = int(self.window.num_special_tokens_to_add(is_pair=False))
        self.pad_id = _pad_id(self.window, files.transformer)


def _pad_id(tokenizer: Any, transformer: Path) -> int:
    pad_token = read_json(transformer / "tokenizer_config.json").get("pad_token")
    if isinstance(pad_token, dict):
        pad_token = pad_token.get("content")
    for token in (pad_token, "[PAD]", "<pad>"):
        if isinstance(token, str) and (token_id := tokenizer.token_to_id(token)) is not None:
            return int(token_id)
    return 0


def prepare(texts: Sequence[str], files: ModelFiles) -> list[str]:
    return [t.lower() for t in texts] if files.lowercase else list(texts)


def default_threads() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def make_session(path: Path, threads: int, *, spin: bool = True, shared: bool = True) -> Any:
    """``spin``: worker threads busy-wait for the next op (ONNX Runtime's default, good
    for batches). A second model serving questions beside the first must not: two
    spinning sessions fight over the cores (see benchmarks/README.md). ``shared``: read
    the export's lookup tables from the process's one copy (``onnx_tables``)."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    tables = session_tables(path) if shared else {}
    if tables:
        options = _options(threads, spin)
        for name, value in tables.items():
            options.add_initializer(name, value)
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception:  # a table that no longer fits the model: the export's own copy
            pass
    options = _options(threads, spin)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _options(threads: int, spin: bool) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def run_batch(
    session: Any, batch: Sequence[Sequence[int]], pad_id: int, pooling: str
) -> np.ndarray:
    """Pad ``batch`` (token ids) to its longest, run the model, pool and normalise."""
    import numpy as np

    width = max(len(ids) for ids in batch)
    input_ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
    feeds = {"input_ids": input_ids, "attention_mask": mask}
    names = {i.name for i in session.get_inputs()}
    if "token_type_ids" in names:
        feeds["token_type_ids"] = np.zeros_like(input_ids)
    tokens = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
    return pool(tokens, mask, pooling)


def pool(tokens: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """Sentence vectors from token vectors as sentence-transformers pools, L2-normalised."""
    import numpy as np

    weights = mask[..., None].astype(np.float32)
    if mode == "cls":
        vectors = tokens[:, 0]
    elif mode == "max":
        vectors = np.where(weights > 0, tokens, -1e9).max(axis=1)
    else:
        vectors = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)
