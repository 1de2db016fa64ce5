"""Fuzzing the readers: random bytes, JSON, YAML front matter, HTML and file names.
Whatever arrives, a file either becomes articles or fails with ``UnreadableFileError``
(a per-file failure); nothing else may escape, and an index run always finishes."""

from __future__ import annotations

import json
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.errors import UnreadableFileError
from index.indexing import run_index
from index.readers import read_file
from index.settings import Settings

from .helpers import HashEmbedder

SUFFIXES = [".txt", ".md", ".html", ".json", ".jsonl"]
MAX_BYTES = 2**20

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["title", "text", "body", "content", "date", "url", "id", "author", "x"]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)
yaml_scalars = st.sampled_from(
    ["2024-13-45", "2024-02-30", "&a [1,2]", "*a", "!!python/object:os.system", "~", "[", "{", ""]
) | st.text(max_size=30)
html_pieces = st.lists(
    st.sampled_from(
        ["<html>", "<body>", "<p>", "</p>", "<script>x</script>", "<h1>", "&amp;", "<!--", "<"]
    )
    | st.text(max_size=30),
    max_size=30,
)


def _read(path: Path) -> None:
    try:
        result = read_file(path, MAX_BYTES)
    except UnreadableFileError as exc:
        assert exc.reason
        return
    for article in result.articles:
        assert isinstance(article.text, str) and article.text
        assert article.date is None or len(article.date) == 10


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2000), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"f{suffix}"
    path.write_bytes(data)
    _read(path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=json_values, lines=st.booleans())
def test_random_json(tmp_path: Path, value: object, lines: bool) -> None:
    text = json.dumps(value)
    path = tmp_path / ("f.jsonl" if lines else "f.json")
    path.write_text(text + "\n" + text if lines else text)
    _read(path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    meta=st.dictionaries(st.sampled_from(["title", "date", "url", "author", "x"]), yaml_scalars),
    body=st.text(max_size=200),
)
def test_random_front_matter(tmp_path: Path, meta: dict[str, str], body: str) -> None:
    front = "\n".join(f"{k}: {v}" for k, v in meta.items())
    path = tmp_path / "f.md"
    path.write_text(f"---\n{front}\n---\n{body}", encoding="utf-8", errors="surrogatepass")
    _read(path)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pieces=html_pieces)
def test_random_html(tmp_path: Path, pieces: list[str]) -> None:
    path = tmp_path / "f.html"
    path.write_text("".join(pieces), encoding="utf-8", errors="surrogatepass")
    _read(path)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(
        st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    texts=st.lists(st.text(alphabet=string.printable, max_size=300), min_size=6, max_size=6),
)
def test_an_index_run_over_random_files_always_finishes(
    tmp_path_factory: object, names: list[bytes], texts: list[str]
) -> None:
    base = tmp_path_factory.mktemp("fuzz")  # type: ignore[attr-defined]
    corpus = base / "corpus"
    corpus.mkdir()
    for name, text in zip(names, texts, strict=False):
        if name in (b".", b".."):
            continue
        with open(bytes(corpus) + b"/" + name + b".txt", "wb") as handle:
            handle.write(text.encode())
    settings_ = Settings(  # type: ignore[call-arg]
        _env_file=None, index_dir=base / "index", corpus=[corpus], chunk_tokens=40
    )
    report = run_index(settings_, HashEmbedder())
    assert all(f.reason for f in report.failed)
    assert report.added + len(report.failed) <= len(names)
