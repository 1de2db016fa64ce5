"""Hostile inputs and faults: one bad file never stops a run, what a killed run left
behind is cleaned up, and caches that questions feed stay bounded."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index.indexing import run_index
from index.retrieval import Retriever
from index.retrieval import generation as generation_module
from index.retrieval.cache import LRU
from index.settings import Settings
from index.stores.local.snapshot import Snapshot

from .helpers import ARTICLE_A, ARTICLE_B, REPO, HashEmbedder, write


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("deep.json", "[" * 100_000),  # RecursionError in the JSON parser
        ("deep.jsonl", '{"title": "ok", "text": "fine"}\n' + "[" * 100_000 + "\n"),
        ("bad-month.md", "---\ntitle: Bad date\ndate: 2024-13-45\n---\nSome text here.\n"),
        ("bad-day.md", "---\ntitle: Bad date\ndate: 2024-02-30\n---\nSome text here.\n"),
    ],
)
def test_one_hostile_file_fails_alone(
    settings: Settings, embedder: HashEmbedder, name: str, content: str
) -> None:
    corpus = settings.corpus[0]
    write(corpus / "a.txt", ARTICLE_A)
    write(corpus / "b.txt", ARTICLE_B)
    write(corpus / name, content)
    report = run_index(settings, embedder)
    failed = {Path(f.path).name for f in report.failed}
    assert report.added >= 2
    assert failed <= {name}  # nothing else failed
    if failed:
        assert all(f.reason for f in report.failed)
    assert Snapshot.open(settings.index_dir).manifest["articles"] >= 2


def test_a_killed_runs_copy_is_removed_by_a_run_with_nothing_to_do(
    settings: Settings, embedder: HashEmbedder
) -> None:
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    run_index(settings, embedder)
    leftover = settings.index_dir / "gen-000002.tmp-999999"  # what kill -9 leaves
    (leftover / "index.sqlite").parent.mkdir()
    (leftover / "index.sqlite").write_bytes(b"\0" * 4096)
    report = run_index(settings, embedder)
    assert report.unchanged == 1 and report.added == 0
    assert not leftover.exists()


def test_word_frequency_cache_is_bounded(
    settings: Settings, embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generation_module, "DF_CACHE", 50)
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    run_index(settings, embedder)
    retriever = Retriever(settings, embedder)
    for i in range(300):
        retriever.search(f"profits word{i} other{i}", 3)
    cache = retriever.pin().df_cache
    assert 0 < len(cache) <= 50
    assert retriever.document_frequency("profits") >= 1  # still answers after eviction


def test_lru_keeps_the_recently_used() -> None:
    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "a" is now the most recent
    lru.put("c", 3)
    assert lru.get("b") is None and lru.get("a") == 1 and lru.get("c") == 3
    assert len(lru) == 2


def test_the_same_file_reached_twice_is_indexed_once(
    settings: Settings, embedder: HashEmbedder
) -> None:
    corpus = settings.corpus[0]
    target = write(corpus / "a.txt", ARTICLE_A)
    (corpus / "alias.txt").symlink_to(target)
    (corpus / "sub").mkdir()
    (corpus / "sub" / "again").symlink_to(corpus, target_is_directory=True)  # a link loop
    os.link(target, corpus / "hard.txt")
    report = run_index(settings, embedder)
    assert not report.failed
    assert Snapshot.open(settings.index_dir).manifest["articles"] >= 1
    assert run_index(settings, embedder).unchanged >= 1  # and a second run agrees


def test_duplicate_ids_and_broken_lines_are_reported_and_the_rest_indexed(
    settings: Settings, embedder: HashEmbedder
) -> None:
    records = [
        '{"id": "x", "title": "One", "text": "The first record about profits."}',
        '{"id": "x", "title": "Two", "text": "A second record with the same id."}',
        '{"id": "y", "title": "Three", "text": "The third record about the dollar."}',
        '{"id": "z", "title": "Broken", "text": ',
        '{"id": "w", "title": "Five", "text": "The fifth record about oil."}',
    ]
    write(settings.corpus[0] / "feed.jsonl", "\n".join(records) + "\n")
    report = run_index(settings, embedder)
    assert report.added == 3  # x, y and w
    reasons = sorted(f.reason for f in report.failed)
    assert len(reasons) == 2
    assert reasons[0].startswith("line 4: malformed JSON")
    assert reasons[1].startswith("record 2: id 'x' is also record 1's")
    assert all(f.path.endswith("feed.jsonl") for f in report.failed)


def test_rebuild_re_embeds_the_remembered_roots(
    settings: Settings, embedder: HashEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "elsewhere"
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    write(other / "b.txt", ARTICLE_B)
    run_index(settings, embedder)
    run_index(settings, embedder, [other])
    # Run from a folder whose ./corpus is not the index's: the rebuild must not care.
    monkeypatch.chdir(tmp_path)
    elsewhere = settings.model_copy(update={"corpus": [tmp_path / "no-such-corpus"]})
    report = run_index(elsewhere, embedder, rebuild=True)
    assert report.added == 2 and not report.failed
    assert sorted(report.roots) == sorted([str(settings.corpus[0].resolve()), str(other)])


def as_unprivileged(script: str) -> subprocess.CompletedProcess[str]:
    """Run a Python ``script`` as root without the capabilities that let root read and
    write anything: file permissions then apply, as for a normal user."""
    return subprocess.run(
        [
            "capsh",
            "--drop=cap_dac_override,cap_dac_read_search",
            "--",
            "-c",
            f'{sys.executable} -c "$0"',
            script,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.helpers import HashEmbedder
from index.indexing import run_index
from index.settings import Settings
settings = Settings(_env_file=None, index_dir=Path({index!r}), corpus=[Path({corpus!r})],
                    chunk_tokens=40)
report = run_index(settings, HashEmbedder())
print(report.removed, len(report.failed), report.unchanged)
print("\\n".join(f.path + ": " + f.reason for f in report.failed), file=sys.stderr)
"""


