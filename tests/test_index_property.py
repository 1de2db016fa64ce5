"""Property: after any sequence of changes to the corpus (add, modify, delete, make a
file unreadable, add a bad file), each run publishes exactly what a fresh index of the
readable files holds, and a file that became unreadable keeps its last indexed version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.indexing import run_index
from index.settings import Settings
from index.stores.local.generations import DB_NAME, current_generation_dir

from .helpers import HashEmbedder

NAMES = ["a", "b", "c", "d"]
WORDS = ["profits", "oil", "dollar", "football", "election", "music", "phones", "rates"]
LIMIT_MB = 0.002  # ~2 KB: a file grown past it is unreadable (reported, last version kept)

steps = st.lists(
    st.tuples(
        st.sampled_from(["write", "delete", "oversize", "bad"]),
        st.sampled_from(NAMES),
        st.lists(st.sampled_from(WORDS), min_size=3, max_size=12),
    ),
    min_size=1,
    max_size=8,
)


def indexed(index_dir: Path) -> dict[str, str]:
    """Article path -> text, as published."""
    db = current_generation_dir(index_dir) / DB_NAME
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {Path(p).name: t for p, t in conn.execute("SELECT path, text FROM articles")}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=steps)
def test_published_index_matches_the_readable_files(
    tmp_path_factory: object, plan: list[tuple[str, str, list[str]]]
) -> None:
    base = tmp_path_factory.mktemp("prop")  # type: ignore[attr-defined]
    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / "seed.txt").write_text("Seed story\n\nThe first article about rates.")
    settings_ = Settings(  # type: ignore[call-arg]
        _env_file=None,
        index_dir=base / "index",
        corpus=[corpus],
        chunk_tokens=40,
        max_file_mb=LIMIT_MB,
    )
    embedder = HashEmbedder()
    run_index(settings_, embedder)
    expected = {"seed.txt": "The first article about rates."}
    for action, name, words in plan:
        path = corpus / f"{name}.txt"
        body = " ".join(words).capitalize() + "."
        if action == "write":
            path.write_text(f"Story {name}\n\n{body}")
            expected[path.name] = body
        elif action == "delete" and path.exists():
            path.unlink()
            expected.pop(path.name, None)
        elif action == "oversize" and path.exists():
            path.write_text(f"Story {name}\n\n" + body * 400)  # unreadable now: kept as was
        elif action == "bad":
            (corpus / f"{name}.json").write_text("[" * 5000)  # a failing file, nothing kept
        run_index(settings_, embedder)
        assert indexed(settings_.index_dir) == expected
