"""The PostgreSQL + pgvector store on a real server (tests/pg_cluster.py): the same
indexer, retriever and answers as the local store, with nothing but the settings changed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from index.answering import answer
from index.errors import IndexBusyError, IndexMissingError
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings
from index.stores import open_store
from index.stores.local import LocalStore
from index.types import Filters

from . import pg_cluster as fixtures
from .helpers import ARTICLE_A, ARTICLE_C, REPO, HashEmbedder, corpus, write

pg_cluster, pg_url, pg_replica = fixtures.pg_cluster, fixtures.pg_url, fixtures.pg_replica


@pytest.fixture
def pg_settings(settings: Settings, pg_url: str) -> Settings:
    return settings.model_copy(update={"database_url": SecretStr(pg_url), "abstain_below": 0.0})


def test_index_search_and_answer(pg_settings: Settings) -> None:
    corpus(pg_settings)
    embedder = HashEmbedder()
    report = run_index(pg_settings, embedder)
    assert (report.added, report.failed) == (3, [])
    retriever = Retriever(pg_settings, embedder)
    hits = retriever.search("Rosneft bought the Yugansk unit")
    assert hits[0].title == "Yukos unit buyer faces loan claim"
    assert hits[0].lexical and hits[0].dense is not None
    result = answer(retriever, "How much did Rosneft pay for the Yugansk unit?")
    assert "$9.3bn" in result.quotes[0].text
    assert LocalStore(pg_settings.index_dir).exists() is False  # nothing written locally


def test_lexical_scores_follow_bm25(pg_settings: Settings) -> None:
    """The rare word outranks the common one, and a title match counts (weight 0.5)."""
    corpus(pg_settings)
    run_index(pg_settings, HashEmbedder())
    view = open_store(pg_settings).open_view()
    only_rare = view.lexical(["yugansk"], 10, None)
    assert len(only_rare) == 1
    both = dict(view.lexical(["yugansk", "profits"], 10, None))
    assert max(both, key=both.__getitem__) in dict(only_rare) or len(both) == 2
    assert view.document_frequency("sales") >= 1
    assert view.document_frequency("notaword") == 0


def test_incremental_reindex_and_delete(pg_settings: Settings) -> None:
    folder = corpus(pg_settings)
    run_index(pg_settings, HashEmbedder())
    embedder = HashEmbedder()
    report = run_index(pg_settings, embedder)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 3)
    assert embedder.embedded == []  # nothing re-embedded
    write(folder / "world" / "yukos.txt", ARTICLE_C + "\nA court in Moscow will rule on Friday.\n")
    (folder / "business" / "timewarner.txt").unlink()
    embedder = HashEmbedder()
    report = run_index(pg_settings, embedder)
    assert (report.updated, report.removed) == (1, 1)
    # Only the new text was embedded: the unchanged passages kept their vectors.
    assert all("Moscow" in t for t in embedder.embedded)
    retriever = Retriever(pg_settings, HashEmbedder())
    assert {h.title for h in retriever.search("profits TimeWarner", k=5)} <= {
        "Dollar gains on Greenspan speech",
        "Yukos unit buyer faces loan claim",
    }
    assert retriever.passage_count() == open_store(pg_settings).open_view().manifest["passages"]


def test_filters_run_in_sql(pg_settings: Settings) -> None:
    corpus(pg_settings)
    run_index(pg_settings, HashEmbedder())
    retriever = Retriever(pg_settings, HashEmbedder())
    world = retriever.search("oil unit sale", filters=Filters(source="world/"))
    assert {h.title for h in world} == {"Yukos unit buyer faces loan claim"}
    globbed = retriever.search("profits dollar", filters=Filters(source="*/business/*"))
    assert {h.title for h in globbed} <= {
        "Ad sales boost Time Warner profit",
        "Dollar gains on Greenspan speech",
    }
    dated = retriever.search("dollar euro", filters=Filters(date_from="2005-01-01"))
    assert {h.title for h in dated} == {"Dollar gains on Greenspan speech"}


def test_second_writer_is_refused(pg_settings: Settings) -> None:
    corpus(pg_settings)
    store = open_store(pg_settings)
    with store.writer_lock(), pytest.raises(IndexBusyError, match="Another `articlebot index`"):
        run_index(pg_settings, HashEmbedder())


def test_hnsw_past_the_threshold(pg_settings: Settings) -> None:
    corpus(pg_settings)
    settings = pg_settings.model_copy(update={"ann_threshold": 2})
    run_index(settings, HashEmbedder())
    view = open_store(settings).open_view()
    assert view.manifest["index_type"] == "hnsw"
    retriever = Retriever(settings, HashEmbedder())
    assert retriever.search("Rosneft Yugansk")[0].title == "Yukos unit buyer faces loan claim"


def test_unset_threshold_is_the_stores_own_default(
    pg_settings: Settings, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ARTICLEBOT_ANN_THRESHOLD unset: each store applies its own default (PostgreSQL's
    exact scan costs more than FAISS's, so it goes HNSW far sooner)."""
    from index.stores.local import dense as local
    from index.stores.postgres import vectors as postgres

    assert pg_settings.ann_threshold is None
    assert postgres.DEFAULT_ANN_THRESHOLD < local.DEFAULT_ANN_THRESHOLD
    corpus(settings)  # the same folder for both
    monkeypatch.setattr(postgres, "DEFAULT_ANN_THRESHOLD", 2)
    run_index(pg_settings, HashEmbedder())
    run_index(settings, HashEmbedder())
    assert open_store(pg_settings).open_view().manifest["index_type"] == "hnsw"
    assert open_store(settings).open_view().manifest["index_type"] == "flat"


