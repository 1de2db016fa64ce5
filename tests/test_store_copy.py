"""Copying a local index into PostgreSQL (index/stores/copy.py, `articlebot index
--copy-from DIR`) on a real server (tests/pg_cluster.py): the copy answers as the original
does, and the next index run of the copy embeds nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from index.answering import answer
from index.cli import main
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings
from index.stores.base import IndexView, closing_view
from index.stores.copy import copy_index
from index.stores.local import LocalStore
from index.stores.postgres import PostgresStore
from index.stores.postgres.writer import PostgresWriter
from index.types import Hit

from . import pg_cluster as fixtures
from .helpers import ARTICLE_C, DATE_1, STORIES, HashEmbedder, corpus, rss, serve_stories, write
from .web_server import Site

pg_cluster, pg_url = fixtures.pg_cluster, fixtures.pg_url

QUERIES = [
    "How much did Rosneft pay for the Yugansk unit?",
    "TimeWarner quarterly profits",
    "Why did the dollar rise against the euro?",
    "Greenspan trade deficit",
    "high-speed internet advert sales",
]
KEPT = ("model", "dimension", "chunk_tokens", "token_limit", "normalized", "metric")


@pytest.fixture
def local_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"abstain_below": 0.0})


@pytest.fixture
def pg_settings(local_settings: Settings, pg_url: str) -> Settings:
    return local_settings.model_copy(update={"database_url": SecretStr(pg_url)})


def copy(settings: Settings, url: str, ann_threshold: int = 200_000) -> dict[str, Any]:
    target = PostgresStore(url)
    try:
        with target.writer_lock():
            return copy_index(LocalStore(settings.index_dir), target, ann_threshold)
    finally:
        target.close()


def indexed_and_copied(local: Settings, pg: Settings) -> dict[str, Any]:
    corpus(local)
    run_index(local, HashEmbedder())
    return copy(local, pg.database_url.get_secret_value())  # type: ignore[union-attr]


@pytest.fixture
def direct_url(pg_cluster: fixtures.LocalCluster) -> Iterator[str]:
    """A second fresh database, for the index built in PostgreSQL directly."""
    with fixtures.fresh_database(pg_cluster) as url:
        yield url


def by_passage(hits: list[Hit]) -> dict[tuple[str, int], float | None]:
    return {(h.title, h.start): h.dense for h in hits}


def test_copy_searches_as_the_local_index(local_settings: Settings, pg_settings: Settings) -> None:
    """The same top passage for every query, and the same dense score for every passage
    both return (lexical scores are each store's BM25: FTS5's and SQL's differ a little,
    so below the top, ties and near-ties may order differently)."""
    summary = indexed_and_copied(local_settings, pg_settings)
    local = Retriever(local_settings, HashEmbedder())
    pg = Retriever(pg_settings, HashEmbedder())
    original = local.view.manifest
    assert (summary["articles"], summary["passages"]) == (3, original["passages"])
    assert summary["sentences"] > summary["passages"] and summary["files"] == 3
    assert {k: pg.view.manifest.get(k) for k in KEPT} == {k: original.get(k) for k in KEPT}
    for query in QUERIES:
        want, got = local.search(query, k=5), pg.search(query, k=5)
        assert got[0].title == want[0].title and got[0].start == want[0].start, query
        assert {h.title for h in got} == {h.title for h in want}, query
        mine, theirs = by_passage(want), by_passage(got)
        for key in mine.keys() & theirs.keys():
            a, b = mine[key], theirs[key]
            assert (a is None) == (b is None), (query, key)
            assert a is None or b == pytest.approx(a, abs=1e-5), (query, key)


def test_copy_is_what_indexing_into_postgres_gives(
    local_settings: Settings, pg_settings: Settings, direct_url: str
) -> None:
    """Copied or embedded there: the same hits (scores, order) and the same answers."""
    indexed_and_copied(local_settings, pg_settings)
    direct = local_settings.model_copy(update={"database_url": SecretStr(direct_url)})
    run_index(direct, HashEmbedder())
    copied, built = Retriever(pg_settings, HashEmbedder()), Retriever(direct, HashEmbedder())
    for query in QUERIES:
        want, got = built.search(query, k=5), copied.search(query, k=5)
        assert [(h.title, h.start, h.end) for h in got] == [
            (h.title, h.start, h.end) for h in want
        ], query
        assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-6)
        assert [h.lexical for h in got] == [h.lexical for h in want], query
        # Answers read the copied sentence vectors: the same quotes, cited the same way.
        mine, theirs = answer(built, query), answer(copied, query)
        assert theirs.quotes, query
        assert [q.text for q in theirs.quotes] == [q.text for q in mine.quotes], query
        assert [s.title for s in theirs.sources] == [s.title for s in mine.sources], query


def texts(view: IndexView, hits: list[tuple[int, float]]) -> list[str]:
    rows = view.passages([i for i, _ in hits])
    return [rows[i].text for i, _ in hits]


def test_dense_search_matches_exactly(local_settings: Settings, pg_settings: Settings) -> None:
    """Every passage's vector arrives intact: its own nearest neighbour with cosine 1."""
    indexed_and_copied(local_settings, pg_settings)
    embedder = HashEmbedder()
    with (
        closing_view(LocalStore(local_settings.index_dir)) as local,
        closing_view(PostgresStore(pg_settings.database_url.get_secret_value())) as pg,  # type: ignore[union-attr]
    ):
        vector = embedder.embed(["dollar euro Greenspan deficit"])[0]
        want, got = local.dense(vector, 20, None), pg.dense(vector, 20, None)
        assert texts(pg, got) == texts(local, want)
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)