@pytest.mark.skipif(shutil.which("capsh") is None or os.geteuid() != 0, reason="needs capsh, root")
def test_an_unreadable_folder_is_a_failure_not_a_deletion(
    settings: Settings, embedder: HashEmbedder, tmp_path: Path
) -> None:
    corpus = settings.corpus[0]
    write(corpus / "a.txt", ARTICLE_A)
    write(corpus / "locked" / "b.txt", ARTICLE_B)
    run_index(settings, embedder)
    (corpus / "locked").chmod(0o000)
    try:
        script = SCRIPT.format(repo=str(REPO), index=str(settings.index_dir), corpus=str(corpus))
        result = as_unprivileged(script)
    finally:
        (corpus / "locked").chmod(0o755)
    assert result.returncode == 0, result.stderr
    removed, failed, _ = (int(x) for x in result.stdout.split())
    assert removed == 0 and failed == 1
    assert "locked" in result.stderr and "cannot read folder" in result.stderr
    assert Snapshot.open(settings.index_dir).manifest["articles"] == 2


BILLION_LAUGHS = (
    "---\n"
    + "\n".join(
        [
            'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
            *(
                f"{c}: &{c} [{','.join(['*' + p] * 9)}]"
                for p, c in zip("abcdefgh", "bcdefghi", strict=True)
            ),
        ]
    )
    + "\n---\nThe body of the article.\n"
)


def test_front_matter_aliases_are_refused_quickly(
    settings: Settings, embedder: HashEmbedder
) -> None:
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    write(settings.corpus[0] / "laughs.md", BILLION_LAUGHS)
    report = run_index(settings, embedder)  # expanded, this is 9^9 strings
    assert [Path(f.path).name for f in report.failed] == ["laughs.md"]
    assert "aliases" in report.failed[0].reason
    assert report.added == 1


def test_impossible_front_matter_dates_do_not_fail_the_file(
    settings: Settings, embedder: HashEmbedder
) -> None:
    write(settings.corpus[0] / "d.md", "---\ntitle: Dated\ndate: 2024-02-30\n---\nText here.\n")
    report = run_index(settings, embedder)
    assert report.added == 1 and not report.failed


