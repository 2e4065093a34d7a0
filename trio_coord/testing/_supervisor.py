"""An embedded supervisor: the supervisor side of the protocol, in trio, in memory.

Theory of operation
===================

:class:`EmbeddedSupervisor` does on loopback TCP what task-sdk 1.3.2's
supervisor does: it listens on two ports of 127.0.0.1, lets the runtime dial
both (in this process with :meth:`run_in_process`, or as a child process with
:meth:`run_command`), sends ``StartupDetails`` as frame 0 in the 3-element
response shape with msgpack timestamps, answers requests one at a time in
arrival order with ``[id, body, nil]`` / ``[id, nil, nil]``, puts domain
errors (variable or connection not found) in the body slot, and reads JSON
log lines from the logs socket. Variables, connections and XComs live in a
:class:`SupervisorStore`.

It differs from the real one on purpose in one way: where the real
supervisor silently drops a request it cannot validate (leaving the runtime
waiting), this one answers with an error naming the problem, and records it
in :attr:`TaskRun.problems`. Log lines that would crash the real supervisor
(not an object, no ``level``, a bad ``timestamp``) are recorded there too.

The final state follows the real supervisor's rules (protocol.md §9): a
terminal message counts only if the runtime then exits 0; a non-zero exit
means ``failed``, or ``up_for_retry`` when the task could retry.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import subprocess
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypedDict, Unpack

import trio

from .._bundle import Bundle
from .._errors import RemoteProtocolError
from .._framing import FrameDecoder, RequestFrame, decode_request, encode_response, frame_prefix
from .._logging import SocketLogHandler
from .._messages import Connection
from .._serve import ServeOptions, serve
from .._wire import JsonValue

__all__ = ["EmbeddedSupervisor", "StartupOptions", "SupervisorStore", "TaskRun", "XComKey"]

_ACCEPT_TIMEOUT: Final = 10.0


class StartupOptions(TypedDict, total=False):
    """What a run's ``StartupDetails`` may vary (see :meth:`EmbeddedSupervisor.startup_details`)."""

    run_id: str
    try_number: int
    max_tries: int
    map_index: int
    logical_date: _dt.datetime | None
    conf: Mapping[str, object] | None
    queue: str


@dataclass(frozen=True, slots=True, order=True)
class XComKey:
    """Where an XCom lives: Dag, run, task, key and map index (-1 = unmapped)."""

    dag_id: str
    run_id: str
    task_id: str
    key: str
    map_index: int = -1


@dataclass
class SupervisorStore:
    """The in-memory Execution API state: variables, connections, XComs."""

    variables: dict[str, str | None] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    xcoms: dict[XComKey, JsonValue] = field(default_factory=dict)


@dataclass
class TaskRun:
    """What happened during one supervised task run.

    Attributes:
        state: the final state the real supervisor would record
            (``success``, ``failed``, ``skipped``, ``removed``,
            ``up_for_retry``), or ``None`` when the runtime exited 0 without
            a terminal message (the real one then leaves the TI running).
        terminal: the terminal message body, if one arrived.
        exit_code: the runtime's exit code.
        requests: every request body, in arrival order (terminal included).
        logs: every log record read from the logs socket, parsed.
        xcoms_pushed: the XComs the task stored, by key.
        problems: protocol violations the real supervisor would drop or
            crash on.
        output: what a child runtime wrote to stdout/stderr (command mode).
    """

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    state: str | None = None
    terminal: dict[str, object] | None = None
    exit_code: int | None = None
    requests: list[dict[str, object]] = field(default_factory=list)
    logs: list[dict[str, object]] = field(default_factory=list)
    xcoms_pushed: dict[str, JsonValue] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)

    def xcom(self, key: str = "return_value") -> JsonValue:
        """The value the task pushed under ``key`` (``None`` if none)."""
        return self.xcoms_pushed.get(key)

    def requests_of(self, kind: str) -> list[dict[str, object]]:
        """The requests whose ``type`` is ``kind``."""
        return [body for body in self.requests if body.get("type") == kind]

    def log_events(self) -> list[str]:
        """The ``event`` of every log record, in order."""
        return [str(record.get("event", "")) for record in self.logs]


