"""Incremental indexing against real SQLite and FAISS with the fast test embedder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from index.errors import ConfigError, IndexBusyError, IndexMismatchError, IndexMissingError
from index.indexing import run_index
from index.settings import Settings
from index.stores.local.lock import writer_lock
from index.stores.local.snapshot import Snapshot

from .helpers import ARTICLE_A, ARTICLE_B, ARTICLE_C, HashEmbedder, check_consistent, write


def corpus_of(settings: Settings) -> Path:
    return settings.corpus[0]


def test_first_run_indexes_everything(settings: Settings, embedder: HashEmbedder) -> None:
    write(corpus_of(settings) / "a.txt", ARTICLE_A)
    write(corpus_of(settings) / "sub" / "b.txt", ARTICLE_B)
    write(corpus_of(settings) / "notes.pdf", "not supported")
    report = run_index(settings, embedder)
    assert (report.added, report.updated, report.removed, report.failed) == (2, 0, 0, [])
    assert report.skipped == 1
    assert report.passages == report.embedded > 2
    assert len(embedder.embedded) == report.embedded + report.embedded_sentences
    assert report.embedded_sentences > 0  # one-sentence passages reuse the passage vector
    snap = check_consistent(settings)
    assert snap.manifest["model"] == embedder.name and snap.manifest["dimension"] == 64
    assert snap.manifest["articles"] == 2 and snap.generation == 1


def test_repeated_text_is_embedded_once(settings: Settings, embedder: HashEmbedder) -> None:
    write(corpus_of(settings) / "a.txt", ARTICLE_A)
    write(corpus_of(settings) / "wire" / "a-again.txt", ARTICLE_A)  # a republished story
    write(corpus_of(settings) / "b.txt", ARTICLE_B)
    report = run_index(settings, embedder)
    assert report.added == 3
    embedded = report.embedded + report.embedded_sentences
    assert len(embedder.embedded) == len(set(embedder.embedded)) == embedded
    assert report.passages > report.embedded
    snap = check_consistent(settings)
    rows = snap.conn.execute("SELECT id, text FROM passages ORDER BY id").fetchall()
    by_text: dict[str, list[int]] = {}
    for pid, text in rows:
        by_text.setdefault(text, []).append(int(pid))
    twins = [ids for ids in by_text.values() if len(ids) == 2]
    assert twins and len(twins) == report.passages - report.embedded
    for first, second in twins:
        np.testing.assert_array_equal(
            snap.vectors.reconstruct(first), snap.vectors.reconstruct(second)
        )


def test_unchanged_rerun_embeds_nothing_and_keeps_generation(
    settings: Settings, embedder: HashEmbedder
) -> None:
    write(corpus_of(settings) / "a.txt", ARTICLE_A)
    first = run_index(settings, embedder)
    embedder.embedded.clear()
    again = run_index(settings, HashEmbedder())
    assert again.embedded == 0 and again.unchanged == 1 and again.generation == first.generation
    os.utime(corpus_of(settings) / "a.txt")  # touched, same bytes
    touched = run_index(settings, embedder)
    assert touched.embedded == 0 and touched.unchanged == 1 and embedder.embedded == []


def test_modify_add_delete(settings: Settings, embedder: HashEmbedder) -> None:
    corpus = corpus_of(settings)
    write(corpus / "a.txt", ARTICLE_A)
    write(corpus / "b.txt", ARTICLE_B)
    run_index(settings, embedder)
    embedder.embedded.clear()
    write(corpus / "a.txt", ARTICLE_A + "\nA new closing paragraph about quarterly results.\n")
    (corpus / "b.txt").unlink()
    write(corpus / "c.txt", ARTICLE_C)
    report = run_index(settings, embedder)
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 0)
    # Only new text is embedded: the unchanged passages of a.txt reuse their vectors.
    assert all("Greenspan" not in t for t in embedder.embedded)
    assert any("closing paragraph" in t for t in embedder.embedded)
    assert not any(
        t.startswith("Quarterly profits") and "closing" not in t for t in embedder.embedded
    )
    snap = check_consistent(settings)
    titles = {r[0] for r in snap.conn.execute("SELECT title FROM articles")}
    assert titles == {"Ad sales boost Time Warner profit", "Yukos unit buyer faces loan claim"}
    assert snap.generation == 2


def test_roots_are_remembered_added_and_removed(
    settings: Settings, embedder: HashEmbedder, tmp_path: Path
) -> None:
    write(corpus_of(settings) / "a.txt", ARTICLE_A)
    other = tmp_path / "other"
    write(other / "b.txt", ARTICLE_B)
    run_index(settings, embedder)
    report = run_index(settings, embedder, [other])
    assert report.added == 1 and len(report.roots) == 2
    write(other / "c.txt", ARTICLE_C)
    assert run_index(settings, embedder).added == 1  # no path: re-sync every remembered root
    report = run_index(settings, embedder, remove=[other])
    assert report.removed == 2 and report.roots == [str(corpus_of(settings).resolve())]
    with pytest.raises(ConfigError, match="not an indexed root"):
        run_index(settings, embedder, remove=[other])


def test_missing_root_keeps_its_articles(
    settings: Settings, embedder: HashEmbedder, tmp_path: Path
) -> None:
    other = tmp_path / "mount"
    write(other / "b.txt", ARTICLE_B)
    write(corpus_of(settings) / "a.txt", ARTICLE_A)
    run_index(settings, embedder)
    run_index(settings, embedder, [other])
    (other / "b.txt").unlink()
    other.rmdir()
    report = run_index(settings, embedder)
    assert report.removed == 0
    assert [(f.path, "missing" in f.reason) for f in report.failed] == [(str(other), True)]
    assert check_consistent(settings).manifest["articles"] == 2


def test_bad_files_are_reported_and_the_rest_indexed(
    settings: Settings, embedder: HashEmbedder
) -> None:
    corpus = corpus_of(settings)
    write(corpus / "a.txt", ARTICLE_A)
    (corpus / "bin.txt").write_bytes(b"\x00\x01binary")
    write(corpus / "bad.json", "{nope")
    report = run_index(settings, embedder)
    assert report.added == 1
    assert sorted(Path(f.path).name for f in report.failed) == ["bad.json", "bin.txt"]
    # A file that breaks later keeps its previous version in the index.
    write(corpus / "a.txt", "\x00 now broken")
    report = run_index(settings, embedder)
    assert [Path(f.path).name for f in report.failed].count("a.txt") == 1
    assert check_consistent(settings).manifest["articles"] == 1


def test_model_mismatch_says_to_rebuild(settings: Settings, embedder: HashEmbedder) -> None:
    write(corpus_of(settings) / "a.txt", ARTICLE_A)
    run_index(settings, embedder)
    with pytest.raises(IndexMismatchError, match="articlebot index --rebuild"):
        run_index(settings, HashEmbedder(name="other-model"))
    same_name_other_dim = HashEmbedder(dimension=32)
    write(corpus_of(settings) / "b.txt", ARTICLE_B)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        run_index(settings, same_name_other_dim)
    assert check_consistent(settings).manifest["articles"] == 1  # nothing lost
    report = run_index(settings, HashEmbedder(name="other-model"), rebuild=True)
    assert report.added == 2
    assert Snapshot.open(settings.index_dir).manifest["model"] == "other-model"


def test_changing_chunk_size_rechunks(settings: Settings) -> None:
    embedder = HashEmbedder(max_tokens=500)
    write(corpus_of(settings) / "a.txt", ARTICLE_A)
    before = run_index(settings, embedder).passages
    bigger = settings.model_copy(update={"chunk_tokens": 200})
    report = run_index(bigger, embedder)
    assert report.passages < before and report.updated == 1


def test_missing_index_and_busy_writer(settings: Settings, embedder: HashEmbedder) -> None:
    with pytest.raises(IndexMissingError, match="articlebot index"):
        Snapshot.open(settings.index_dir)
    write(corpus_of(settings) / "a.txt", ARTICLE_A)
    with writer_lock(settings.index_dir), pytest.raises(IndexBusyError):
        run_index(settings, embedder)


def test_readers_keep_their_generation_while_a_new_one_is_published(
    settings: Settings, embedder: HashEmbedder
) -> None:
    write(corpus_of(settings) / "a.txt", ARTICLE_A)
    run_index(settings, embedder)
    reader = Snapshot.open(settings.index_dir)
    for i, text in enumerate([ARTICLE_B, ARTICLE_C]):
        write(corpus_of(settings) / f"n{i}.txt", text)
        run_index(settings, embedder)
    # Old generations are retired, but an open reader still reads its consistent copy.
    assert reader.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
    assert Snapshot.open(settings.index_dir).manifest["articles"] == 3
    gens = sorted(p.name for p in settings.index_dir.glob("gen-*"))
    assert len(gens) == 2


def test_ann_index_above_threshold(settings: Settings, embedder: HashEmbedder) -> None:
    write(corpus_of(settings) / "a.txt", ARTICLE_A)
    write(corpus_of(settings) / "b.txt", ARTICLE_B)
    small = settings.model_copy(update={"ann_threshold": 2})
    run_index(small, embedder)
    snap = check_consistent(small)
    assert snap.manifest["index_type"] == "hnsw"
    import faiss

    assert faiss.downcast_index(snap.vectors.index).hnsw.efSearch == 128
    (corpus_of(settings) / "b.txt").unlink()
    run_index(small, embedder)
    check_consistent(small)


def test_missing_corpus_is_a_clear_error(tmp_path: Path, embedder: HashEmbedder) -> None:
    settings = Settings(_env_file=None, index_dir=tmp_path / "i", corpus=[tmp_path / "nope"])  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="does not exist"):
        run_index(settings, embedder)
