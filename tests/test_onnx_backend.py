"""The ONNX Runtime backend: export and cache, vectors against torch, backend in the
manifest, and a query path (and, with the export cached, an indexing path) without torch.

The bundled MiniLM is exported once per test session (fp32 and int8, ~10 s) into a
session-wide cache that the other tests reuse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.embedding import embedder_backend, make_embedder
from index.embedding.onnx_files import ONNX_NAME
from index.embedding.onnx_inference import make_session, run_batch
from index.embedding.onnx_runtime import OnnxEmbedder, batches
from index.embedding.onnx_tables import MANIFEST, TABLES_DIR, session_tables
from index.embedding.torch_backend import SentenceTransformerEmbedder
from index.embedding.tuning import (
    RERANK_QUESTION_PATH,
    RERANK_SENTENCE_PATH,
    TUNING_PATH,
    load_tuning,
)
from index.errors import ConfigError, IndexMismatchError
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings
from index.stores.base import SCHEMA_VERSION, check_compatible
from index.stores.local.snapshot import Snapshot

from .helpers import ARTICLE_A, ARTICLE_B, ARTICLE_C, REPO, HashEmbedder, write

TEXTS = [
    "Turkey and Israel",
    "Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn (£600m) for the "
    "three months to December, from $639m year-earlier.",
    "a recipe for pancakes",
    "Héllo wörld — “curly quotes”, ünïcode, emoji 🎉 and 中文 characters.",
    " ".join(f"Sentence {i} mentions Erdoğan and the 2010 Gaza flotilla." for i in range(60)),
    "x" * 500,
    "",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


# --- fast: no model is loaded --------------------------------------------------------------
class BackendHashEmbedder(HashEmbedder):
    """The test embedder, saying which backend it stands for."""

    def __init__(self, backend: str) -> None:
        super().__init__()
        self.backend = backend


def _index(settings: Settings, backend: str) -> None:
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    write(settings.corpus[0] / "b.txt", ARTICLE_B)
    run_index(settings, BackendHashEmbedder(backend))


def test_manifest_records_backend_and_refuses_another_kind(settings: Settings) -> None:
    _index(settings, "onnx-int8")
    assert Snapshot.open(settings.index_dir).manifest["backend"] == "onnx-int8"
    Retriever(settings, BackendHashEmbedder("onnx-int8")).warm_up()
    for other in ("torch", "onnx"):
        with pytest.raises(IndexMismatchError) as err:
            Retriever(settings, BackendHashEmbedder(other))
        assert "articlebot index --rebuild" in str(err.value)
        assert "ARTICLEBOT_BACKEND=onnx-int8" in str(err.value)
        write(settings.corpus[0] / "c.txt", ARTICLE_C)
        with pytest.raises(IndexMismatchError, match="--rebuild"):
            run_index(settings, BackendHashEmbedder(other))
    report = run_index(settings, BackendHashEmbedder("onnx"), rebuild=True)
    assert report.added == 3
    assert Snapshot.open(settings.index_dir).manifest["backend"] == "onnx"


def test_an_empty_index_records_its_backend_and_takes_any(settings: Settings) -> None:
    run_index(settings, BackendHashEmbedder("onnx-int8"))  # an empty corpus folder
    manifest = Snapshot.open(settings.index_dir).manifest
    assert (manifest["passages"], manifest["backend"]) == (0, "onnx-int8")
    Retriever(settings, BackendHashEmbedder("onnx-int8")).warm_up()
    del manifest["backend"]  # as an empty index written before this fix recorded it
    check_compatible(manifest, manifest["model"], backend="onnx-int8")
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    assert run_index(settings, BackendHashEmbedder("torch")).added == 1  # nothing to re-embed
    assert Snapshot.open(settings.index_dir).manifest["backend"] == "torch"


def test_torch_and_fp32_onnx_indexes_are_interchangeable(settings: Settings) -> None:
    _index(settings, "torch")
    Retriever(settings, BackendHashEmbedder("onnx")).warm_up()
    write(settings.corpus[0] / "c.txt", ARTICLE_C)
    run_index(settings, BackendHashEmbedder("onnx"))  # an update with the other fp32 backend
    assert Snapshot.open(settings.index_dir).manifest["backend"] == "onnx"
    Retriever(settings, BackendHashEmbedder("torch")).warm_up()
    with pytest.raises(IndexMismatchError, match="ARTICLEBOT_BACKEND=onnx or ARTICLEBOT_BACK"):
        Retriever(settings, BackendHashEmbedder("onnx-int8"))


def test_check_compatible_backend_rules() -> None:
    base = {"schema_version": SCHEMA_VERSION, "model": "m", "dimension": 3, "passages": 5}
    check_compatible(base, "m", 3, backend="onnx")  # written before backends: torch
    with pytest.raises(IndexMismatchError, match="torch backend"):
        check_compatible(base, "m", 3, backend="onnx-int8")
    check_compatible({**base, "backend": "onnx-int8"}, "m", 3)  # embedder does not say
    check_compatible({**base, "backend": "onnx-int8"}, "m", 3, backend="onnx-int8")
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        check_compatible({**base, "backend": "onnx-int8"}, "m", 3, backend="torch")


def test_make_embedder_picks_the_backend(settings: Settings) -> None:
    def make(**update: object) -> object:
        return make_embedder(settings.model_copy(update=update))

    torch_embedder = make(backend="torch")
    assert isinstance(torch_embedder, SentenceTransformerEmbedder)
    onnx = make(backend="onnx", device="cpu")
    assert isinstance(onnx, OnnxEmbedder) and onnx.backend == "onnx"
    int8 = make(backend="onnx-int8", device="auto")
    assert isinstance(int8, OnnxEmbedder) and int8.backend == "onnx-int8"
    cuda = make(backend="onnx-int8", device="cuda")  # the GPU runs torch
    assert isinstance(cuda, SentenceTransformerEmbedder) and embedder_backend(cuda) == "torch"
    assert settings.model_copy(update={"device": "cuda"}).effective_backend == "torch"
    assert embedder_backend(HashEmbedder()) is None
    assert Settings(_env_file=None).backend == "onnx-int8"  # type: ignore[call-arg]


def test_hub_model_not_on_this_machine_is_a_config_error(tmp_path: Path) -> None:
    embedder = OnnxEmbedder("nobody-xyz/not-a-model-0000", cache_root=tmp_path)
    assert embedder.name == "nobody-xyz/not-a-model-0000"  # nothing is looked up yet
    with pytest.raises(ConfigError, match="ARTICLEBOT_BACKEND=torch"):
        embedder.embed(["hello"])
    assert not list(tmp_path.iterdir())


def test_unsupported_model_pipeline_is_a_config_error(tmp_path: Path) -> None:
    model = tmp_path / "model"
    write(model / "tokenizer.json", "{}")
    write(model / "config.json", json.dumps({"hidden_size": 8}))
    modules = [
        {"type": "sentence_transformers.models.Transformer", "path": ""},
        {"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"},
        {"type": "sentence_transformers.models.Dense", "path": "2_Dense"},
    ]
    write(model / "modules.json", json.dumps(modules))
    with pytest.raises(ConfigError, match="Dense module"):
        _ = OnnxEmbedder(str(model), cache_root=tmp_path / "cache").dimension
    write(model / "modules.json", json.dumps(modules[:2]))
    write(model / "1_Pooling" / "config.json", json.dumps({"pooling_mode_lasttoken": True}))
    with pytest.raises(ConfigError, match="pools by last"):
        _ = OnnxEmbedder(str(model), cache_root=tmp_path / "cache").dimension


@given(
    lengths=st.lists(st.integers(1, 300), max_size=60),
    max_rows=st.integers(1, 40),
    max_tokens=st.integers(1, 2048),
)
def test_batches_cover_every_text_within_the_budget(
    lengths: list[int], max_rows: int, max_tokens: int
) -> None:
    got = batches(lengths, max_rows, max_tokens)
    assert sorted(i for batch in got for i in batch) == list(range(len(lengths)))
    flat = [lengths[i] for batch in got for i in batch]
    assert flat == sorted(lengths, reverse=True)  # longest first: little padding
    for batch in got:
        assert 1 <= len(batch) <= max_rows
        padded = len(batch) * max(lengths[i] for i in batch)
        assert padded <= max_tokens or len(batch) == 1


def test_short_texts_batch_wider_than_long_ones() -> None:
    got = batches([250] * 4 + [20] * 64, 32, 1024)
    assert [len(b) for b in got] == [4, 32, 32]


# --- slow: the real model, exported once per session ---------------------------------------
@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("onnx-models")
    # `articlebot index` also exports the tuned question encoder and the re-ranking pair.
    tunings = [load_tuning(p) for p in (TUNING_PATH, RERANK_QUESTION_PATH, RERANK_SENTENCE_PATH)]
    for quantized in (False, True):
        for tuned in (None, *tunings):
            OnnxEmbedder(cache_root=cache, quantized=quantized, tuning=tuned).model_path  # noqa: B018
    return cache


@pytest.fixture(scope="session")
def torch_vectors() -> np.ndarray:
    return SentenceTransformerEmbedder(device="cpu").embed(TEXTS)


@pytest.mark.slow
def test_export_is_cached_and_reused(onnx_cache: Path) -> None:
    paths = []
    for quantized in (False, True):
        first = OnnxEmbedder(cache_root=onnx_cache, quantized=quantized).model_path
        mtime = first.stat().st_mtime_ns
        again = OnnxEmbedder(cache_root=onnx_cache, quantized=quantized)
        assert again.model_path == first and first.stat().st_mtime_ns == mtime
        assert first.name == ONNX_NAME and (first.parent / "export.json").is_file()
        paths.append(first)
    assert paths[0].parent.name.startswith("sentence-transformers_all-MiniLM-L6-v2-onnx-")
    assert "-onnx-int8-" in paths[1].parent.name
    assert paths[1].stat().st_size < paths[0].stat().st_size * 0.7  # fp32 embedding table
    assert not [p for p in onnx_cache.iterdir() if ".tmp-" in p.name]


@pytest.mark.slow
def test_fp32_vectors_equal_torch(onnx_cache: Path, torch_vectors: np.ndarray) -> None:
    embedder = OnnxEmbedder(cache_root=onnx_cache, quantized=False)
    batch = embedder.embed(TEXTS)
    assert batch.shape == (len(TEXTS), 384) and batch.dtype == np.float32
    assert cosines(batch, torch_vectors).min() >= 0.9999
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    single = np.concatenate([embedder.embed([t]) for t in TEXTS])  # one at a time
    assert cosines(single, torch_vectors).min() >= 0.9999
    assert embedder.embed([]).shape == (0, 384)


@pytest.mark.slow
def test_int8_vectors_are_close_to_torch(onnx_cache: Path, torch_vectors: np.ndarray) -> None:
    vectors = OnnxEmbedder(cache_root=onnx_cache, quantized=True).embed(TEXTS)
    cos = cosines(vectors, torch_vectors)
    assert cos[:5].min() >= 0.97  # prose (BBC passages: mean 0.992, min 0.98)
    assert cos.min() >= 0.95  # "" and one [UNK] token: 0.97 and 0.967


@pytest.mark.slow
def test_tokens_and_window_match_torch(onnx_cache: Path) -> None:
    torch_embedder = SentenceTransformerEmbedder(device="cpu")
    embedder = OnnxEmbedder(cache_root=onnx_cache)
    assert embedder.count_tokens(TEXTS) == torch_embedder.count_tokens(TEXTS)
    assert (embedder.max_tokens, embedder.dimension) == (torch_embedder.max_tokens, 384)
    assert embedder.count_tokens([]) == []


@pytest.mark.slow
def test_export_is_fused_and_says_so(onnx_cache: Path) -> None:
    import onnx

    for quantized in (False, True):
        path = OnnxEmbedder(cache_root=onnx_cache, quantized=quantized).model_path
        assert json.loads((path.parent / "export.json").read_text())["fused"] is True
        ops = {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}
        attention = "QAttention" if quantized else "Attention"  # the embedding table stays fp32
        assert {"EmbedLayerNormalization", attention, "SkipLayerNormalization"} <= ops


def _exports(cache: Path) -> list[Path]:
    return sorted(cache.glob(f"*/{ONNX_NAME}"))


@pytest.mark.slow
def test_exports_share_one_word_table(onnx_cache: Path) -> None:
    exports = _exports(onnx_cache)
    assert len(exports) == 8  # fp32 and int8, each plain, question encoder and the pair
    manifests = [json.loads((p.parent / MANIFEST).read_text()) for p in exports]
    assert {tuple(m) for m in manifests} == {("model.embeddings.word_embeddings.weight",)}
    files = {m["model.embeddings.word_embeddings.weight"]["file"] for m in manifests}
    assert len(files) == 1  # the tuning leaves the table alone: one file for all eight
    assert [p.name for p in (onnx_cache / TABLES_DIR).iterdir()] == list(files)
    tables = [session_tables(p) for p in exports]
    assert all(
        t["model.embeddings.word_embeddings.weight"]
        is tables[0]["model.embeddings.word_embeddings.weight"]
        for t in tables
    )  # one copy per process


@pytest.mark.slow
def test_shared_tables_give_the_same_vectors(onnx_cache: Path) -> None:
    embedder = OnnxEmbedder(cache_root=onnx_cache)
    ids = [e.ids for e in embedder.tokenizers.window.encode_batch(TEXTS[:5])]
    pad = embedder.tokenizers.pad_id
    for path in _exports(onnx_cache):
        own = run_batch(make_session(path, 1, shared=False), ids, pad, "mean")
        shared = run_batch(make_session(path, 1), ids, pad, "mean")
        np.testing.assert_array_equal(shared, own)


@pytest.mark.slow
def test_a_missing_or_unfit_table_falls_back_to_the_exports_own(
    onnx_cache: Path, tmp_path: Path
) -> None:
    source = _exports(onnx_cache)[0].parent
    copy = tmp_path / "models" / source.name
    shutil.copytree(source, copy)
    model = copy / ONNX_NAME
    assert session_tables(model) == {}  # no tables folder beside the copy
    table = np.load(next((onnx_cache / TABLES_DIR).iterdir()))
    (tmp_path / "models" / TABLES_DIR).mkdir()
    name = json.loads((copy / MANIFEST).read_text())["model.embeddings.word_embeddings.weight"]
    np.save(tmp_path / "models" / TABLES_DIR / name["file"], table[:100])  # the wrong shape
    assert session_tables(model) == {}
    (copy / MANIFEST).write_text("{not json")
    assert session_tables(model) == {}
    embedder = OnnxEmbedder(cache_root=onnx_cache, quantized=False)
    ids = [e.ids for e in embedder.tokenizers.window.encode_batch(TEXTS[:2])]
    got = run_batch(make_session(model, 1), ids, embedder.tokenizers.pad_id, "mean")
    assert got.shape == (2, 384)


@pytest.mark.slow
def test_model_the_fusions_miss_is_exported_unfused(
    tmp_path: Path, torch_vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.embedding.onnx_export as export

    monkeypatch.setattr(export, "fuse", lambda source, target, files: False)
    embedder = OnnxEmbedder(cache_root=tmp_path, quantized=False)
    assert json.loads((embedder.model_path.parent / "export.json").read_text())["fused"] is False
    assert cosines(embedder.embed(TEXTS), torch_vectors).min() >= 0.9999


@pytest.mark.slow
def test_export_killed_midway_leaves_no_cache(
    onnx_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.embedding.onnx_export as export

    def crash(source: Path, target: Path) -> None:
        target.write_bytes(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "quantize", crash)
    with pytest.raises(KeyboardInterrupt):
        _ = OnnxEmbedder(cache_root=tmp_path, quantized=True).model_path
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    path = OnnxEmbedder(cache_root=tmp_path, quantized=True).model_path
    assert path.is_file() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


_NO_TORCH_SCRIPT = """
import json, sys
from pathlib import Path
from index.answering import answer
from index.indexing import run_index
from index.embedding import make_embedder
from index.retrieval import Retriever
from index.settings import Settings
from index.stores.local.snapshot import Snapshot

