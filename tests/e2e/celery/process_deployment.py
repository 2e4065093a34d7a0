"""A real, throwaway Airflow deployment on 127.0.0.1 assembled process by process, and a REST client.

The LocalExecutor e2e run starts its deployment with ``python -m trio_coord dev``
(``tests/e2e/deployment.py``); the Celery deployment (``celery_deployment.py``)
needs its own servers, workers and environments, so it extends this one, which
starts each Airflow process itself.

What runs
=========

:class:`Deployment` makes a fresh ``AIRFLOW_HOME`` in a temporary folder and
runs the same Airflow a user deploys (the ``apache-airflow`` release the nox
session installs into this interpreter's venv):

* ``airflow db migrate`` (SQLite in the temporary folder);
* ``airflow api-server`` (the REST API and the Execution API the workers
  talk to), ``airflow dag-processor`` and ``airflow scheduler`` (with the
  LocalExecutor, whose workers run ``supervise_task``), each started with
  ``start_new_session=True`` so it leads its own process group, its pid
  recorded, its output written to ``<workdir>/logs/<name>.log``.

Every process gets the same environment (:meth:`Deployment.environment`): the
settings ``python -m trio_coord dev`` writes into its airflow.cfg, built by the
same function (``trio_coord._dev_config.airflow_settings``) and passed as
``AIRFLOW__…`` variables: the ``[sdk] coordinators`` / ``queue_to_coordinator``
settings that route queue ``trio`` to Airflow's own ``ExecutableCoordinator``
scanning ``<home>/executable-bundles``, one JWT secret, API secret key and
Fernet key, free loopback ports, and nothing inherited from the caller's
``AIRFLOW*`` variables.

Every wait is bounded and fails with :class:`DeploymentError`, whose message
ends with the tail of the server logs that explain it. :meth:`Deployment.stop`
always stops every process it started: SIGTERM to each process group, a
bounded wait, then SIGKILL to whatever is left (the group and any descendant
that left it).

Every step is timed (:mod:`.timings`) and printed as it ends, so the timings
appear in CI output (the e2e nox session runs pytest with ``-s``); the
conftest prints them again as a table in the terminal summary.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx  # noqa: ASYNC127 - a blocking client on purpose: these tests are synchronous

from trio_coord._dev import free_port
from trio_coord._dev_config import (
    DevLayout,
    DevSecrets,
    airflow_settings,
    child_environment,
    settings_as_environment,
)

from ..deployment import DagRunResult, DeploymentError, RestClient, tail, wait_for, wait_for_dag_run
from ..timings import timed

#: The queue the stub Dags route to the coordinator, and the coordinator's name.
QUEUE: Final = "trio"
#: Where the Dag files under test live (copied into the deployment's dags folder).
DAGS_SOURCE: Final = Path(__file__).resolve().parents[1] / "dags"
#: The bundle the deployment packs: the example shipped with trio_coord.
BUNDLE: Final = "trio_coord.example"
#: The packed file's name in the executables root.
BUNDLE_FILE_NAME: Final = "trio_coord_example"

#: How long each kind of wait may take, in seconds (generous: CI machines are shared).
MIGRATE_TIMEOUT: Final = 180.0
PACK_TIMEOUT: Final = 120.0
READY_TIMEOUT: Final = 180.0
RUN_TIMEOUT: Final = 180.0
STOP_TIMEOUT: Final = 30.0
_POLL: Final = 0.25


@dataclass
class Server:
    """One Airflow server process (the leader of its own process group)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The server's pid, which is also its process group id."""
        return self.process.pid

    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self.process.poll() is None


