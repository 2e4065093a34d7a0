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
import logging
import os
import subprocess
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Unpack

import trio

from .._bundle import Bundle
from .._errors import RemoteProtocolError
from .._framing import FrameDecoder, RequestFrame, decode_request, encode_response, frame_prefix
from .._logging import SocketLogHandler
from .._messages import Connection
from .._serve import ServeOptions, serve
from .._wire import JsonValue
from ._handlers import RequestHandlers
from ._store import StartupOptions, SupervisorStore, TaskRun, XComKey
from ._validation import TERMINAL_TYPES, validate_log_line, validate_request

__all__ = ["EmbeddedSupervisor"]

_ACCEPT_TIMEOUT: Final = 10.0


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
        self.handlers = RequestHandlers(self.store)
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

    def xcom_keys_of(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[str]:
        """The keys of the XComs stored for a task instance, sorted, without duplicates.

        ``map_index`` -1 matches every map index, as the API server's query does.
        """
        return sorted(
            {
                key.key
                for key in self.store.xcoms
                if (key.dag_id, key.run_id, key.task_id) == (dag_id, run_id, task_id)
                and (map_index < 0 or key.map_index == map_index)
            }
        )

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
        xcom_keys_to_clear: list[str] | None = None,
        next_method: str | None = None,
        next_kwargs: Mapping[str, object] | None = None,
    ) -> dict[str, object]:
        """Build a ``StartupDetails`` body shaped like the 1.3.2 supervisor's.

        ``should_retry`` is computed as the API server does
        (``max_tries != 0 and try_number <= max_tries``). ``xcom_keys_to_clear``
        defaults to what the API server sends: the keys of every XCom the
        store holds for this task instance (any map index when ``map_index``
        is -1), which the runtime deletes before the task runs, so a re-run or
        a retry starts without the previous try's XComs. ``next_method`` and
        ``next_kwargs`` (serde-encoded JSON, as Airflow stores them) make the
        run a resumption after ``Defer`` or ``AwaitInput``.
        """
        now = _now()
        logical = logical_date if logical_date is not None else now.replace(microsecond=0)
        should_retry = max_tries != 0 and try_number <= max_tries
        if xcom_keys_to_clear is None:
            xcom_keys_to_clear = self.xcom_keys_of(dag_id, run_id, task_id, map_index)
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
                "next_method": next_method,
                "next_kwargs": dict(next_kwargs) if next_kwargs is not None else None,
                "xcom_keys_to_clear": list(xcom_keys_to_clear),
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
        log_level: int | None = logging.DEBUG,
        **startup: Unpack[StartupOptions],
    ) -> TaskRun:
        """Run one task of ``bundle`` in this process, over loopback sockets.

        The runtime side is :func:`trio_coord.serve`, exactly as in
        production. Its log records reach the logs socket through
        ``log_handler`` if given (the caller attaches it to a logger).
        Otherwise a fresh handler is attached to the root logger for the
        duration of the run, with threshold ``log_level``; ``None`` takes the
        thresholds from ``AIRFLOW__LOGGING__LOGGING_LEVEL`` and
        ``AIRFLOW__LOGGING__NAMESPACE_LEVELS`` as the runtime does under
        Airflow (INFO when unset).

        Blocks until the runtime has finished. ``startup`` is passed to
        :meth:`startup_details` (``try_number``, ``max_tries``, ``conf``...).
        """
        handler = log_handler
        attached = False
        if handler is None:
            handler = SocketLogHandler.from_env() if log_level is None else SocketLogHandler(log_level)
            root = logging.getLogger()
            root.addHandler(handler)
            previous_level = root.level
            lowest = handler.lowest_level
            root.setLevel(min(previous_level or lowest, lowest))
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

    async def run_tries(
        self,
        bundle: Bundle,
        dag_id: str,
        task_id: str,
        *,
        retries: int,
        on_try_start: Callable[[int, int], None] | None = None,
        on_try_end: Callable[[TaskRun], None] | None = None,
        log_handler: SocketLogHandler | None = None,
        serve_options: ServeOptions | None = None,
        log_level: int | None = logging.DEBUG,
        **startup: Unpack[StartupOptions],
    ) -> list[TaskRun]:
        """Run a task the way Airflow retries it: up to ``retries + 1`` tries.

        Try *k* (from 1) runs with ``try_number=k`` and ``max_tries=retries``,
        so ``should_retry`` is true on every try but the last; the store is
        shared, so each try starts by clearing the XComs the previous one
        pushed (``xcom_keys_to_clear``), as on a real retry. The tries stop at
        the first one whose state is not ``up_for_retry``. Unlike Airflow,
        nothing waits for a retry delay between tries.

        Blocks until the last try has finished; a cancellation ends the
        running try (its sockets closed) and the tries. ``startup`` must not
        set ``try_number`` or ``max_tries``.

        Args:
            bundle: the tasks.
            dag_id: the Dag id.
            task_id: the task id.
            retries: how many retries the task has (Airflow's ``retries``), >= 0.
            on_try_start: called with ``(try_number, retries + 1)`` before a try.
            on_try_end: called with each try's :class:`TaskRun` when it ends.
            log_handler: as for :meth:`run_in_process`; one handler serves
                every try.
            serve_options: as for :meth:`run_in_process`.
            log_level: as for :meth:`run_in_process`.
            **startup: the rest of the run context (``conf``, ``run_id``...).

        Returns:
            Every try's :class:`TaskRun`, in order; the last one holds the
            final state.

        Raises:
            ValueError: ``retries`` is negative, or ``startup`` sets
                ``try_number`` or ``max_tries``.
        """
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        clash = sorted({"try_number", "max_tries"} & set(startup))
        if clash:
            raise ValueError(f"run_tries sets {' and '.join(clash)} itself; do not pass them")
        tries: list[TaskRun] = []
        for try_number in range(1, retries + 2):
            if on_try_start is not None:
                on_try_start(try_number, retries + 1)
            options: StartupOptions = {**startup}
            options["try_number"] = try_number
            options["max_tries"] = retries
            run = await self.run_in_process(
                bundle,
                dag_id,
                task_id,
                log_handler=log_handler,
                serve_options=serve_options,
                log_level=log_level,
                **options,
            )
            tries.append(run)
            if on_try_end is not None:
                on_try_end(run)
            if run.state != "up_for_retry":
                break
        return tries

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
        comm_stream: trio.SocketStream | None = None
        logs_stream: trio.SocketStream | None = None
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(launch, comm_address, logs_address, exit_codes)  # type: ignore[arg-type]
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
                else:
                    nursery.start_soon(self._read_logs, logs_stream, run)
                    await self._serve_comm(comm_stream, details, run)
        finally:
            # Shielded, so that a cancellation (a test's timeout) cannot leak a socket;
            # closing a stream its reader already closed is harmless.
            with trio.CancelScope(shield=True):  # noqa: ASYNC912 - aclose always checkpoints
                for resource in (comm_stream, logs_stream, comm_listener, logs_listener):
                    if resource is not None:
                        await resource.aclose()
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
        return TERMINAL_TYPES.get(kind) or str(run.terminal.get("state"))

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
        if kind in TERMINAL_TYPES:
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
        reply = self.handlers.answer(body, run)
        if (
            reply is not None
            and reply.get("type") == "ErrorResponse"
            and reply.get("error") == "API_SERVER_ERROR"
        ):
            # An Execution API HTTP error: the real supervisor sends it in the error slot.
            return encode_response(frame.id, None, reply)
        return encode_response(frame.id, reply)
