"""What the ONNX backend reads from a sentence-transformers model folder, and where its
export is cached.

The export is cached under the index directory::

    <index_dir>/models/<model id>-<backend>-<hash of the model files>/model.onnx

(a tuned question encoder adds ``-q<hash of the tuning>``). Both the query runtime
(``onnx_runtime``) and the export (``onnx_export``) use this module; it imports neither.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from .tuning import Tuning

#: Bumped whenever the export or quantisation changes, so old caches are not reused.
EXPORT_VERSION = 3
OPSET = 17
ONNX_NAME = "model.onnx"
#: sentence-transformers' pooling modes, as its ``1_Pooling/config.json`` names them.
_POOLING_KEYS = (
    ("mean", "pooling_mode_mean_tokens"),
    ("cls", "pooling_mode_cls_token"),
    ("max", "pooling_mode_max_tokens"),
    ("sqrt", "pooling_mode_mean_sqrt_len_tokens"),
    ("weighted", "pooling_mode_weightedmean_tokens"),
    ("last", "pooling_mode_lasttoken"),
)


@dataclass(frozen=True)
class ModelFiles:
    """What the ONNX backend needs from a sentence-transformers model folder."""

    root: Path  # the model folder
    transformer: Path  # folder of the Transformer module (tokenizer.json, config.json)
    pooling: str  # "mean", "cls" or "max"
    dimension: int
    max_seq_length: int  # model positions, special tokens included
    lowercase: bool  # sentence_bert_config's do_lower_case (applied before tokenizing)


def model_folder(model: str) -> Path:
    """The local folder of ``model``: the bundled one, a path, or a hub name already in the
    local Hugging Face cache (never downloaded here)."""
    from .model_path import resolve_model_path

    path = Path(resolve_model_path(model))
    if path.is_dir():
        return path
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ConfigError(
            f"The model {model!r} is not a model folder on this machine. Set ARTICLEBOT_MODEL "
            "to a sentence-transformers folder, or leave it unset for the bundled model."
        )
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception as exc:
        raise ConfigError(
            f"The ONNX backend needs model {model!r} on this machine, and it is not in the "
            "local Hugging Face cache (it is never downloaded at export time). Run once with "
            "ARTICLEBOT_BACKEND=torch (which downloads it), point ARTICLEBOT_MODEL at a local "
            "sentence-transformers folder, or leave it unset for the bundled model."
        ) from exc


def read_model_files(root: Path, model: str) -> ModelFiles:
    """Check the module pipeline is Transformer → Pooling (→ Normalize) and read its config."""
    unsupported = (
        f"so the ONNX backend cannot run {model!r}; set ARTICLEBOT_BACKEND=torch for this model."
    )
    transformer, pooling_dir = _module_folders(root, unsupported)
    config = read_json(transformer / "config.json")
    pooling, dimension = _pooling(pooling_dir, int(config.get("hidden_size", 0)), unsupported)
    st_config = read_json(transformer / "sentence_bert_config.json")
    max_seq_length = _max_seq_length(transformer, config, st_config)
    if dimension <= 0:
        raise ConfigError(f"Cannot tell the model's vector size, {unsupported}")
    return ModelFiles(
        root=root,
        transformer=transformer,
        pooling=pooling,
        dimension=dimension,
        max_seq_length=max_seq_length,
        lowercase=bool(st_config.get("do_lower_case", False)),
    )


def _module_folders(root: Path, unsupported: str) -> tuple[Path, Path | None]:
    """The Transformer module's folder and the Pooling module's (None: mean pooling)."""
    modules_file = root / "modules.json"
    if modules_file.is_file():
        modules = json.loads(modules_file.read_text())
    else:  # a plain transformers folder: sentence-transformers adds mean pooling
        modules = [{"type": "Transformer", "path": ""}]
    transformer: Path | None = None
    pooling_dir: Path | None = None
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Transformer" and transformer is None:
            transformer = root / module.get("path", "")
        elif kind == "Pooling" and pooling_dir is None:
            pooling_dir = root / module.get("path", "")
        elif kind != "Normalize":
            raise ConfigError(f"The model has a {kind or '?'} module, {unsupported}")
    if transformer is None or not (transformer / "tokenizer.json").is_file():
        raise ConfigError(f"The model has no fast tokenizer (tokenizer.json), {unsupported}")
    return transformer, pooling_dir


def _pooling(pooling_dir: Path | None, dimension: int, unsupported: str) -> tuple[str, int]:
    """The pooling mode and the vector size the Pooling module's config says."""
    if pooling_dir is None:
        return "mean", dimension
    config = read_json(pooling_dir / "config.json")
    modes = [name for name, key in _POOLING_KEYS if config.get(key)]
    if len(modes) != 1 or modes[0] not in ("mean", "cls", "max"):
        raise ConfigError(f"The model pools by {'+'.join(modes) or 'nothing'}, {unsupported}")
    return modes[0], int(config.get("word_embedding_dimension", dimension))


def _max_seq_length(transformer: Path, config: dict[str, Any], st_config: dict[str, Any]) -> int:
    """sentence-transformers' window, else the smaller of the model's and the tokenizer's."""
    max_len = st_config.get("max_seq_length")
    if max_len:
        return int(max_len)
    tok_max = read_json(transformer / "tokenizer_config.json").get("model_max_length")
    candidates = [int(config.get("max_position_embeddings", 512))]
    if isinstance(tok_max, int) and tok_max < 1_000_000:
        candidates.append(tok_max)
    return min(candidates)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; {} where the file is missing or holds no object."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def model_hash(files: ModelFiles) -> str:
    """Content hash of the files the export depends on (configs, tokenizer, weights)."""
    digest = hashlib.sha256(f"articlebot-onnx-{EXPORT_VERSION}-{OPSET}".encode())
    folders = sorted({files.root, files.transformer, *files.root.glob("[0-9]_*")})
    for folder in folders:
        names = sorted(p for p in folder.iterdir() if p.is_file())
        weights = [p for p in names if p.suffix == ".safetensors"] or [
            p for p in names if p.name == "pytorch_model.bin"
        ]
        for path in names:
            if path.suffix in (".json", ".txt", ".model") or path in weights:
                digest.update(str(path.relative_to(files.root)).encode() + b"\0")
                with path.open("rb") as handle:
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)
    return digest.hexdigest()[:16]


def safe_model_id(model: str) -> str:
    name = model or DEFAULT_MODEL
    if "/" in name and Path(name).exists():  # a local path: its last two parts
        name = "_".join(Path(name).resolve().parts[-2:])
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:80] or "model"


def cache_dir_for(
    cache_root: Path, model: str, backend: str, files: ModelFiles, tuning: Tuning | None = None
) -> Path:
    """The export's folder; a tuned question encoder (``tuning``) gets its own."""
    tuned = f"-q{tuning.digest}" if tuning is not None else ""
    return cache_root / f"{safe_model_id(model)}-{backend}-{model_hash(files)}{tuned}"