def _descendants(pid: int) -> list[int]:
    """The pids of every live descendant of ``pid`` (empty without psutil)."""
    try:
        import psutil  # an Airflow dependency; optional here
    except ImportError:
        return []
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_servers(servers: Sequence[Server], timeout: float = STOP_TIMEOUT) -> list[str]:
    """Stop ``servers``: SIGTERM to each group, wait up to ``timeout`` s, then SIGKILL.

    Descendants that left a server's process group (a new session) are found
    before the SIGTERM and killed too if they outlive the wait.

    Returns:
        What had to be killed, one line each (empty when everything exited
        on SIGTERM).
    """
    strays: dict[int, str] = {}
    for server in servers:
        for pid in _descendants(server.pid):
            strays[pid] = server.name
        _signal_group(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for server in servers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=max(0.0, deadline - time.monotonic()))
    while time.monotonic() < deadline and any(_group_alive(s.pid) for s in servers):
        time.sleep(_POLL)
    killed: list[str] = []
    for server in servers:
        if server.running() or _group_alive(server.pid):
            killed.append(f"{server.name} (process group {server.pid})")
            _signal_group(server.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=5)
    for pid, owner in strays.items():
        if _pid_alive(pid):
            killed.append(f"pid {pid}, a descendant of {owner}")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return killed


