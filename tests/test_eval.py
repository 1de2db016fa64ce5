"""`articlebot eval`: question formats, metrics that move when answers are wrong, feedback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from index.errors import ConfigError
from index.evaluation import EvalQuestion, evaluate, feedback_summary, load_questions
from index.indexing import run_index
from index.retrieval import Retriever
from index.settings import Settings

from .helpers import ARTICLE_A, ARTICLE_B, ARTICLE_C, SQUAD, HashEmbedder, seed_models, write


@pytest.fixture
def retriever(settings: Settings) -> Retriever:
    settings = settings.model_copy(update={"abstain_below": 0.005})
    embedder = HashEmbedder(dimension=1024)
    for name, text in (("a.txt", ARTICLE_A), ("b.txt", ARTICLE_B), ("c.txt", ARTICLE_C)):
        write(settings.corpus[0] / name, text)
    run_index(settings, embedder)
    return Retriever(settings, embedder)


GOOD = [
    EvalQuestion("How much did Rosneft pay for the Yugansk unit?", ("$9.3bn",)),
    EvalQuestion("By how much did TimeWarner quarterly profits jump?", ("76%",), "a.txt"),
    EvalQuestion("What did Alan Greenspan highlight about the government?", (), "b.txt"),
    EvalQuestion("zebra xylophone quilting"),
]


def test_metrics_on_a_known_question_set(retriever: Retriever) -> None:
    report = evaluate(retriever, GOOD, k=5)
    assert report.questions == 4 and report.answerable == 3
    assert report.answer_first == 1.0 and report.answer_any == 1.0
    assert report.recall[1] == 1.0 and report.mrr == 1.0
    assert report.abstain_recall == 1.0 and report.abstain_precision == 1.0
    assert report.latency_p50_ms > 0 and report.failures == []


def test_metrics_drop_when_the_expected_answers_are_wrong(retriever: Retriever) -> None:
    wrong = [
        EvalQuestion("How much did Rosneft pay for the Yugansk unit?", ("$12bn",)),
        EvalQuestion("By how much did TimeWarner quarterly profits jump?", ("76%",), "c.txt"),
        EvalQuestion("What did Alan Greenspan highlight?", ("76%",)),
        EvalQuestion("TimeWarner profits"),  # answerable, but marked should-abstain
    ]
    report = evaluate(retriever, wrong, k=5)
    assert report.answer_first == 0.0 and report.recall[5] < 1.0
    assert report.abstain_recall == 0.0
    assert len(report.failures) == 4
    assert {f.why.split(" (")[0] for f in report.failures} >= {
        "expected answer not in the first quote",
        "answered a question the articles should not answer",
    }


def test_results_broken_down_by_kind(retriever: Retriever, tmp_path: Path) -> None:
    lines = [
        {"question": GOOD[0].question, "answers": ["$9.3bn"], "kind": "factoid"},
        {"question": GOOD[1].question, "answers": ["76%"], "article": "a.txt", "kind": "factoid"},
        {"question": "How much did Rosneft pay?", "answers": ["$12bn"], "kind": "why"},
        {"question": "zebra xylophone quilting", "answers": [], "kind": "offtopic"},
    ]
    path = write(tmp_path / "q.jsonl", "\n".join(json.dumps(x) for x in lines))
    questions = load_questions(path)
    assert [q.kind for q in questions] == ["factoid", "factoid", "why", "offtopic"]
    report = evaluate(retriever, questions, k=5)
    assert report.by_kind["factoid"] == {
        "n": 2,
        "answer_first": 1.0,
        "answer_any": 1.0,
        "recall1": 1.0,
    }
    assert report.by_kind["why"]["answer_first"] == 0.0  # the wrong expected answer
    assert report.by_kind["offtopic"] == {"n": 1, "abstained": 1.0}
    assert [f.kind for f in report.failures] == ["why"]
    assert report.to_json()["by_kind"]["why"]["n"] == 1


def test_modes_side_by_side(retriever: Retriever) -> None:
    reports = {m: evaluate(retriever, GOOD, k=5, mode=m) for m in ("hybrid", "dense", "lexical")}
    assert all(r.answerable == 3 for r in reports.values())
    assert reports["lexical"].recall[1] == 1.0


def test_load_jsonl_and_squad(tmp_path: Path) -> None:
    jsonl = write(
        tmp_path / "q.jsonl",
        '{"question": "A?", "answers": ["x"]}\n\n'
        '{"question": "B?", "article": "b.txt"}\n{"question": "C?"}\n',
    )
    qs = load_questions(jsonl)
    assert [q.should_abstain for q in qs] == [False, False, True]
    squad = {
        "version": "v2.0",
        "data": [
            {
                "title": "Some_Title",
                "paragraphs": [
                    {
                        "context": "…",
                        "qas": [
                            {"question": "Q1?", "answers": [{"text": "a1", "answer_start": 0}]},
                            {"question": "Q2?", "answers": [], "is_impossible": True},
                        ],
                    }
                ],
            }
        ],
    }
    qs = load_questions(write(tmp_path / "s.json", json.dumps(squad)))
    assert qs == [EvalQuestion("Q1?", ("a1",), "Some Title"), EvalQuestion("Q2?")]
    with pytest.raises(ConfigError, match="question"):
        load_questions(write(tmp_path / "bad.jsonl", '{"q": 1}\n'))


def test_feedback_summary_and_export(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "feedback.sqlite")
    conn.execute(
        "CREATE TABLE feedback (id INTEGER PRIMARY KEY, question TEXT, quotes TEXT, "
        "user_hash TEXT, vote INTEGER, created_at REAL)"
    )
    quotes = json.dumps([{"text": "quoted text", "article_id": "x", "start": 0, "end": 11}])
    conn.executemany(
        "INSERT INTO feedback (question, quotes, user_hash, vote, created_at) "
        "VALUES (?, ?, 'h', ?, 0)",
        [("good?", quotes, 1), ("bad?", quotes, -1), ("fine?", quotes, 1)],
    )
    conn.commit()
    conn.close()
    out = tmp_path / "disliked.jsonl"
    settings = Settings(_env_file=None, index_dir=tmp_path)  # type: ignore[call-arg]
    summary = feedback_summary(settings, out)
    assert summary == {"votes": 3, "liked": 2, "disliked": 1, "liked_fraction": 2 / 3}
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert exported == [{"question": "bad?", "answers": [], "quoted": ["quoted text"]}]


@pytest.mark.slow
@pytest.mark.skipif(not SQUAD.exists(), reason="shared SQuAD data not present")
def test_cli_eval_on_squad_file_with_real_model(tmp_path: Path, exported_models: Path) -> None:
    seed_models(tmp_path / "idx", exported_models)
    data = json.loads(SQUAD.read_text())
    for article in data["data"]:  # a small slice keeps the test quick; same format
        article["paragraphs"] = article["paragraphs"][:2]
        title = article["title"].replace("_", " ")
        body = "\n\n".join(p["context"] for p in article["paragraphs"])
        write(tmp_path / "corpus" / f"{article['title']}.txt", f"{title}\n\n{body}\n")
    squad = write(tmp_path / "squad.json", json.dumps(data))
    env = {**os.environ, "ARTICLEBOT_INDEX_DIR": str(tmp_path / "idx")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "index", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    assert cli("index", str(tmp_path / "corpus")).returncode == 0
    result = cli("eval", str(squad), "--json", "--mode", "all")
    assert result.returncode == 0, result.stderr
    reports = {r["mode"]: r for r in json.loads(result.stdout)}
    assert set(reports) == {"hybrid", "dense", "lexical"}
    hybrid = reports["hybrid"]
    assert hybrid["answerable"] > 10 and hybrid["recall@10"] > 0.8
    assert hybrid["answer_any"] > 0.6 and hybrid["abstain_recall"] is not None
