"""ONNX Runtime embedding backend: faster indexing on a CPU and a query path that never
imports torch (a fresh process answers in ~1 s instead of ~10 s, at 220-250 MB of RSS
instead of ~530 MB).

Measured on 2 AVX2 cores with the BBC corpus (benchmarks/embedding_backends.py): the
whole ``articlebot index`` command runs 1.5x (fp32, the same vectors as torch, cosine
1.0000) and 2.05-2.18x (int8, mean cosine 0.993, min 0.98) faster than plain
sentence-transformers encoding the same articles; answer quality with int8 matches
torch's on benchmarks/quality.py. What helped: batches of at most ~1,024 padded tokens,
ONNX Runtime's transformer fusions, and int8 weights for the matrix products.

The model is exported once with ``torch.onnx.export`` (the sentence-transformers
Transformer module, eager attention, token embeddings out) and cached under the index
directory::

    <index_dir>/models/<model id>-<backend>-<hash of the model files>/model.onnx

written into a temporary folder that is renamed into place, so a crash mid-export never
leaves a broken cache. Exporting needs torch and sentence-transformers; loading a cached
export needs only ``onnxruntime``, ``tokenizers`` and ``numpy``. Pooling (mean / CLS /
max, as the model's ``1_Pooling/config.json`` says) and L2 normalisation run in numpy.

The fp32 export is fused by ONNX Runtime's transformer optimizer where it recognises
the architecture (BERT-style encoders), else kept as exported. ``onnx-int8`` is the
fp32 export with dynamic int8 quantisation of the matrix-product weights
(``onnxruntime.quantization.quantize_dynamic``, signed int8, per output channel).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .fs import fsync_path
from .settings import DEFAULT_MODEL, Settings

if TYPE_CHECKING:
    import numpy as np

    from .question_tuning import Tuning

#: Bumped whenever the export or quantisation changes, so old caches are not reused.
EXPORT_VERSION = 3
#: Padded tokens (rows x longest row) per ONNX Runtime call. Measured on 2 cores with
#: ~130-token BBC passages (benchmarks/embedding_backends.py): batches of 2-8 rows
#: (260-1,040 tokens) ran 6,200-7,100 tokens/s in int8, 16 rows 6,170 and 32 rows
#: 5,650; fp32 4,700 at 8 rows vs 3,030 at 32. Small batches keep the activations in
#: the cores' caches; a budget in tokens rather than rows lets short texts batch wider.
MAX_BATCH_TOKENS = 1024
OPSET = 17
ONNX_NAME = "model.onnx"
#: Probe texts exported models are checked on against the torch model.
_PROBES = (
    "Turkey and Israel",
    "Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn.",
    "Héllo wörld — “quotes”, ünïcode and 中文 characters.",
)
#: Smallest cosine to torch accepted from a fresh export, per backend.
_MIN_PROBE_COSINE = {"onnx": 0.9999, "onnx-int8": 0.95}
_STALE_TMP_SECONDS = 3600


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
    from .models import resolve_model_path

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
    config = _read_json(transformer / "config.json")
    pooling = "mean"
    dimension = int(config.get("hidden_size", 0))
    if pooling_dir is not None:
        pcfg = _read_json(pooling_dir / "config.json")
        modes = [
            name
            for name, key in (
                ("mean", "pooling_mode_mean_tokens"),
                ("cls", "pooling_mode_cls_token"),
                ("max", "pooling_mode_max_tokens"),
                ("sqrt", "pooling_mode_mean_sqrt_len_tokens"),
                ("weighted", "pooling_mode_weightedmean_tokens"),
                ("last", "pooling_mode_lasttoken"),
            )
            if pcfg.get(key)
        ]
        if len(modes) != 1 or modes[0] not in ("mean", "cls", "max"):
            raise ConfigError(f"The model pools by {'+'.join(modes) or 'nothing'}, {unsupported}")
        pooling = modes[0]
        dimension = int(pcfg.get("word_embedding_dimension", dimension))
    st_config = _read_json(transformer / "sentence_bert_config.json")
    max_len = st_config.get("max_seq_length")
    if not max_len:
        tok_max = _read_json(transformer / "tokenizer_config.json").get("model_max_length")
        candidates = [int(config.get("max_position_embeddings", 512))]
        if isinstance(tok_max, int) and tok_max < 1_000_000:
            candidates.append(tok_max)
        max_len = min(candidates)
    if dimension <= 0:
        raise ConfigError(f"Cannot tell the model's vector size, {unsupported}")
    return ModelFiles(
        root=root,
        transformer=transformer,
        pooling=pooling,
        dimension=dimension,
        max_seq_length=int(max_len),
        lowercase=bool(st_config.get("do_lower_case", False)),
    )


def _read_json(path: Path) -> dict[str, Any]:
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
    """The export's folder; a tuned question encoder (``question_tuning``) gets its own."""
    tuned = f"-q{tuning.digest}" if tuning is not None else ""
    return cache_root / f"{safe_model_id(model)}-{backend}-{model_hash(files)}{tuned}"


