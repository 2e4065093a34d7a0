"""A misbehaving supervisor for fault-injection tests.

:func:`run_faulty` launches ``python -m trio_coord serve tests/faults/fault_bundle.py``
as a child process with ``--comm``/``--logs`` pointing at listeners on
127.0.0.1 (port 0), then plays the supervisor side according to a
:class:`Fault`: it may send a malformed first frame, answer requests
normally, never answer some, answer with garbage, close the comm socket,
refuse or close or stall the logs socket, and deliver signals when the task
logs a given line. It records everything the runtime did (frames, log lines,
stdout/stderr, exit code, time taken) in a :class:`FaultRun`.

Every run is bounded (``bound`` seconds): the child is terminated, then killed, if
it outlives it, and the run fails. Loopback only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import trio

from trio_coord._framing import FrameDecoder, RequestFrame, decode_request, encode_response, frame_prefix
from trio_coord.testing import EmbeddedSupervisor

BUNDLE: Final = str(Path(__file__).with_name("fault_bundle.py"))
TERMINAL_TYPES: Final = frozenset({"SucceedTask", "TaskState", "RetryTask"})

#: What the fake supervisor does with one request: answer it normally
#: ("reply"), never answer ("ignore"), close the comm socket ("close"), or
#: send these raw bytes instead (a malformed frame).
Action = Literal["reply", "ignore", "close"] | bytes


def frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its length."""
    return len(payload).to_bytes(4, "big") + payload


@dataclass
class Fault:
    """How the fake supervisor misbehaves."""

    #: raw bytes sent instead of the StartupDetails frame (None: a valid one)
    first_frame: bytes | None = None
    #: close the comm socket right after sending the first frame
    close_after_first_frame: bool = False
    #: what to do with each request (default: answer it)
    on_request: Callable[[RequestFrame], Action] = lambda _: "reply"
    #: the logs socket: accept and read, refuse the connection, accept then
    #: close it, or accept and never read
    logs: Literal["read", "refuse", "close", "stall"] = "read"
    #: variables the supervisor knows
    variables: Mapping[str, str] = field(default_factory=dict)
    #: the password of connection "db" (the only connection it knows)
    db_password: str = "pg-pa55word!"
    #: StartupDetails overrides (max_tries, try_number, ...)
    max_tries: int = 0
    #: deliver these signals, in order, once the task logs ``signal_on`` (or,
    #: for a task that blocks its event loop so that no log line can leave,
    #: once it printed ``signal_on_stdout``)
    signals: tuple[signal.Signals, ...] = ()
    signal_on: str = ""
    signal_on_stdout: str = ""
    #: ... or once the comm socket is accepted (before StartupDetails is sent)
    signal_on_connect: bool = False
    #: ... or once a terminal frame arrives (while its acknowledgement is pending)
    signal_on_terminal: bool = False
    #: wait this long after accepting the comm socket before sending StartupDetails
    startup_delay: float = 0.0
    #: acknowledge terminal frames after this many seconds; None: never
    terminal_ack_delay: float | None = 0.0
    #: close the comm socket once the task logs this event (the supervisor goes away)
    close_comm_on: str = ""
    #: close the comm socket as soon as a terminal frame arrives, without acknowledging it
    close_comm_on_terminal: bool = False


@dataclass
class FaultRun:
    """What the runtime did under a fault."""

    exit_code: int | None = None
    elapsed: float = 0.0
    requests: list[dict[str, object]] = field(default_factory=list)
    log_lines: list[dict[str, object]] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    raw_log_bytes: bytes = b""
    #: when each terminal frame arrived (trio.current_time(), like ``elapsed``'s start)
    terminal_times: list[float] = field(default_factory=list)

    @property
    def terminals(self) -> list[dict[str, object]]:
        """The terminal messages the runtime sent (there must be at most one)."""
        return [body for body in self.requests if body.get("type") in TERMINAL_TYPES]

    @property
    def terminal(self) -> dict[str, object] | None:
        """The one terminal message, or None."""
        terminals = self.terminals
        assert len(terminals) <= 1, f"more than one terminal message: {terminals}"
        return terminals[0] if terminals else None

    def events(self) -> list[str]:
        """Every log event, from the logs socket and from JSON lines on stderr."""
        events = [str(line.get("event", "")) for line in self.log_lines]
        for text in self.stderr:
            try:
                record = json.loads(text)
            except ValueError:
                continue
            if isinstance(record, dict):
                events.append(str(record.get("event", "")))
        return events

    def stderr_text(self) -> str:
        return "\n".join(self.stderr)