def test_reindex_after_copy_embeds_nothing(local_settings: Settings, pg_settings: Settings) -> None:
    indexed_and_copied(local_settings, pg_settings)
    embedder = HashEmbedder()
    report = run_index(pg_settings, embedder)
    assert embedder.embedded == []
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, 3)
    # A changed file: only its new text is embedded, the copied vectors are reused.
    folder = local_settings.corpus[0]
    write(folder / "world" / "yukos.txt", ARTICLE_C + "\nA court in Moscow will rule on Friday.\n")
    report = run_index(pg_settings, embedder)
    assert report.updated == 1 and embedder.embedded
    assert all("Moscow" in text for text in embedder.embedded)


def test_web_sources_travel(site: Site, local_settings: Settings, pg_settings: Settings) -> None:
    local = local_settings.model_copy(update={"allow_private_urls": True, "fetch_delay": 0.0})
    pg = pg_settings.model_copy(update={"allow_private_urls": True, "fetch_delay": 0.0})
    serve_stories(site)
    body = rss(site, [(p, DATE_1) for p in STORIES])
    feed = site.route("/rss.xml", body, content_type="application/rss+xml", etag='"f1"')
    run_index(local, HashEmbedder(), urls=[feed])
    copy(local, pg.database_url.get_secret_value())  # type: ignore[union-attr]
    with (
        closing_view(LocalStore(local.index_dir)) as want,
        closing_view(PostgresStore(pg.database_url.get_secret_value())) as got,  # type: ignore[union-attr]
    ):
        assert got.web_state() == want.web_state()
        assert got.web_article_counts() == {feed: 3}
    site.reset()
    embedder = HashEmbedder()
    report = run_index(pg, embedder)  # one conditional request, answered 304
    assert embedder.embedded == [] and report.requests == 1 and not report.failed


def test_copy_replaces_the_target_in_one_transaction(
    local_settings: Settings, pg_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = indexed_and_copied(local_settings, pg_settings)
    url = pg_settings.database_url.get_secret_value()  # type: ignore[union-attr]
    again = copy(local_settings, url, ann_threshold=2)
    assert (again["articles"], again["passages"]) == (first["articles"], first["passages"])
    assert (again["generation"], again["index_type"]) == (first["generation"] + 1, "hnsw")
    add, calls = PostgresWriter.add_article, []

    def failing(self: PostgresWriter, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:  # the second article: the first is written, in the transaction
            raise RuntimeError("disk on fire")
        add(self, *args, **kwargs)

    monkeypatch.setattr(PostgresWriter, "add_article", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        copy(local_settings, url)
    with closing_view(PostgresStore(url)) as view:  # the copy before, untouched
        assert view.manifest["generation"] == again["generation"]
        assert view.articles_page(0, 10)[0] == 3


def test_cli_copy_from(
    local_settings: Settings, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    corpus(local_settings)
    run_index(local_settings, HashEmbedder())
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("ARTICLEBOT_INDEX_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("ARTICLEBOT_DATABASE_URL", raising=False)
    source = str(local_settings.index_dir)
    assert main(["index", "--copy-from", source]) == 2
    assert "set ARTICLEBOT_DATABASE_URL" in capsys.readouterr().err
    monkeypatch.setenv("ARTICLEBOT_DATABASE_URL", pg_url)
    assert main(["index", "--copy-from", str(tmp_path / "missing")]) == 2
    assert "No index in" in capsys.readouterr().err
    assert main(["index", "--copy-from", source, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["articles"] == 3 and summary["generation"] == 1
    assert main(["index", "--copy-from", source]) == 0
    assert capsys.readouterr().out.startswith("copied 3 articles / ")