def test_an_oversized_file_is_refused_before_it_is_read(
    settings: Settings, embedder: HashEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = settings.corpus[0] / "huge.txt"
    with open(big, "wb") as handle:  # sparse: 3 GB that take no disk
        handle.truncate(3 * 2**30)
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    opened: list[str] = []
    real_open = open

    def watching_open(file: object, *args: object, **kwargs: object) -> object:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    real_read_bytes = Path.read_bytes

    def watching_read_bytes(self: Path) -> bytes:
        opened.append(str(self))
        return real_read_bytes(self)

    monkeypatch.setattr("builtins.open", watching_open)
    monkeypatch.setattr(Path, "read_bytes", watching_read_bytes)
    report = run_index(settings, embedder)
    assert [Path(f.path).name for f in report.failed] == ["huge.txt"]
    assert "above the 50 MB limit" in report.failed[0].reason
    assert str(big) not in opened and str(big.resolve()) not in opened


def test_links_out_of_the_corpus_are_not_followed(
    settings: Settings, embedder: HashEmbedder, tmp_path: Path
) -> None:
    secret = write(tmp_path / "private" / "secret.txt", "Secret\n\nThe password is hunter2.")
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    (settings.corpus[0] / "passwd.txt").symlink_to(secret)
    report = run_index(settings, embedder)
    assert report.added == 1 and any("links outside" in w for w in report.warnings)
    allowed = settings.model_copy(update={"follow_external_links": True})
    assert run_index(allowed, embedder).added == 1  # now the secret is indexed too


def test_a_file_name_that_is_not_utf8_fails_alone(
    settings: Settings, embedder: HashEmbedder
) -> None:
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    name = os.path.join(os.fsencode(settings.corpus[0]), b"bad\xff\xfe.txt")
    with open(name, "wb") as handle:
        handle.write(b"Title\n\nSome text about profits.")
    report = run_index(settings, embedder)
    assert report.added == 1
    assert [f.reason for f in report.failed] == [
        "the file name is not valid UTF-8; rename the file"
    ]


def test_terminal_output_carries_no_control_characters() -> None:
    from index.terminal import printable

    hostile = "Profits\x1b[2J rose\x1b]0;PWNED\x07 by \u009b31m 5%\n\tnext line"
    assert printable(hostile) == "Profits[2J rose]0;PWNED by 31m 5%\n\tnext line"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"data": "x"}', "not a valid SQuAD file"),
        (b'{"version": "v2.0", "other": 1, "data": [{"title": "T"}]}', "not a valid SQuAD"),
        (b'{"question": "q?", "answers": 76}\n', '"answers" must be a list of strings'),
        (b'{"question": "q?", "answers": ["a"], "article": 5}\n', '"article" must be a string'),
        (b'{"question": "caf\xe9?"}\n', "not UTF-8"),
        (b"[" * 100_000, "each line must be a JSON object"),
    ],
)
def test_malformed_question_files_are_one_clear_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    from index.errors import ConfigError
    from index.evaluation import load_questions

    path = tmp_path / "q.jsonl"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_questions(path)


def test_squad_file_whose_data_key_comes_late_is_read_as_squad(tmp_path: Path) -> None:
    from index.evaluation import load_questions

    squad = {"version": "v2.0", **{f"pad{i}": "x" * 50 for i in range(10)}}
    squad["data"] = [
        {"title": "T", "paragraphs": [{"qas": [{"question": "Q?", "answers": [{"text": "a"}]}]}]}
    ]
    path = tmp_path / "late.json"
    path.write_text(__import__("json").dumps(squad, indent=1))
    assert [q.question for q in load_questions(path)] == ["Q?"]


def test_undated_and_unparseable_dates_do_not_pass_a_date_filter(
    settings: Settings, embedder: HashEmbedder
) -> None:
    from index.types import Filters

    corpus = settings.corpus[0]
    write(corpus / "dated.md", "---\ntitle: Dated\ndate: 2021-05-01\n---\nProfits rose sharply.\n")
    write(corpus / "vague.md", "---\ntitle: Vague\ndate: yesterday\n---\nProfits rose again.\n")
    write(corpus / "none.md", "---\ntitle: Undated\n---\nProfits rose once more.\n")
    run_index(settings, embedder)
    retriever = Retriever(settings, embedder)
    titles = {
        h.title for h in retriever.search("profits rose", 10, Filters(date_from="2000-01-01"))
    }
    assert titles == {"Dated"}
    assert {h.date for h in retriever.search("profits rose", 10)} == {"2021-05-01", None}


