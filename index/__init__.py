"""articlebot's core: read articles, split them into passages, embed, store, retrieve, answer.

Nothing here imports ``bot``; heavy libraries (torch, faiss, sentence-transformers)
are imported inside the functions that need them so the CLI starts instantly.
"""

__version__ = "0.1.0"