def _refused_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def run_faulty(
    task_id: str,
    fault: Fault | None = None,
    *,
    env: Mapping[str, str] | None = None,
    bound: float = 30.0,
    stdin: int | None = None,
) -> FaultRun:
    """Run ``fault_bundle.py``'s task ``task_id`` under a misbehaving supervisor."""
    fault = fault or Fault()
    run = FaultRun()
    comm_listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    logs_listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    comm_port = comm_listener.socket.getsockname()[1]
    logs_port = logs_listener.socket.getsockname()[1]
    if fault.logs == "refuse":
        await logs_listener.aclose()
        logs_port = _refused_port()
    elif fault.logs == "stall":
        # a small receive window (set before accepting, so it is negotiated) makes the stall bite early
        logs_listener.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    argv = [
        sys.executable,
        "-m",
        "trio_coord",
        "serve",
        BUNDLE,
        f"--comm=127.0.0.1:{comm_port}",
        f"--logs=127.0.0.1:{logs_port}",
    ]
    child_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_"))},
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "",
        **(env or {}),
    }
    details = EmbeddedSupervisor().startup_details("faults", task_id, max_tries=fault.max_tries)
    start = trio.current_time()
    process = await trio.lowlevel.open_process(
        argv,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env,
    )
    signalled = trio.Event()
    exited = trio.Event()
    close_comm = trio.Event()
    try:
        with trio.fail_after(bound):
            async with trio.open_nursery() as nursery:
                assert process.stdout is not None
                assert process.stderr is not None
                trigger = (fault.signal_on_stdout, signalled)
                nursery.start_soon(_read_lines, process.stdout, run.stdout, trigger)
                nursery.start_soon(_read_lines, process.stderr, run.stderr)
                nursery.start_soon(_serve_comm, comm_listener, details, fault, run, signalled, close_comm)
                if fault.logs != "refuse":
                    nursery.start_soon(_serve_logs, logs_listener, fault, run, signalled, exited, close_comm)
                if fault.signals:
                    nursery.start_soon(_deliver_signals, process, fault.signals, signalled)
                run.exit_code = await process.wait()
                run.elapsed = trio.current_time() - start
                exited.set()
                nursery.cancel_scope.deadline = trio.current_time() + 2  # drain what is left
    finally:
        with trio.move_on_after(5, shield=True):  # noqa: ASYNC912 - waits only if still running
            if process.returncode is None:
                process.terminate()
                with trio.move_on_after(2):
                    await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        await comm_listener.aclose()
        if fault.logs != "refuse":
            await logs_listener.aclose()
    return run


async def _read_lines(
    stream: trio.abc.ReceiveStream, out: list[str], trigger: tuple[str, trio.Event] | None = None
) -> None:
    pending = b""
    async for chunk in stream:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        out.extend(line.decode("utf-8", "replace") for line in lines)
        if trigger is not None and trigger[0] and any(trigger[0] in line for line in out):
            trigger[1].set()
    if pending:
        out.append(pending.decode("utf-8", "replace"))


async def _deliver_signals(
    process: trio.Process, signals: tuple[signal.Signals, ...], signalled: trio.Event
) -> None:
    await signalled.wait()
    for signum in signals:
        if process.returncode is None:
            process.send_signal(signum)
        await trio.sleep(0.1)  # let the first one be handled before the next arrives


