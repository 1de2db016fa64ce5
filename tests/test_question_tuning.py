"""The tuned question encoder (index.embedding.tuning): deltas saved, loaded and applied
to the real model, an ONNX export of its own, and where there is none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.embedding import make_question_embedder
from index.embedding.onnx_runtime import OnnxEmbedder
from index.embedding.torch_backend import SentenceTransformerEmbedder
from index.embedding.tuning import (
    LORA_DOWN,
    LORA_UP,
    TUNING_PATH,
    dense_deltas,
    load_tuning,
    save_tuning,
)
from index.errors import ConfigError
from index.settings import Settings

QUESTIONS = ["Who is trying to mend relations between Turkey and Israel?", "why did he quit"]
BIAS = "0.model.encoder.layer.5.output.dense.bias"
WEIGHT = "0.model.encoder.layer.5.output.dense.weight"  # 384 x 1536


def test_the_shipped_tuning_is_small_and_fits_the_bundled_model() -> None:
    tuning = load_tuning()
    assert TUNING_PATH.stat().st_size < 2_000_000
    assert tuning.base == "sentence-transformers/all-MiniLM-L6-v2"
    low_rank = [n for n in tuning.deltas if n.endswith((LORA_DOWN, LORA_UP))]
    assert all(n.endswith("bias") or "LayerNorm" in n for n in set(tuning.deltas) - set(low_rank))
    assert len(low_rank) == 2 * 6 * 6  # a pair for each linear weight of the 6 layers
    assert any(np.abs(d).max() > 0 for d in tuning.deltas.values())


def test_a_low_rank_pair_is_multiplied_out(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    down, up = rng.normal(size=(4, 1536)), rng.normal(size=(384, 4))
    path = tmp_path / "low-rank.npz"
    save_tuning(path, {WEIGHT + LORA_DOWN: down, WEIGHT + LORA_UP: up}, {})
    delta = dense_deltas(load_tuning(path).deltas)
    assert set(delta) == {WEIGHT}
    np.testing.assert_allclose(delta[WEIGHT], up @ down, atol=1e-5)  # stored as float32
    save_tuning(path, {WEIGHT + LORA_DOWN: down}, {})
    with pytest.raises(ConfigError, match="no matching low-rank pair"):
        dense_deltas(load_tuning(path).deltas)


def test_question_encoder_only_for_the_model_it_was_fitted_to(settings: Settings) -> None:
    encoder = make_question_embedder(settings)
    assert isinstance(encoder, OnnxEmbedder)
    other = settings.model_copy(update={"model": "someone/another-model"})
    assert make_question_embedder(other) is None
    assert make_question_embedder(settings, settings.index_dir / "missing.npz") is None


@pytest.mark.slow
def test_deltas_are_added_to_the_real_model(tmp_path: Path) -> None:
    plain = SentenceTransformerEmbedder(device="cpu")
    zero = tmp_path / "zero.npz"
    save_tuning(zero, {BIAS: np.zeros(384, np.float32)}, {"base": plain.name})
    same = SentenceTransformerEmbedder(device="cpu", tuning=load_tuning(zero))
    np.testing.assert_allclose(same.embed(QUESTIONS), plain.embed(QUESTIONS), atol=1e-6)
    moved = tmp_path / "moved.npz"
    # Not a constant: the LayerNorm after this bias would remove a uniform shift.
    delta = np.random.default_rng(0).normal(0, 0.5, 384).astype(np.float32)
    save_tuning(moved, {BIAS: delta}, {"base": plain.name})
    tuned = SentenceTransformerEmbedder(device="cpu", tuning=load_tuning(moved))
    cosines = np.sum(tuned.embed(QUESTIONS) * plain.embed(QUESTIONS), axis=1)
    assert np.all(cosines < 0.999) and np.all(cosines > 0.3)
    assert tuned.model.training is False
    low_rank = tmp_path / "low-rank.npz"
    rng = np.random.default_rng(1)
    pair = {
        WEIGHT + LORA_DOWN: rng.normal(0, 0.05, (8, 1536)),
        WEIGHT + LORA_UP: rng.normal(0, 0.05, (384, 8)),
    }
    save_tuning(low_rank, pair, {"base": plain.name})
    changed = SentenceTransformerEmbedder(device="cpu", tuning=load_tuning(low_rank))
    cosines = np.sum(changed.embed(QUESTIONS) * plain.embed(QUESTIONS), axis=1)
    assert np.all(cosines < 0.999) and np.all(cosines > 0.3)


@pytest.mark.slow
def test_a_tuning_for_another_model_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    save_tuning(path, {"0.model.no.such.bias": np.zeros(3, np.float32)}, {"base": "x/y"})
    embedder = SentenceTransformerEmbedder(device="cpu", tuning=load_tuning(path))
    with pytest.raises(ConfigError, match="does not fit this model"):
        embedder.embed(["a question"])
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="Cannot read the question tuning"):
        load_tuning(tmp_path / "broken.npz")


@pytest.mark.slow
def test_the_onnx_question_encoder_is_exported_apart_and_matches_torch(
    settings: Settings,
) -> None:
    encoder = make_question_embedder(settings)
    assert isinstance(encoder, OnnxEmbedder)
    path = encoder.model_path
    assert f"-q{load_tuning().digest}" in path.parent.name
    plain = OnnxEmbedder(cache_root=settings.index_dir / "models")
    assert plain.model_path.parent != path.parent  # the passages' model is untouched
    reference = SentenceTransformerEmbedder(device="cpu", tuning=load_tuning())
    onnx_vectors, torch_vectors = encoder.embed(QUESTIONS), reference.embed(QUESTIONS)
    assert np.all(np.sum(onnx_vectors * torch_vectors, axis=1) > 0.95)  # int8
    assert np.all(np.sum(onnx_vectors * plain.embed(QUESTIONS), axis=1) < 0.999)
