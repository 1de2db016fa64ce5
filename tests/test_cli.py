"""The real CLI in a subprocess with the real bundled model: index, stats, exit codes, --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.embedding.onnx_tables import TABLES_DIR

from .helpers import ARTICLE_A, REPO, cli, seed_models, write

pytestmark = pytest.mark.slow


def ask_batch(corpus_index: Path, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """``articlebot ask --json -`` with ``stdin`` as its questions."""
    return subprocess.run(
        [sys.executable, "-m", "index", "ask", "--json", "-"],
        input=stdin,
        cwd=corpus_index,
        env={**os.environ, "ARTICLEBOT_INDEX_DIR": str(corpus_index / "idx")},
        capture_output=True,
        timeout=300,
        check=False,
    )


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from index.cli import build_parser; build_parser().format_help(); "
        "heavy = [m for m in ('torch', 'faiss', 'sentence_transformers', 'numpy', 'trafilatura')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_index_and_stats_on_bundled_corpus(tmp_path: Path) -> None:
    result = cli(tmp_path, "index", str(REPO / "corpus"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("added 1 / updated 0 / unchanged 0 / removed 0 / failed 0")
    stats = json.loads(cli(tmp_path, "stats", "--json").stdout)
    assert stats["articles"] == 1 and stats["passages"] >= 3
    assert stats["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    # The tuned question encoder and the re-ranking pair are exported with the index, not
    # on the first question.
    models = tmp_path / "idx" / "models"
    exports = [p.name for p in models.iterdir() if p.name != TABLES_DIR]
    assert sum("-q" in name for name in exports) == 3 and len(exports) == 4, exports
    assert len(list((models / TABLES_DIR).iterdir())) == 1  # their one word-embedding table
    assert stats["dimension"] == 384 and stats["index_type"] == "flat"
    again = cli(tmp_path, "index", "--json")
    report = json.loads(again.stdout)
    assert report["embedded"] == 0 and report["unchanged"] == 1


def test_failed_files_set_exit_code_and_are_listed(tmp_path: Path, exported_models: Path) -> None:
    seed_models(tmp_path / "idx", exported_models)
    corpus = tmp_path / "c"
    write(corpus / "a.txt", ARTICLE_A)
    (corpus / "broken.txt").write_bytes(b"\x00\xff\x00")
    result = cli(tmp_path, "index", str(corpus))
    assert result.returncode == 1
    assert f"failed: {(corpus / 'broken.txt').resolve()}: looks like a binary file" in result.stderr
    assert "added 1 /" in result.stdout and "failed 1" in result.stdout


def test_clear_errors_for_missing_index_model_mismatch_and_bad_settings(
    tmp_path: Path, exported_models: Path
) -> None:
    result = cli(tmp_path, "stats")
    assert result.returncode == 2 and "Run `articlebot index`" in result.stderr
    assert "Traceback" not in result.stderr
    seed_models(tmp_path / "idx", exported_models)
    cli(tmp_path, "index", str(REPO / "corpus"))
    write(tmp_path / "c2" / "a.txt", ARTICLE_A)
    other_model = cli(tmp_path, "index", str(tmp_path / "c2"), ARTICLEBOT_MODEL="some/other-model")
    assert other_model.returncode == 2 and "articlebot index --rebuild" in other_model.stderr
    bad = cli(tmp_path, "stats", ARTICLEBOT_BATCH_SIZE="lots")
    assert bad.returncode == 2 and "ARTICLEBOT_BATCH_SIZE" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_ask_quotes_the_seed_sentence_about_aliyev(corpus_index: Path) -> None:
    question = "Who is trying to mend relations between Turkey and Israel?"
    data = json.loads(cli(corpus_index, "ask", "--json", question).stdout)
    first = data["quotes"][0]
    assert (
        "Azeri President Ilham Aliyev is trying to mend relations between his two allies"
        in (first["text"])
    )
    assert first["citation"] == 1 and data["sources"][0]["title"].startswith("Azerbaijan's Aliyev")
    result = cli(corpus_index, "ask", question)
    assert result.returncode == 0, result.stderr
    first_block = result.stdout.split("\n\n")[0]
    assert first_block.startswith("> ") and first_block.rstrip().endswith("[1]")
    assert "[1] Azerbaijan's Aliyev tries to mend ties between Turkey and Israel" in result.stdout


def test_ask_off_topic_abstains(corpus_index: Path) -> None:
    result = cli(corpus_index, "ask", "--json", "How long should I knead bread dough?")
    data = json.loads(result.stdout)
    assert data["abstained"] is True and data["quotes"] == []
    assert data["closest"] == ["Azerbaijan's Aliyev tries to mend ties between Turkey and Israel"]


def test_ask_batch_mode_reads_stdin_and_writes_json_lines(corpus_index: Path) -> None:
    questions = (
        "Until when did the reconciliation talks drag on?\n\n"
        "What is the boiling point of water on Everest?\n"
    )
    result = ask_batch(corpus_index, questions.encode())
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [x["question"] for x in lines] == [
        "Until when did the reconciliation talks drag on?",
        "What is the boiling point of water on Everest?",
    ]
    assert not lines[0]["abstained"] and any("2016" in q["text"] for q in lines[0]["quotes"])
    assert lines[0]["quotes"][0]["path"] == str(REPO / "corpus" / "aliyev-turkey-israel.md")
    assert lines[1]["abstained"]


def test_discord_markup_is_left_out_of_the_question(corpus_index: Path) -> None:
    # The markup used to count as words no article holds: the question abstained.
    result = cli(
        corpus_index, "ask", "--json", "@everyone <@&123> who is the Azeri foreign minister?"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert not data["abstained"]
    assert "Azeri Foreign Minister Jeyhun Bayramov said" in data["quotes"][0]["text"]
    assert data["question"] == "who is the Azeri foreign minister?"
    # Answered exactly as the words alone are: the markup changes nothing.
    clean = json.loads(cli(corpus_index, "ask", "--json", data["question"]).stdout)
    assert [q["text"] for q in data["quotes"]] == [q["text"] for q in clean["quotes"]]
    only = cli(corpus_index, "ask", "<@123> @here")
    assert only.returncode == 2 and only.stdout == ""
    assert (
        only.stderr
        == "error: Ask a question in words: mentions, channels and emoji are left out.\n"
    )


def test_batch_line_of_only_markup_fails_alone(corpus_index: Path) -> None:
    stdin = b"<#42> <:wave:1> <t:1700000000:R>\n@here who is the Azeri foreign minister?\n"
    result = ask_batch(corpus_index, stdin)
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert lines[0] == {
        "question": "<#42> <:wave:1> <t:1700000000:R>",
        "error": "Ask a question in words: mentions, channels and emoji are left out.",
    }
    assert "Jeyhun Bayramov" in lines[1]["quotes"][0]["text"]


def test_search_shows_dense_lexical_and_fused_scores(corpus_index: Path) -> None:
    result = cli(corpus_index, "search", "Erdogan Obama 2013", "-k", "2", "--json")
    hits = json.loads(result.stdout)
    assert len(hits) == 2 and "Erdoğan in 2013" in hits[0]["text"]
    assert {"score", "dense", "lexical", "title"} <= set(hits[0])


def test_batch_line_of_invalid_utf8_is_answered_and_the_batch_goes_on(corpus_index: Path) -> None:
    stdin = b"profit \xff\xfe AOL\nWho is trying to mend relations between Turkey and Israel?\n"
    result = ask_batch(corpus_index, stdin)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(lines) == 2 and lines[0]["question"] == "profit \ufffd\ufffd AOL"
    assert not lines[1]["abstained"]


def test_invalid_utf8_argument_is_answered(corpus_index: Path) -> None:
    question = os.fsdecode(b"Aliyev \xff\xfe Turkey Israel relations?")
    result = cli(corpus_index, "ask", "--json", question)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_a_closed_pipe_is_not_an_error(corpus_index: Path) -> None:
    env = {**os.environ, "ARTICLEBOT_INDEX_DIR": str(corpus_index / "idx")}
    result = subprocess.run(
        f"{sys.executable} -m index search Turkey -k 5 | head -c 1",
        shell=True,
        cwd=corpus_index,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["search", "x", "-k", "-3"],
        ["eval", "q.jsonl", "--k=-5"],
        ["ask", "x", "--since", "2024-13-45"],
        ["ask", "x", "--until", "yesterday"],
        ["search", "x", "--since", "15/06/2021"],
    ],
)
def test_bad_numbers_and_dates_are_refused_with_a_clear_error(
    tmp_path: Path, args: list[str]
) -> None:
    result = cli(tmp_path, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "whole number of at least 1" in result.stderr or "YYYY-MM-DD" in result.stderr
