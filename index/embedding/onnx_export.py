"""The one-time ONNX export of a sentence-transformers model: torch → ONNX, fused and
(for ``onnx-int8``) quantised, checked against torch, then cached.

The model is exported with ``torch.onnx.export`` (the sentence-transformers Transformer
module, eager attention, token embeddings out) into a temporary folder that is renamed
into place (``onnx_files.cache_dir_for``), so a crash mid-export never leaves a broken
cache. The fp32 export is fused by ONNX Runtime's transformer optimizer where it
recognises the architecture (BERT-style encoders), else kept as exported. ``onnx-int8`` is
the fp32 export with dynamic int8 quantisation of the matrix-product weights
(``onnxruntime.quantization.quantize_dynamic``, signed int8, per output channel).

Exporting needs torch, sentence-transformers and onnx, all imported inside the functions
here; the query runtime (``onnx_runtime``) imports this module only when an export is
missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..fs import fsync_path
from .onnx_files import EXPORT_VERSION, ONNX_NAME, OPSET, ModelFiles, cache_dir_for, read_json
from .onnx_inference import Tokenizers, make_session, prepare, run_batch
from .onnx_tables import save_tables

if TYPE_CHECKING:
    from .tuning import Tuning

#: Probe texts exported models are checked on against the torch model.
_PROBES = (
    "Turkey and Israel",
    "Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn.",
    "Héllo wörld — “quotes”, ünïcode and 中文 characters.",
)
#: Smallest cosine to torch accepted from a fresh export, per backend.
_MIN_PROBE_COSINE = {"onnx": 0.9999, "onnx-int8": 0.95}
_STALE_TMP_SECONDS = 3600


def export_cached(
    model: str,
    files: ModelFiles,
    backend: str,
    cache_root: Path,
    target: Path,
    tuning: Tuning | None = None,
) -> Path:
    """Export (and for int8 quantise) into a temporary folder, then rename it to ``target``.

    Another process exporting at the same time is harmless: the first rename wins and
    the other's folder is discarded.
    """
    work = _work_dir(cache_root, target)
    try:
        fused = _export_into(work, model, files, backend, cache_root, tuning)
        _write_export_json(work, model, files, backend, fused, tuning)
        _publish(work, target, cache_root)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target / ONNX_NAME


def _work_dir(cache_root: Path, target: Path) -> Path:
    """A fresh temporary folder beside ``target`` (stale ones of killed exports removed)."""
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(cache_root)
        work = Path(tempfile.mkdtemp(prefix=f"{target.name}.tmp-{os.getpid()}-", dir=cache_root))
        work.chmod(0o755)  # mkdtemp's 0700 would hide the cache from a bot run as another user
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the ONNX model cache in {cache_root} ({exc.strerror or exc}). Make "
            "the index directory writable, or set ARTICLEBOT_BACKEND=torch."
        ) from exc
    return work


def _export_into(
    work: Path,
    model: str,
    files: ModelFiles,
    backend: str,
    cache_root: Path,
    tuning: Tuning | None,
) -> bool:
    """The checked export as ``work/model.onnx``; returns whether it is fused. int8 reuses
    a cached fp32 export of the same model where there is one."""
    fp32_cached = cache_dir_for(cache_root, model, "onnx", files, tuning) / ONNX_NAME
    st_model = _load_sentence_transformer(model, files)
    if tuning is not None:
        from .tuning import apply_tuning

        apply_tuning(st_model, tuning)
    if backend == "onnx-int8" and fp32_cached.is_file():
        fp32, fused = fp32_cached, read_json(fp32_cached.parent / "export.json").get("fused")
    else:
        fp32, fused = export_fp32(st_model, files, work)
    if backend == "onnx-int8":
        quantize(fp32, work / ONNX_NAME)
        if fp32.parent == work:
            fp32.unlink()
    else:
        fp32.rename(work / ONNX_NAME)
    # The check reads the shared tables as every session will (onnx_tables).
    save_tables(work / ONNX_NAME, cache_root)
    _check_export(st_model, work / ONNX_NAME, files, backend)
    return bool(fused)


def _write_export_json(
    work: Path, model: str, files: ModelFiles, backend: str, fused: bool, tuning: Tuning | None
) -> None:
    """What the cached export is, for people reading the cache (and the int8 export)."""
    (work / "export.json").write_text(
        json.dumps(
            {
                "model": model,
                "backend": backend,
                "source": str(files.root),
                "export_version": EXPORT_VERSION,
                "opset": OPSET,
                "fused": fused,
                "question_tuning": tuning.digest if tuning is not None else None,
                "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            indent=1,
        )
    )


def _publish(work: Path, target: Path, cache_root: Path) -> None:
    """Rename the synced ``work`` folder to ``target``; a lost race keeps the winner's."""
    for item in work.iterdir():
        fsync_path(item)
    try:
        os.rename(work, target)
    except OSError:
        if not (target / ONNX_NAME).is_file():
            raise
        shutil.rmtree(work, ignore_errors=True)  # another process won the race
    fsync_path(cache_root)