# --------------------------------------------------------------------------
# Request validation: what the 1.3.2 supervisor's models accept
# --------------------------------------------------------------------------

_Check = Callable[[object], bool]


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_aware(value: object) -> bool:
    if isinstance(value, _dt.datetime):
        return value.tzinfo is not None
    if isinstance(value, str):
        try:
            return _dt.datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            return False
    return False


def _is_json(value: object, depth: int = 0) -> bool:
    if depth > 500:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _optional(check: _Check) -> _Check:
    return lambda value: value is None or check(value)


def _list_of_maps(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _const(expected: str) -> _Check:
    return lambda value: value == expected


@dataclass(frozen=True)
class _Spec:
    required: Mapping[str, _Check]
    optional: Mapping[str, _Check] = field(default_factory=dict)
    forbid_extra: bool = False


_XCOM_IDS: Final = {"key": _is_str, "dag_id": _is_str, "run_id": _is_str, "task_id": _is_str}

REQUEST_SPECS: Final[Mapping[str, _Spec]] = {
    "GetVariable": _Spec({"key": _is_str}),
    "GetConnection": _Spec({"conn_id": _is_str}),
    "GetXCom": _Spec(_XCOM_IDS, {"map_index": _optional(_is_int), "include_prior_dates": _is_bool}),
    "SetXCom": _Spec(
        {**_XCOM_IDS, "value": _is_json},
        {"map_index": _optional(_is_int), "dag_result": _is_bool, "mapped_length": _optional(_is_int)},
    ),
    "DeleteXCom": _Spec(_XCOM_IDS, {"map_index": _optional(_is_int)}),
    "MaskSecret": _Spec({"value": _is_json}, {"name": _optional(_is_str)}),
    "SucceedTask": _Spec(
        {"end_date": _is_aware},
        {
            "task_outlets": _optional(_list_of_maps),
            "outlet_events": _optional(_list_of_maps),
            "rendered_map_index": _optional(_is_str),
            "state": _const("success"),
        },
        forbid_extra=True,
    ),
    "TaskState": _Spec(
        {"state": lambda v: v in ("failed", "skipped", "removed")},
        {"end_date": _optional(_is_aware), "rendered_map_index": _optional(_is_str)},
    ),
    "RetryTask": _Spec(
        {"end_date": _is_aware},
        {
            "rendered_map_index": _optional(_is_str),
            "retry_delay_seconds": _optional(_is_number),
            "retry_reason": _optional(_is_str),
            "state": _const("up_for_retry"),
        },
        forbid_extra=True,
    ),
}
_TERMINAL_STATES: Final = {"SucceedTask": "success", "RetryTask": "up_for_retry"}


def validate_request(body: Mapping[str, object]) -> str | None:
    """Return why the supervisor would reject ``body``, or ``None`` if it is valid."""
    kind = body.get("type")
    if not isinstance(kind, str):
        return "request body has no string 'type'"
    spec = REQUEST_SPECS.get(kind)
    if spec is None:
        return f"{kind}: not a request type the embedded supervisor handles"
    for name, check in spec.required.items():
        if name not in body:
            return f"{kind}: required field {name!r} is missing"
        if not check(body[name]):
            return f"{kind}: field {name!r} has an invalid value {body[name]!r}"
    for name, value in body.items():
        if name == "type" or name in spec.required:
            continue
        optional_check = spec.optional.get(name)
        if optional_check is None:
            if spec.forbid_extra:
                return f"{kind}: unknown field {name!r} (this model forbids extra fields)"
            continue
        if not optional_check(value):
            return f"{kind}: field {name!r} has an invalid value {value!r}"
    return None


def validate_log_line(line: bytes) -> tuple[dict[str, object] | None, str | None]:
    """Parse one log line as the 1.3.2 supervisor does.

    Returns:
        The record (or ``None``) and, if the real supervisor would drop or
        crash on it, why.
    """
    text = line.strip()
    if not text:
        return None, "empty log line (the supervisor logs it as malformed)"
    try:
        record = json.loads(text)
    except ValueError:
        return None, f"log line is not JSON: {text[:80]!r}"
    if not isinstance(record, dict):
        return None, f"log line is a JSON {type(record).__name__}, not an object (crashes the supervisor)"
    if "level" not in record:
        return record, "log line has no 'level' (crashes the supervisor)"
    level = record.get("level")
    if level not in ("critical", "exception", "error", "warn", "warning", "info", "debug"):
        return record, f"log level {level!r} is silently dropped by the supervisor"
    timestamp = record.get("timestamp")
    if timestamp:
        if not isinstance(timestamp, str):
            return record, "log timestamp is not a string (crashes the supervisor)"
        try:
            _dt.datetime.fromisoformat(timestamp)
        except ValueError:
            return record, f"log timestamp {timestamp!r} is not RFC 3339 (crashes the supervisor)"
    return record, None


# --------------------------------------------------------------------------
# The supervisor
# --------------------------------------------------------------------------


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class EmbeddedSupervisor:
    """Run tasks against an in-memory Execution API over real loopback sockets.

    Args:
        store: the variables, connections and XComs (a fresh one by default);
            it is shared by every run of this supervisor, so runs can be chained.
        accept_timeout: how long the runtime has to dial both sockets.
        on_log: called with each log record as it arrives (for live output,
            or for tests that act when the task reaches a point).

    Attributes:
        children: the child runtime processes currently running
            (:meth:`run_command`), e.g. to deliver a signal in a test.
    """

    def __init__(
        self,
        store: SupervisorStore | None = None,
        *,
        accept_timeout: float = _ACCEPT_TIMEOUT,
        on_log: Callable[[dict[str, object]], None] | None = None,
    ) -> None:
        self.store = store or SupervisorStore()
        self.accept_timeout = accept_timeout
        self.on_log = on_log
        self.children: list[trio.Process] = []

    # ------------------------------------------------------------------ seeding

    def set_variable(self, key: str, value: str | None) -> None:
        """Store a variable."""
        self.store.variables[key] = value

    def set_connection(self, connection: Connection) -> None:
        """Store a connection."""
        self.store.connections[connection.conn_id] = connection

    def set_xcom(self, key: XComKey, value: JsonValue) -> None:
        """Store an XCom value."""
        self.store.xcoms[key] = value

    # ------------------------------------------------------------------ startup

    def startup_details(
        self,
        dag_id: str,
        task_id: str,
        *,
        run_id: str = "manual__trio_coord",
        try_number: int = 1,
        max_tries: int = 0,
        map_index: int = -1,
        logical_date: _dt.datetime | None = None,
        conf: Mapping[str, object] | None = None,
        queue: str = "default",
    ) -> dict[str, object]:
        """Build a ``StartupDetails`` body shaped like the 1.3.2 supervisor's."""
        now = _now()
        logical = logical_date if logical_date is not None else now.replace(microsecond=0)
        should_retry = max_tries != 0 and try_number <= max_tries
        return {
            "ti": {
                "id": str(uuid.uuid4()),
                "task_id": task_id,
                "dag_id": dag_id,
                "run_id": run_id,
                "try_number": try_number,
                "dag_version_id": str(uuid.uuid4()),
                "map_index": map_index,
                "hostname": None,
                "context_carrier": None,
                "queue": queue,
            },
            "dag_rel_path": f"dags/{dag_id}.py",
            "bundle_info": {"name": "dags-folder", "version": None},
            "start_date": now,
            "ti_context": {
                "dag_run": {
                    "dag_id": dag_id,
                    "run_id": run_id,
                    "logical_date": logical,
                    "data_interval_start": logical,
                    "data_interval_end": logical,
                    "run_after": logical,
                    "start_date": now,
                    "end_date": None,
                    "clear_number": 0,
                    "run_type": "manual",
                    "state": "running",
                    "conf": dict(conf) if conf is not None else None,
                    "triggering_user_name": None,
                    "consumed_asset_events": [],
                    "partition_key": None,
                    "partition_date": None,
                    "note": None,
                    "team_name": None,
                },
                "task_reschedule_count": 0,
                "max_tries": max_tries,
                "variables": [],
                "connections": [],
                "next_method": None,
                "next_kwargs": None,
                "xcom_keys_to_clear": [],
                "should_retry": should_retry,
                "start_date": None,
            },
            "sentry_integration": "",
            "type": "StartupDetails",
        }

    # ------------------------------------------------------------------ running

    async def run_in_process(
        self,
        bundle: Bundle,
        dag_id: str,
        task_id: str,
        *,
        log_handler: SocketLogHandler | None = None,
        serve_options: ServeOptions | None = None,
        **startup: Unpack[StartupOptions],
    ) -> TaskRun:
        """Run one task of ``bundle`` in this process, over loopback sockets.

        The runtime side is :func:`trio_coord.serve`, exactly as in
        production. Its log records reach the logs socket through
        ``log_handler`` (a fresh handler attached to the root logger for the
        duration of the run by default).

        Blocks until the runtime has finished. ``startup`` is passed to
        :meth:`startup_details` (``try_number``, ``max_tries``, ``conf``...).
        """
        handler = log_handler
        attached = False
        if handler is None:
            handler = SocketLogHandler(logging.DEBUG)
            root = logging.getLogger()
            root.addHandler(handler)
            previous_level = root.level
            root.setLevel(min(previous_level or logging.DEBUG, logging.DEBUG))
            attached = True
        options = serve_options or ServeOptions(handle_signals=False, grace_period=2.0)
        try:

            async def launch(comm: tuple[str, int], logs: tuple[str, int], exit_codes: list[int]) -> None:
                exit_codes.append(await serve(bundle, comm, logs, log_handler=handler, options=options))

            return await self._supervise(launch, dag_id, task_id, startup)
        finally:
            if attached:
                logging.getLogger().removeHandler(handler)
                logging.getLogger().setLevel(previous_level)
                handler.close()

    async def run_command(
        self,
        command: Sequence[str],
        dag_id: str,
        task_id: str,
        *,
        env: Mapping[str, str] | None = None,
        **startup: Unpack[StartupOptions],
    ) -> TaskRun:
        """Launch ``command --comm=… --logs=…`` as a child process and supervise it.

        Like the real supervisor, the child's stdout and stderr are captured
        (into :attr:`TaskRun.output`) and the child is terminated, then
        killed, if it outlives the run.
        """

        async def launch(comm: tuple[str, int], logs: tuple[str, int], exit_codes: list[int]) -> None:
            argv = [*command, f"--comm={comm[0]}:{comm[1]}", f"--logs={logs[0]}:{logs[1]}"]
            child_env = {**os.environ, **(env or {})}
            child_env.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
            child_env.setdefault("AIRFLOW__LOGGING__NAMESPACE_LEVELS", "")
            process = await trio.lowlevel.open_process(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env
            )
            self.children.append(process)
            try:
                async with trio.open_nursery() as readers:
                    for stream, name in ((process.stdout, "stdout"), (process.stderr, "stderr")):
                        if stream is not None:
                            readers.start_soon(self._drain_output, stream, name, run_holder)
                    exit_codes.append(await process.wait())
            finally:
                with trio.move_on_after(5, shield=True):  # noqa: ASYNC912 - only waits when still running
                    if process.returncode is None:
                        process.terminate()
                        with trio.move_on_after(3):
                            await process.wait()
                    if process.returncode is None:
                        process.kill()
                        await process.wait()
                self.children.remove(process)

        run_holder: list[TaskRun] = []
        return await self._supervise(launch, dag_id, task_id, startup, run_holder)

    @staticmethod
    async def _drain_output(stream: trio.abc.ReceiveStream, name: str, holder: list[TaskRun]) -> None:
        pending = b""
        async for chunk in stream:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if holder:
                    holder[0].output.append(f"{name}: {line.decode('utf-8', 'replace').rstrip()}")
        if pending and holder:
            holder[0].output.append(f"{name}: {pending.decode('utf-8', 'replace').rstrip()}")

    async def _supervise(
        self,
        launch: Callable[[tuple[str, int], tuple[str, int], list[int]], object],
        dag_id: str,
        task_id: str,
        startup: StartupOptions,
        holder: list[TaskRun] | None = None,
    ) -> TaskRun:
        details = self.startup_details(dag_id, task_id, **startup)
        ti = details["ti"]
        assert isinstance(ti, dict)
        run = TaskRun(dag_id, task_id, str(ti["run_id"]), int(ti["try_number"]))
        if holder is not None:
            holder.append(run)
        comm_listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        logs_listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        comm_listener, logs_listener = comm_listeners[0], logs_listeners[0]
        comm_address = comm_listener.socket.getsockname()[:2]
        logs_address = logs_listener.socket.getsockname()[:2]
        exit_codes: list[int] = []
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(launch, comm_address, logs_address, exit_codes)  # type: ignore[arg-type]
                comm_stream: trio.SocketStream | None = None
                logs_stream: trio.SocketStream | None = None
                with trio.move_on_after(self.accept_timeout):
                    async with trio.open_nursery() as acceptors:

                        async def accept_comm() -> None:
                            nonlocal comm_stream
                            comm_stream = await comm_listener.accept()

                        async def accept_logs() -> None:
                            nonlocal logs_stream
                            logs_stream = await logs_listener.accept()

                        acceptors.start_soon(accept_comm)
                        acceptors.start_soon(accept_logs)
                if comm_stream is None or logs_stream is None:
                    run.problems.append(
                        f"the runtime did not connect both sockets within {self.accept_timeout:g} s"
                    )
                    if comm_stream is not None:
                        await comm_stream.aclose()
                    if logs_stream is not None:
                        await logs_stream.aclose()
                else:
                    nursery.start_soon(self._read_logs, logs_stream, run)
                    await self._serve_comm(comm_stream, details, run)
        finally:
            for listener in (comm_listener, logs_listener):
                await listener.aclose()
        run.exit_code = exit_codes[0] if exit_codes else None
        run.state = self._final_state(run, bool(details["ti_context"]["should_retry"]))  # type: ignore[index]
        return run

    @staticmethod
    def _final_state(run: TaskRun, should_retry: bool) -> str | None:
        if run.exit_code not in (0, None):
            return "up_for_retry" if should_retry else "failed"
        if run.terminal is None:
            return None
        kind = str(run.terminal.get("type"))
        return _TERMINAL_STATES.get(kind) or str(run.terminal.get("state"))

    async def _read_logs(self, stream: trio.SocketStream, run: TaskRun) -> None:
        pending = b""
        async with stream:
            async for chunk in stream:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._record_log(line, run)
        if pending.strip():
            self._record_log(pending, run)

    def _record_log(self, line: bytes, run: TaskRun) -> None:
        record, problem = validate_log_line(line)
        if problem is not None:
            run.problems.append(problem)
        if record is not None:
            run.logs.append(record)
            if self.on_log is not None:
                self.on_log(record)

    async def _serve_comm(
        self, stream: trio.SocketStream, details: Mapping[str, object], run: TaskRun
    ) -> None:
        async with stream:
            startup = encode_response(0, details)
            await stream.send_all(frame_prefix(len(startup)) + startup)
            decoder = FrameDecoder()
            while True:  # noqa: ASYNC913 - receive_some checkpoints on every pass
                while (payload := decoder.next_frame()) is not None:
                    try:
                        frame = decode_request(payload)
                    except RemoteProtocolError as exc:
                        run.problems.append(f"malformed request frame (crashes the supervisor): {exc}")
                        return
                    reply = self.handle(frame, run)
                    await stream.send_all(frame_prefix(len(reply)) + reply)
                if decoder.at_eof:
                    return
                try:
                    data = await stream.receive_some(1 << 16)
                except trio.BrokenResourceError:
                    return
                try:
                    decoder.receive_data(data)
                except RuntimeError:
                    return
                if not data and decoder.buffered:
                    run.problems.append("the runtime closed the comm socket inside a frame")

    # ------------------------------------------------------------------ handlers

    def handle(self, frame: RequestFrame, run: TaskRun) -> bytes:
        """Answer one request frame; return the encoded response payload."""
        body = frame.body
        run.requests.append(body)
        problem = validate_request(body)
        if problem is not None:
            run.problems.append(f"request {frame.id} would get no reply from the real supervisor: {problem}")
            return encode_response(
                frame.id,
                None,
                {"error": "GENERIC_ERROR", "detail": {"message": problem}, "type": "ErrorResponse"},
            )
        kind = str(body["type"])
        if kind in ("SucceedTask", "TaskState", "RetryTask"):
            if run.terminal is not None:
                run.problems.append(f"second terminal message {kind} after {run.terminal.get('type')}")
            else:
                run.terminal = body
            if kind == "SucceedTask" and (
                body.get("task_outlets") is None or body.get("outlet_events") is None
            ):
                return encode_response(
                    frame.id,
                    None,
                    {
                        "error": "API_SERVER_ERROR",
                        "detail": {
                            "status_code": 422,
                            "message": "task_outlets and outlet_events must be lists",
                        },
                        "type": "ErrorResponse",
                    },
                )
            return encode_response(frame.id, None)
        result = getattr(self, f"_handle_{kind}")(body, run)
        return encode_response(frame.id, result)

    def _handle_GetVariable(self, body: Mapping[str, object], run: TaskRun) -> dict[str, object]:  # noqa: N802
        key = str(body["key"])
        if key not in self.store.variables:
            return {"error": "VARIABLE_NOT_FOUND", "detail": {"key": key}, "type": "ErrorResponse"}
        return {"key": key, "value": self.store.variables[key], "type": "VariableResult"}

    def _handle_GetConnection(self, body: Mapping[str, object], run: TaskRun) -> dict[str, object]:  # noqa: N802
        conn_id = str(body["conn_id"])
        conn = self.store.connections.get(conn_id)
        if conn is None:
            return {"error": "CONNECTION_NOT_FOUND", "detail": {"conn_id": conn_id}, "type": "ErrorResponse"}
        return {
            "conn_id": conn.conn_id,
            "conn_type": conn.conn_type,
            "host": conn.host,
            "schema": conn.schema,
            "login": conn.login,
            "password": conn.password,
            "port": conn.port,
            "extra": conn.extra,
            "type": "ConnectionResult",
        }

    @staticmethod
    def _xcom_key(body: Mapping[str, object]) -> XComKey:
        map_index = body.get("map_index")
        return XComKey(
            str(body["dag_id"]),
            str(body["run_id"]),
            str(body["task_id"]),
            str(body["key"]),
            map_index if isinstance(map_index, int) and map_index >= 0 else -1,
        )

    def _handle_GetXCom(self, body: Mapping[str, object], run: TaskRun) -> dict[str, object]:  # noqa: N802
        key = self._xcom_key(body)
        return {"key": key.key, "value": self.store.xcoms.get(key), "type": "XComResult"}

    def _handle_SetXCom(self, body: Mapping[str, object], run: TaskRun) -> None:  # noqa: N802
        key = self._xcom_key(body)
        value: JsonValue = body["value"]  # type: ignore[assignment]
        self.store.xcoms[key] = value
        if (key.dag_id, key.run_id, key.task_id) == (run.dag_id, run.run_id, run.task_id):
            run.xcoms_pushed[key.key] = value

    def _handle_DeleteXCom(self, body: Mapping[str, object], run: TaskRun) -> None:  # noqa: N802
        self.store.xcoms.pop(self._xcom_key(body), None)

    def _handle_MaskSecret(self, body: Mapping[str, object], run: TaskRun) -> None:  # noqa: N802
        return None
