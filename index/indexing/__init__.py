"""Sync the index with its sources — folders, files and web URLs: add, update, remove,
incrementally.

Only files whose size, mtime and then content hash changed are read, and only web pages
that are new or listed as changed are fetched (``web.sync``); only articles whose content
changed are re-chunked; only passages whose text is new are embedded. All changes go into
a new generation that is published atomically (see ``stores``).

``run`` holds the one orchestrator; ``plan`` the roots and sources of a run, ``scan`` the
files, ``web_plan`` the web sources, ``apply`` the writes, ``embed`` the vectors.
"""

from .report import FileFailure, IndexReport
from .run import run_index

__all__ = ["FileFailure", "IndexReport", "run_index"]
