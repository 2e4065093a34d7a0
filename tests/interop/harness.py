"""Run trio_coord tasks under Airflow's real, unmodified task supervisor (task-sdk 1.3.2).

What is real, what is fake
==========================

Real: everything in apache-airflow-task-sdk 1.3.2 from
:func:`airflow.sdk.execution_time.supervisor.supervise_task` down, exactly as
a worker calls it: the coordinator lookup through ``[sdk] coordinators`` and
``[sdk] queue_to_coordinator`` (set here as JSON environment variables and
routed by the task instance's queue), ``SubprocessCoordinator.execute_task``,
``_PopenActivitySubprocess`` (the two listening sockets, the ownership check,
the startup timeout), ``ActivitySubprocess`` (PATCH /run before
StartupDetails, request handling, heartbeats, the final-state rules), the
schema migrator, the HTTP :class:`~airflow.sdk.api.client.Client` (retries,
404 mapping, secrets masking) and the task log file writer.

Fake: the Execution API. :class:`FakeExecutionAPI` answers every HTTP request
in-process through ``httpx.MockTransport`` behind the real ``Client``, keeps
variables, connections and XComs, and records every request as an
:class:`ApiCall` (method, path under ``/execution/``, query, JSON body).

Ours: :class:`TrioCoordCoordinator`, the smallest possible
``SubprocessCoordinator``: its command is ``python -m trio_coord serve
<interop_bundle.py>`` (the supervisor appends ``--comm=…`` and ``--logs=…``)
with schema version ``2026-06-16``, exactly what ``ExecutableCoordinator``
returns for a packed bundle. It also keeps each ``ExecutionResult``, because
``supervise_task`` returns only the exit code.

Using it
========

::

    api = FakeExecutionAPI(variables={"greeting": "hello"}, run_context={"max_tries": 1})
    result = run("interop", "reads_everything", api=api)
    result.exit_code, result.final_state        # what supervise_task / the coordinator returned
    result.calls_without_heartbeats             # [ApiCall(...), ...] in order
    result.record(event="...")                  # one JSON record of the task log file

``run`` bounds every run (``timeout``, default 45 s: a watchdog SIGKILLs the
runtime, and the run fails) and checks that no runtime process outlives it.
``signal_when_logged`` delivers a signal once a given log line reached the
task log, either to the runtime process or to this (the supervisor's)
process, which the real supervisor forwards to the runtime.

Import side effects
===================

Importing this module configures the process for hermetic, fast runs, and so
must happen before anything imports ``airflow`` (the client reads its retry
settings at import time): every ``AIRFLOW*`` environment variable is removed
(so ``AIRFLOW_VAR_*``/``AIRFLOW_CONN_*`` cannot short-circuit API calls), and
``AIRFLOW_HOME`` and the log folder point into a temporary directory removed
at exit. Settings: ``[workers] min_heartbeat_interval = 1`` (caps the
supervisor's exit-detection tail), API retry waits 0.05-0.2 s,
``hostname_callable = socket.gethostname`` (no DNS).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Self
from unittest.mock import ANY

#: The bundle file the runtime serves.
BUNDLE_FILE: Final = Path(__file__).with_name("interop_bundle.py").resolve()
#: The queue routed to :class:`TrioCoordCoordinator`.
QUEUE: Final = "trio-coord"
#: The coordinator's key in ``[sdk] coordinators``.
COORDINATOR_KEY: Final = "trio_coord"
#: The only supervisor schema version task-sdk 1.3.2 knows.
SCHEMA_VERSION: Final = "2026-06-16"
#: The run id of every task instance unless overridden.
RUN_ID: Final = "manual__2026-06-16T00:00:00+00:00"
#: Where the fake Execution API lives (never contacted: MockTransport answers).
API_BASE_URL: Final = "http://execution-api.invalid/execution/"
#: The default bound on one supervised run, in seconds.
DEFAULT_TIMEOUT: Final = 45.0

_LOGICAL_DATE: Final = "2026-06-16T00:00:00Z"
_INTERVAL_END: Final = "2026-06-17T00:00:00Z"


def _configure_process() -> Path:
    """Point Airflow at a temporary home with fast settings; return the log folder."""
    already = sorted(name for name in sys.modules if name == "airflow" or name.startswith("airflow."))
    if already:
        raise RuntimeError(
            f"{__name__} must be imported before airflow (already imported: {already[:3]}): "
            "the API client reads its retry settings at import time"
        )
    for name in [name for name in os.environ if name.startswith("AIRFLOW")]:
        del os.environ[name]
    home = Path(tempfile.mkdtemp(prefix="trio_coord_interop_"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    log_folder = home / "logs"
    command = [sys.executable, "-m", "trio_coord", "serve", str(BUNDLE_FILE)]
    coordinators = {
        COORDINATOR_KEY: {
            "classpath": f"{__name__}.TrioCoordCoordinator",
            "kwargs": {"command": command, "task_startup_timeout": 10.0},
        }
    }
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(log_folder),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",
            "AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MIN": "0.05",
            "AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX": "0.2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__SDK__COORDINATORS": json.dumps(coordinators),
            "AIRFLOW__SDK__QUEUE_TO_COORDINATOR": json.dumps({QUEUE: COORDINATOR_KEY}),
        }
    )
    return log_folder


LOG_FOLDER: Final = _configure_process()

# Airflow is imported only now, after the environment is in place.
import attrs  # noqa: E402
import httpx  # noqa: E402, ASYNC127 - Airflow's Client is built on httpx
import psutil  # type: ignore[import-untyped,unused-ignore]  # noqa: E402
from airflow.executors.workloads import BundleInfo, ExecuteTask  # noqa: E402
from airflow.executors.workloads.task import TaskInstanceDTO  # noqa: E402
from airflow.sdk.api.client import Client  # noqa: E402
from airflow.sdk.api.datamodels._generated import TaskInstance  # noqa: E402
from airflow.sdk.coordinators._subprocess import SubprocessCoordinator  # noqa: E402
from airflow.sdk.execution_time.coordinator import (  # noqa: E402
    BaseCoordinator,
    get_coordinator_manager,
    reset_coordinator_manager,
)
from airflow.sdk.execution_time.supervisor import supervise_task  # noqa: E402

reset_coordinator_manager()


@attrs.define(kw_only=True)
class TrioCoordCoordinator(SubprocessCoordinator):
    """Launch ``command`` (``python -m trio_coord serve <bundle>``) for every task.

    Configured through ``[sdk] coordinators``; keeps every ``ExecutionResult``
    in :attr:`results` (observation only: the result is returned unchanged).
    """

    command: list[str]
    results: list[BaseCoordinator.ExecutionResult] = attrs.field(factory=list)

    def _build_execute_task_command(self, *, what: TaskInstance) -> tuple[list[str], str | None]:
        return list(self.command), SCHEMA_VERSION

    def execute_task(self, **kwargs: Any) -> BaseCoordinator.ExecutionResult:
        result = super().execute_task(**kwargs)
        self.results.append(result)
        return result


# ---------------------------------------------------------------------- the fake Execution API


@dataclass(frozen=True)
class ApiCall:
    """One request to the Execution API.

    ``path`` is relative to ``/execution/`` (``"variables/greeting"``);
    ``query`` holds the query parameters; ``body`` is the parsed JSON body
    (``None`` when there was none). Compare with ``unittest.mock.ANY`` in
    place of values that vary (timestamps, pids).
    """

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


def start_call(ti: TaskInstanceDTO) -> ApiCall:
    """The ``PATCH task-instances/{id}/run`` the supervisor makes before StartupDetails."""
    body = {"state": "running", "hostname": ANY, "unixname": ANY, "pid": ANY, "start_date": ANY}
    return ApiCall("PATCH", f"task-instances/{ti.id}/run", {}, body)


def state_call(ti: TaskInstanceDTO, state: str, **fields: Any) -> ApiCall:
    """A ``PATCH task-instances/{id}/state`` with ``state``, any ``end_date`` and ``fields``."""
    body = {"state": state, "end_date": ANY, "rendered_map_index": None, **fields}
    return ApiCall("PATCH", f"task-instances/{ti.id}/state", {}, body)


XComKey = tuple[str, str, str, str, int]
"""(dag_id, run_id, task_id, key, map_index); map_index -1 is unmapped."""

_NOT_FOUND: Final = object()
_TI_ROUTE: Final = re.compile(r"task-instances/(?P<ti>[0-9a-f-]{36})/(?P<action>[a-z-]+)")
_XCOM_ROUTE: Final = re.compile(r"xcoms/(?P<dag>[^/]+)/(?P<run>[^/]+)/(?P<task>[^/]+)/(?P<key>[^/]+)")


def _not_found(message: str) -> httpx.Response:
    return httpx.Response(404, json={"detail": {"reason": "not_found", "message": message}})


class FakeExecutionAPI:
    """An in-memory Execution API that records every request.

    Args:
        variables: variable values by key (a missing key is a 404).
        connections: connection fields by conn id (``conn_type`` defaults to
            ``"generic"``; unset fields are null).
        xcoms: XCom values by ``(dag_id, run_id, task_id, key[, map_index])``;
            the task's pushes land here too.
        run_context: fields of the ``TIRunContext`` that the ``/run`` reply
            overrides, e.g. ``{"max_tries": 1}`` or ``{"should_retry": True}``.
            Without ``should_retry`` it is computed as the real server does:
            ``max_tries != 0 and try_number <= max_tries``.

    Attributes:
        calls: every request, in order, as :class:`ApiCall`.
        unhandled: the requests no route matched (answered 404).
    """

    def __init__(
        self,
        *,
        variables: Mapping[str, str | None] | None = None,
        connections: Mapping[str, Mapping[str, Any]] | None = None,
        xcoms: Mapping[tuple[Any, ...], Any] | None = None,
        run_context: Mapping[str, Any] | None = None,
    ) -> None:
        self.variables: dict[str, str | None] = dict(variables or {})
        self.connections: dict[str, dict[str, Any]] = {
            conn_id: self._connection(conn_id, fields) for conn_id, fields in (connections or {}).items()
        }
        self.xcoms: dict[XComKey, Any] = {self._xcom_key(key): value for key, value in (xcoms or {}).items()}
        self.run_context: dict[str, Any] = dict(run_context or {})
        self.calls: list[ApiCall] = []
        self.unhandled: list[ApiCall] = []
        self._task_instances: dict[str, TaskInstanceDTO] = {}
        self._hooks: list[tuple[str, str, Callable[[ApiCall], None]]] = []
        self._lock = threading.Lock()

    @staticmethod
    def _connection(conn_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        base: dict[str, Any] = {
            "conn_id": conn_id,
            "conn_type": "generic",
            "host": None,
            "schema": None,
            "login": None,
            "password": None,
            "port": None,
            "extra": None,
        }
        unknown = set(fields) - set(base)
        if unknown:
            raise ValueError(f"unknown connection fields {sorted(unknown)}")
        return {**base, **fields}

    @staticmethod
    def _xcom_key(key: tuple[Any, ...]) -> XComKey:
        if len(key) == 4:
            key = (*key, -1)
        dag_id, run_id, task_id, xcom_key, map_index = key
        return (str(dag_id), str(run_id), str(task_id), str(xcom_key), int(map_index))

    def register(self, ti: TaskInstanceDTO) -> None:
        """Make ``ti`` known, so that its ``/run`` call gets a run context."""
        self._task_instances[str(ti.id)] = ti

    def on(self, method: str, path: str, callback: Callable[[ApiCall], None]) -> None:
        """Call ``callback`` (in the supervisor's thread) before answering ``method path``."""
        self._hooks.append((method, path, callback))

    def transport(self) -> httpx.MockTransport:
        """The transport to give the real ``Client``."""
        return httpx.MockTransport(self.handle)

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Record ``request`` and answer it."""
        prefix = httpx.URL(API_BASE_URL).path
        path = request.url.path
        path = path.removeprefix(prefix)
        content = request.read()
        call = ApiCall(
            method=request.method,
            path=path,
            query=dict(request.url.params),
            body=json.loads(content) if content else None,
        )
        with self._lock:
            self.calls.append(call)
        for method, hook_path, callback in self._hooks:
            if method == call.method and hook_path == call.path:
                callback(call)
        response = self._route(call)
        if response is None:
            with self._lock:
                self.unhandled.append(call)
            return _not_found(f"the fake Execution API has no route for {call.method} {call.path}")
        return response

    def _route(self, call: ApiCall) -> httpx.Response | None:
        if match := _TI_ROUTE.fullmatch(call.path):
            return self._task_instance(call, match["ti"], match["action"])
        if call.path.startswith("variables/") and call.path != "variables/keys":
            return self._variable(call, call.path.removeprefix("variables/"))
        if call.path.startswith("connections/") and call.method == "GET":
            conn_id = call.path.removeprefix("connections/")
            found = self.connections.get(conn_id)
            if found is None:
                return _not_found(f"Connection with ID {conn_id} not found")
            return httpx.Response(200, json=found)
        if match := _XCOM_ROUTE.fullmatch(call.path):
            return self._xcom(call, (match["dag"], match["run"], match["task"], match["key"]))
        return None

    def _task_instance(self, call: ApiCall, ti_id: str, action: str) -> httpx.Response | None:
        if action == "run" and call.method == "PATCH":
            ti = self._task_instances.get(ti_id)
            if ti is None:
                return _not_found(f"Task Instance {ti_id} not found")
            return httpx.Response(200, json=self.run_context_for(ti))
        if (call.method, action) in {
            ("PATCH", "state"),
            ("PUT", "heartbeat"),
            ("PATCH", "rendered-map-index"),
            ("PATCH", "skip-downstream"),
        }:
            return httpx.Response(204)
        if (call.method, action) == ("PUT", "rtif"):
            return httpx.Response(201, json={"message": "Rendered task instance fields successfully set"})
        return None

    def _variable(self, call: ApiCall, key: str) -> httpx.Response | None:
        if call.method == "GET":
            value = self.variables.get(key, _NOT_FOUND)
            if value is _NOT_FOUND:
                return _not_found(f"Variable with key '{key}' not found")
            return httpx.Response(200, json={"key": key, "value": value})
        if call.method == "PUT":
            self.variables[key] = (call.body or {}).get("val")
            return httpx.Response(201, json={"message": "Variable successfully set"})
        if call.method == "DELETE":
            self.variables.pop(key, None)
            return httpx.Response(204)
        return None

    def _xcom(self, call: ApiCall, where: tuple[str, str, str, str]) -> httpx.Response | None:
        key = self._xcom_key((*where, int(call.query.get("map_index", -1))))
        if call.method == "GET":
            if key not in self.xcoms:
                return _not_found(f"XCom with key '{where[3]}' not found for task '{where[2]}'")
            return httpx.Response(200, json={"key": where[3], "value": self.xcoms[key]})
        if call.method == "POST":
            self.xcoms[key] = call.body
            return httpx.Response(201, json={"message": "XCom successfully set"})
        if call.method == "DELETE":
            self.xcoms.pop(key, None)
            return httpx.Response(200, json={"message": "XCom successfully deleted"})
        return None

    def run_context_for(self, ti: TaskInstanceDTO) -> dict[str, Any]:
        """The ``TIRunContext`` the ``/run`` reply carries for ``ti``."""
        overrides = dict(self.run_context)
        dag_run = {
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "logical_date": _LOGICAL_DATE,
            "data_interval_start": _LOGICAL_DATE,
            "data_interval_end": _INTERVAL_END,
            "run_after": _INTERVAL_END,
            "start_date": _INTERVAL_END,
            "end_date": None,
            "clear_number": 0,
            "run_type": "manual",
            "state": "running",
            "conf": {},
            "triggering_user_name": None,
            "consumed_asset_events": [],
            "partition_key": None,
            "partition_date": None,
            "note": None,
            "team_name": None,
            **overrides.pop("dag_run", {}),
        }
        max_tries = overrides.get("max_tries", 0)
        context = {
            "dag_run": dag_run,
            "task_reschedule_count": 0,
            "max_tries": max_tries,
            "variables": [],
            "connections": [],
            "next_method": None,
            "next_kwargs": None,
            "xcom_keys_to_clear": [],
            "should_retry": max_tries != 0 and ti.try_number <= max_tries,
            "start_date": _INTERVAL_END,
        }
        context.update(overrides)
        return context


# ---------------------------------------------------------------------- running a task


@dataclass
class Result:
    """What one supervised run produced.

    Attributes:
        ti: the task instance that ran.
        exit_code: what ``supervise_task`` returned.
        final_state: the supervisor's final state (from ``execute_task``).
        api_calls: every Execution API request, in order.
        log_records: the task log file, one parsed JSON object per line.
        log_text: the task log file, raw.
        duration: wall time of ``supervise_task``, in seconds.
        signal_sent_after: seconds from the start of the run to the delivery
            of ``signal_when_logged`` (``None`` when none was sent).
    """

    ti: TaskInstanceDTO
    exit_code: int
    final_state: str
    api_calls: list[ApiCall]
    log_records: list[dict[str, Any]]
    log_text: str
    duration: float
    signal_sent_after: float | None = None

    @property
    def calls_without_heartbeats(self) -> list[ApiCall]:
        """The API calls except the supervisor's periodic heartbeats (their number is timing)."""
        return [call for call in self.api_calls if not self._is_heartbeat(call)]

    @property
    def heartbeats(self) -> list[ApiCall]:
        """The ``PUT task-instances/{id}/heartbeat`` calls."""
        return [call for call in self.api_calls if self._is_heartbeat(call)]

    def _is_heartbeat(self, call: ApiCall) -> bool:
        return call.method == "PUT" and call.path == f"task-instances/{self.ti.id}/heartbeat"

    @property
    def runtime_pid(self) -> int:
        """The runtime's pid, as the supervisor reported it in ``PATCH …/run``."""
        (start,) = [c for c in self.api_calls if c.path == f"task-instances/{self.ti.id}/run"]
        return int(start.body["pid"])

    def records(self, *, logger: str | None = None, event: str | None = None) -> list[dict[str, Any]]:
        """The task log records with this ``logger`` and/or ``event``."""
        return [
            record
            for record in self.log_records
            if (logger is None or record.get("logger") == logger)
            and (event is None or record.get("event") == event)
        ]

    def record(self, *, logger: str | None = None, event: str | None = None) -> dict[str, Any]:
        """The one task log record with this ``logger`` and/or ``event`` (assertion error otherwise)."""
        found = self.records(logger=logger, event=event)
        assert len(found) == 1, (
            f"expected one record with logger={logger!r} event={event!r}, found {len(found)}; "
            f"the task log has:\n{self.describe_log()}"
        )
        return found[0]

    def describe_log(self) -> str:
        """The task log as ``level logger: event`` lines, for failure messages."""
        return "\n".join(f"  {r.get('level')} {r.get('logger')}: {r.get('event')}" for r in self.log_records)


SignalRequest = tuple[str, signal.Signals, str]
"""(log event to wait for, signal, ``"runtime"`` or ``"supervisor"``)."""


def run(
    dag_id: str,
    task_id: str,
    *,
    api: FakeExecutionAPI | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    signal_when_logged: SignalRequest | None = None,
    bundle: str | Path | None = None,
    **ti_overrides: Any,
) -> Result:
    """Run ``dag_id.task_id`` of the interop bundle under the real ``supervise_task``.

    Args:
        dag_id: the Dag id.
        task_id: the task id.
        api: the fake Execution API (a fresh empty one by default).
        timeout: the bound on the whole run; past it the runtime is SIGKILLed
            and the run fails with an AssertionError.
        signal_when_logged: ``(event, signal, target)``: once a record with
            ``event`` reaches the task log, send ``signal`` to the runtime
            process (``target="runtime"``) or to this process, the
            supervisor (``target="supervisor"``), which forwards it.
        bundle: what the runtime serves instead of ``interop_bundle.py``
            (a file path or a module spec for ``python -m trio_coord serve``).
        **ti_overrides: fields of the ``TaskInstanceDTO`` (``try_number``,
            ``run_id``, ``map_index``, …).

    Returns:
        The :class:`Result`.
    """
    api = api if api is not None else FakeExecutionAPI()
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": RUN_ID,
        "try_number": 1,
        "dag_version_id": uuid.uuid4(),
        "queue": QUEUE,
        "pool_slots": 1,
        "priority_weight": 1,
        **ti_overrides,
    }
    ti = TaskInstanceDTO(**fields)
    # The workload a scheduler would queue; its log path follows Airflow's layout, in a
    # directory of its own per run so that no run appends to another's log.
    workload = ExecuteTask(
        token="interop-token",
        dag_rel_path=Path(BUNDLE_FILE.name),
        bundle_info=BundleInfo(name="trio_coord-interop", version="0.0.1"),
        log_path=f"{ti.id}/dag_id={dag_id}/run_id={ti.run_id}/task_id={task_id}/attempt={ti.try_number}.log",
        ti=ti,
    )
    assert workload.log_path is not None
    log_file = LOG_FOLDER / workload.log_path
    api.register(ti)
    coordinator = get_coordinator_manager().for_queue(QUEUE)
    assert isinstance(coordinator, TrioCoordCoordinator), coordinator
    results_before = len(coordinator.results)

    client = Client(base_url=API_BASE_URL, token=workload.token, transport=api.transport())
    default_command = coordinator.command
    start = time.monotonic()
    watchdog = _Watchdog(timeout)
    signaller = _SignalWhenLogged(log_file, *signal_when_logged, start) if signal_when_logged else None
    try:
        if bundle is not None:
            coordinator.command = [*default_command[:-1], str(bundle)]
        with watchdog, signaller or contextlib.nullcontext():
            # As BaseExecutor.run_workload calls it, with our client instead of a server URL.
            exit_code = supervise_task(
                ti=workload.ti,  # type: ignore[arg-type]  # the DTO duck-types as TaskInstance
                bundle_info=workload.bundle_info,
                dag_rel_path=workload.dag_rel_path,
                token=workload.token,
                log_path=workload.log_path,
                subprocess_logs_to_stdout=False,
                sentry_integration=workload.sentry_integration,
                client=client,
            )
    finally:
        duration = time.monotonic() - start
        coordinator.command = default_command
        client.close()
        leftovers = _stop_runtimes()
    assert not watchdog.fired, (
        f"the run of {dag_id}.{task_id} took over {timeout:g} s; the runtime was killed"
    )
    assert not leftovers, f"runtime processes outlived supervise_task: {leftovers}"
    if signaller is not None and signaller.error is not None:
        raise AssertionError(f"could not deliver the signal: {signaller.error}")
    new_results = coordinator.results[results_before:]
    assert len(new_results) == 1, f"expected one ExecutionResult, got {new_results}"
    (execution,) = new_results
    assert execution.exit_code == exit_code, (execution, exit_code)
    assert not api.unhandled, f"requests the fake Execution API could not answer: {api.unhandled}"

    log_text = log_file.read_text(encoding="utf-8") if log_file.exists() else ""
    return Result(
        ti=ti,
        exit_code=exit_code,
        final_state=str(getattr(execution.final_state, "value", execution.final_state)),
        api_calls=list(api.calls),
        log_records=[json.loads(line) for line in log_text.splitlines() if line.strip()],
        log_text=log_text,
        duration=duration,
        signal_sent_after=signaller.sent_after if signaller else None,
    )


