"""The FAISS side of a generation: building the passages' vector index (exact inner
product, or HNSW past a threshold), loading it, and searching it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import IndexDamagedError
from .generations import FAISS_NAME, REPAIR

if TYPE_CHECKING:
    import numpy as np

    from .scopes import Allowed

HNSW_EF_SEARCH = 128
#: HNSW past this many passages when ARTICLEBOT_ANN_THRESHOLD is unset: FAISS's exact
#: scan is fast in memory, and HNSW costs build time and recall (see benchmarks/README.md).
DEFAULT_ANN_THRESHOLD = 200_000

#: Passage ids with their vectors, in the order they were written.
Vectors = tuple["np.ndarray", "np.ndarray"]


def load_vectors(gen_dir: Path) -> Any:
    import faiss

    try:
        index: Any = faiss.read_index(str(gen_dir / FAISS_NAME))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1][:200]
        raise IndexDamagedError(
            f"The vector file of {gen_dir} is damaged ({reason}). {REPAIR}"
        ) from None
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSW):
        # faiss's default (16) trades too much recall for speed at 1M passages.
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def read_unchecked(gen_dir: Path) -> Any:
    """A published generation's index, to be changed by the next writer."""
    import faiss

    return faiss.read_index(str(gen_dir / FAISS_NAME))


def write(index: Any, gen_dir: Path) -> None:
    import faiss

    faiss.write_index(index, str(gen_dir / FAISS_NAME))


def build_vector_index(data: Vectors, dimension: int, ann: bool) -> Any:
    """Exact inner product (vectors are normalised, so cosine); HNSW when ``ann``."""
    import faiss

    inner: Any
    if ann:
        inner = faiss.IndexHNSWFlat(dimension, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = 80
    else:
        inner = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIDMap2(inner)
    ids, vecs = data
    if len(ids):
        index.add_with_ids(vecs, ids)
    return index


def updated_index(
    index: Any,
    changes: tuple[list[int], list[tuple[list[int], np.ndarray]]],
    dimension: int,
    want_ann: bool,
    all_vectors: Callable[[], Vectors],
) -> Any:
    """``index`` (None: none yet) with the ``changes`` (ids removed, ids and vectors
    added): an exact index of the same dimension is changed in place, anything else is
    rebuilt from ``all_vectors()`` (HNSW cannot delete)."""
    import numpy as np

    removed, added = changes
    exact = index is not None and index_type(index) == "flat" and index.d == dimension
    if exact and not want_ann:
        if removed:
            index.remove_ids(np.asarray(removed, dtype=np.int64))
        for ids, vecs in added:
            index.add_with_ids(vecs, np.asarray(ids, dtype=np.int64))
        return index
    return build_vector_index(all_vectors(), dimension, want_ann)


def search(
    index: Any, vector: np.ndarray, k: int, allowed: Allowed | None
) -> list[tuple[int, float]]:
    """Passage ids by inner product with ``vector``, among ``allowed`` (None: all)."""
    import faiss

    if index.ntotal == 0 or (allowed is not None and not len(allowed)):
        return []
    params = selector = None
    if allowed is not None:
        selector = allowed.selector()  # held here: the parameters don't keep it alive
        params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
    n = min(k, index.ntotal)
    scores, ids = index.search(vector.reshape(1, -1), n, params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def index_type(index: Any) -> str:
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    return "hnsw" if isinstance(inner, faiss.IndexHNSW) else "flat"


def single_threaded_faiss() -> None:
    """One query at a time gains nothing from OpenMP threads, and faiss's OpenMP runtime
    fights torch's for the cores (see benchmarks/README.md)."""
    import faiss

    faiss.omp_set_num_threads(1)
