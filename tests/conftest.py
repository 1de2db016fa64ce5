"""Shared fixtures: a fast deterministic embedder, settings in a temp dir, a local web site.

Values and helpers that several test modules share live in tests/helpers.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index.settings import Settings

from .fake_discord import FakeDiscord
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
    """The ONNX exports `articlebot index` made (passages, tuned questions and the
    re-ranking pair), for ``helpers.seed_models``."""
    return corpus_index / "idx" / "models"


@pytest.fixture
def site() -> Iterator[Site]:
    """A real HTTP server on 127.0.0.1 for web-source tests (tests/web_server.py)."""
    with Site() as running:
        yield running


class _ErrorRecords(logging.Handler):
    """Collects ERROR (and worse) records."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_discord_errors() -> Iterator[list[logging.LogRecord]]:
    """Fail the test when discord.py logs an error (e.g. an exception in a command)."""
    handler = _ErrorRecords()
    logger = logging.getLogger("discord")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
    formatter = logging.Formatter("%(name)s: %(message)s")  # appends the traceback, if any
    messages = [formatter.format(record) for record in handler.records]
    assert not messages, "discord.py logged errors:\n" + "\n".join(messages)


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeDiscord]:
    """A started fake that discord.py points at; parametrize indirectly for constructor kwargs."""
    kwargs: dict[str, Any] = getattr(request, "param", {})
    with FakeDiscord(**kwargs) as server, server.redirect():
        yield server
        assert server.errors == []