# ---------------------------------------------------------------------- process helpers


def runtime_processes() -> list[psutil.Process]:
    """This process's descendants running ``python -m trio_coord serve``."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = child.cmdline()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        if _is_runtime(cmdline):
            found.append(child)
    return found


def _is_runtime(cmdline: Sequence[str]) -> bool:
    return any(cmdline[i : i + 3] == ["-m", "trio_coord", "serve"] for i in range(max(len(cmdline) - 2, 0)))


def _stop_runtimes() -> list[str]:
    """SIGKILL and reap any runtime still alive; describe what had to be stopped."""
    leftovers = []
    for process in runtime_processes():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                process.wait(timeout=1)
                continue
            leftovers.append(f"pid {process.pid}: {' '.join(process.cmdline())}")
            process.kill()
            process.wait(timeout=5)
        except (psutil.NoSuchProcess, psutil.TimeoutExpired):
            continue
    return leftovers


class _Watchdog:
    """SIGKILL the runtime if the run outlasts ``timeout`` (the supervisor then sees it exit)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.fired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="interop-watchdog", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        if self._done.wait(self.timeout):
            return
        self.fired = True
        for process in runtime_processes():
            try:
                process.kill()
            except psutil.NoSuchProcess:
                continue


class _SignalWhenLogged:
    """Tail the task log; when ``event`` appears, send ``signum`` to ``target``.

    The runtime ships a log line only once the task yields, so a task that
    logs ``event`` right before ``await trio.sleep(...)`` is asleep by the time
    the line reaches the file.
    """

    def __init__(self, log_file: Path, event: str, signum: signal.Signals, target: str, start: float) -> None:
        if target not in ("runtime", "supervisor"):
            raise ValueError(f"target must be 'runtime' or 'supervisor', got {target!r}")
        self.log_file = log_file
        self.event = event
        self.signum = signum
        self.target = target
        self.start = start
        self.sent_after: float | None = None
        self.error: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="interop-signaller", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        if self.sent_after is None and self.error is None:
            self.error = f"{self.event!r} never appeared in the task log"

    def _logged(self, offset: int) -> tuple[bool, int]:
        try:
            with self.log_file.open("rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return False, offset
        complete, _, _ = data.rpartition(b"\n")
        for line in complete.splitlines():
            try:
                if json.loads(line).get("event") == self.event:
                    return True, offset
            except ValueError:
                continue
        return False, offset + len(complete) + (1 if complete else 0)

    def _watch(self) -> None:
        offset = 0
        while not self._done.wait(0.02):
            found, offset = self._logged(offset)
            if found:
                self._send()
                return

    def _send(self) -> None:
        if self.target == "runtime":
            targets = runtime_processes()
            if len(targets) != 1:
                self.error = f"expected one runtime process, found {targets}"
                return
            targets[0].send_signal(self.signum)
        else:
            # Only while the supervisor's forwarding handler is installed: never kill pytest.
            handler = signal.getsignal(self.signum)
            if not callable(handler) or "_forward_signal" not in getattr(handler, "__qualname__", ""):
                self.error = f"the supervisor has no forwarding handler for {self.signum.name}: {handler!r}"
                return
            os.kill(os.getpid(), self.signum)
        self.sent_after = time.monotonic() - self.start
