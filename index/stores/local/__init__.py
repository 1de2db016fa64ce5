"""On-disk index: generations of (SQLite + FAISS), published by an atomic pointer swap.

Layout of ``index_dir``::

    CURRENT              name of the live generation ("gen-000007"), replaced atomically
    gen-000007/          index.sqlite (articles, passages, FTS5, manifest) + vectors.faiss
    gen-000008.tmp-PID/  a run in progress; never read, removed by the next writer
    lock                 flock held by the one writer

A writer copies the live generation, changes the copy, fsyncs it, renames the
folder into place and only then swaps ``CURRENT``. A run killed at any moment
leaves the live generation untouched; readers never see half-written files.

Modules: ``generations`` (the pointer, the folders, their checksums), ``lock``, ``schema``
(the SQLite tables), ``web`` (the web sources' tables), ``dense`` (FAISS), ``snapshot``,
``view`` (reading), ``writer`` (changing and publishing), ``store`` (the ``Store``).
"""

from .store import LocalStore
from .view import LocalView

__all__ = ["LocalStore", "LocalView"]
