"""Where the index lives: one interface (``base``), one module per store.

``open_store`` is the one place that picks the store: PostgreSQL when
``ARTICLEBOT_DATABASE_URL`` is set, else the local folder ``ARTICLEBOT_INDEX_DIR``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings
    from .base import Store


def open_store(settings: Settings, *, read: bool = False) -> Store:
    """The configured store; ``read``: for answering (a read replica when one is set)."""
    if settings.database_url:
        from .postgres import PostgresStore

        url = settings.database_read_url if read and settings.database_read_url else None
        return PostgresStore(settings.database_url.get_secret_value(), read_url=url)
    from .local import LocalStore

    return LocalStore(settings.index_dir)
