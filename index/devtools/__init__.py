"""Tools for developing articlebot, not used by it: ``pgserver``, a local PostgreSQL."""
