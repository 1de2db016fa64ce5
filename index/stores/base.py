"""The store seam: what the indexer, the retriever, the CLI and the bot ask of wherever the
index lives. Two implementations: ``local`` (SQLite + FAISS generations in a folder, the
default) and ``postgres`` (PostgreSQL + pgvector, for many readers and large archives);
``index.stores.open_store`` picks one from the settings.

A ``Store`` hands out:
- ``IndexView``: one consistent, published state for reading (thread-safe). Answers and
  searches run against a view; when ``Store.version()`` moves on, readers open a new one.
- ``IndexWriter``: a private copy (local) or a transaction (PostgreSQL) that ``publish``
  makes visible atomically, under the store's single-writer lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import IndexMismatchError, QuoteSpanError
from ..types import FileRecord, Filters, PassageRow, WebChanges

if TYPE_CHECKING:
    import numpy as np

    from ..types import Article, Passage, Sentences, StoredSentence, WebSource, WebState


#: The logical schema of what an index holds (articles, passages, sentence vectors); both
#: stores write it to their manifest. 3: sentence vectors.
SCHEMA_VERSION = 3


#: Embedding backends whose vectors are interchangeable share a kind: torch and fp32 ONNX
#: agree (same weights, same arithmetic), int8 weights move the vectors, and mixing them
#: with fp32 costs retrieval quality (see benchmarks/README.md), so an index holds one kind.
VECTOR_KINDS = {"torch": "fp32", "onnx": "fp32", "onnx-int8": "int8"}
#: Indexes written before backends were recorded were all embedded with torch.
LEGACY_BACKEND = "torch"


def check_compatible(
    manifest: dict[str, Any],
    model: str,
    dimension: int | None = None,
    backend: str | None = None,
) -> None:
    """Refuse an index built with another schema, model, vector size or kind of vectors
    (``backend`` None skips that check: an embedder that does not say)."""
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"The index has schema version {manifest.get('schema_version')}, this articlebot "
            f"needs {SCHEMA_VERSION}. Run `articlebot index --rebuild`."
        )
    built = manifest.get("model")
    if built != model:
        raise IndexMismatchError(
            f"The index was built with model {built!r} but the settings name {model!r}. "
            f"Run `articlebot index --rebuild` to re-embed with {model!r}, "
            f"or set ARTICLEBOT_MODEL={built} to use the index as it is."
        )
    if dimension is not None and manifest.get("dimension") != dimension:
        raise IndexMismatchError(
            f"The index holds {manifest.get('dimension')}-dimensional vectors but model "
            f"{model!r} makes {dimension}-dimensional ones. Run `articlebot index --rebuild`."
        )
    built_backend = manifest.get("backend", LEGACY_BACKEND)
    if backend is None or built_backend is None or backend == built_backend:
        return
    if not manifest.get("passages"):  # no vectors yet: any backend may fill it
        return
    if VECTOR_KINDS.get(backend, backend) != VECTOR_KINDS.get(built_backend, built_backend):
        same_kind = sorted(
            b for b, k in VECTOR_KINDS.items() if k == VECTOR_KINDS.get(built_backend)
        )
        use = " or ".join(f"ARTICLEBOT_BACKEND={b}" for b in same_kind) or (
            f"ARTICLEBOT_BACKEND={built_backend}"
        )
        raise IndexMismatchError(
            f"The index was embedded with the {built_backend} backend, whose vectors differ "
            f"from those of the {backend} backend the settings ask for. Run "
            f"`articlebot index --rebuild` to re-embed with {backend}, or set {use} "
            "to use the index as it is."
        )


class IndexView(Protocol):
    """One published state of the index, for reading from any thread."""

    manifest: dict[str, Any]

    @property
    def version(self) -> str: ...

    def warm_up(self) -> None:
        """Load now what the first question would otherwise wait for."""
        ...

    # --- retrieval -------------------------------------------------------------------------
    def dense(self, vector: np.ndarray, k: int, filters: Filters | None) -> list[tuple[int, float]]:
        """Passage ids by inner product with ``vector`` (cosine: vectors are normalised)."""
        ...

    def lexical(self, words: list[str], k: int, filters: Filters | None) -> list[tuple[int, float]]:
        """Passage ids by BM25 over passage text (weight 1) and title (0.5), words ORed."""
        ...

    def document_frequency(self, word: str) -> int:
        """Passages that hold ``word`` as the lexical index sees it (stemmed)."""
        ...

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]: ...

    def article_texts(self, ids: set[str]) -> dict[str, str]: ...

    def sentences(self, passage_ids: Sequence[int]) -> dict[int, list[StoredSentence]]: ...

    # --- what it holds (CLI, bot, indexer) ---------------------------------------------------
    def roots(self) -> list[str]: ...

    def files(self) -> dict[str, FileRecord]: ...

    def web_state(self) -> WebState: ...

    def web_article_counts(self) -> dict[str, int]: ...

    def articles_page(
        self, offset: int, limit: int, scopes: frozenset[str] | None = None
    ) -> tuple[int, list[tuple[str, str | None]]]:
        """The total, and (title, date) of articles ``offset``.. by title (of ``scopes``;
        None: all)."""
        ...

    def matching_articles(
        self, text: str, limit: int, scopes: frozenset[str] | None = None
    ) -> list[tuple[str, str]]:
        """(title, path or url) of articles whose title, path or source holds ``text``
        (of ``scopes``; None: all)."""
        ...

    def scope_counts(self) -> dict[str, tuple[int, int]]:
        """Articles and passages per scope (an article of two scopes counts in both)."""
        ...

    def size_on_disk(self) -> int: ...

    def verify(self) -> None:
        """The thorough check (``stats --check``); raises IndexDamagedError."""
        ...

    def close(self) -> None: ...


class IndexWriter(Protocol):
    """Changes that become visible together, at ``publish``; ``abort`` drops them."""

    generation: int

    def manifest(self) -> dict[str, Any]: ...

    def set_roots(self, roots: Sequence[str]) -> None: ...

    def put_file(self, record: FileRecord) -> None: ...

    def delete_file(self, path: str) -> None: ...

    def articles_of(self, origin: str) -> dict[str, str]:
        """Article id -> content hash of the articles read from a file or web page."""
        ...

    def has_article(self, article_id: str) -> bool: ...

    def delete_article(self, article_id: str) -> dict[str, bytes]:
        """Remove an article with its passages and sentences; returns their vectors
        (float32 bytes) by text, for reuse."""
        ...

    def add_article(
        self,
        article: Article,
        origin: str | None,
        passages: list[Passage],
        vectors: np.ndarray,
        sentences: Sequence[Sentences] = (),
    ) -> None: ...

    def write_web(self, changes: WebChanges) -> None: ...

    def publish(self, manifest: dict[str, Any], ann_threshold: int | None) -> dict[str, Any]:
        """Commit everything; past ``ann_threshold`` passages (None: the store's own
        default, where its exact scan stops being cheap) dense search is HNSW."""
        ...

    def abort(self) -> None: ...


class Store(Protocol):
    """Where an index lives."""

    def exists(self) -> bool: ...

    def version(self) -> str:
        """What is published now (cheap: readers call it before every question)."""
        ...

    def open_view(self) -> IndexView: ...

    def writer_lock(self) -> contextlib.AbstractContextManager[None]:
        """Held by the one writer; a second is refused with IndexBusyError."""
        ...

    def open_writer(self, *, fresh: bool) -> IndexWriter:
        """Changes on top of the published state (``fresh``: on an empty index)."""
        ...

    def remembered_sources(self) -> tuple[list[str], list[WebSource]]:
        """Roots and web sources (with their scopes), read as defensively as possible
        (for --repair)."""
        ...

    def cleanup(self) -> None:
        """Remove what a killed writer left behind."""
        ...

    def check_reachable(self) -> None:
        """Fail at once, with the reason, when the store cannot be reached (a server down,
        a bad URL); a folder store has nothing to reach. Raises IndexMissingError."""
        ...

    def close(self) -> None:
        """Release what the store holds for its views (a server store's connection pool)."""
        ...


def check_passage_span(article: Article, passage: Passage) -> None:
    """Quotes are cut from the stored text by offset: a passage that is not the exact span
    of its article would misquote. Raises QuoteSpanError."""
    if article.text[passage.start : passage.end] != passage.text:
        raise QuoteSpanError(
            f"Passage {passage.ordinal} of article {article.id} is not the span "
            f"[{passage.start}:{passage.end}] of its text."
        )


@contextlib.contextmanager
def closing_view(store: Store) -> Iterator[IndexView]:
    view = store.open_view()
    try:
        yield view
    finally:
        view.close()
