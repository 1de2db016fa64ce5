"""The question encoder: the bundled MiniLM with a small learned change for questions.

A question and the sentence that answers it are worded differently ("why did Hansen
delay her comeback?" / "the wound from the injury has been very slow to heal"), and
MiniLM embeds both alike. Here the question side gets its own biases and LayerNorm
parameters (BitFit) and a low-rank change to each linear layer's weights (LoRA), ~0.4M
of the model's 22.7M weights, fitted on the bbc-train, our own (``benchmarks/questions/``)
and SQuAD questions so that a question's vector moves toward the stored vector of the
sentence that answers it (``benchmarks/fit_question_encoder.py`` fits them; see
``benchmarks/README.md`` for what it gains). Passages and sentences are still embedded
by the plain model, so an index needs no rebuild: only the answer model's
``tuned_cosine`` feature uses the tuned question vector.

The change is a file of parameter deltas (``question_tuning.npz``): a bias or LayerNorm
delta under the parameter's name, a weight's low-rank delta as two factors under its name
plus ``LORA_DOWN`` / ``LORA_UP`` (the delta is ``up @ down``). It fits the default model
only; with any other model there is no question encoder and
``tuned_cosine`` falls back to the plain cosine. ``index.embedding.make_question_embedder``
builds the encoder for a backend; this module imports no backend.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..settings import DEFAULT_MODEL

if TYPE_CHECKING:
    import numpy as np

TUNING_PATH = Path(__file__).with_name("question_tuning.npz")
#: The re-ranking pair (``index.answering.rerank``): a question and a sentence tower.
RERANK_QUESTION_PATH = Path(__file__).with_name("rerank_question.npz")
RERANK_SENTENCE_PATH = Path(__file__).with_name("rerank_sentence.npz")
_META = "__meta__"
LORA_DOWN = ".lora_down"  # rank x inputs
LORA_UP = ".lora_up"  # outputs x rank


@dataclass(frozen=True)
class Tuning:
    """Deltas to add to named parameters of a sentence-transformers model."""

    deltas: Mapping[str, np.ndarray]
    meta: Mapping[str, Any]
    digest: str  # content hash: part of the ONNX cache key

    @property
    def base(self) -> str:
        return str(self.meta.get("base", DEFAULT_MODEL))


def load_tuning(path: Path = TUNING_PATH) -> Tuning:
    import numpy as np

    try:
        raw = path.read_bytes()
        with np.load(path, allow_pickle=False) as data:
            deltas = {k: np.asarray(data[k], dtype=np.float32) for k in data.files if k != _META}
            meta = json.loads(str(data[_META])) if _META in data.files else {}
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"Cannot read the question tuning {path} ({exc}). Reinstall articlebot, or "
            "refit it with benchmarks/fit_question_encoder.py."
        ) from exc
    return Tuning(deltas, meta, hashlib.sha256(raw).hexdigest()[:12])


def save_tuning(path: Path, deltas: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    import numpy as np

    arrays: dict[str, Any] = {k: np.asarray(v, dtype=np.float32) for k, v in deltas.items()}
    arrays[_META] = np.array(json.dumps(dict(meta)))
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def apply_tuning(st_model: Any, tuning: Tuning) -> None:
    """Add the deltas to the model's parameters in place (a torch module)."""
    import torch

    params = dict(st_model.named_parameters())
    deltas = dense_deltas(tuning.deltas)
    missing = sorted(set(deltas) - set(params))
    if missing:
        raise ConfigError(
            f"The question tuning does not fit this model (no parameter {missing[0]!r}); "
            "it was fitted to " + tuning.base + "."
        )
    with torch.no_grad():
        for name, delta in deltas.items():
            param = params[name]
            if tuple(param.shape) != delta.shape:
                raise ConfigError(f"The question tuning's {name} has the wrong shape.")
            param.add_(torch.from_numpy(delta).to(param.device, param.dtype))


def dense_deltas(stored: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each parameter's delta, the low-rank pairs multiplied out."""
    out = {n: d for n, d in stored.items() if not n.endswith((LORA_DOWN, LORA_UP))}
    for name in stored:
        if name.endswith(LORA_DOWN):
            param = name.removesuffix(LORA_DOWN)
            up = stored.get(param + LORA_UP)
            if up is None or up.shape[1] != stored[name].shape[0]:
                raise ConfigError(f"The question tuning's {param} has no matching low-rank pair.")
            out[param] = up @ stored[name]
    return out