settings = Settings(_env_file=None, index_dir=Path(sys.argv[1]), corpus=[Path(sys.argv[2])],
                    backend=sys.argv[3], device="cpu")
report = run_index(settings, make_embedder(settings))
ans = answer(Retriever(settings), "How much did Time Warner's quarterly profits rise?")
heavy = ("torch", "transformers", "sentence_transformers", "onnx")
heavy = sorted(m for m in heavy if m in sys.modules)
print(json.dumps({"heavy": heavy, "passages": report.passages, "quotes": [q.text for q in ans.quotes],
                  "backend": Snapshot.open(settings.index_dir).manifest["backend"]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_index_and_answer_never_import_torch(
    onnx_cache: Path, settings: Settings, backend: str
) -> None:
    corpus = settings.corpus[0]
    for name, text in (("a.txt", ARTICLE_A), ("b.txt", ARTICLE_B), ("c.txt", ARTICLE_C)):
        write(corpus / name, text)
    models = settings.index_dir / "models"
    models.mkdir(parents=True)
    for cached in onnx_cache.iterdir():  # the session's export, as `articlebot index` leaves it
        (models / cached.name).symlink_to(cached)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLEBOT_")}
    out = subprocess.run(
        [sys.executable, "-c", _NO_TORCH_SCRIPT, str(settings.index_dir), str(corpus), backend],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], out.stderr
    assert result["passages"] >= 3 and result["backend"] == backend
    assert any("76%" in quote for quote in result["quotes"])