def test_unreachable_database_is_one_clear_line(settings: Settings) -> None:
    from index.devtools.pgserver import free_port

    url = f"postgresql://articlebot@127.0.0.1:{free_port()}/articlebot"
    bad = settings.model_copy(update={"database_url": SecretStr(url)})
    with pytest.raises(IndexMissingError) as caught:
        Retriever(bad, HashEmbedder())
    message = str(caught.value)
    assert "Cannot reach PostgreSQL" in message and "ARTICLEBOT_DATABASE_URL" in message
    assert "\n" not in message


def test_replica_answers_after_commit(
    settings: Settings, pg_cluster: fixtures.LocalCluster, pg_replica: fixtures.LocalCluster
) -> None:
    """Answering reads the replica (ARTICLEBOT_DATABASE_READ_URL); the writer the primary."""
    corpus(settings)
    primary = pg_cluster.url
    replica = pg_replica.url
    both = settings.model_copy(
        update={"database_url": SecretStr(primary), "database_read_url": replica}
    )
    run_index(both, HashEmbedder(), rebuild=True)
    started = time.perf_counter()
    while True:
        try:
            retriever = Retriever(both, HashEmbedder())
            break
        except IndexMissingError:
            assert time.perf_counter() - started < 10, "the replica never caught up"
            time.sleep(0.02)
    print(f"replica lag: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert retriever.search("Rosneft Yugansk")[0].title == "Yukos unit buyer faces loan claim"


@pytest.mark.slow
def test_kill_mid_run_leaves_the_old_corpus(pg_settings: Settings, tmp_path: Path) -> None:
    """kill -9 during a long run: readers see the old corpus, and the next run finishes."""
    folder = corpus(pg_settings)
    run_index(pg_settings, HashEmbedder())
    for i in range(400):
        write(
            folder / "more" / f"story{i}.txt", f"Story {i}\n\n" + ARTICLE_A.replace("76%", f"{i}%")
        )
    env = {
        **os.environ,
        "ARTICLEBOT_DATABASE_URL": pg_settings.database_url.get_secret_value(),  # type: ignore[union-attr]
        "ARTICLEBOT_INDEX_DIR": str(pg_settings.index_dir),
        "ARTICLEBOT_CHUNK_TOKENS": "40",
    }
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from tests.helpers import HashEmbedder;"
        "from index.settings import Settings; from index.indexing import run_index;"
        "from pathlib import Path;"
        "import time, index.stores.postgres.writer as pg;"
        "add = pg.PostgresWriter.add_article\n"
        "def slow(self, *a, **k):\n    time.sleep(0.01); return add(self, *a, **k)\n"
        "pg.PostgresWriter.add_article = slow\n"
        "run_index(Settings(_env_file=None), HashEmbedder(), [Path(sys.argv[2])])"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(REPO), str(folder)], env=env)
    time.sleep(3)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    view = open_store(pg_settings).open_view()
    assert view.manifest["articles"] == 3
    assert view.articles_page(0, 1000)[0] == 3  # no half-written corpus
    report = run_index(pg_settings, HashEmbedder())
    assert report.added == 400


def test_feedback_is_shared_in_the_database(pg_settings: Settings, tmp_path: Path) -> None:
    """Votes from any bot process land in one table, which `eval --feedback` reads."""
    from index.evaluation import feedback_summary
    from index.stores.feedback import open_feedback

    corpus(pg_settings)
    run_index(pg_settings, HashEmbedder())
    for vote in (1, 1, -1):  # three processes' worth of logs, one table
        log = open_feedback(pg_settings)
        quotes = [{"text": "Rosneft bought", "article_id": "x", "start": 0, "end": 14}]
        assert log.record("who bought yugansk?", quotes, "hash", vote)
        log.close()
    out = tmp_path / "disliked.jsonl"
    summary = feedback_summary(pg_settings, out)
    assert (summary["votes"], summary["liked"], summary["disliked"]) == (3, 2, 1)
    assert "who bought yugansk?" in out.read_text()
    assert not (pg_settings.index_dir / "feedback.sqlite").exists()


def test_hnsw_build_memory_keeps_a_larger_server_setting() -> None:
    """At least 1 GB for the in-memory graph; an operator's 4 GB (needed past ~500k
    passages) is kept, not lowered to 1 GB."""
    from index.stores.postgres.vectors import hnsw_build_memory

    assert hnsw_build_memory(64 * 2**20) == "1GB"
    assert hnsw_build_memory(2**30) is None
    assert hnsw_build_memory(4 * 2**30) is None