def default_threads() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class OnnxEmbedder:
    """A sentence-transformers model run by ONNX Runtime (``onnx`` or ``onnx-int8``).

    The export is found in the cache (or made) on the first ``embed``. One session runs
    batches and single questions alike on ``threads`` (default: all cores). Measured on
    2 cores, int8: 2 threads 46 passages/s and 2.0-3.5 ms a question, 1 thread 25
    passages/s and 3.0-4.6 ms, so one session on all cores serves both.
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
        self._tuning = tuning  # the question encoder's deltas (index.question_tuning)
        self._cache_root = Path(cache_root)
        self._backend = "onnx-int8" if quantized else "onnx"
        self._batch_size = batch_size
        self._threads = threads or default_threads()
        self._lock = threading.Lock()
        self._files: ModelFiles | None = None
        self._tokenizers: _Tokenizers | None = None
        self._path: Path | None = None
        self._session: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OnnxEmbedder:
        return cls(
            settings.model,
            cache_root=settings.index_dir / "models",
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
    def tokenizers(self) -> _Tokenizers:
        if self._tokenizers is None:
            with self._lock:
                if self._tokenizers is None:
                    self._tokenizers = _Tokenizers(self.files)
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


class _Tokenizers:
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


def prepare(texts: Sequence[str], files: ModelFiles) -> list[str]:
    return [t.lower() for t in texts] if files.lowercase else list(texts)


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


def make_session(path: Path, threads: int, *, spin: bool = True) -> Any:
    """``spin``: worker threads busy-wait for the next op (ONNX Runtime's default, good
    for batches). A second model serving questions beside the first must not: measured
    on 2 cores (benchmarks/quality.py's 225 questions), two spinning sessions took ask
    p50 from ~30 ms to 61 ms; the question encoder without spinning, to 39-43 ms (on one
    thread, or run on a worker thread during retrieval: the same, the cores are busy)."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _pad_id(tokenizer: Any, transformer: Path) -> int:
    pad_token = _read_json(transformer / "tokenizer_config.json").get("pad_token")
    if isinstance(pad_token, dict):
        pad_token = pad_token.get("content")
    for token in (pad_token, "[PAD]", "<pad>"):
        if isinstance(token, str) and (token_id := tokenizer.token_to_id(token)) is not None:
            return int(token_id)
    return 0


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


# --- export (torch + sentence-transformers, once per model and backend) ---------------------
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
    try:
        fp32_cached = cache_dir_for(cache_root, model, "onnx", files, tuning) / ONNX_NAME
        st_model = _load_sentence_transformer(model, files)
        if tuning is not None:
            from .question_tuning import apply_tuning

            apply_tuning(st_model, tuning)
        if backend == "onnx-int8" and fp32_cached.is_file():
            fp32, fused = fp32_cached, _read_json(fp32_cached.parent / "export.json").get("fused")
        else:
            fp32, fused = export_fp32(st_model, files, work)
        if backend == "onnx-int8":
            quantize(fp32, work / ONNX_NAME)
            if fp32.parent == work:
                fp32.unlink()
        else:
            fp32.rename(work / ONNX_NAME)
        _check_export(st_model, work / ONNX_NAME, files, backend)
        (work / "export.json").write_text(
            json.dumps(
                {
                    "model": model,
                    "backend": backend,
                    "source": str(files.root),
                    "export_version": EXPORT_VERSION,
                    "opset": OPSET,
                    "fused": bool(fused),
                    "question_tuning": tuning.digest if tuning is not None else None,
                    "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
                indent=1,
            )
        )
        for item in work.iterdir():
            fsync_path(item)
        try:
            os.rename(work, target)
        except OSError:
            if not (target / ONNX_NAME).is_file():
                raise
            shutil.rmtree(work, ignore_errors=True)  # another process won the race
        fsync_path(cache_root)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target / ONNX_NAME


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
        try:  # eager attention exports a graph ONNX Runtime fuses: +20% throughput measured
            return SentenceTransformer(
                str(files.root), device="cpu", model_kwargs={"attn_implementation": "eager"}
            )
        except (TypeError, ValueError):  # a model without an eager implementation
            return SentenceTransformer(str(files.root), device="cpu")
    except OSError as exc:
        raise ConfigError(f"Cannot load model {model!r} to export it to ONNX: {exc}") from exc


def export_onnx(st_model: Any, path: Path) -> None:
    """The model's Transformer module as ONNX: token embeddings for dynamic batch × length.

    The TorchScript exporter (``dynamo=False``) needs no extra packages and exports this
    model in about 2 s; the dynamo exporter would need onnxscript.
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
    skip + layer norm) for BERT-style encoders. Measured on 2 cores with BBC passages:
    fp32 +13% tokens/s, int8 +3%, and int8's min cosine to fp32 0.973 -> 0.977.
    ``opt_level=0`` rewrites the graph only, so the file runs on any CPU. Models the
    fusions do not recognise are left as exported (returns False)."""
    config = _read_json(files.transformer / "config.json")
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
    """Dynamic int8 quantisation of the weights, signed and per output channel. Measured
    on 1,500 BBC passages, mean / min cosine to fp32: per channel QInt8 0.9924 / 0.9805,
    QUInt8 0.9937 / 0.9795 (and ~5% slower on AVX2 without VNNI); per tensor QInt8
    0.952 / 0.854, QUInt8 0.978 / 0.928. 4-bit and 8-bit blockwise weights (MatMulNBits)
    ran slower than fp32 here."""
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
            # Not EmbedLayerNormalization: its int8 table (per tensor) cost accuracy (min
            # cosine to fp32 0.970 -> 0.982 without it) and saves no time (it is a lookup).
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
    tokenizers = _Tokenizers(files)
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