def _load_sentence_transformer(model: str, files: ModelFiles) -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:  # pragma: no cover - a hard dependency
        raise ConfigError(
            "Exporting the model to ONNX needs torch and sentence-transformers installed."
        ) from exc
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        try:  # eager attention exports a graph ONNX Runtime can fuse (see benchmarks/README.md)
            return SentenceTransformer(
                str(files.root), device="cpu", model_kwargs={"attn_implementation": "eager"}
            )
        except (TypeError, ValueError):  # a model without an eager implementation
            return SentenceTransformer(str(files.root), device="cpu")
    except OSError as exc:
        raise ConfigError(f"Cannot load model {model!r} to export it to ONNX: {exc}") from exc


def export_onnx(st_model: Any, path: Path) -> None:
    """The model's Transformer module as ONNX: token embeddings for dynamic batch × length.

    The TorchScript exporter (``dynamo=False``) needs no extra packages; the dynamo
    exporter would need onnxscript.
    """
    import torch

    transformer = st_model[0]
    auto_model = getattr(transformer, "auto_model", None) or transformer.model
    names = [n for n in transformer.tokenizer.model_input_names if n != "position_ids"]

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = auto_model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            out = self.model(**dict(zip(names, inputs, strict=True)), return_dict=True)
            return out.last_hidden_state

    sample = transformer.tokenizer(
        list(_PROBES[:2]), padding=True, truncation=True, return_tensors="pt"
    )
    args = tuple(sample[n] for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "token_embeddings"]}
    wrapper = TokenEmbeddings().eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def export_fp32(st_model: Any, files: ModelFiles, work: Path) -> tuple[Path, bool]:
    """The fp32 export in ``work``, fused where ONNX Runtime's transformer optimizer can
    (and the fused graph still matches torch), else as exported. Returns (path, fused)."""
    raw = work / "model-raw.onnx"
    export_onnx(st_model, raw)
    fused = work / "model-fused.onnx"
    if fuse(raw, fused, files):
        if _probe_cosine(st_model, fused, files) >= _MIN_PROBE_COSINE["onnx"]:
            raw.unlink()
            return fused, True
        fused.unlink()
    return raw, False


def fuse(source: Path, target: Path, files: ModelFiles) -> bool:
    """ONNX Runtime's transformer fusions (attention, embedding + layer norm, bias + GELU,
    skip + layer norm) for BERT-style encoders: faster, and closer to torch once quantised
    (see benchmarks/README.md). ``opt_level=0`` rewrites the graph only, so the file runs on any CPU. Models the
    fusions do not recognise are left as exported (returns False)."""
    config = read_json(files.transformer / "config.json")
    try:
        from onnxruntime.transformers.optimizer import (  # type: ignore[import-untyped]
            optimize_model,
        )

        with _quiet_logging():
            optimized = optimize_model(
                str(source),
                model_type="bert",
                num_heads=int(config.get("num_attention_heads", 0)),
                hidden_size=int(config.get("hidden_size", 0)),
                opt_level=0,
            )
            if not optimized.get_fused_operator_statistics().get("Attention"):
                return False
            optimized.save_model_to_file(str(target))
    except Exception:  # an architecture the optimizer does not handle: keep the export
        target.unlink(missing_ok=True)
        return False
    return True


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """ONNX Runtime's tools log progress and "consider pre-processing" advice at INFO and
    WARNING on the root logger; an index run should not print them."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the weights, signed and per output channel: the
    closest to fp32 of the variants tried, and blockwise 4-/8-bit weights ran slower
    (see benchmarks/README.md)."""
    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )

    with _quiet_logging():
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType.QInt8,
            per_channel=True,
            # Not EmbedLayerNormalization: its int8 table (per tensor) costs accuracy and
            # saves no time (it is a lookup).
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"DefaultTensorType": 1},  # FLOAT, where shape inference is silent
        )


def _check_export(st_model: Any, path: Path, files: ModelFiles, backend: str) -> None:
    """Compare the export with the torch model on a few texts before caching it."""
    cosine = _probe_cosine(st_model, path, files)
    if cosine < _MIN_PROBE_COSINE[backend]:
        raise ConfigError(
            f"The {backend} export of this model differs from torch (cosine {cosine:.4f}); "
            "set ARTICLEBOT_BACKEND=torch."
        )


def _probe_cosine(st_model: Any, path: Path, files: ModelFiles) -> float:
    """Smallest cosine between the torch model's vectors and the ONNX file's, for the
    probes one at a time and as one padded batch (fused attention must honour the mask)."""
    import numpy as np

    expected = st_model.encode(list(_PROBES), normalize_embeddings=True, convert_to_numpy=True)
    tokenizers = Tokenizers(files)
    session = make_session(path, 1)
    ids = [e.ids for e in tokenizers.window.encode_batch(prepare(_PROBES, files))]
    single = np.concatenate(
        [run_batch(session, [i], tokenizers.pad_id, files.pooling) for i in ids]
    )
    padded = run_batch(session, ids, tokenizers.pad_id, files.pooling)
    return float(min((single * expected).sum(axis=1).min(), (padded * expected).sum(axis=1).min()))


def _remove_stale_tmp(cache_root: Path) -> None:
    """Folders of exports killed midway (old enough not to be another export running)."""
    now = time.time()
    for path in cache_root.glob("*.tmp-*"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
