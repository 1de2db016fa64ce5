"""Hybrid retrieval: dense + lexical (BM25) candidates, fused (``fusion``).

A ``Retriever`` is built once and shared: it is safe to call from many threads.
``pin()`` pins the published generation for one question (one ``Store.version()``
call), switching to a newer one without a restart. Where the index lives is the
store's business (``index.stores``): this module never sees SQL or FAISS, and it knows
nothing of the answer model.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Literal

from .. import english
from ..embedding import (
    Embedder,
    embedder_backend,
    make_embedder,
    make_question_embedder,
    make_rerank_embedders,
)
from ..errors import ArticlebotError
from ..settings import Settings
from ..stores import open_store
from ..stores.base import IndexView, Store, check_compatible
from ..types import Filters, Hit
from .cache import LRU
from .fusion import DENSE_WEIGHT, HEAD, dedupe, diversify, fuse_scores
from .generation import Generation

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("articlebot.index")

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical")
CANDIDATES = 50  # per retriever, before fusion
QUERY_CACHE = 256  # question vectors kept (a question is embedded once, not per step)


class Retriever:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        store: Store | None = None,
        *,
        question_embedder: Embedder | None = None,
        rerank_embedders: tuple[Embedder, Embedder] | None = None,
    ) -> None:
        """``question_embedder`` embeds questions for the answer model's ``tuned_cosine``,
        ``rerank_embedders`` (question tower, sentence tower) for its re-ranking stage
        (``index.embedding.tuning``); both built from ``settings`` when ``embedder`` is."""
        self.settings = settings
        if embedder is None:
            embedder = make_embedder(settings)
            question_embedder = question_embedder or make_question_embedder(settings)
            rerank_embedders = rerank_embedders or make_rerank_embedders(settings)
        self.embedder = embedder
        self.question_embedder = question_embedder
        self.rerank_embedders = rerank_embedders
        self._pair: LRU[str, np.ndarray] = LRU(QUERY_CACHE)
        self.store = store or open_store(settings, read=True)
        self._lock = threading.Lock()
        self._vectors: LRU[str, np.ndarray] = LRU(QUERY_CACHE)
        self._tuned: LRU[str, np.ndarray] = LRU(QUERY_CACHE)
        self._loaded = self._load()

    # --- the published generation --------------------------------------------------------
    def pin(self) -> Generation:
        """The published state to answer one question from, switching to a newer one
        first (one ``Store.version()`` call)."""
        loaded = self._loaded
        try:
            live = self.store.version()
        except Exception:
            return loaded  # briefly unreadable (a pointer swap, a failover): keep serving
        if live == loaded.version:
            return loaded
        with self._lock:
            if self._loaded.version != live:
                try:
                    self._loaded = self._load()
                except ArticlebotError as exc:  # keep serving the state we have
                    log.warning("not switching to %s: %s", live, exc)
            return self._loaded

    @property
    def view(self) -> IndexView:
        """The published state answers come from now."""
        return self.pin().view

    def _load(self) -> Generation:
        view = self.store.open_view()
        try:
            check_compatible(
                view.manifest, self.embedder.name, backend=embedder_backend(self.embedder)
            )
            view.warm_up()
        except BaseException:
            view.close()
            raise
        return Generation(view)

    def warm_up(self) -> None:
        """Load the model now rather than on the first question."""
        check_compatible(
            self.view.manifest,
            self.embedder.name,
            self.embedder.dimension,
            backend=embedder_backend(self.embedder),
        )
        self.embedder.embed(["warm up"])
        english.counts()  # word weights and the typo corrector's word list
        for extra in (self.question_embedder, *(self.rerank_embedders or ())):
            if extra is not None:
                extra.embed(["warm up"])

    # --- one-off reads of the current generation (CLI, bot, tests) -----------------------
    def passage_count(self) -> int:
        return self.pin().passage_count()

    def document_frequency(self, word: str) -> int:
        return self.pin().document_frequency(word)

    def written(self, word: str) -> bool:
        return self.pin().written(word)

    # --- question vectors ------------------------------------------------------------------
    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding, cached (answering needs it twice: search and ranking)."""
        vector = self._vectors.get(query)
        if vector is None:
            vector = self.embedder.embed([query])[0]
            self._vectors.put(query, vector)
        return vector

    def set_question_embedder(self, embedder: Embedder | None) -> None:
        """Embed questions for ``tuned_cosine`` with ``embedder`` from now on (evaluation
        swaps in each cross-validation fold's encoder)."""
        self.question_embedder = embedder
        self._tuned = LRU(QUERY_CACHE)

    def tuned_vector(self, query: str) -> np.ndarray | None:
        """The query's vector from the tuned question encoder (None without one), cached."""
        if self.question_embedder is None:
            return None
        vector = self._tuned.get(query)
        if vector is None:
            vector = self.question_embedder.embed([query])[0]
            self._tuned.put(query, vector)
        return vector

    def set_rerank_embedders(self, pair: tuple[Embedder, Embedder] | None) -> None:
        """Re-rank with ``pair`` (question tower, sentence tower) from now on (evaluation)."""
        self.rerank_embedders = pair
        self._pair = LRU(QUERY_CACHE)

    def pair_cosines(self, query: str, sentences: list[str]) -> np.ndarray | None:
        """Each sentence's cosine to the query by the re-ranking pair (None without one):
        the query by its question tower (cached), the sentences by its sentence tower."""
        if self.rerank_embedders is None:
            return None
        questions, sentence_tower = self.rerank_embedders
        vector = self._pair.get(query)
        if vector is None:
            vector = questions.embed([query])[0]
            self._pair.put(query, vector)
        return sentence_tower.embed(sentences) @ vector

    # --- search ----------------------------------------------------------------------------
    def search(
        self, query: str, k: int = 10, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> list[Hit]:
        hits, _ = self.search_timed(query, k, filters, mode)
        return hits

    def search_timed(
        self, query: str, k: int = 10, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> tuple[list[Hit], dict[str, float]]:
        """Top ``k`` passages by the first stage alone (fused dense + lexical scores, as
        ``articlebot search`` shows them); answers re-order them. ``mode`` "dense" or
        "lexical" uses one retriever alone (for evaluation side by side). Typos are
        corrected first, as for answers."""
        gen = self.pin()
        hits, _, timings = self.first_stage(gen, gen.correct(query).text, k, filters, mode)
        return hits[:k], timings

    def first_stage(
        self, gen: Generation, query: str, k: int, filters: Filters | None, mode: Mode
    ) -> tuple[list[Hit], int, dict[str, float]]:
        """Top ``k`` passages of ``gen`` by fused first-stage scores (more where
        ``diversify`` moved passages), how many of them make the head that answers are
        chosen from, and the time each step took (ms)."""
        t0 = time.perf_counter()
        view = gen.view
        vector = self.query_vector(query) if mode != "lexical" else None
        t1 = time.perf_counter()
        dense = view.dense(vector, CANDIDATES, filters) if vector is not None else []
        t2 = time.perf_counter()
        words = gen.lexical_words(query) if mode != "dense" else []
        lexical = view.lexical(words, CANDIDATES, filters) if words else []
        t3 = time.perf_counter()
        hits, depth = _fuse(view, dense, lexical, k)
        t4 = time.perf_counter()
        timings = dict(embed=t1 - t0, dense=t2 - t1, lexical=t3 - t2, fuse=t4 - t3)
        return hits, depth, {key: round(v * 1000, 2) for key, v in timings.items()}

    def lexical_only(self, query: str, k: int = 10) -> list[int]:
        gen = self.pin()
        words = gen.lexical_words(query)
        return [pid for pid, _ in gen.view.lexical(words, k, None)] if words else []


def _fuse(
    view: IndexView,
    dense: list[tuple[int, float]],
    lexical: list[tuple[int, float]],
    k: int,
) -> tuple[list[Hit], int]:
    fused = fuse_scores(dense, lexical, DENSE_WEIGHT)
    # Only the head of the ranking can reach the top k after dedup and diversity, so
    # only its texts are fetched. Ties (the same text indexed twice) go to the passage
    # indexed first, so the copy cited does not depend on FAISS's tie order.
    order = sorted(fused, key=lambda pid: (-fused[pid], pid))[: max(4 * k, 24)]
    rows = view.passages(order)
    dense_of, lexical_of = dict(dense), dict(lexical)
    hits = [
        Hit.of(rows[pid], fused[pid], dense_of.get(pid), lexical_of.get(pid))
        for pid in order
        if pid in rows
    ]
    return diversify(dedupe(hits), k, HEAD)
