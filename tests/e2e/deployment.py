"""A real, throwaway Airflow deployment on 127.0.0.1, started by ``python -m trio_coord dev``.

What runs
=========

:class:`Deployment` runs ``python -m trio_coord dev`` (trio_coord/_dev.py)
in a temporary folder, exactly as a user does, with the ``apache-airflow``
release the nox session installs into this interpreter's venv. ``dev`` writes
``airflow.cfg``, packs the bundle, runs ``airflow db migrate``, starts the
api-server, scheduler, dag-processor and triggerer (LocalExecutor, SQLite),
waits until they are healthy, unpauses the Dags whose stub tasks go to queue
``trio``, sets the variables and connections given, and prints the URL and
the admin password; this module waits for that line, then talks to the
REST API. Everything the deployment does is therefore ``dev``'s code, and
each e2e test is also a test of ``dev``.

The bundle is a copy of ``trio_coord/example.py`` in the temporary folder,
so a test can change it and watch ``dev`` repack it.

Every wait is bounded and fails with :class:`DeploymentError`, whose message
ends with ``dev``'s output and the tail of the server logs that explain it.
:meth:`Deployment.stop` sends ``dev`` SIGTERM (what a Ctrl-C does), waits
for it, and reports every process of the deployment still alive afterwards
(there should be none); if ``dev`` itself does not exit in time it kills
the whole tree, pass or fail.

Every step is timed (:mod:`.timings`) and printed as it ends, so the timings
appear in CI output (the e2e nox session runs pytest with ``-s``); the
conftest prints them again as a table in the terminal summary.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

import httpx  # noqa: ASYNC127 - a blocking client on purpose: these tests are synchronous
import psutil

from .timings import timed

#: The queue the stub Dags route to the coordinator, and the coordinator's name.
QUEUE: Final = "trio"
#: Where the Dag files under test live (copied into the deployment's dags folder).
DAGS_SOURCE: Final = Path(__file__).resolve().parent / "dags"
#: The bundle the deployment serves: a copy of the example shipped with trio_coord.
EXAMPLE_SOURCE: Final = Path(__file__).resolve().parents[2] / "trio_coord" / "example.py"
BUNDLE_FILE_NAME: Final = "example_bundle.py"

#: How long each kind of wait may take, in seconds (generous: CI machines are shared).
READY_TIMEOUT: Final = 420.0
RUN_TIMEOUT: Final = 180.0
STOP_TIMEOUT: Final = 60.0
_POLL: Final = 0.25

_T = TypeVar("_T")


class DeploymentError(AssertionError):
    """A step of the deployment failed or did not finish in time."""


def wait_for(
    what: str,
    probe: Callable[[], _T | None],
    *,
    timeout: float,
    explain: Callable[[], str] = lambda: "",
) -> _T:
    """Call ``probe`` until it returns something other than ``None``; return that.

    Raises:
        DeploymentError: ``timeout`` seconds passed first (the message says
            ``what`` was awaited and adds ``explain()``).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise DeploymentError(f"timed out after {timeout:.0f} s waiting for {what}{explain()}")
        time.sleep(_POLL)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file ("" if it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# ------------------------------------------------------------------ processes


def clean_environment() -> dict[str, str]:
    """This environment without any ``AIRFLOW*`` variable (``dev`` gets its settings from its own file)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}


def living(processes: Sequence[psutil.Process]) -> list[str]:
    """Those of ``processes`` still running (zombies excluded), described."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"pid {process.pid}: {' '.join(process.cmdline())[:200]}")
        except psutil.Error:
            continue
    return alive


@dataclass(frozen=True)
class Stopped:
    """How a ``dev`` process ended: its exit code, how long it took, and what outlived it."""

    exit_code: int | None
    seconds: float
    left_running: list[str]
    output: str


class DevProcess:
    """``python -m trio_coord dev ...`` as a child process (its own session), output in a file."""

    def __init__(
        self, argv: Sequence[str], *, cwd: Path, output: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.output_path = output
        with output.open("wb") as sink:
            self.process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else clean_environment(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.argv = list(argv)
        print(f"[e2e] started dev: pid {self.process.pid}, output {output}", flush=True)

    def output(self) -> str:
        """Everything ``dev`` printed so far (a note if its file was removed with the deployment)."""
        try:
            return self.output_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return f"(dev's output {self.output_path} is gone: the deployment's folder was removed)\n"

    def wait_for_output(
        self, pattern: str, *, timeout: float, explain: Callable[[], str] = lambda: ""
    ) -> re.Match[str]:
        """Wait until ``dev``'s output matches ``pattern`` (a regex); fail at once if ``dev`` exits."""

        def probe() -> re.Match[str] | None:
            found = re.search(pattern, self.output(), re.MULTILINE)
            if found is None and self.process.poll() is not None:
                raise DeploymentError(
                    f"dev exited with {self.process.returncode} before printing {pattern!r}:\n{self.output()}"
                    + explain()
                )
            return found

        return wait_for(
            f"dev to print {pattern!r}",
            probe,
            timeout=timeout,
            explain=lambda: f"\n{self.output()}{explain()}",
        )

    def descendants(self) -> list[psutil.Process]:
        """Every live process ``dev`` started, directly or not."""
        try:
            return list(psutil.Process(self.process.pid).children(recursive=True))
        except psutil.Error:
            return []

    def children(self) -> list[psutil.Process]:
        """The processes ``dev`` started itself (the Airflow servers)."""
        try:
            return list(psutil.Process(self.process.pid).children())
        except psutil.Error:
            return []

    def stop(
        self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT, *, group: bool = False
    ) -> Stopped:
        """Send ``sig`` to ``dev`` (to its process group with ``group``, as a terminal's Ctrl-C does)
        and wait for it; kill the whole tree if it does not exit in time.

        The processes ``dev`` had started are listed first, so the result says
        which of them outlived ``dev`` (each is then killed, so nothing leaks
        from a failing test either).
        """
        tree = self.descendants()
        start = time.monotonic()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if group:
                    os.killpg(self.process.pid, sig)
                else:
                    self.process.send_signal(sig)
        code: int | None
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        seconds = time.monotonic() - start
        left = living(tree)
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.kill()
        return Stopped(code, seconds, left, self.output())


# ------------------------------------------------------------------ REST


def _timestamp(value: object) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if isinstance(value, str) else None


def seconds_between(start: object, end: object) -> float | None:
    """Seconds from one REST timestamp to another (``None`` if either is missing)."""
    first, last = _timestamp(start), _timestamp(end)
    return (last - first).total_seconds() if first and last else None


@dataclass(frozen=True)
class DagRunResult:
    """A finished Dag run: its state, its REST record and its task instances by task id."""

    dag_id: str
    run_id: str
    state: str
    dag_run: dict[str, object]
    task_instances: dict[str, dict[str, object]]

    @property
    def seconds(self) -> float | None:
        """From queued to finished, by the server's clock."""
        return seconds_between(self.dag_run.get("queued_at"), self.dag_run.get("end_date"))


class RestClient:
    """A thin client for Airflow's public REST API (``/api/v2``), authenticated as admin."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v2",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=30.0,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def _json(self, response: httpx.Response) -> object:
        if response.is_error:
            raise DeploymentError(
                f"{response.request.method} {response.request.url} answered "
                f"{response.status_code}: {response.text[:2000]}"
            )
        return response.json()

    def get(self, path: str, **params: str) -> object:
        """GET ``path`` (under ``/api/v2``) and return the JSON body.

        Raises:
            DeploymentError: any non-2xx answer (the body is in the message).
        """
        return self._json(self.http.get(path, params=params))

    def post(self, path: str, body: Mapping[str, object]) -> object:
        """POST a JSON body to ``path`` (under ``/api/v2``) and return the JSON answer."""
        return self._json(self.http.post(path, json=dict(body)))

    def patch(self, path: str, body: Mapping[str, object]) -> object:
        """PATCH a JSON body to ``path`` (under ``/api/v2``) and return the JSON answer."""
        return self._json(self.http.patch(path, json=dict(body)))

    def dag(self, dag_id: str) -> dict[str, object]:
        """The Dag's record (``is_paused``, ...)."""
        body = self.get(f"/dags/{dag_id}")
        assert isinstance(body, dict), body
        return body

    def create_variable(self, key: str, value: str) -> None:
        """Create a variable."""
        self.post("/variables", {"key": key, "value": value})

    def create_connection(self, connection_id: str, **fields: object) -> None:
        """Create a connection (``conn_type``, ``host``, ``login``, ``password``, ...)."""
        self.post("/connections", {"connection_id": connection_id, **fields})

    def trigger(self, dag_id: str, conf: Mapping[str, object] | None = None) -> str:
        """Trigger a run of ``dag_id`` now; return its run id."""
        body = self.post(f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
        assert isinstance(body, dict), body
        run_id = body["dag_run_id"]
        assert isinstance(run_id, str), body
        return run_id

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, object]:
        """The Dag run (``state``: ``queued``, ``running``, ``success``, ``failed``; dates)."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}")
        assert isinstance(body, dict), body
        return body

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, object]]:
        """The run's task instances, by task id."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        assert isinstance(body, dict), body
        instances = body["task_instances"]
        assert isinstance(instances, list), body
        return {str(ti["task_id"]): ti for ti in instances}

    def task_instance_list(self, dag_id: str, run_id: str, limit: int = 500) -> list[dict[str, object]]:
        """Every task instance of the run, mapped ones each on its own (up to ``limit``)."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=str(limit))
        assert isinstance(body, dict), body
        instances = body["task_instances"]
        assert isinstance(instances, list), body
        assert len(instances) == body["total_entries"], f"more than {limit} task instances"
        return instances

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, object]]:
        """Every try of a task instance, oldest first (``try_number``, ``state``, ...)."""
        body = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        assert isinstance(body, dict), body
        tries = body["task_instances"]
        assert isinstance(tries, list), body
        return sorted(tries, key=lambda ti: int(ti["try_number"]))

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> object:
        """An XCom's value as stored (the REST API's default: not deserialized)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        body = self.get(path, map_index=str(map_index))
        assert isinstance(body, dict), body
        return body["value"]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
    ) -> list[dict[str, object]]:
        """The task log of one try, as the REST API serves it: one dict per record."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        body = self.get(path, full_content="true", map_index=str(map_index))
        assert isinstance(body, dict), body
        content = body["content"]
        assert isinstance(content, list), body
        return [entry if isinstance(entry, dict) else {"event": str(entry)} for entry in content]


def wait_for_dag_run(
    rest: RestClient, dag_id: str, run_id: str, scheduler_logs: Callable[[], str]
) -> DagRunResult:
    """Wait (bounded) until the run is ``success`` or ``failed``; return it with its TIs.

    A run that does not finish in time fails with its task instances and
    ``scheduler_logs()`` (the deployment's explanation) in the message.
    """

    def finished() -> dict[str, object] | None:
        dag_run = rest.dag_run(dag_id, run_id)
        return dag_run if dag_run["state"] in ("success", "failed") else None

    def explain() -> str:
        instances = json.dumps(rest.task_instances(dag_id, run_id), indent=1)
        return f"\ntask instances: {instances[:4000]}{scheduler_logs()}"

    dag_run = wait_for(f"Dag run {dag_id}/{run_id} to finish", finished, timeout=RUN_TIMEOUT, explain=explain)
    return DagRunResult(dag_id, run_id, str(dag_run["state"]), dag_run, rest.task_instances(dag_id, run_id))


# ------------------------------------------------------------------ the deployment


@dataclass
class Deployment:
    """``dev`` serving a copy of the example bundle for the Dags under ``dags/``.

    Use :meth:`start`, then :attr:`rest`; always call :meth:`stop` (safe after
    a start that failed half-way, and twice; it removes the folder unless told
    to keep it).
    """

    variables: Mapping[str, str] = field(default_factory=dict)
    connections: Mapping[str, str] = field(default_factory=dict)
    #: The api-server's port (``dev --port``); ``None`` lets ``dev`` pick a free one.
    api_port: int | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="trio_coord_e2e_")))
    dev: DevProcess | None = None
    rest: RestClient | None = None
    base_url: str = ""
    stopped: Stopped | None = None

    @property
    def home(self) -> Path:
        """``AIRFLOW_HOME`` (``dev --home``)."""
        return self.workdir / "home"

    @property
    def dags_folder(self) -> Path:
        """The dags folder the dag-processor parses (``dev --dags-folder``)."""
        return self.workdir / "dags"

    @property
    def bundle_source(self) -> Path:
        """The bundle ``dev`` serves (and repacks when it changes)."""
        return self.workdir / BUNDLE_FILE_NAME

    @property
    def server_logs(self) -> Path:
        """Where each server's output goes (``<name>.log``), next to the task logs."""
        return self.home / "logs"

    def explain(self, *names: str, lines: int = 30) -> str:
        """The tails of the named server logs (all of them by default), for a failure message."""
        chosen = names or ("api-server", "scheduler", "dag-processor", "triggerer")
        return "".join(
            f"\n--- {n}, last lines:\n{tail(self.server_logs / f'{n}.log', lines)}" for n in chosen
        )

    def start(self) -> RestClient:
        """Copy the Dags and the bundle, start ``dev``, wait for it to be ready, log in.

        Raises:
            DeploymentError: ``dev`` exited or was not ready in time (with its output).
        """
        with timed("prepare the folder (Dag files, bundle)"):
            self.dags_folder.mkdir(parents=True)
            for source in sorted(DAGS_SOURCE.glob("*.py")):
                shutil.copy(source, self.dags_folder / source.name)
            shutil.copy(EXAMPLE_SOURCE, self.bundle_source)
        argv = [sys.executable, "-m", "trio_coord", "dev", str(self.bundle_source)]
        argv += ["--dags-folder", str(self.dags_folder), "--home", str(self.home)]
        for key, value in self.variables.items():
            argv += ["--var", f"{key}={value}"]
        for conn_id, uri in self.connections.items():
            argv += ["--conn", f"{conn_id}={uri}"]
        if self.api_port is not None:
            argv += ["--port", str(self.api_port)]
        with timed("dev: pack, check, migrate, start 4 servers until healthy, unpause, set variables"):
            self.dev = DevProcess(argv, cwd=self.workdir, output=self.workdir / "dev.out")
            ready = self.dev.wait_for_output(
                r"is ready at (http://127\.0\.0\.1:\d+) .*\n  log in as admin, password (\S+)$",
                timeout=READY_TIMEOUT,
                explain=self.explain,
            )
        self.base_url = ready[1]
        if self.api_port is not None and self.base_url != f"http://127.0.0.1:{self.api_port}":
            raise DeploymentError(f"dev --port {self.api_port} is ready at {self.base_url} instead")
        print(f"[e2e] AIRFLOW_HOME={self.home}, {self.base_url}", flush=True)
        self.rest = RestClient(self.base_url, token(self.base_url, ready[2]))
        return self.rest

    def wait_for_dag(self, dag_id: str) -> None:
        """Wait (bounded) until the dag-processor stored ``dag_id``; an import error fails at once."""
        assert self.rest is not None
        rest = self.rest

        def parsed() -> bool | None:
            body = rest.get("/importErrors")
            assert isinstance(body, dict), body
            errors = body.get("import_errors") or []
            if errors:
                raise DeploymentError(f"the dag-processor could not import a Dag file: {errors}")
            return True if rest.http.get(f"/dags/{dag_id}").status_code == 200 else None

        wait_for(
            f"Dag {dag_id} to be parsed",
            parsed,
            timeout=RUN_TIMEOUT,
            explain=lambda: self.explain("dag-processor"),
        )

    def wait_for_run(self, dag_id: str, run_id: str) -> DagRunResult:
        """Wait (bounded) until the run is ``success`` or ``failed``; return it with its TIs."""
        assert self.rest is not None
        return wait_for_dag_run(self.rest, dag_id, run_id, lambda: self.explain("scheduler"))

    def scheduler_output(self) -> str:
        """Everything the scheduler (and its LocalExecutor workers) printed so far."""
        return tail(self.server_logs / "scheduler.log", 100_000)

    def stop(self, sig: signal.Signals = signal.SIGTERM, *, keep: bool = False) -> Stopped | None:
        """Stop ``dev`` with ``sig`` (once), then remove the folder (unless ``keep``); return how it ended."""
        if self.rest is not None:
            self.rest.close()
            self.rest = None
        if self.dev is not None and self.stopped is None:
            with timed("stop dev and every Airflow process"):
                self.stopped = self.dev.stop(sig)
            if self.stopped.left_running:
                print(f"[e2e] left running after dev exited: {self.stopped.left_running}", flush=True)
        if keep:
            print(
                f"[e2e] kept {self.workdir} (dev's output in dev.out, server logs in {self.server_logs})",
                flush=True,
            )
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return self.stopped


def token(base_url: str, password: str) -> str:
    """A bearer token for the REST API, as the admin user."""
    response = httpx.post(
        f"{base_url}/auth/token", json={"username": "admin", "password": password}, timeout=30.0
    )
    if response.status_code not in (200, 201):
        raise DeploymentError(f"POST /auth/token answered {response.status_code}: {response.text[:2000]}")
    value = response.json().get("access_token")
    assert isinstance(value, str), response.text
    return value
