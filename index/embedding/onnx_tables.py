"""Lookup tables shared between ONNX Runtime sessions: the word-embedding table read once.

A question is embedded by up to four exports of the same model (the passages' model, the
tuned question encoder and the re-ranking pair), and each session would hold its own
copy of the model's word-embedding table, most of an int8 model's memory. The tuning
never changes that table, so at export time (``save_tables``) each large lookup table is
written once to ``<cache root>/tables/<digest>.npy``, named by its content, and the export
lists it in ``tables.json``. Each session then reads it from one memory map
(``session_tables``, given to ONNX Runtime with ``SessionOptions.add_initializer``):
one copy in memory for all sessions, and of it only the rows of tokens ever seen.

Exporting needs the ``onnx`` package (imported in ``save_tables``); running needs only
numpy and onnxruntime. An export without ``tables.json`` (made before this module, or a
table file gone) runs with its own copy, as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from ..fs import fsync_path

MANIFEST = "tables.json"
TABLES_DIR = "tables"
#: Lookup tables smaller than this are not worth a file of their own.
MIN_TABLE_BYTES = 1 << 20
#: The ops whose initializer inputs are looked up by token, not multiplied.
_LOOKUP_OPS = ("Gather", "EmbedLayerNormalization")

_lock = threading.Lock()
_loaded: dict[Path, Any] = {}  # table file -> its OrtValue, for the life of the process


def save_tables(model_path: Path, cache_root: Path) -> None:
    """Write ``model_path``'s large fp32 lookup tables to ``cache_root/tables`` (once per
    content) and list them in ``tables.json`` beside the model."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(model_path))
    looked_up = {
        name for node in model.graph.node if node.op_type in _LOOKUP_OPS for name in node.input
    }
    manifest = {}
    for tensor in model.graph.initializer:
        if tensor.name not in looked_up or tensor.data_type != onnx.TensorProto.FLOAT:
            continue
        array = np.ascontiguousarray(numpy_helper.to_array(tensor), dtype=np.float32)
        if array.nbytes < MIN_TABLE_BYTES:
            continue
        name = _write_table(array, cache_root / TABLES_DIR)
        manifest[tensor.name] = {"file": name, "shape": list(array.shape)}
    if manifest:
        (model_path.parent / MANIFEST).write_text(json.dumps(manifest, indent=1))


def _write_table(array: Any, folder: Path) -> str:
    """``array`` as ``folder/<digest>.npy`` (kept if already there); returns the name."""
    import numpy as np

    name = hashlib.sha256(array.tobytes()).hexdigest()[:20] + ".npy"
    path = folder / name
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as out:
            np.save(out, array)
        fsync_path(tmp)
        tmp.replace(path)  # another export writing the same table writes the same bytes
        fsync_path(folder)
    return name


def session_tables(model_path: Path) -> dict[str, Any]:
    """The shared tables ``model_path``'s export lists, as ONNX Runtime values by
    initializer name; empty where it lists none or a table file is missing or unfit."""
    manifest_path = model_path.parent / MANIFEST
    if not manifest_path.is_file():
        return {}
    try:
        manifest = json.loads(manifest_path.read_text())
        folder = model_path.parent.parent / TABLES_DIR
        return {
            name: _table(folder / entry["file"], tuple(entry["shape"]))
            for name, entry in manifest.items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _table(path: Path, shape: tuple[int, ...]) -> Any:
    """The memory-mapped table at ``path`` (one per process), checked against ``shape``."""
    import numpy as np
    import onnxruntime as ort  # type: ignore[import-untyped]

    with _lock:
        if path not in _loaded:
            array = np.load(path, mmap_mode="r")
            if array.dtype != np.float32 or array.shape != shape:
                raise ValueError(f"{path} is not the table its export lists")
            _loaded[path] = ort.OrtValue.ortvalue_from_numpy(np.asarray(array))
        return _loaded[path]
