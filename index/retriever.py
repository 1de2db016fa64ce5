"""Hybrid retrieval: dense + lexical (BM25), fused by a weighted sum of min-max
normalised scores (measured better than reciprocal rank fusion: see benchmarks/).

A ``Retriever`` is built once and shared: ``search`` is safe to call from many threads,
and each call first checks whether the indexer published a new state (the local store:
one small file read) and switches to it without a restart. Where the index lives is the
store's business (``index.stores``): this module never sees SQL or FAISS.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from . import english, ranking
from .embedding import Embedder, embedder_backend, make_embedder, make_question_embedder
from .errors import ArticlebotError, ConfigError
from .ranking import Candidate, QueryTerms
from .settings import Settings
from .spelling import Correction
from .spelling import correct as correct_spelling
from .stores import open_store
from .stores.base import IndexView, Store, check_compatible
from .text import fold, query_words, stem
from .types import Filters, Hit, StoredSentence

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("articlebot.index")

#: Weight of the dense score in the fusion (lexical gets the rest). Measured on the BBC +
#: SQuAD benchmark: passage recall@1 0.84 at 0.4 vs 0.79 for reciprocal rank fusion.
DENSE_WEIGHT = 0.4
CANDIDATES = 50  # per retriever, before fusion
PER_ARTICLE = 2  # passages of one article before others get a turn
COMMON_SHARE = 0.1  # lexical search ignores words found in more than this share of passages
Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical")
#: Passages whose sentences are scored by the answer model, which then re-orders them
#: (and any that PER_ARTICLE pushed out of the first RERANK_DEPTH: ``diversify``).
RERANK_DEPTH = 6
#: Passages of everyday English counted beside the index's own in a word's IDF
#: (``index.english``): a few articles' worth, so it decides the weights over one
#: article and moves them by a few percent over thousands of passages.
PRIOR_PASSAGES = 200
#: Passages of a correction's stem searched for the word as spelt (``written``).
WRITTEN_CHECKED = 20
QUERY_CACHE = 256  # question vectors kept (a question is embedded once, not per step)
#: Word document frequencies kept per generation: bounded, since a bot's questions bring
#: ever new words (unbounded, 1,000 questions of new words grew the process by 84 MB).
DF_CACHE = 20_000

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A bounded map shared by threads: the least recently used entry goes first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class Ranked:
    """Passages re-ordered by their best sentence, and the scored sentences, best first."""

    hits: list[Hit]
    candidates: list[Candidate]
    query: QueryTerms
    timings: dict[str, float]
    texts: dict[str, str]  # the texts of the re-ranked passages' articles, by id
    corrected: tuple[tuple[str, str], ...] = ()  # typos fixed in the query: (typed, fixed)
    head: int = RERANK_DEPTH  # how many of ``hits`` the answer model re-orders


@dataclass
class _Loaded:
    view: IndexView
    df_cache: LRU[str, int] = field(default_factory=lambda: LRU(DF_CACHE))


class Retriever:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        store: Store | None = None,
        *,
        question_embedder: Embedder | None = None,
    ) -> None:
        """``question_embedder`` embeds questions for the answer model's ``tuned_cosine``
        (``index.question_tuning``); built from ``settings`` when ``embedder`` is too."""
        self.settings = settings
        if embedder is None:
            embedder = make_embedder(settings)
            question_embedder = question_embedder or make_question_embedder(settings)
        self.embedder = embedder
        self.question_embedder = question_embedder
        self.store = store or open_store(settings, read=True)
        self._lock = threading.Lock()
        self._vectors: LRU[str, np.ndarray] = LRU(QUERY_CACHE)
        self._tuned: LRU[str, np.ndarray] = LRU(QUERY_CACHE)
        self._loaded = self._load()

    @property
    def view(self) -> IndexView:
        """The published state answers come from now (switching to a newer one first)."""
        return self._current().view

    def warm_up(self) -> None:
        """Load the model now rather than on the first question."""
        check_compatible(
            self.view.manifest,
            self.embedder.name,
            self.embedder.dimension,
            backend=embedder_backend(self.embedder),
        )
        self.embedder.embed(["warm up"])
        english.counts()  # word weights and the typo corrector's word list, ~0.2 s
        if self.question_embedder is not None:
            self.question_embedder.embed(["warm up"])

    def _load(self) -> _Loaded:
        view = self.store.open_view()
        try:
            check_compatible(
                view.manifest, self.embedder.name, backend=embedder_backend(self.embedder)
            )
            view.warm_up()
        except BaseException:
            view.close()
            raise
        return _Loaded(view)

    def _current(self) -> _Loaded:
        loaded = self._loaded
        try:
            live = self.store.version()
        except Exception:
            return loaded  # briefly unreadable (a pointer swap, a failover): keep serving
        if live != loaded.view.version:
            with self._lock:
                if self._loaded.view.version != live:
                    try:
                        self._loaded = self._load()
                    except ArticlebotError as exc:  # keep serving the state we have
                        log.warning("not switching to %s: %s", live, exc)
                        return self._loaded
                loaded = self._loaded
        return loaded

    # --- reads for answer building -----------------------------------------------------------
    def passage_count(self) -> int:
        return int(self.view.manifest.get("passages", 0))

    def document_frequency(self, word: str) -> int:
        """Passages containing ``word`` (as the FTS tokenizer sees it), cached per generation."""
        loaded = self._current()
        df = loaded.df_cache.get(word)
        if df is None:
            df = loaded.view.document_frequency(word)
            loaded.df_cache.put(word, df)
        return int(df)

    def _lexical_words(self, query: str) -> list[str]:
        """The query's content words, without those in more than COMMON_SHARE of all
        passages (they rank nothing and make BM25 score a large share of the index)
        unless only such words are known: a word no passage holds matches nothing, so
        "Aliyev U.S. talks" over one article still searches for "aliyev"."""
        words = query_words(query)
        limit = COMMON_SHARE * max(1, self.passage_count())
        df = {w: self.document_frequency(w) for w in words}
        known = [w for w in words if df[w] > 0]
        rare = [w for w in known if df[w] <= limit]
        return rare or known or words

    def article_texts(self, ids: set[str]) -> dict[str, str]:
        return self.view.article_texts(ids)

    def sentences(self, passage_ids: list[int]) -> dict[int, list[StoredSentence]]:
        """The stored sentences (spans, ordinals, vectors) of these passages."""
        return self.view.sentences(passage_ids)

    def correct(self, text: str) -> Correction:
        """``text`` with words no passage holds replaced by the index's nearest known
        spelling, where there is one (``index.spelling``)."""
        return correct_spelling(text, self.document_frequency, self.written, english.is_word)

    def written(self, word: str) -> bool:
        """Whether passages hold ``word`` spelt so, not only a word of its stem (the
        lexical index's frequencies are by stem: "facte" would count as "fact")."""
        view = self.view
        ids = [pid for pid, _ in view.lexical([word], WRITTEN_CHECKED, None)]
        word = re.escape(fold(word))
        # A possessive typed without its apostrophe ("ferrys") is written "ferry's".
        possessive = rf"|\b{word[:-1]}['\u2019]s\b" if word.endswith("s") else ""
        spelt = re.compile(rf"\b{word}\b{possessive}")
        return any(spelt.search(fold(f"{r.title} {r.text}")) for r in view.passages(ids).values())

    def query_terms(self, query: str, question: str | None = None) -> QueryTerms:
        """IDF of each query word by its passage frequency, with everyday English as a
        prior (PRIOR_PASSAGES); words of ``question`` (the current one, when ``query``
        also holds earlier questions) count double. Also the share of that weight in
        words no passage holds: questions about what the articles never mention
        ("Twitter", "2018") are likely not covered."""
        own = {stem(w) for w in query_words(question or query)}
        passages = self.passage_count()
        weights: dict[str, float] = {}
        unknown = 0.0
        for word in query_words(query):
            df = self.document_frequency(word)
            # A small index alone makes every word it lacks rarer than its own topic's
            # words: over one article, "fix" and "things" outweighed "Turkey" and
            # "Israel", and the question looked off-topic.
            df_prior = df + PRIOR_PASSAGES * english.passage_share(word)
            n = passages + PRIOR_PASSAGES
            idf = math.log(1 + (n - df_prior + 0.5) / (df_prior + 0.5))
            key = stem(word)
            weight = idf * (1.0 if key in own else 0.5)
            if weight > weights.get(key, 0.0):
                weights[key] = weight
            if df == 0:
                unknown += weight
        total = sum(weights.values())
        return QueryTerms(weights, unknown / total if total else 0.0)

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

    def rank(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        *,
        question: str | None = None,
        models: ranking.Models | None = None,
    ) -> Ranked:
        """Top ``k`` passages, the head (``diversify``) re-ordered by their best sentence
        as the answer model scores it, and those scored sentences (best first).
        ``question`` is the current question when ``query`` adds earlier ones;
        ``models`` replaces the shipped ones (cross-validation)."""
        ranked = self.candidates(query, k, filters, mode, question=question)
        t = time.perf_counter()
        model = (models or ranking.load_models()).sentence
        cands = ranking.score(ranked.candidates, model)
        head = ranking.rerank_passages(ranked.hits[: ranked.head], cands)
        timings = {**ranked.timings, "rank": ranked.timings["rank"] + _ms(t)}
        hits = (head + ranked.hits[ranked.head :])[: max(k, ranked.head)]
        return replace(ranked, hits=hits, candidates=cands, timings=timings)

    def candidates(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        *,
        question: str | None = None,
    ) -> Ranked:
        """Top ``k`` passages in first-stage order and the sentences of the first
        head (``diversify``) with their features, unscored (what the answer model is
        fitted on).
        Typos in ``query`` and ``question`` are corrected first (``index.spelling``)."""
        fixed = self.correct(query)
        # Without earlier questions the query is the question: corrected once.
        own = fixed if question in (None, query) else self.correct(question)
        query = fixed.text
        question = None if question is None else own.text
        corrected = dict(fixed.changes) | dict(own.changes)
        hits, depth, timings = self._retrieve(query, max(k, RERANK_DEPTH), filters, mode)
        t = time.perf_counter()
        head = hits[:depth]
        terms = self.query_terms(query, question)
        cands: list[Candidate] = []
        texts: dict[str, str] = {}
        if head:
            texts = self.article_texts({h.article_id for h in head})
            stored = self.sentences([h.passage_id for h in head])
            vector = tuned = None
            if mode != "lexical":
                vector, tuned = self.query_vector(query), self.tuned_vector(query)
            cands = ranking.candidates(question or query, vector, head, texts, stored, terms, tuned)
        timings["rank"] = _ms(t)
        return Ranked(hits, cands, terms, timings, texts, tuple(corrected.items()), depth)

    # --- search ---------------------------------------------------------------------------
    def search(
        self, query: str, k: int = 10, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> list[Hit]:
        hits, _ = self.search_timed(query, k, filters, mode)
        return hits

    def search_timed(
        self, query: str, k: int = 10, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> tuple[list[Hit], dict[str, float]]:
        """Top ``k`` passages by the first stage alone (fused dense + lexical scores, as
        ``articlebot search`` shows them); answers re-order them (``rank``). ``mode``
        "dense" or "lexical" uses one retriever alone (for evaluation side by side).
        Typos are corrected first, as for answers."""
        hits, _, timings = self._retrieve(self.correct(query).text, k, filters, mode)
        return hits[:k], timings

    def _retrieve(
        self, query: str, k: int, filters: Filters | None, mode: Mode
    ) -> tuple[list[Hit], int, dict[str, float]]:
        """Top ``k`` passages by fused first-stage scores (more where ``diversify`` moved
        passages), and how many of them make the head to re-rank."""
        loaded = self._current()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        view = loaded.view
        vector = self.query_vector(query) if mode != "lexical" else None
        t1 = time.perf_counter()
        dense = view.dense(vector, CANDIDATES, filters) if vector is not None else []
        t2 = time.perf_counter()
        words = self._lexical_words(query) if mode != "dense" else []
        lexical = view.lexical(words, CANDIDATES, filters) if words else []
        t3 = time.perf_counter()
        hits, depth = self._fuse(view, dense, lexical, k)
        t4 = time.perf_counter()
        timings.update(embed=t1 - t0, dense=t2 - t1, lexical=t3 - t2, fuse=t4 - t3)
        return hits, depth, {key: round(v * 1000, 2) for key, v in timings.items()}

    def dense_only(self, query: str, k: int = 10) -> list[int]:
        """Passage ids by cosine alone (for evaluation against the hybrid ranking)."""
        return [pid for pid, _ in self.view.dense(self.query_vector(query), k, None)]

    def lexical_only(self, query: str, k: int = 10) -> list[int]:
        words = self._lexical_words(query)
        return [pid for pid, _ in self.view.lexical(words, k, None)] if words else []

    def _fuse(
        self,
        view: IndexView,
        dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]],
        k: int,
    ) -> tuple[list[Hit], int]:
        fused = fuse_scores(dense, lexical, DENSE_WEIGHT)
        # Only the head of the ranking can reach the top k after dedup and diversity:
        # fetching and normalising every candidate's text cost ~10 ms per query.
        # Ties (the same text indexed twice, as BBC's duplicate stories are) go to the
        # passage indexed first, so the copy cited does not depend on FAISS's tie order.
        order = sorted(fused, key=lambda pid: (-fused[pid], pid))[: max(4 * k, 24)]
        rows = view.passages(order)
        dense_of, lexical_of = dict(dense), dict(lexical)
        hits = [
            Hit.of(rows[pid], fused[pid], dense_of.get(pid), lexical_of.get(pid))
            for pid in order
            if pid in rows
        ]
        return diversify(dedupe(hits), k, RERANK_DEPTH)


def fuse_scores(
    dense: list[tuple[int, float]], lexical: list[tuple[int, float]], dense_weight: float
) -> dict[int, float]:
    """Weighted sum of each retriever's scores, min-max normalised over its candidates
    (a passage missing from one list gets 0 from it)."""
    fused: dict[int, float] = {}
    for scores, weight in ((dense, dense_weight), (lexical, 1.0 - dense_weight)):
        if not scores:
            continue
        high = max(s for _, s in scores)
        low = min(s for _, s in scores)
        span = high - low
        for pid, score in scores:
            normalised = (score - low) / span if span > 0 else 1.0
            fused[pid] = fused.get(pid, 0.0) + weight * normalised
    return fused


def dedupe(hits: list[Hit]) -> list[Hit]:
    """Drop passages whose text (case, spacing and punctuation aside) was already seen."""
    seen: set[str] = set()
    out = []
    for hit in hits:
        key = re.sub(r"\W+", " ", hit.text.lower()).strip()
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


def diversify(hits: list[Hit], k: int, head: int = RERANK_DEPTH) -> tuple[list[Hit], int]:
    """Top ``k`` with at most PER_ARTICLE passages per article, unless too few articles;
    and the head to re-rank: the first ``head`` of those, then any passage among the
    first ``head`` by score that the cap pushed out of them (returned after the head,
    so the list may be longer than ``k``). The cap keeps other stories in view, but a
    third passage of one article that both retrievers rank high is often the one that
    answers: re-ranking it too quoted 4 more bbc-dev answers and lost none (any quote
    0.82 -> 0.86; SQuAD 0.911 -> 0.922)."""
    first: list[Hit] = []
    rest: list[Hit] = []
    per_article: dict[str, int] = {}
    for hit in hits:
        n = per_article.get(hit.article_id, 0)
        (first if n < PER_ARTICLE else rest).append(hit)
        per_article[hit.article_id] = n + 1
    ordered = first + rest
    kept = {h.passage_id for h in ordered[:head]}
    pushed = [h for h in hits[:head] if h.passage_id not in kept]
    moved = {h.passage_id for h in pushed}
    tail = [h for h in ordered[head:] if h.passage_id not in moved]
    depth = min(head, len(ordered)) + len(pushed)
    return (ordered[:head] + pushed + tail)[: max(k, depth)], depth


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


def open_retriever(settings: Settings, embedder: Embedder | None = None) -> Retriever:
    if (
        not settings.database_url
        and settings.index_dir.exists()
        and not settings.index_dir.is_dir()
    ):
        raise ConfigError(f"{settings.index_dir} is not a folder; set ARTICLEBOT_INDEX_DIR.")
    return Retriever(settings, embedder)
