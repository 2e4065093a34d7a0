"""The benchmarks' clients: trio_coord, the raw-Python floor and Airflow's own ``CommsDecoder``.

Run as a script, never imported by the runner's process (it imports trio_coord
or Airflow, which the runner must not pay for)::

    python tests/bench/worker.py VARIANT            # serve commands from stdin
    python tests/bench/worker.py VARIANT '{"figure": ...}'   # run one command, exit

A command is one JSON object per line on standard input; the answer is one
JSON object per line on standard output (``{"ok": true, ...}`` or
``{"ok": false, "error": ...}``). A long-lived worker keeps its imports warm
between trials; the runner pins or unpins its threads between commands.

Variants:

``floor``
    A raw blocking socket in one thread, msgpack for the codec, no framework.
``floor_line``
    The floor for logs with one ``sendall`` per line (T4 only).
``trio_coord``
    :class:`trio_coord.CoordinatorClient` over :func:`trio_coord.open_coordinator_comm`
    (and :class:`trio_coord.SocketLogHandler` for logs): what a task calls.
``design``
    A minimal client of trio_coord's design (``design.py``): a nursery-owned
    reader task routing replies by id through one-slot memory channels,
    callers writing their own frame, nothing else (T1 and T2 only). T1 is
    gated against it.
``json_handler``
    A minimal stdlib :class:`logging.Handler` on the root logger whose
    ``emit`` builds the dict a JSON line carries and ``json.dumps`` it, then
    drops the string: no I/O (T4 only, the reference T4 is gated against).
``peer``
    ``airflow.sdk.execution_time.comms.CommsDecoder`` from task-sdk 1.3.2:
    ``send()`` for sequential requests, ``asend()`` from 64 asyncio tasks for
    concurrent ones, and the task runner's structlog JSON channel for logs
    (fed by stdlib ``logging``, the call the trio_coord variant makes).
``peer_structlog``
    The same log channel fed by structlog's own logger (T4 only).

Figures (``figure`` in the command):

``rt``        ``count`` sequential ``GetVariable`` round trips (T1).
``inflight``  ``count`` ``GetVariable`` requests with ``concurrency`` in flight (T2).
``xcom_get``  one ``GetXCom`` whose reply is a ``size``-character str (T3), in a fresh process.
``xcom_set``  one ``SetXCom`` of a ``size``-character str (T3), in a fresh process.
``logs``      ``count`` log lines to the log sink, acknowledged by it (T4; the
              ``json_handler`` variant encodes them and sends nothing). With
              ``"details": false`` (the default) the stdlib's record knobs are
              off for the trial (``logging._srcfile``, ``logThreads``,
              ``logProcesses``, ``logMultiprocessing``: what ``serve`` sets),
              with ``true`` they are on (Python's defaults, what Airflow's task
              runner runs with); every variant gets the same setting.

Every figure reports ``seconds`` for the timed part only (imports, connecting
and a warm-up are outside it). The XCom figures also report ``rss_before`` and
``maxrss`` (bytes): the resident set just before the payload existed and the
process's peak afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import resource
import socket
import struct
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import msgpack

PREFIX: Final = struct.Struct(">I")
DAG_ID: Final = "bench"
RUN_ID: Final = "manual__bench"
TASK_ID: Final = "bench_task"
VAR_KEY: Final = "bench_var"
LOG_MESSAGE: Final = "processed record %d of the current batch; all fields validated and forwarded downstream"
LOGGER_NAME: Final = "bench.task"
# Lines a trio task logs between two checkpoints in the log figure (a task
# that logs also awaits something now and then).
LOG_LINES_PER_CHECKPOINT: Final = 100

Command = dict[str, Any]
Result = dict[str, Any]


@contextlib.contextmanager
def record_knobs(details: bool) -> Iterator[None]:
    """The stdlib ``logging`` record knobs on (``details``) or off for a trial; restored after.

    Off is what ``install_log_handler`` (so ``serve``) sets; on is Python's default.
    The worker is long-lived, so a trial must not leave them changed.
    """
    names: tuple[str, ...] = ("logThreads", "logProcesses", "logMultiprocessing")
    if hasattr(logging, "logAsyncioTasks"):  # Python 3.12+, switched off by install_log_handler too
        names = (*names, "logAsyncioTasks")
    saved_srcfile = logging._srcfile
    saved = [getattr(logging, name) for name in names]
    # Python's default _srcfile: the logging module's own file (frames there are skipped).
    logging._srcfile = os.path.normcase(logging.addLevelName.__code__.co_filename) if details else None
    for name in names:
        setattr(logging, name, details)
    try:
        yield
    finally:
        logging._srcfile = saved_srcfile
        for name, value in zip(names, saved, strict=True):
            setattr(logging, name, value)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _rss() -> int:
    """The current resident set size in bytes (from /proc/self/statm)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss() -> int:
    """The process's peak resident set size so far, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def xcom_value(size: int) -> str:
    """The str payload of the XCom figures (same as the server's)."""
    pattern = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
    return (pattern * (size // len(pattern) + 1))[:size]


class _SendHalf:
    """Only the sending side of a stream (``trio.abc.SendStream``'s methods)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def send_all(self, data: bytes) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._stream.aclose()


class _Timestamps:
    """RFC 3339 timestamps with the second's prefix cached (what a log handler does)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        return self.at(time.time())

    def at(self, created: float) -> str:
        """``created`` (seconds since the epoch) as an RFC 3339 UTC timestamp with microseconds."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((created - second) * 1e6):06d}Z"


def _await_ack(sock: socket.socket) -> Result:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("log sink closed before acknowledging")
        data += chunk
    ack: Result = json.loads(data)
    if not ack.get("ok"):
        raise RuntimeError(f"log sink rejected the lines: {ack}")
    return ack


# ---------------------------------------------------------------------------
# The raw-Python floor
# ---------------------------------------------------------------------------


class Floor:
    """Blocking socket, one thread, msgpack: the fastest plain Python does."""

    def __init__(self) -> None:
        self._next_id = 1

    def _frame(self, body: Mapping[str, object]) -> bytes:
        frame_id, self._next_id = self._next_id, self._next_id + 1
        payload: bytes = msgpack.packb([frame_id, body])
        return PREFIX.pack(len(payload)) + payload

    @staticmethod
    def _recv_exactly(sock: socket.socket, n: int) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        while view:
            got = sock.recv_into(view)
            if not got:
                raise EOFError("server closed the connection")
            view = view[got:]
        return buf

    def _read_reply(self, sock: socket.socket) -> Any:
        (length,) = PREFIX.unpack(self._recv_exactly(sock, 4))
        reply = msgpack.unpackb(self._recv_exactly(sock, length), timestamp=3)
        if reply[2] is not None:
            raise RuntimeError(f"error reply: {reply[2]}")
        return reply[1]

    def _get_variable(self, sock: socket.socket) -> str:
        sock.sendall(self._frame({"type": "GetVariable", "key": VAR_KEY}))
        value: str = self._read_reply(sock)["value"]
        return value

    def rt(self, cmd: Command) -> Result:
        with _connect(cmd["port"]) as sock:
            for _ in range(cmd["warmup"]):
                self._get_variable(sock)
            t0 = time.perf_counter()
            for _ in range(cmd["count"]):
                self._get_variable(sock)
            return {"seconds": time.perf_counter() - t0}

    def inflight(self, cmd: Command) -> Result:
        with _connect(cmd["port"]) as sock:
            seconds = 0.0
            for count, timed in ((cmd["warmup"], False), (cmd["count"], True)):
                t0 = time.perf_counter()
                self._pipeline(sock, count, cmd["concurrency"])
                if timed:
                    seconds = time.perf_counter() - t0
            return {"seconds": seconds}

    def _pipeline(self, sock: socket.socket, count: int, window: int) -> None:
        """Keep ``window`` requests in flight; send refills for each read's replies in one go."""
        body = {"type": "GetVariable", "key": VAR_KEY}
        sent = min(window, count)
        sock.sendall(b"".join(self._frame(body) for _ in range(sent)))
        done = 0
        buf = bytearray()
        while done < count:
            chunk = sock.recv(262144)
            if not chunk:
                raise EOFError("server closed the connection")
            buf += chunk
            pos = 0
            replies = 0
            while len(buf) - pos >= 4:
                (length,) = PREFIX.unpack_from(buf, pos)
                if len(buf) - pos - 4 < length:
                    break
                reply = msgpack.unpackb(buf[pos + 4 : pos + 4 + length])
                if reply[1]["value"] is None:
                    raise RuntimeError("bad reply")
                pos += 4 + length
                replies += 1
            del buf[:pos]
            done += replies
            refill = min(replies, count - sent)
            if refill:
                sock.sendall(b"".join(self._frame(body) for _ in range(refill)))
                sent += refill

    def xcom_get(self, cmd: Command) -> Result:
        with _connect(cmd["port"]) as sock:
            self._get_variable(sock)  # warm up
            rss_before = _rss()
            t0 = time.perf_counter()
            sock.sendall(
                self._frame(
                    {
                        "type": "GetXCom",
                        "key": f"size:{cmd['size']}",
                        "dag_id": DAG_ID,
                        "run_id": RUN_ID,
                        "task_id": TASK_ID,
                    }
                )
            )
            value = self._read_reply(sock)["value"]
            seconds = time.perf_counter() - t0
            if len(value) != cmd["size"]:
                raise RuntimeError("wrong XCom size")
            return {"seconds": seconds, "rss_before": rss_before, "maxrss": _maxrss()}

    def xcom_set(self, cmd: Command) -> Result:
        with _connect(cmd["port"]) as sock:
            self._get_variable(sock)  # warm up
            rss_before = _rss()
            value = xcom_value(cmd["size"])
            t0 = time.perf_counter()
            frame_id, self._next_id = self._next_id, self._next_id + 1
            # Encode into the packer's own buffer and send it from there:
            # neither a bytes copy of it nor prefix + payload concatenated.
            packer = msgpack.Packer(autoreset=False)
            packer.pack(
                [
                    frame_id,
                    {
                        "type": "SetXCom",
                        "key": "bench_xcom",
                        "value": value,
                        "dag_id": DAG_ID,
                        "run_id": RUN_ID,
                        "task_id": TASK_ID,
                    },
                ]
            )
            with packer.getbuffer() as payload:
                sock.sendall(PREFIX.pack(len(payload)))
                sock.sendall(payload)
            self._read_reply(sock)
            seconds = time.perf_counter() - t0
            return {"seconds": seconds, "rss_before": rss_before, "maxrss": _maxrss()}

    def logs(self, cmd: Command) -> Result:
        return self._logs(cmd, batch_bytes=65536)

    def _logs(self, cmd: Command, batch_bytes: int) -> Result:
        ts = _Timestamps()
        count = cmd["count"]
        with _connect(cmd["port"]) as sock:
            sock.sendall(json.dumps({"expect": count}).encode() + b"\n")
            t0 = time.perf_counter()
            chunks: list[bytes] = []
            size = 0
            for i in range(count):
                line = {
                    "timestamp": ts.now(),
                    "level": "info",
                    "event": LOG_MESSAGE % i,
                    "logger": LOGGER_NAME,
                }
                data = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                chunks.append(data)
                size += len(data)
                if size >= batch_bytes:
                    sock.sendall(b"".join(chunks))
                    chunks, size = [], 0
            if chunks:
                sock.sendall(b"".join(chunks))
            ack = _await_ack(sock)
            return {"seconds": time.perf_counter() - t0, "line_bytes": ack["bytes"] / count}


class FloorPerLine(Floor):
    """The log floor with one ``sendall`` per line (what an unbuffered channel does)."""

    def logs(self, cmd: Command) -> Result:
        return self._logs(cmd, batch_bytes=0)


# ---------------------------------------------------------------------------
# trio_coord
# ---------------------------------------------------------------------------


class TrioCoord:
    """What a trio_coord task does: CoordinatorClient calls, SocketLogHandler logging."""

    def __init__(self) -> None:
        import trio

        import trio_coord

        self.trio = trio
        self.tc = trio_coord

    def _run(self, fn: Callable[..., Any], cmd: Command) -> Result:
        result: Result = self.trio.run(fn, cmd)
        return result

    async def _with_client(self, cmd: Command, body: Callable[..., Any]) -> Result:
        trio, tc = self.trio, self.tc
        stream = await trio.open_tcp_stream("127.0.0.1", cmd["port"])
        async with tc.open_coordinator_comm(stream) as comm:
            client = tc.CoordinatorClient(comm, use_env=False)
            await client.get_variable(VAR_KEY)  # warm up
            result: Result = await body(client)
            return result

    def rt(self, cmd: Command) -> Result:
        async def body(client: Any) -> Result:
            return await time_sequential(functools.partial(client.get_variable, VAR_KEY), cmd)

        return self._run(lambda c: self._with_client(c, body), cmd)

    def inflight(self, cmd: Command) -> Result:
        async def body(client: Any) -> Result:
            return await time_in_flight(functools.partial(client.get_variable, VAR_KEY), cmd)

        return self._run(lambda c: self._with_client(c, body), cmd)

    def _ti(self) -> Any:
        return self.tc.TaskInstance.from_wire(
            {
                "id": "01970000-0000-7000-8000-000000000001",
                "task_id": TASK_ID,
                "dag_id": DAG_ID,
                "run_id": RUN_ID,
                "try_number": 1,
                "dag_version_id": "01970000-0000-7000-8000-000000000002",
            }
        )

    def xcom_get(self, cmd: Command) -> Result:
        async def body(client: Any) -> Result:
            rss_before = _rss()
            t0 = time.perf_counter()
            value = await client.get_xcom(
                dag_id=DAG_ID, run_id=RUN_ID, task_id=TASK_ID, key=f"size:{cmd['size']}"
            )
            seconds = time.perf_counter() - t0
            if len(value) != cmd["size"]:
                raise RuntimeError("wrong XCom size")
            return {"seconds": seconds, "rss_before": rss_before, "maxrss": _maxrss()}

        return self._run(lambda c: self._with_client(c, body), cmd)

    def xcom_set(self, cmd: Command) -> Result:
        ti = self._ti()

        async def body(client: Any) -> Result:
            rss_before = _rss()
            value = xcom_value(cmd["size"])
            t0 = time.perf_counter()
            await client.push_xcom(ti, "bench_xcom", value)
            seconds = time.perf_counter() - t0
            return {"seconds": seconds, "rss_before": rss_before, "maxrss": _maxrss()}

        return self._run(lambda c: self._with_client(c, body), cmd)

    def logs(self, cmd: Command) -> Result:
        with record_knobs(cmd.get("details", False)):
            result = self.trio.run(log_to_sink, cmd["port"], cmd["count"])
        return {key: result[key] for key in ("seconds", "line_bytes", "batches")}


async def log_to_sink(port: int, count: int) -> Result:
    """T4's trio_coord side: ``count`` log calls through ``SocketLogHandler`` to the sink on ``port``.

    Set up as ``python -m trio_coord serve`` sets it up (INFO when the level is
    unset; the caller sets the record knobs), with a checkpoint every
    ``LOG_LINES_PER_CHECKPOINT`` lines; timed from the first call until the sink
    acknowledges the last line. Returns wall and CPU seconds (this process's),
    the line size and the number of batches sent. Raises if a line was lost,
    rejected or sent to the stderr fallback. ``tests/bench/log_profile.py``
    runs the same routine.
    """
    import trio

    import trio_coord

    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(json.dumps({"expect": count}).encode() + b"\n")
    handler = trio_coord.install_log_handler(env={})  # leaves the process-wide switches alone
    root = logging.getLogger()
    log = logging.getLogger(LOGGER_NAME)
    try:
        async with trio.open_nursery() as nursery:
            # The sink acknowledges on this socket (the real supervisor never writes
            # there), so hand the handler only the sending half: it must not read it.
            await nursery.start(handler.run_sender, _SendHalf(stream))
            c0, t0 = time.process_time(), time.perf_counter()
            for i in range(count):
                log.info(LOG_MESSAGE, i)
                if i % LOG_LINES_PER_CHECKPOINT == 0:
                    await trio.lowlevel.checkpoint()
            data = b""
            while not data.endswith(b"\n"):
                chunk = await stream.receive_some(4096)
                if not chunk:
                    raise EOFError("log sink closed before acknowledging")
                data += chunk
            seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
            nursery.cancel_scope.cancel()
    finally:
        root.removeHandler(handler)
        handler.close()
        await stream.aclose()
    ack = json.loads(data)
    if not ack.get("ok"):
        raise RuntimeError(f"log sink rejected the lines: {ack}")
    stats = handler.statistics()
    if stats.lines_to_fallback:
        raise RuntimeError(f"{stats.lines_to_fallback} lines went to the fallback")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "line_bytes": ack["bytes"] / count,
        "batches": stats.batches_sent,
    }


async def time_sequential(request: Callable[[], Awaitable[object]], cmd: Command) -> Result:
    """T1's loop: ``cmd["warmup"]`` requests, then ``cmd["count"]`` timed, one after another."""
    for _ in range(cmd["warmup"]):
        await request()
    t0 = time.perf_counter()
    for _ in range(cmd["count"]):
        await request()
    return {"seconds": time.perf_counter() - t0}


async def time_in_flight(request: Callable[[], Awaitable[object]], cmd: Command) -> Result:
    """T2's loop: the same counts from ``cmd["concurrency"]`` tasks sharing them."""
    import trio

    async def run_many(count: int) -> None:
        remaining = count

        async def one_task() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await request()

        async with trio.open_nursery() as nursery:
            for _ in range(cmd["concurrency"]):
                nursery.start_soon(one_task)

    await run_many(cmd["warmup"])
    t0 = time.perf_counter()
    await run_many(cmd["count"])
    return {"seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------
# The references: the design's minimal client, a minimal JSON log handler
# ---------------------------------------------------------------------------


class Design:
    """The minimal client of trio_coord's design (``design.py``), driven as TrioCoord drives its client."""

    def __init__(self) -> None:
        import trio

        if TYPE_CHECKING:
            from tests.bench.design import open_design_client
        else:  # worker.py runs as a script: its directory is first on sys.path
            from design import open_design_client

        self.trio = trio
        self.open_client = open_design_client
        self.body = {"type": "GetVariable", "key": VAR_KEY}

    def _run(self, cmd: Command, body: Callable[..., Any]) -> Result:
        trio = self.trio

        async def main() -> Result:
            stream = await trio.open_tcp_stream("127.0.0.1", cmd["port"])
            async with stream, self.open_client(stream) as client:
                await self._get_variable(client)  # warm up
                result: Result = await body(client)
                return result

        result: Result = trio.run(main)
        return result

    async def _get_variable(self, client: Any) -> str:
        value: str = (await client.request(self.body))["value"]
        return value

    def rt(self, cmd: Command) -> Result:
        async def body(client: Any) -> Result:
            return await time_sequential(functools.partial(self._get_variable, client), cmd)

        return self._run(cmd, body)

    def inflight(self, cmd: Command) -> Result:
        async def body(client: Any) -> Result:
            return await time_in_flight(functools.partial(self._get_variable, client), cmd)

        return self._run(cmd, body)


class _JsonEncodingHandler(logging.Handler):
    """Builds the dict a JSON log line carries and ``json.dumps`` it; keeps only the last line."""

    def __init__(self) -> None:
        super().__init__()
        self._timestamps = _Timestamps()
        self.lines = 0
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.last = json.dumps(
            {
                "timestamp": self._timestamps.at(record.created),
                "level": record.levelname.lower(),
                "event": record.getMessage(),
                "logger": record.name,
            }
        )
        self.lines += 1


class JsonHandler:
    """T4's reference: the log calls trio_coord's row makes, into a handler that only JSON-encodes.

    The same ``logging.getLogger(LOGGER_NAME).info(LOG_MESSAGE, i)`` loop, the
    same root logger level (INFO, as ``install_log_handler`` sets) and the same
    record knobs (``record_knobs``) as :meth:`TrioCoord.logs`; the handler is a
    plain :class:`logging.Handler` (the stdlib's ``handle``: filters, lock,
    ``emit``) whose ``emit`` encodes the line with the stdlib's default
    ``json.dumps`` and drops it. No socket, no sink, no trio: the time is the
    logging call plus encoding, nothing else.
    """

    def logs(self, cmd: Command) -> Result:
        count = cmd["count"]
        handler = _JsonEncodingHandler()
        root = logging.getLogger()
        log = logging.getLogger(LOGGER_NAME)
        saved_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            with record_knobs(cmd.get("details", False)):
                t0 = time.perf_counter()
                for i in range(count):
                    log.info(LOG_MESSAGE, i)
                seconds = time.perf_counter() - t0
        finally:
            root.removeHandler(handler)
            root.setLevel(saved_level)
            handler.close()
        if handler.lines != count:
            raise RuntimeError(f"the handler encoded {handler.lines} lines, not {count}")
        return {"seconds": seconds, "line_bytes": len(handler.last.encode()) + 1}


# ---------------------------------------------------------------------------
# Airflow's CommsDecoder (task-sdk 1.3.2)
# ---------------------------------------------------------------------------


class Peer:
    """Airflow's own task-runner client, constructed as the task runner does, on a TCP socket."""

    def __init__(self) -> None:
        import importlib

        from airflow.sdk.execution_time import comms

        self.comms = comms
        self.structlog = importlib.import_module("structlog")  # no type stubs in the typecheck session

    def _decoder(self, sock: socket.socket) -> Any:
        comms = self.comms
        return comms.CommsDecoder[comms.ToTask, comms.ToSupervisor](
            log=self.structlog.get_logger(logger_name="task"), socket=sock
        )

    def rt(self, cmd: Command) -> Result:
        with _connect(cmd["port"]) as sock:
            decoder = self._decoder(sock)
            msg = self.comms.GetVariable(key=VAR_KEY)
            for _ in range(cmd["warmup"]):
                decoder.send(msg)
            t0 = time.perf_counter()
            for _ in range(cmd["count"]):
                result = decoder.send(msg)
            seconds = time.perf_counter() - t0
            if result.value is None:
                raise RuntimeError("bad reply")
            return {"seconds": seconds}

    def inflight(self, cmd: Command) -> Result:
        import asyncio

        with _connect(cmd["port"]) as sock:
            decoder = self._decoder(sock)
            msg = self.comms.GetVariable(key=VAR_KEY)

            async def run_many(count: int) -> None:
                remaining = count

                async def one_task() -> None:
                    nonlocal remaining
                    while remaining > 0:
                        remaining -= 1
                        await decoder.asend(msg)

                await asyncio.gather(*(one_task() for _ in range(cmd["concurrency"])))

            async def main() -> float:
                await run_many(cmd["warmup"])
                t0 = time.perf_counter()
                await run_many(cmd["count"])
                return time.perf_counter() - t0

            return {"seconds": asyncio.run(main())}

    def xcom_get(self, cmd: Command) -> Result:
        with _connect(cmd["port"]) as sock:
            decoder = self._decoder(sock)
            decoder.send(self.comms.GetVariable(key=VAR_KEY))  # warm up
            rss_before = _rss()
            t0 = time.perf_counter()
            msg = self.comms.GetXCom(key=f"size:{cmd['size']}", dag_id=DAG_ID, run_id=RUN_ID, task_id=TASK_ID)
            result = decoder.send(msg)
            seconds = time.perf_counter() - t0
            if len(result.value) != cmd["size"]:
                raise RuntimeError("wrong XCom size")
            return {"seconds": seconds, "rss_before": rss_before, "maxrss": _maxrss()}

    def xcom_set(self, cmd: Command) -> Result:
        with _connect(cmd["port"]) as sock:
            decoder = self._decoder(sock)
            decoder.send(self.comms.GetVariable(key=VAR_KEY))  # warm up
            rss_before = _rss()
            value = xcom_value(cmd["size"])
            t0 = time.perf_counter()
            msg = self.comms.SetXCom(
                key="bench_xcom", value=value, dag_id=DAG_ID, run_id=RUN_ID, task_id=TASK_ID
            )
            decoder.send(msg)
            seconds = time.perf_counter() - t0
            return {"seconds": seconds, "rss_before": rss_before, "maxrss": _maxrss()}

    def logs(self, cmd: Command) -> Result:
        """The task runner's channel: JSON to an unbuffered binary file on the socket.

        The lines are logged with the same stdlib ``logging`` call as the
        trio_coord variant; Airflow renders them with structlog's
        ``ProcessorFormatter`` (:class:`PeerStructlog` calls structlog directly).
        """
        import logging

        log = logging.getLogger(LOGGER_NAME)
        return self._logs(cmd, lambda i: log.info(LOG_MESSAGE, i))

    def _logs(self, cmd: Command, log_line: Callable[[int], None]) -> Result:
        from airflow.sdk.log import configure_logging

        count = cmd["count"]
        with record_knobs(cmd.get("details", False)), _connect(cmd["port"]) as sock:
            sock.sendall(json.dumps({"expect": count}).encode() + b"\n")
            # As the task runner does with the logs fd it is given.
            with os.fdopen(os.dup(sock.fileno()), "wb", buffering=0) as log_io:
                configure_logging(json_output=True, output=log_io, sending_to_supervisor=True)
                t0 = time.perf_counter()
                for i in range(count):
                    log_line(i)
                ack = _await_ack(sock)
                seconds = time.perf_counter() - t0
            return {"seconds": seconds, "line_bytes": ack["bytes"] / count}


class PeerStructlog(Peer):
    """The peer's log channel driven through structlog's own logger (T4 only)."""

    def logs(self, cmd: Command) -> Result:
        # A lazy proxy: it binds on first use, after _logs has configured logging.
        log = self.structlog.get_logger(logger_name=LOGGER_NAME)
        return self._logs(cmd, lambda i: log.info(LOG_MESSAGE % i))


VARIANTS: Final[dict[str, Callable[[], Any]]] = {
    "floor": Floor,
    "floor_line": FloorPerLine,
    "trio_coord": TrioCoord,
    "design": Design,
    "json_handler": JsonHandler,
    "peer": Peer,
    "peer_structlog": PeerStructlog,
}


def run_command(client: Any, cmd: Command) -> Result:
    """Run one command on ``client``; never raises (errors are reported in the result)."""
    try:
        result: Result = getattr(client, cmd["figure"])(cmd)
    except Exception as exc:  # reported to the runner, which fails the trial
        return {"ok": False, "error": f"{exc!r}", "traceback": traceback.format_exc()}
    result["ok"] = True
    return result


def main(argv: list[str]) -> int:
    """``worker.py VARIANT [COMMAND_JSON]``."""
    if not argv or argv[0] not in VARIANTS:
        print(f"usage: worker.py {{{'|'.join(VARIANTS)}}} [COMMAND_JSON]", file=sys.stderr)
        return 2
    client = VARIANTS[argv[0]]()
    if len(argv) > 1:
        print(json.dumps(run_command(client, json.loads(argv[1]))), flush=True)
        return 0
    print(json.dumps({"ok": True, "ready": argv[0]}), flush=True)
    for line in sys.stdin:
        print(json.dumps(run_command(client, json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