@dataclass
class Deployment:
    """A fresh Airflow home with its three servers (see the module docstring).

    Use :meth:`start`, then :attr:`rest`; always call :meth:`stop` (it is safe
    after a start that failed half-way, and removes the folder unless told
    to keep it).
    """

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="trio_coord_e2e_")))
    #: The Dag files copied into the dags folder (default: every file under dags/).
    dag_files: Sequence[Path] = field(default_factory=lambda: sorted(DAGS_SOURCE.glob("*.py")))
    servers: list[Server] = field(default_factory=list)
    rest: RestClient | None = None
    api_port: int = 0
    log_server_port: int = 0
    trigger_log_server_port: int = 0
    #: The JWT secret, API secret key and Fernet key every process shares.
    secrets: DevSecrets = field(default_factory=DevSecrets.generate)
    bundle_path: Path | None = None

    # ---------------------------------------------------------------- layout

    @property
    def home(self) -> Path:
        """``AIRFLOW_HOME``."""
        return self.workdir / "home"

    @property
    def dags_folder(self) -> Path:
        """The dags folder the dag-processor parses."""
        return self.home / "dags"

    @property
    def executables_root(self) -> Path:
        """The folder ``ExecutableCoordinator`` scans for packed bundles (``dev``'s place for it)."""
        return self.layout.executables_root

    @property
    def server_logs(self) -> Path:
        """Where each server's stdout and stderr go (``<name>.log``)."""
        return self.workdir / "logs"

    @property
    def base_url(self) -> str:
        """The api-server's root URL."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def layout(self) -> DevLayout:
        """The deployment's folders and ports, as ``python -m trio_coord dev`` describes its own."""
        return DevLayout(
            home=self.home,
            dags_folder=self.dags_folder,
            queue=QUEUE,
            api_port=self.api_port,
            worker_log_port=self.log_server_port,
            trigger_log_port=self.trigger_log_server_port,
        )

    def environment(self) -> dict[str, str]:
        """The environment every Airflow process of this deployment runs with.

        The settings are the ones ``python -m trio_coord dev`` writes into its
        airflow.cfg (:func:`trio_coord._dev_config.airflow_settings`), passed as
        ``AIRFLOW__SECTION__OPTION`` variables, with one change: the Dags start
        unpaused (``dev`` unpauses them itself). The caller's ``AIRFLOW*``
        variables are dropped, as ``dev`` drops them.
        """
        settings = airflow_settings(self.layout, self.secrets)
        settings["core"]["dags_are_paused_at_creation"] = "False"
        env = child_environment(os.environ, self.home)
        env.update(settings_as_environment(settings))
        return env

    # ---------------------------------------------------------------- steps

    def _run(self, name: str, argv: Sequence[str], timeout: float) -> str:
        """Run a command to completion (bounded); return its output; fail with it otherwise."""
        log_path = self.server_logs / f"{name}.log"
        with log_path.open("wb") as log:
            try:
                completed = subprocess.run(
                    list(argv),
                    env=self.environment(),
                    cwd=self.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise DeploymentError(
                    f"{name} did not finish in {timeout:.0f} s; its output ends with:\n{tail(log_path)}"
                ) from None
        output = log_path.read_text(encoding="utf-8", errors="replace")
        if completed.returncode != 0:
            raise DeploymentError(
                f"{name} exited with {completed.returncode}; its output ends with:\n{tail(log_path)}"
            )
        return output

    def _airflow(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    def prepare(self) -> None:
        """Make the folders, copy the Dag files, pick the ports."""
        for folder in (self.dags_folder, self.executables_root, self.server_logs):
            folder.mkdir(parents=True, exist_ok=True)
        for source in self.dag_files:
            shutil.copy(source, self.dags_folder / source.name)
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port())
        self.api_port, self.log_server_port, self.trigger_log_server_port = sorted(ports)

    def pack(self, bundle: str, file_name: str) -> Path:
        """Pack ``bundle`` into the executables root with this venv's Python; check it."""
        output = self.executables_root / file_name
        python = sys.executable
        self._run(
            f"pack-{file_name}",
            [python, "-m", "trio_coord", "pack", bundle, "--output", str(output), "--python", python],
            PACK_TIMEOUT,
        )
        report = self._run(
            f"inspect-{file_name}", [python, "-m", "trio_coord", "inspect", str(output)], PACK_TIMEOUT
        )
        if "valid executable bundle" not in report:
            raise DeploymentError(f"inspect did not call {output} valid:\n{report}")
        return output

    def pack_bundle(self) -> Path:
        """Pack the example bundle into the executables root; check it."""
        self.bundle_path = self.pack(BUNDLE, BUNDLE_FILE_NAME)
        return self.bundle_path

    def migrate(self) -> None:
        """Create the metadata database."""
        self._run("db-migrate", self._airflow("db", "migrate"), MIGRATE_TIMEOUT)

    def start_server(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Server:
        """Start ``airflow <args>`` in its own process group; record it.

        ``env`` replaces :meth:`environment` (a worker's own settings).
        """
        log_path = self.server_logs / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                self._airflow(*args),
                env=dict(env) if env is not None else self.environment(),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(name, process, log_path)
        self.servers.append(server)
        print(f"[e2e] started {name}: pid {server.pid} (its own process group), log {log_path}", flush=True)
        return server

    def explain(self, *names: str, lines: int = 30) -> str:
        """The tails of the named server logs (all of them by default), for a failure message."""
        chosen = [s for s in self.servers if not names or s.name in names]
        parts = []
        for server in chosen:
            state = "running" if server.running() else f"exited with {server.process.returncode}"
            header = f"\n--- {server.name} (pid {server.pid}, {state}), last lines:\n"
            parts.append(header + tail(server.log_path, lines))
        return "".join(parts)

    def _check_servers_alive(self) -> None:
        for server in self.servers:
            if not server.running():
                raise DeploymentError(
                    f"{server.name} exited with {server.process.returncode} during start-up"
                    + self.explain(server.name, lines=60)
                )

    def _health(self) -> dict[str, object] | None:
        self._check_servers_alive()
        try:
            response = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5.0)
        except httpx.TransportError:
            return None
        if response.status_code != 200:
            return None
        body = response.json()
        healthy = all(
            isinstance(body.get(part), dict) and body[part].get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "dag_processor")
        )
        return body if healthy else None

    def _token(self) -> str | None:
        self._check_servers_alive()
        passwords = self.layout.passwords_file
        try:
            password = json.loads(passwords.read_text(encoding="utf-8"))["admin"]
        except (FileNotFoundError, ValueError, KeyError):
            return None
        try:
            response = httpx.post(
                f"{self.base_url}/auth/token",
                json={"username": "admin", "password": password},
                timeout=5.0,
            )
        except httpx.TransportError:
            return None
        if response.status_code not in (200, 201):
            return None
        token = response.json().get("access_token")
        return token if isinstance(token, str) else None

    def start(self, dag_ids: Sequence[str]) -> RestClient:
        """Prepare, pack, migrate, start the servers and wait until ``dag_ids`` are parsed.

        Raises:
            DeploymentError: a step failed or a wait ran out (with the server logs' tails).
        """
        with timed("prepare the Airflow home"):
            self.prepare()
            print(
                f"[e2e] AIRFLOW_HOME={self.home} api-server port {self.api_port}, "
                f"worker log server port {self.log_server_port}",
                flush=True,
            )
        with timed("pack the example bundle (pack + inspect)"):
            self.pack_bundle()
        self.start_backing_services()
        with timed("airflow db migrate"):
            self.migrate()
        with timed("start api-server, dag-processor, scheduler until healthy"):
            self.start_server("api-server", "api-server")
            self.start_server("dag-processor", "dag-processor")
            self.start_server("scheduler", "scheduler")
            wait_for(
                "a healthy scheduler and dag-processor",
                self._health,
                timeout=READY_TIMEOUT,
                explain=self.explain,
            )
            token = wait_for(
                "an admin token from /auth/token", self._token, timeout=READY_TIMEOUT, explain=self.explain
            )
            self.rest = RestClient(self.base_url, token)
        self.start_workers()
        with timed(f"wait until the Dags are parsed ({len(dag_ids)})"):
            for dag_id in dag_ids:
                wait_for(
                    f"Dag {dag_id} to be parsed",
                    functools.partial(self._dag_parsed, dag_id),
                    timeout=READY_TIMEOUT,
                    explain=lambda: self.explain("dag-processor"),
                )
        return self.rest

    def start_backing_services(self) -> None:
        """Start what ``db migrate`` needs (nothing here: SQLite is a file)."""

    def start_workers(self) -> None:
        """Start separate workers (none here: the scheduler's LocalExecutor runs the tasks)."""

    def stop_backing_services(self) -> list[str]:
        """Stop what :meth:`start_backing_services` started; return what had to be killed."""
        return []

    def _dag_parsed(self, dag_id: str) -> bool | None:
        self._check_servers_alive()
        assert self.rest is not None
        errors = self._import_errors()
        if errors:
            raise DeploymentError(f"the dag-processor could not import a Dag file:{errors}")
        response = self.rest.http.get(f"/dags/{dag_id}")
        return True if response.status_code == 200 else None

    def _import_errors(self) -> str:
        if self.rest is None:
            return ""
        body = self.rest.get("/importErrors")
        assert isinstance(body, dict), body
        errors = body.get("import_errors") or []
        assert isinstance(errors, list), body
        return "".join(f"\n{e.get('filename')}: {e.get('stack_trace')}" for e in errors)

    def wait_for_run(self, dag_id: str, run_id: str) -> DagRunResult:
        """Wait (bounded) until the run is ``success`` or ``failed``; return it with its TIs."""
        assert self.rest is not None
        return wait_for_dag_run(self.rest, dag_id, run_id, lambda: self.explain("scheduler"))

    def scheduler_output(self) -> str:
        """Everything the scheduler (and its LocalExecutor workers) printed so far."""
        for server in self.servers:
            if server.name == "scheduler":
                return server.log_path.read_text(encoding="utf-8", errors="replace")
        return ""

    def stop(self, *, keep: bool = False) -> None:
        """Stop every server this deployment started, then remove the folder (unless ``keep``).

        Never raises for a server that had already exited; prints what had to
        be killed.
        """
        if self.rest is not None:
            self.rest.close()
        with timed("stop the servers"):
            killed = stop_servers(self.servers)
        killed += self.stop_backing_services()
        if killed:
            print(f"[e2e] had to SIGKILL: {', '.join(killed)}", flush=True)
        if keep:
            print(f"[e2e] kept {self.workdir} (server logs in {self.server_logs})", flush=True)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
