"""The PostgreSQL + pgvector store: one index that many bot processes read while one
writer updates it (``ARTICLEBOT_DATABASE_URL``).

- Vectors (``vectors``): ``vector`` columns; inner product (``<#>``) on normalised vectors
  is cosine. Above ``ann_threshold`` passages an HNSW index serves dense search, with
  ``hnsw.iterative_scan = relaxed_order`` so a filtered search still fills its top k.
- Lexical (``lexical``): BM25 computed in SQL exactly as FTS5's ``bm25()``, over a
  postings table of the terms FTS5 would make, with document frequencies the writer keeps
  in ``term_stats``.
- Writing (``writer``): an index run is one transaction (readers see the old corpus or
  the new one; kill -9 rolls it back), under an advisory lock (one writer at a time). The
  manifest's ``generation`` moves on at commit: that is what readers poll to pick up new
  data. The tables come from versioned ``migrations``.
- Reading (``view``): a connection pool (``pool``), optionally on a read replica.
"""

from .store import PostgresStore

__all__ = ["PostgresStore"]
