"""Shared fixtures: a fast deterministic embedder, settings in a temp dir, a local web site.

Values and helpers that several test modules share live in tests/helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from index.settings import Settings

from .helpers import REPO, HashEmbedder, cli
from .web_server import Site


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        index_dir=tmp_path / "index",
        corpus=[corpus],
        chunk_tokens=40,
    )


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled corpus indexed by the real CLI and model, once per session: a folder
    whose idx/ the `ask` tests read (they write nothing there)."""
    tmp = tmp_path_factory.mktemp("ask")
    result = cli(tmp, "index", str(REPO / "corpus"))
    assert result.returncode == 0, result.stderr
    return tmp


@pytest.fixture(scope="session")
def exported_models(corpus_index: Path) -> Path:
    """The ONNX exports `articlebot index` made (passages and tuned questions), for
    ``helpers.seed_models``."""
    return corpus_index / "idx" / "models"


@pytest.fixture
def site() -> Iterator[Site]:
    """A real HTTP server on 127.0.0.1 for web-source tests (tests/web_server.py)."""
    with Site() as running:
        yield running
