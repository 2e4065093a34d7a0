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

:func:`run_executable` runs a task through Airflow's own, unmodified
``ExecutableCoordinator`` instead (routed by :data:`EXECUTABLE_QUEUE`), which
scans the given folders for packed bundles (``python -m trio_coord pack``).

Every run happens with this process's working directory set to
:data:`WORKER_CWD` (a temporary directory), as a worker's would be: the
runtime inherits it, and ``python -m`` puts the working directory first on
``sys.path``, so run from the project root the runtime would import
``trio_coord`` from the source tree instead of the installed package the
session is meant to test.

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
import datetime
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    (home / "worker").mkdir()
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
#: The working directory of every supervised run (the supervisor's, so the runtime's): an empty
#: temporary directory, which shadows no installed package.
WORKER_CWD: Final = LOG_FOLDER.parent / "worker"

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
        self._init_vocabulary_state()

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
        if (vocabulary := self._route_vocabulary(call)) is not None:
            return vocabulary
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

    # ------------------------------------------------------------------ the wider vocabulary
    #
    # Routes for every request type beyond variables, connections and plain
    # XComs, answered from seedable state (JSON shaped as the Execution API
    # returns it). Multi-valued query filters (``states=a&states=b``) reach
    # the routes with their first value only, as ``ApiCall.query`` keeps one.

    def _init_vocabulary_state(self) -> None:
        #: Dags by id, as ``DagResponse`` JSON.
        self.dags: dict[str, dict[str, Any]] = {}
        #: Dag runs by (dag_id, run_id), as ``DagRun`` JSON (every key present).
        self.dag_runs: dict[tuple[str, str], dict[str, Any]] = {}
        #: Task instances: dicts with dag_id, run_id, task_id, map_index, state,
        #: logical_date, start_date, end_date, try_number, duration, operator.
        self.task_instances: list[dict[str, Any]] = []
        #: ``PrevSuccessfulDagRunResponse`` JSON, by ti id.
        self.prev_successful_dag_runs: dict[str, dict[str, Any]] = {}
        #: First reschedule start dates (ISO strings), by ti id.
        self.reschedule_start_dates: dict[str, str] = {}
        #: Active assets by name, as ``AssetResponse`` JSON.
        self.assets: dict[str, dict[str, Any]] = {}
        #: Asset aliases: the names of the assets each resolves to.
        self.asset_aliases: dict[str, list[str]] = {}
        #: Asset events, as ``AssetEventResponse`` JSON.
        self.asset_events: list[dict[str, Any]] = []
        #: Asset events by alias name (``asset-events/by-asset-alias``).
        self.alias_asset_events: dict[str, list[dict[str, Any]]] = {}
        #: ``InactiveAssetsResponse.inactive_assets``, by ti id.
        self.inactive_assets: dict[str, list[dict[str, Any]]] = {}
        #: Task state stores by (ti_id, key); asset state stores by (asset name, key).
        self.task_state_store: dict[tuple[str, str], Any] = {}
        self.asset_state_store: dict[tuple[str, str], Any] = {}
        #: Human-in-the-loop requests by ti id, as stored.
        self.hitl_details: dict[str, dict[str, Any]] = {}

    def _route_vocabulary(self, call: ApiCall) -> httpx.Response | None:
        path, method, q = call.path, call.method, call.query
        if path == "variables/keys" and method == "GET":
            prefix = q.get("prefix")
            keys = sorted(k for k in self.variables if prefix is None or k.startswith(prefix))
            offset, limit = int(q.get("offset", 0)), int(q.get("limit", 1000))
            return httpx.Response(
                200, json={"keys": keys[offset : offset + limit], "total_entries": len(keys)}
            )
        if match := _XCOM_ITEM_ROUTE.fullmatch(path):
            return self._xcom_sequence(call, match)
        if method == "HEAD" and (match := _XCOM_ROUTE.fullmatch(path)):
            where = (match["dag"], match["run"], match["task"], match["key"])
            count = sum(1 for key in self.xcoms if key[:4] == where)
            return httpx.Response(200, headers={"Content-Range": f"map_indexes {count}"})
        if path.startswith("dag-runs/"):
            return self._dag_runs_route(call, path.removeprefix("dag-runs/"))
        if path.startswith(("task-instances/", "task-reschedules/")):
            return self._task_instances_route(call)
        if path.startswith("dags/") and method == "GET":
            dag = self.dags.get(path.removeprefix("dags/"))
            return httpx.Response(200, json=dag) if dag else _not_found(f"Dag {path} not found")
        if path.startswith("assets/") and method == "GET":
            return self._assets_route(path.removeprefix("assets/"), q)
        if path.startswith("asset-events/") and method == "GET":
            return self._asset_events_route(path.removeprefix("asset-events/"), q)
        if path.startswith("store/"):
            return self._store_route(call, path.removeprefix("store/"))
        if path.startswith("hitlDetails/") and method == "POST":
            body = {k: v for k, v in (call.body or {}).items() if k != "type"}
            self.hitl_details[path.removeprefix("hitlDetails/")] = body
            return httpx.Response(201, json=body)
        return None

    def _xcom_sequence(self, call: ApiCall, match: re.Match[str]) -> httpx.Response | None:
        if call.method != "GET":
            return None
        where = (match["dag"], match["run"], match["task"], match["key"])
        values = [value for key, value in sorted(self.xcoms.items()) if key[:4] == where]
        if match["op"] == "slice":
            q = call.query
            bounds = [int(q[name]) if name in q else None for name in ("start", "stop", "step")]
            return httpx.Response(200, json=values[slice(*bounds)])
        offset = int(match["offset"])
        if not -len(values) <= offset < len(values):
            return _not_found(f"XCom with key={where[3]!r} offset={offset} not found")
        return httpx.Response(200, json=values[offset])

    def _dag_runs_route(self, call: ApiCall, rest: str) -> httpx.Response | None:
        q = call.query
        if rest == "count" and call.method == "GET":
            runs = self._matching(self.dag_runs.values(), q, ("logical_dates", "run_ids", "states"))
            return httpx.Response(200, json=len(runs))
        if rest == "previous" and call.method == "GET":
            before = _when(q["logical_date"])
            runs = [
                dr
                for dr in self.dag_runs.values()
                if dr["dag_id"] == q["dag_id"]
                and dr["logical_date"] is not None
                and _when(dr["logical_date"]) < before
                and ("state" not in q or dr["state"] == q["state"])
            ]
            latest = max(runs, key=lambda dr: _when(dr["logical_date"]), default=None)
            return _json_or_null(latest)
        dag_id, _, run_part = rest.partition("/")
        run_id, _, action = run_part.partition("/")
        found = self.dag_runs.get((dag_id, run_id))
        if call.method == "POST" and action == "":
            if found is not None:
                return httpx.Response(
                    409, json={"detail": {"reason": "already_exists", "message": f"Dag run {run_id} exists"}}
                )
            payload = call.body or {}
            self.dag_runs[(dag_id, run_id)] = {
                **_DAG_RUN_DEFAULTS,
                "dag_id": dag_id,
                "run_id": run_id,
                "logical_date": payload.get("logical_date"),
                "run_after": payload.get("run_after") or _INTERVAL_END,
                "run_type": "operator_triggered",
                "state": "queued",
                "conf": payload.get("conf"),
                "note": payload.get("note"),
            }
            return httpx.Response(204)
        if found is None:
            return _not_found(f"Dag run {run_id} of Dag {dag_id} not found")
        if call.method == "POST" and action == "clear":
            found["state"] = "queued"
            found["clear_number"] = found.get("clear_number", 0) + 1
            return httpx.Response(204)
        if call.method == "GET" and action == "":
            return httpx.Response(200, json=found)
        if call.method == "GET" and action == "state":
            return httpx.Response(200, json={"state": found["state"]})
        return None

    def _matching(
        self, rows: Iterable[dict[str, Any]], q: Mapping[str, str], filters: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The rows of Dag ``q["dag_id"]`` that pass every (single-valued) filter in ``q``."""
        field_of = {
            "logical_dates": "logical_date",
            "run_ids": "run_id",
            "states": "state",
            "task_ids": "task_id",
            "map_index": "map_index",
        }
        found = []
        for row in rows:
            if row["dag_id"] != q["dag_id"]:
                continue
            ok = True
            for name in filters:
                if name not in q:
                    continue
                value, expected = row.get(field_of[name]), q[name]
                if name == "logical_dates":
                    ok = value is not None and _when(value) == _when(expected)
                elif name == "map_index":
                    ok = value == int(expected)
                else:
                    ok = value == expected
                if not ok:
                    break
            if ok and "task_group_id" in q:
                ok = str(row["task_id"]).startswith(f"{q['task_group_id']}.")
            if ok:
                found.append(row)
        return found

    def _task_instances_route(self, call: ApiCall) -> httpx.Response | None:
        path, q = call.path, call.query
        if call.method != "GET":
            return None
        if match := _TI_ROUTE.fullmatch(path):
            if match["action"] == "previous-successful-dagrun":
                return httpx.Response(200, json=self.prev_successful_dag_runs.get(match["ti"], {}))
            if match["action"] == "validate-inlets-and-outlets":
                return httpx.Response(
                    200, json={"inactive_assets": self.inactive_assets.get(match["ti"], [])}
                )
            return None
        if match := _RESCHEDULE_ROUTE.fullmatch(path):
            return _json_or_null(self.reschedule_start_dates.get(match["ti"]))
        filters = ("map_index", "task_ids", "logical_dates", "run_ids", "states")
        if path == "task-instances/count":
            return httpx.Response(200, json=len(self._matching(self.task_instances, q, filters)))
        if path == "task-instances/states":
            states: dict[str, dict[str, Any]] = {}
            for ti in self._matching(self.task_instances, q, filters[:-1]):
                name = ti["task_id"] if ti.get("map_index", -1) < 0 else f"{ti['task_id']}_{ti['map_index']}"
                states.setdefault(ti["run_id"], {})[name] = ti.get("state")
            return httpx.Response(200, json={"task_states": states})
        if path == "task-instances/breadcrumbs":
            crumbs = [
                {name: ti.get(name) for name in ("task_id", "map_index", "state", "operator", "duration")}
                for ti in sorted(self.task_instances, key=lambda ti: (ti["task_id"], ti.get("map_index", -1)))
                if (ti["dag_id"], ti["run_id"]) == (q["dag_id"], q["run_id"])
                and ti.get("state") in {"success", "failed", "skipped", "upstream_failed", "removed"}
            ]
            return httpx.Response(200, json={"breadcrumbs": crumbs})
        if match := _PREVIOUS_TI_ROUTE.fullmatch(path):
            before = _when(q["logical_date"]) if "logical_date" in q else None
            candidates = [
                ti
                for ti in self.task_instances
                if (ti["dag_id"], ti["task_id"]) == (match["dag"], match["task"])
                and ti.get("map_index", -1) == int(q.get("map_index", -1))
                and (before is None or (ti.get("logical_date") and _when(ti["logical_date"]) < before))
                and ("state" not in q or ti.get("state") == q["state"])
            ]
            latest = max(candidates, key=lambda ti: _when(ti["logical_date"]), default=None)
            if latest is None:
                return _json_or_null(None)
            fields = ("task_id", "dag_id", "run_id", "logical_date", "start_date", "end_date", "state")
            return httpx.Response(
                200,
                json={
                    **{name: latest.get(name) for name in fields},
                    "try_number": latest.get("try_number", 1),
                    "map_index": latest.get("map_index", -1),
                    "duration": latest.get("duration"),
                },
            )
        return None

    def _assets_route(self, rest: str, q: Mapping[str, str]) -> httpx.Response | None:
        if rest == "by-name":
            found = self.assets.get(q["name"])
        elif rest == "by-uri":
            found = next((a for a in self.assets.values() if a["uri"] == q["uri"]), None)
        elif rest == "by-alias":
            names = self.asset_aliases.get(q["alias_name"], [])
            return httpx.Response(200, json=[self.assets[name] for name in names if name in self.assets])
        else:
            return None
        if found is None:
            return _not_found(f"Asset {dict(q)} not found")
        return httpx.Response(200, json=found)

    def _asset_events_route(self, rest: str, q: Mapping[str, str]) -> httpx.Response | None:
        if rest == "by-asset":
            name, uri = q.get("name") or None, q.get("uri") or None
            events = [
                e
                for e in self.asset_events
                if (name is None or e["asset"]["name"] == name) and (uri is None or e["asset"]["uri"] == uri)
            ]
        elif rest == "by-asset-alias":
            events = list(self.alias_asset_events.get(q["name"], []))
        else:
            return None
        if "after" in q:
            events = [e for e in events if _when(e["timestamp"]) >= _when(q["after"])]
        if "before" in q:
            events = [e for e in events if _when(e["timestamp"]) <= _when(q["before"])]
        events.sort(key=lambda e: (_when(e["timestamp"]), e["id"]), reverse=q.get("ascending") == "false")
        if "limit" in q:
            events = events[: int(q["limit"])]
        return httpx.Response(200, json={"asset_events": events})

    def _store_route(self, call: ApiCall, rest: str) -> httpx.Response | None:
        body = call.body or {}
        if rest.startswith("ti/"):
            ti_id, _, key = rest.removeprefix("ti/").partition("/")
            if not key and call.method == "DELETE":
                for stored in [k for k in self.task_state_store if k[0] == ti_id]:
                    del self.task_state_store[stored]
                return httpx.Response(204)
            return self._store_value(call, self.task_state_store, (ti_id, key), "Task state", body)
        by, _, op = rest.removeprefix("asset/").partition("/")
        q = call.query
        if by == "by-name":
            name = q["name"] if q["name"] in self.assets else None
        elif by == "by-uri":
            name = next((n for n, a in self.assets.items() if a["uri"] == q["uri"]), None)
        else:
            return None
        if name is None:
            return _not_found(f"Asset {dict(q)} not found")
        if op == "clear" and call.method == "DELETE":
            for stored in [k for k in self.asset_state_store if k[0] == name]:
                del self.asset_state_store[stored]
            return httpx.Response(204)
        if op == "value":
            return self._store_value(call, self.asset_state_store, (name, q["key"]), "Asset state", body)
        return None

    @staticmethod
    def _store_value(
        call: ApiCall, store: dict[tuple[str, str], Any], key: tuple[str, str], what: str, body: Any
    ) -> httpx.Response | None:
        if call.method == "GET":
            if key not in store:
                return _not_found(f"{what} key {key[1]!r} not found")
            return httpx.Response(200, json={"value": store[key]})
        if call.method == "PUT":
            store[key] = body["value"]
            return httpx.Response(204)
        if call.method == "DELETE":
            store.pop(key, None)
            return httpx.Response(204)
        return None


_XCOM_ITEM_ROUTE: Final = re.compile(
    r"xcoms/(?P<dag>[^/]+)/(?P<run>[^/]+)/(?P<task>[^/]+)/(?P<key>[^/]+)/(?P<op>item|slice)(?:/(?P<offset>-?\d+))?"
)
_RESCHEDULE_ROUTE: Final = re.compile(r"task-reschedules/(?P<ti>[0-9a-f-]{36})/start_date")
_PREVIOUS_TI_ROUTE: Final = re.compile(r"task-instances/previous/(?P<dag>[^/]+)/(?P<task>[^/]+)")
_DAG_RUN_DEFAULTS: Final[dict[str, Any]] = {
    "logical_date": None,
    "data_interval_start": None,
    "data_interval_end": None,
    "run_after": _INTERVAL_END,
    "start_date": None,
    "end_date": None,
    "clear_number": 0,
    "run_type": "manual",
    "state": "queued",
    "conf": None,
    "triggering_user_name": None,
    "consumed_asset_events": [],
    "partition_key": None,
    "partition_date": None,
    "note": None,
    "team_name": None,
}


def _json_or_null(value: Any) -> httpx.Response:
    """A 200 reply whose JSON body may be ``null`` (``httpx.Response(json=None)`` sends no body)."""
    return httpx.Response(
        200, content=json.dumps(value).encode(), headers={"content-type": "application/json"}
    )


def _when(value: str) -> datetime.datetime:
    """An ISO 8601 timestamp from the API or a query string, as an aware datetime."""
    return datetime.datetime.fromisoformat(value)


def serving(bundle_file: Path) -> contextlib.AbstractContextManager[None]:
    """Serve ``bundle_file`` instead of ``interop_bundle.py`` for the runs inside the block."""

    @contextlib.contextmanager
    def swap() -> Iterator[None]:
        coordinator = get_coordinator_manager().for_queue(QUEUE)
        assert isinstance(coordinator, TrioCoordCoordinator), coordinator
        saved = list(coordinator.command)
        assert saved[-1] == str(BUNDLE_FILE), saved
        coordinator.command[-1] = str(bundle_file)
        try:
            yield
        finally:
            coordinator.command[:] = saved

    return swap()


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


def _workload(
    api: FakeExecutionAPI,
    dag_id: str,
    task_id: str,
    queue: str,
    dag_rel_path: Path,
    ti_overrides: Mapping[str, Any],
) -> tuple[TaskInstanceDTO, ExecuteTask, Path]:
    """The task instance and the workload a scheduler would queue, registered with ``api``.

    The log path follows Airflow's layout, in a directory of its own per run so that no run
    appends to another's log.
    """
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": RUN_ID,
        "try_number": 1,
        "dag_version_id": uuid.uuid4(),
        "queue": queue,
        "pool_slots": 1,
        "priority_weight": 1,
        **ti_overrides,
    }
    ti = TaskInstanceDTO(**fields)
    workload = ExecuteTask(
        token="interop-token",
        dag_rel_path=dag_rel_path,
        bundle_info=BundleInfo(name="trio_coord-interop", version="0.0.1"),
        log_path=f"{ti.id}/dag_id={dag_id}/run_id={ti.run_id}/task_id={task_id}/attempt={ti.try_number}.log",
        ti=ti,
    )
    assert workload.log_path is not None
    api.register(ti)
    return ti, workload, LOG_FOLDER / workload.log_path


def _supervise(workload: ExecuteTask, client: Client) -> int:
    """Run ``workload`` as BaseExecutor.run_workload does, with our client instead of a server URL.

    From :data:`WORKER_CWD`: the supervisor launches the runtime without a ``cwd``, so the
    runtime starts where this process is, and the project root would shadow the installed
    ``trio_coord`` (see the module docstring).
    """
    with contextlib.chdir(WORKER_CWD):
        return _supervise_here(workload, client)


def _supervise_here(workload: ExecuteTask, client: Client) -> int:
    exit_code: int = supervise_task(
        ti=workload.ti,  # type: ignore[arg-type]  # the DTO duck-types as TaskInstance
        bundle_info=workload.bundle_info,
        dag_rel_path=workload.dag_rel_path,
        token=workload.token,
        log_path=workload.log_path,
        subprocess_logs_to_stdout=False,
        sentry_integration=workload.sentry_integration,
        client=client,
    )
    return exit_code


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
    ti, workload, log_file = _workload(api, dag_id, task_id, QUEUE, Path(BUNDLE_FILE.name), ti_overrides)
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
            exit_code = _supervise(workload, client)
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
    """This process's descendants running ``python -m trio_coord serve`` or a packed bundle."""
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
    return any(
        cmdline[i : i + 3] == ["-m", "trio_coord", "serve"]
        # A packed bundle's launcher execs this (the pid stays the launcher's).
        or cmdline[i : i + 2] == ["-m", "trio_coord._packed"]
        # ... or, self-contained, its bootstrap loader.
        or (cmdline[i] == "-c" and i + 1 < len(cmdline) and "#BOOT" in cmdline[i + 1])
        for i in range(len(cmdline))
    )


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


# ---------------------------------------------------------------------- the real ExecutableCoordinator

#: The queue :func:`run_executable` routes to Airflow's ``ExecutableCoordinator``.
EXECUTABLE_QUEUE: Final = "trio-coord-executable"
#: That coordinator's key in ``[sdk] coordinators``.
EXECUTABLE_COORDINATOR_KEY: Final = "trio_coord_executable"
#: Airflow's own coordinator class, used unmodified.
EXECUTABLE_COORDINATOR_CLASSPATH: Final = "airflow.sdk.coordinators.executable.ExecutableCoordinator"

_COORDINATORS_ENV: Final = "AIRFLOW__SDK__COORDINATORS"
_QUEUES_ENV: Final = "AIRFLOW__SDK__QUEUE_TO_COORDINATOR"


@contextlib.contextmanager
def executable_coordinator(
    executables_root: Sequence[Path], *, task_startup_timeout: float = 10.0
) -> Iterator[None]:
    """Route :data:`EXECUTABLE_QUEUE` to ``ExecutableCoordinator`` scanning ``executables_root``.

    The coordinator is added to ``[sdk] coordinators`` and ``[sdk]
    queue_to_coordinator`` (the environment, as a worker would be configured)
    and Airflow's cached coordinator manager is reset; both are restored on
    exit. Nothing else changes: :func:`run` keeps working inside.
    """
    saved = {name: os.environ[name] for name in (_COORDINATORS_ENV, _QUEUES_ENV)}
    coordinators = json.loads(saved[_COORDINATORS_ENV])
    coordinators[EXECUTABLE_COORDINATOR_KEY] = {
        "classpath": EXECUTABLE_COORDINATOR_CLASSPATH,
        "kwargs": {
            "executables_root": [str(root) for root in executables_root],
            "task_startup_timeout": task_startup_timeout,
        },
    }
    queues = {**json.loads(saved[_QUEUES_ENV]), EXECUTABLE_QUEUE: EXECUTABLE_COORDINATOR_KEY}
    os.environ[_COORDINATORS_ENV] = json.dumps(coordinators)
    os.environ[_QUEUES_ENV] = json.dumps(queues)
    reset_coordinator_manager()
    try:
        yield
    finally:
        os.environ.update(saved)
        reset_coordinator_manager()


def run_executable(
    dag_id: str,
    task_id: str,
    *,
    executables_root: Sequence[Path],
    api: FakeExecutionAPI | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    **ti_overrides: Any,
) -> Result:
    """Run ``dag_id.task_id`` through the real ``supervise_task`` and ``ExecutableCoordinator``.

    The coordinator (:func:`executable_coordinator`) picks the bundle in
    ``executables_root`` whose manifest lists ``dag_id`` and runs it with
    ``--comm=… --logs=…``; everything else is as in :func:`run`, except that
    :attr:`Result.final_state` is the state the supervisor reported to the
    Execution API (its last ``PATCH …/state``; ``""`` when it reported none),
    because the unmodified coordinator does not expose its ``ExecutionResult``.

    Raises:
        FileNotFoundError: from the coordinator, when no bundle in
            ``executables_root`` can serve ``dag_id`` (none lists it, or the
            ones that do are not executable, were tampered with, or name an
            unknown supervisor schema version). Nothing was launched then.
    """
    api = api if api is not None else FakeExecutionAPI()
    # The stub Dag file's path: the coordinator never reads it.
    ti, workload, log_file = _workload(
        api, dag_id, task_id, EXECUTABLE_QUEUE, Path(f"{dag_id}.py"), ti_overrides
    )

    client = Client(base_url=API_BASE_URL, token=workload.token, transport=api.transport())
    start = time.monotonic()
    watchdog = _Watchdog(timeout)
    try:
        with executable_coordinator(executables_root), watchdog:
            exit_code = _supervise(workload, client)
    finally:
        duration = time.monotonic() - start
        client.close()
        leftovers = _stop_runtimes()
    assert not watchdog.fired, (
        f"the run of {dag_id}.{task_id} took over {timeout:g} s; the runtime was killed"
    )
    assert not leftovers, f"runtime processes outlived supervise_task: {leftovers}"
    assert not api.unhandled, f"requests the fake Execution API could not answer: {api.unhandled}"
    state_call_path = f"task-instances/{ti.id}/state"
    reported = [c.body["state"] for c in api.calls if (c.method, c.path) == ("PATCH", state_call_path)]

    log_text = log_file.read_text(encoding="utf-8") if log_file.exists() else ""
    return Result(
        ti=ti,
        exit_code=exit_code,
        final_state=str(reported[-1]) if reported else "",
        api_calls=list(api.calls),
        log_records=[json.loads(line) for line in log_text.splitlines() if line.strip()],
        log_text=log_text,
        duration=duration,
    )