async def _serve_logs(
    listener: trio.SocketListener,
    fault: Fault,
    run: FaultRun,
    signalled: trio.Event,
    exited: trio.Event,
    close_comm: trio.Event,
) -> None:
    stream = await listener.accept()
    async with stream:
        if fault.logs == "close":
            return
        if fault.logs == "stall":
            # read nothing while the runtime runs; afterwards collect what the kernel buffered
            await exited.wait()
        pending = b""
        async for chunk in stream:
            run.raw_log_bytes += chunk
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                record = json.loads(line)
                run.log_lines.append(record)
                if fault.signal_on and record.get("event") == fault.signal_on:
                    signalled.set()
                if fault.close_comm_on and record.get("event") == fault.close_comm_on:
                    close_comm.set()


async def _serve_comm(
    listener: trio.SocketListener,
    details: dict[str, object],
    fault: Fault,
    run: FaultRun,
    signalled: trio.Event,
    close_comm: trio.Event,
) -> None:
    stream = await listener.accept()
    async with stream, trio.open_nursery() as nursery:

        async def close_when_asked() -> None:
            await close_comm.wait()
            await stream.aclose()

        nursery.start_soon(close_when_asked)
        if fault.signal_on_connect:
            signalled.set()
        if fault.startup_delay:
            await trio.sleep(fault.startup_delay)
        # the runtime may go away, or we close the socket on purpose
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await _play_comm(stream, details, fault, run, signalled, close_comm, nursery)
        nursery.cancel_scope.cancel()


async def _play_comm(
    stream: trio.SocketStream,
    details: dict[str, object],
    fault: Fault,
    run: FaultRun,
    signalled: trio.Event,
    close_comm: trio.Event,
    nursery: trio.Nursery,
) -> None:
    send_lock = trio.Lock()  # delayed acknowledgements and replies never interleave

    async def send(data: bytes) -> None:
        async with send_lock:
            await stream.send_all(data)

    async def acknowledge_later(frame_id: int, delay: float) -> None:
        await trio.sleep(delay)
        reply = encode_response(frame_id, None)
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await send(frame_prefix(len(reply)) + reply)

    if fault.first_frame is not None:
        await send(fault.first_frame)
    else:
        startup = encode_response(0, details)
        await send(frame_prefix(len(startup)) + startup)
    if fault.close_after_first_frame:
        return
    decoder = FrameDecoder()
    while True:  # noqa: ASYNC913 - receive_some checkpoints on every pass
        while (payload := decoder.next_frame()) is not None:
            request = decode_request(payload)
            run.requests.append(request.body)
            if request.body.get("type") in TERMINAL_TYPES:
                run.terminal_times.append(trio.current_time())
                if fault.signal_on_terminal:
                    signalled.set()
                if fault.close_comm_on_terminal:
                    close_comm.set()
                    return
                if fault.terminal_ack_delay is not None:
                    nursery.start_soon(acknowledge_later, request.id, fault.terminal_ack_delay)
                continue
            action = fault.on_request(request)
            if action == "close":
                return
            if action == "ignore":
                continue
            if isinstance(action, bytes):
                await send(action)
                continue
            reply = _answer(request, fault)
            await send(frame_prefix(len(reply)) + reply)
        data = await stream.receive_some(65536)
        if not data:
            return
        decoder.receive_data(data)


def _answer(request: RequestFrame, fault: Fault) -> bytes:
    body = request.body
    if body.get("type") == "GetVariable":
        key = str(body.get("key"))
        if key in fault.variables:
            return encode_response(
                request.id, {"key": key, "value": fault.variables[key], "type": "VariableResult"}
            )
        return encode_response(
            request.id, {"error": "VARIABLE_NOT_FOUND", "detail": {"key": key}, "type": "ErrorResponse"}
        )
    if body.get("type") == "GetConnection" and body.get("conn_id") == "db":
        return encode_response(
            request.id,
            {
                "conn_id": "db",
                "conn_type": "postgres",
                "host": "db.local",
                "schema": None,
                "login": "app",
                "password": fault.db_password,
                "port": 5432,
                "extra": '{"token": "extra-t0ken-value"}',
                "type": "ConnectionResult",
            },
        )
    if body.get("type") == "GetConnection":
        conn_id = body.get("conn_id")
        return encode_response(
            request.id,
            {"error": "CONNECTION_NOT_FOUND", "detail": {"conn_id": conn_id}, "type": "ErrorResponse"},
        )
    return encode_response(request.id, None)