def test_disk_full_is_recognised_however_it_is_said() -> None:
    import errno
    import sqlite3

    from index.cli import disk_full

    assert disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert disk_full(sqlite3.OperationalError("database or disk is full"))
    assert disk_full(RuntimeError("Error in faiss::FileIOWriter: No space left on device"))
    assert not disk_full(OSError(errno.EACCES, "Permission denied"))


def test_an_index_folder_that_is_a_file_is_one_clear_error(tmp_path: Path) -> None:
    from index.cli import main

    (tmp_path / "idx").write_text("not a folder")
    for command in (["stats"], ["index"], ["search", "x"]):
        assert main([*command, "--index-dir", str(tmp_path / "idx")]) == 2


INDEX_READ_ONLY = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.helpers import HashEmbedder
from index.errors import ConfigError
from index.indexing import run_index
from index.settings import Settings
from bot.feedback import FeedbackStore
settings = Settings(_env_file=None, index_dir=Path({index!r}), corpus=[Path({corpus!r})],
                    chunk_tokens=40)
try:
    run_index(settings, HashEmbedder())
    print("indexed")
except ConfigError as exc:
    print("error:", exc)
store = FeedbackStore(Path({index!r}) / "feedback.sqlite")
print("feedback", store.enabled, store.off_reason is not None)
"""


@pytest.mark.skipif(shutil.which("capsh") is None or os.geteuid() != 0, reason="needs capsh, root")
def test_a_read_only_index_folder_is_one_clear_error_and_the_bot_serves_without_feedback(
    settings: Settings, embedder: HashEmbedder
) -> None:
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    run_index(settings, embedder)
    (settings.index_dir / "lock").unlink()
    settings.index_dir.chmod(0o555)
    try:
        script = INDEX_READ_ONLY.format(
            repo=str(REPO), index=str(settings.index_dir), corpus=str(settings.corpus[0])
        )
        result = as_unprivileged(script)
    finally:
        settings.index_dir.chmod(0o755)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("error: Cannot write to the index folder")
    assert lines[1] == "feedback False True"


def _answer_with(title: str, question: str = "q", url: str | None = None, date: str | None = None):  # type: ignore[no-untyped-def]
    from index.answering import Answer, Quote, Source

    quote = Quote("Profits rose.", "a1", 0, 13, 1.0, 1, False, False)
    source = Source(1, "a1", title, url, "/x/a.txt", date, None, None, url)
    return Answer(question, (quote,), (source,), False)


def test_discord_titles_stay_within_the_limit_after_escaping() -> None:
    from bot.render import TITLE_LIMIT, render_answer

    hostile = "*_`~|>#" * 120  # every character needs an escape
    spec = render_answer(_answer_with("t", question=hostile))
    assert len(spec.title) <= TITLE_LIMIT and spec.title.startswith("\\*")


def test_a_huge_url_does_not_push_its_source_out() -> None:
    from bot.render import OUR_SOURCES, render_sources

    ans = _answer_with("Oil deal signed", url="https://example.com/" + "a" * 1500)
    sources = render_sources(ans)
    assert sources.startswith("**[1]** Oil deal signed") and "more" not in sources
    assert len(sources) <= OUR_SOURCES and "example.com" in sources


def test_dates_and_titles_from_articles_are_escaped_and_bounded() -> None:
    from bot.render import render_sources, safe

    ans = _answer_with("@everyone [click me](http://evil.example)", date="@here " + "x" * 900)
    sources = render_sources(ans)
    assert "@everyone" not in sources and "@here" not in sources
    assert re.search(r"(?<!\\)\[click me\]\(", sources) is None  # no live masked link
    assert len(sources) < 400
    assert len(safe("`" * 1000, 100)) <= 100


def _built(settings: Settings, embedder: HashEmbedder) -> Path:
    write(settings.corpus[0] / "a.txt", ARTICLE_A)
    write(settings.corpus[0] / "b.txt", ARTICLE_B)
    run_index(settings, embedder)
    return Snapshot.open(settings.index_dir).dir


@pytest.mark.parametrize("damage", ["truncate-vectors", "garbage-sqlite", "binary-current"])
def test_a_damaged_index_is_one_clear_line_and_repair_restores_it(
    settings: Settings, embedder: HashEmbedder, damage: str
) -> None:
    from index.errors import IndexDamagedError

    gen = _built(settings, embedder)
    if damage == "truncate-vectors":
        data = (gen / "vectors.faiss").read_bytes()
        (gen / "vectors.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "garbage-sqlite":
        size = (gen / "index.sqlite").stat().st_size
        (gen / "index.sqlite").write_bytes(os.urandom(size))  # same size: caught by SQLite
    else:
        (settings.index_dir / "CURRENT").write_bytes(b"\xff\xfe\x00gen")
    with pytest.raises(IndexDamagedError, match="articlebot index --repair"):
        Retriever(settings, embedder).search("profits", 3)
    with pytest.raises(IndexDamagedError, match="--repair"):
        run_index(settings, embedder)  # a plain run does not call a damaged index unchanged
    report = run_index(settings, embedder, rebuild=True)  # what --repair does
    assert report.added == 2 and not report.failed
    assert Retriever(settings, embedder).search("TimeWarner profits", 3)


def test_stats_check_verifies_checksums(settings: Settings, embedder: HashEmbedder) -> None:
    from index.errors import IndexDamagedError

    gen = _built(settings, embedder)
    Snapshot.open(settings.index_dir).verify()  # sound
    data = bytearray((gen / "vectors.faiss").read_bytes())
    data[-5] ^= 0xFF  # same size, different bytes: only the checksum sees it
    (gen / "vectors.faiss").write_bytes(bytes(data))
    Snapshot.open(settings.index_dir)  # the cheap check on open passes
    with pytest.raises(IndexDamagedError, match="not as published"):
        Snapshot.open(settings.index_dir).verify()


def test_the_bot_keeps_serving_when_a_new_generation_is_damaged(
    settings: Settings, embedder: HashEmbedder
) -> None:
    _built(settings, embedder)
    retriever = Retriever(settings, embedder)
    assert retriever.search("TimeWarner profits", 3)
    write(settings.corpus[0] / "c.txt", "Extra story\n\nA third article about the dollar.")
    run_index(settings, embedder)
    new_gen = Snapshot.open(settings.index_dir).dir
    (new_gen / "vectors.faiss").write_bytes(b"junk")
    assert retriever.search("TimeWarner profits", 3)  # still the previous generation


def test_a_path_longer_than_the_system_allows_fails_alone(
    settings: Settings, embedder: HashEmbedder
) -> None:
    corpus = settings.corpus[0]
    write(corpus / "a.txt", ARTICLE_A)
    deep = os.open(corpus, os.O_RDONLY)
    try:  # build 4,600+ bytes of nested folders relative to an fd: no single call too long
        for _ in range(20):
            os.mkdir("d" * 230, dir_fd=deep)
            nxt = os.open("d" * 230, os.O_RDONLY, dir_fd=deep)
            os.close(deep)
            deep = nxt
        fd = os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=deep)
        os.write(fd, b"Deep\n\nA story buried very deep.")
        os.close(fd)
    finally:
        os.close(deep)
    report = run_index(settings, embedder)
    assert report.added >= 1
    assert all(f.reason for f in report.failed)


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def test_a_full_disk_mid_run_keeps_the_previous_index(
    settings: Settings, embedder: HashEmbedder, tmp_path: Path
) -> None:
    from index.cli import disk_full

    small = tmp_path / "small-disk"
    if os.geteuid() != 0 or not _mount_tmpfs(small, "600k"):
        pytest.skip("needs root and tmpfs")
    try:
        full = settings.model_copy(update={"index_dir": small / "index"})
        write(settings.corpus[0] / "a.txt", ARTICLE_A)
        run_index(full, embedder)
        before = Snapshot.open(full.index_dir).manifest
        for i in range(60):  # far more than the disk holds
            story = " ".join(f"Sentence {i}-{j} about profits and oil." for j in range(60))
            write(settings.corpus[0] / f"big{i}.txt", f"Story {i}\n\n{story}")
        with pytest.raises(Exception) as caught:
            run_index(full, embedder)
        assert disk_full(caught.value), repr(caught.value)
        assert Snapshot.open(full.index_dir).manifest == before
        assert not list(full.index_dir.glob("gen-*.tmp-*"))  # the failed copy is gone
    finally:
        # Lazy: a snapshot the test left open must not keep the mount (and the tmp dir) alive.
        subprocess.run(["umount", "-l", str(small)], check=False)
