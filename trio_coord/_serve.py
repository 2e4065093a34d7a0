"""serve: the coordinator-mode main loop (the Go SDK's ``execution.Serve``).

Theory of operation
===================

``serve`` owns one nursery. In it live: the log sender (once the logs socket
is connected), the comm reader (started after the first frame), a signal
watcher, a comm watcher, and the user's task. The flow:

1. Dial ``--comm`` and ``--logs`` concurrently. The comm socket is required;
   if the logs socket cannot be reached the log handler falls back to
   standard error (which the supervisor forwards) and the task still runs.
2. Read the first frame directly and decode it as ``StartupDetails``. Any
   other first frame is a fatal protocol error: logged, no frame sent,
   non-zero exit (the supervisor then fails the task from the exit code).
3. Run the task (``run_task``) inside a cancel scope. SIGTERM/SIGINT, or the
   comm socket closing, cancel that scope: the task sees ``trio.Cancelled``
   at its next checkpoint instead of hanging. Further signals are logged and
   otherwise ignored, so a second SIGTERM cannot interrupt the reporting.
4. Send exactly one terminal message, shielded from cancellation and bounded
   in time, and wait (bounded) for its ``[id, nil, nil]`` reply.
5. Drain the log buffer (bounded), close both sockets, and return the exit
   code: 0 once a terminal frame was delivered, 1 when none could be.

A task that ignores cancellation gets ``grace_period`` seconds. If the event
loop is still alive (the task hides in a shielded scope), ``serve`` then
reports the task as failed (or up for retry) on its behalf and calls
``on_abandon`` (the CLI passes a hard process exit: trio cannot wait out a
task that refuses cancellation). If the event loop itself is blocked (the
task runs blocking synchronous code), nothing in trio can act, so a watchdog
*thread*, started by the signal handler, does the same one second later: it
writes the terminal frame to the comm socket itself (only if no frame is half
written), diverts buffered log lines to standard error and calls
``on_abandon``. Both paths stay under the supervisor's five seconds between
SIGTERM and SIGKILL.

Signals are handled with plain ``signal.signal`` handlers rather than
``trio.open_signal_receiver`` because the handler must also wake the
watchdog thread when the trio loop cannot run; it re-enters trio with
``TrioToken.run_sync_soon``, which is safe from a signal handler.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Final

import outcome
import trio

from ._bundle import Bundle
from ._client import CoordinatorClient
from ._comm import CoordinatorComm
from ._errors import ApiError, DispatcherClosed, RemoteProtocolError, TrioCoordError
from ._framing import encode_request, frame_prefix
from ._logging import SocketLogHandler
from ._messages import RetryTask, StartupDetails, TaskState, TerminalMessage
from ._record import Record
from ._runner import run_task

__all__ = ["ServeOptions", "parse_address", "serve"]

logger = logging.getLogger("trio_coord.serve")

DEFAULT_DIAL_TIMEOUT: Final = 30.0


def parse_address(text: str, flag: str = "address") -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` for IPv6) as given to ``--comm``/``--logs``.

    Raises:
        ValueError: naming the flag and what is wrong.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text:
        raise ValueError(f"{flag} must be HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{flag}: {host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"{flag}: write an IPv6 host in brackets, e.g. [::1]:PORT (got {text!r})")
    else:
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            labels = host.split(".")
            if not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
                raise ValueError(f"{flag}: {host!r} is not an IP address or host name") from None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{flag}: port must be a number from 1 to 65535, got {port_text!r}")
    return host, int(port_text)


class ServeOptions(Record):
    """Timing knobs of :func:`serve` (seconds).

    Attributes:
        dial_timeout: the most time to connect each socket.
        startup_timeout: the most time to wait for ``StartupDetails``.
        grace_period: how long a cancelled task may take to finish before it
            is reported as failed on its behalf (the watchdog thread acts one
            second later if the event loop itself is blocked).
        terminal_timeout: the most time to deliver the terminal message and
            receive its reply.
        log_drain_timeout: the most time to flush buffered log lines at the end.
        request_timeout: the client's bound on each request (``None``: default).
        handle_signals: watch SIGTERM/SIGINT (main thread only).
    """

    dial_timeout: float = DEFAULT_DIAL_TIMEOUT
    startup_timeout: float = 600.0
    grace_period: float = 3.0
    terminal_timeout: float = 10.0
    log_drain_timeout: float = 5.0
    request_timeout: float | None = None
    handle_signals: bool = True


class _Fatal(Exception):
    """A failure that ends serve before a terminal frame could be delivered."""


def _report_fatal(message: str) -> None:
    logger.error("%s", message)
    print(f"trio_coord: error: {message}", file=sys.stderr, flush=True)


async def _dial(address: tuple[str, int], what: str, seconds: float) -> trio.SocketStream:
    host, port = address
    with trio.move_on_after(seconds) as scope:
        try:
            return await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise _Fatal(f"cannot connect the {what} socket to {host}:{port}: {exc}") from exc
    assert scope.cancelled_caught
    raise _Fatal(f"cannot connect the {what} socket to {host}:{port}: timed out after {seconds:g} s")


async def serve(
    bundle: Bundle,
    comm_address: tuple[str, int],
    logs_address: tuple[str, int],
    *,
    log_handler: SocketLogHandler | None = None,
    options: ServeOptions | None = None,
    on_abandon: Callable[[int], None] | None = None,
) -> int:
    """Run one task for the supervisor; return the process exit code.

    Blocks until the task has run and its terminal message was delivered (or
    could not be). Never raises for a supervisor or task failure: problems are
    logged (to the logs socket when connected, and to standard error).

    Args:
        bundle: the tasks this executable serves.
        comm_address: the supervisor's comm socket (``--comm``).
        logs_address: the supervisor's logs socket (``--logs``).
        log_handler: the handler to connect to the logs socket (normally the
            one :func:`install_log_handler` attached to the root logger).
        options: timeouts and signal handling.
        on_abandon: called with the exit code when the task ignored
            cancellation past the grace period and the terminal frame was
            already sent; it must not return (the CLI exits the process).
            Without it, ``serve`` keeps waiting for such a task, and no
            watchdog thread is started.

    Returns:
        0 when a terminal message was delivered, 1 otherwise.

    Exception groups: none escape; ``KeyboardInterrupt`` is not raised,
    because SIGINT is handled as a cooperative cancel.
    """
    session = _Session(bundle, log_handler, options or ServeOptions(), on_abandon)
    code = 1
    try:
        code = await session.run(comm_address, logs_address)
    except* _Fatal as group:
        for exc in group.exceptions:
            _report_fatal(str(exc))
    return code


class _Stopper:
    """Cancels whatever phase is running when a stop is requested (signal, comm loss)."""

    def __init__(self, grace_period: float) -> None:
        self.reason: str | None = None
        self.grace_period = grace_period
        self.grace_over = trio.Event()
        self._scopes: set[trio.CancelScope] = set()
        self._nursery: trio.Nursery | None = None

    def attach(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery

    def new_scope(self) -> trio.CancelScope:
        """A cancel scope (to be entered by the caller) that a stop cancels."""
        scope = trio.CancelScope()
        if self.reason is not None:
            scope.cancel()
        self._scopes.add(scope)
        return scope

    def stop(self, reason: str) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        for scope in self._scopes:
            scope.cancel()
        if self._nursery is not None:
            self._nursery.start_soon(self._grace_timer)

    async def _grace_timer(self) -> None:
        await trio.sleep(self.grace_period)
        self.grace_over.set()


class _Watchdog:
    """A thread that reports for a task whose event loop stays blocked after a signal.

    The signal handler calls :meth:`signalled`; the session calls
    :meth:`finish` once the terminal message is handled. If a signal came and
    ``finish`` does not follow within ``deadline`` seconds, the thread runs
    ``emergency`` (which must not return).
    """

    def __init__(self, deadline: float, emergency: Callable[[], None]) -> None:
        self._deadline = deadline
        self._emergency = emergency
        self._wake = threading.Event()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trio_coord-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def signalled(self) -> None:
        self._wake.set()

    def finish(self) -> None:
        self._finished.set()
        self._wake.set()

    def _run(self) -> None:
        self._wake.wait()
        if not self._finished.wait(self._deadline):
            self._emergency()

    def join(self) -> None:
        self.finish()
        self._thread.join(timeout=1.0)


class _Session:
    """One coordinator-mode run: the state that the signal path and the watchdog share."""

    def __init__(
        self,
        bundle: Bundle,
        log_handler: SocketLogHandler | None,
        options: ServeOptions,
        on_abandon: Callable[[int], None] | None,
    ) -> None:
        self.bundle = bundle
        self.log_handler = log_handler
        self.options = options
        self.on_abandon = on_abandon
        self.stopper = _Stopper(options.grace_period)
        self.details: StartupDetails | None = None
        self.comm: CoordinatorComm | None = None
        self.comm_stream: trio.SocketStream | None = None
        self.terminal_handled = False
        self.watchdog: _Watchdog | None = None
        self.first_signal: str | None = None  # set by the signal handler itself

    async def run(self, comm_address: tuple[str, int], logs_address: tuple[str, int]) -> int:
        async with trio.open_nursery() as nursery:
            self.stopper.attach(nursery)
            with self._signal_handlers():
                try:
                    with self.stopper.new_scope():
                        streams = await _dial_both(comm_address, logs_address, self.options)
                    if self.stopper.reason is not None:
                        raise _Fatal(f"{self.stopper.reason} before the task started")
                    comm_stream, logs_stream = streams
                    self.comm_stream = comm_stream
                    try:
                        if self.log_handler is not None:
                            if logs_stream is not None:
                                await nursery.start(self.log_handler.run_sender, logs_stream)
                            else:
                                self.log_handler.detach()
                        code = await self._run_task(nursery, comm_stream)
                    finally:
                        await self._close(comm_stream, logs_stream)  # noqa: ASYNC102 - _close shields itself, bounded
                finally:
                    if self.watchdog is not None:
                        self.watchdog.join()
            nursery.cancel_scope.cancel()
        return code

    async def _close(self, comm_stream: trio.SocketStream, logs_stream: trio.SocketStream | None) -> None:
        with trio.move_on_after(self.options.log_drain_timeout, shield=True):
            if self.log_handler is not None:
                await self.log_handler.wait_drained()
                self.log_handler.detach()
            await comm_stream.aclose()
            if logs_stream is not None:
                await logs_stream.aclose()

    # ------------------------------------------------------------------ signals

    @contextlib.contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        if not self.options.handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        token = trio.lowlevel.current_trio_token()
        if self.on_abandon is not None:
            self.watchdog = _Watchdog(self.options.grace_period + 1.0, self._emergency)
            self.watchdog.start()

        def handler(signum: int, frame: types.FrameType | None) -> None:
            if self.first_signal is None:
                self.first_signal = f"received {signal.Signals(signum).name}"
            if self.watchdog is not None:
                self.watchdog.signalled()
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self._on_signal, signum)

        previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for signum, old in previous.items():
                # A process about to exit (the CLI) keeps ignoring signals: a
                # late SIGTERM must not turn a reported run into a killed one.
                signal.signal(signum, signal.SIG_IGN if self.on_abandon is not None else old)

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.stopper.reason is not None:
            logger.warning("received %s again; already stopping (%s)", name, self.stopper.reason)
            return
        logger.warning("received %s: cancelling the task", name, extra={"signal": name})
        self.stopper.stop(f"received {name}")

    def _emergency(self) -> None:
        """Watchdog thread: the event loop stayed blocked past the grace period."""
        reason = self.stopper.reason or self.first_signal or "a signal"
        code = 1
        comm, details, stream = self.comm, self.details, self.comm_stream
        problem = "the task blocked the event loop"
        if comm is None or details is None or stream is None:
            problem += " before it started"
        elif self.terminal_handled:
            problem += " after its terminal message was sent"
            code = 0
        elif comm.closed or comm.writing:
            problem += "; the comm socket cannot take a frame now"
        else:
            terminal = _failure_terminal(details, f"the task blocked the event loop after {reason}")
            payload = encode_request(comm.next_id(), terminal.to_wire())
            try:
                with socket.socket(fileno=os.dup(stream.socket.fileno())) as raw:
                    raw.settimeout(1.0)
                    raw.sendall(frame_prefix(len(payload)) + payload)
                code = 0
                problem += f"; sent {terminal.type_name} on its behalf"
            except OSError as exc:
                problem += f"; could not send the terminal message ({exc})"
        if self.log_handler is not None:
            self.log_handler.detach()  # buffered lines go to stderr now
        _report_fatal(f"{problem} ({self.options.grace_period:g} s grace after {reason}); exiting")
        assert self.on_abandon is not None
        self.on_abandon(code)

    # ------------------------------------------------------------------ the task

    async def _run_task(self, nursery: trio.Nursery, comm_stream: trio.SocketStream) -> int:
        comm = CoordinatorComm(comm_stream, nursery)
        self.comm = comm
        details = await _read_startup(comm, self.options, self.stopper)
        if details is None:
            return 1
        self.details = details
        ti = details.ti
        logger.info(
            "starting task %s.%s run %s (try %d) from bundle %s %s",
            ti.dag_id,
            ti.task_id,
            ti.run_id,
            ti.try_number,
            self.bundle.name,
            self.bundle.version,
        )
        comm.start_reader()
        client = CoordinatorClient(comm, request_timeout=self.options.request_timeout)
        task_done = trio.Event()

        async def watch_comm() -> None:
            cause = await comm.wait_closed()
            if not task_done.is_set():
                reason = f": {cause}" if cause is not None else ""
                logger.error(
                    "the supervisor's comm socket closed while the task ran%s; cancelling it", reason
                )
                self.stopper.stop("the supervisor's comm socket closed")

        nursery.start_soon(watch_comm)
        terminals: list[TerminalMessage] = []

        async def run() -> None:
            scope = self.stopper.new_scope()
            terminals.append(await run_task(self.bundle, details, client, cancel_scope=scope))
            task_done.set()

        nursery.start_soon(run)
        async with trio.open_nursery() as waiter:

            async def wait_for(event: trio.Event) -> None:
                await event.wait()
                waiter.cancel_scope.cancel()

            waiter.start_soon(wait_for, task_done)
            waiter.start_soon(wait_for, self.stopper.grace_over)

        if task_done.is_set():
            terminal = terminals[0]
        else:
            logger.error(
                "task %s.%s ignored cancellation for %g s after %s; reporting it as failed",
                ti.dag_id,
                ti.task_id,
                self.options.grace_period,
                self.stopper.reason,
            )
            terminal = _failure_terminal(
                details, "the task did not stop within the grace period after cancellation"
            )
        code = await _send_terminal(client, terminal, self.options)
        self.terminal_handled = True
        if self.watchdog is not None:
            self.watchdog.finish()
        if not task_done.is_set() and self.on_abandon is not None:
            if self.log_handler is not None:
                with trio.move_on_after(self.options.log_drain_timeout, shield=True):
                    await self.log_handler.wait_drained()
            self.on_abandon(code)
        return code


def _failure_terminal(details: StartupDetails, reason: str) -> TerminalMessage:
    if details.ti_context.should_retry:
        return RetryTask(retry_reason=reason)
    return TaskState("failed")


async def _dial_both(
    comm_address: tuple[str, int], logs_address: tuple[str, int], options: ServeOptions
) -> tuple[trio.SocketStream, trio.SocketStream | None]:
    results: dict[str, outcome.Outcome[trio.SocketStream]] = {}

    async def dial(name: str, address: tuple[str, int]) -> None:
        results[name] = await outcome.acapture(_dial, address, name, options.dial_timeout)

    async with trio.open_nursery() as dialers:
        dialers.start_soon(dial, "comm", comm_address)
        dialers.start_soon(dial, "logs", logs_address)
    if len(results) < 2:  # cancelled while dialling
        for result in results.values():
            if isinstance(result, outcome.Value):
                await result.value.aclose()
        raise _Fatal("stopped while connecting to the supervisor")
    logs = results["logs"]
    if isinstance(logs, outcome.Error):
        message = str(logs.error)
        logger.warning("%s; log lines go to standard error instead", message)
        print(f"trio_coord: warning: {message}; logging to stderr", file=sys.stderr, flush=True)
        return results["comm"].unwrap(), None
    logs_stream = logs.unwrap()
    comm_result = results["comm"]
    if isinstance(comm_result, outcome.Error):
        await logs_stream.aclose()
    return comm_result.unwrap(), logs_stream


async def _read_startup(
    comm: CoordinatorComm, options: ServeOptions, stopper: _Stopper
) -> StartupDetails | None:
    # read_message always checkpoints, so these scopes can always cancel it.
    with trio.move_on_after(options.startup_timeout) as timeout_scope, stopper.new_scope():  # noqa: ASYNC912
        try:
            frame = await comm.read_message()
        except DispatcherClosed as exc:
            _report_fatal(f"the supervisor closed the comm socket before sending StartupDetails ({exc})")
            return None
        except RemoteProtocolError as exc:
            _report_fatal(f"the supervisor's first frame is not valid: {exc}")
            return None
    if stopper.reason is not None:
        _report_fatal(f"{stopper.reason} before the task started")
        return None
    if timeout_scope.cancelled_caught:
        _report_fatal(f"no StartupDetails from the supervisor within {options.startup_timeout:g} s")
        return None
    if frame.error is not None:
        _report_fatal(f"the supervisor's first frame is an error: {frame.error}")
        return None
    kind = frame.body.get("type") if frame.body is not None else None
    if kind != "StartupDetails":
        _report_fatal(f"expected StartupDetails as the first message, got {kind!r}")
        return None
    try:
        return StartupDetails.from_wire(frame.body)
    except RemoteProtocolError as exc:
        _report_fatal(f"invalid StartupDetails: {exc}")
        return None


async def _send_terminal(client: CoordinatorClient, terminal: TerminalMessage, options: ServeOptions) -> int:
    sent = False
    with trio.move_on_after(options.terminal_timeout, shield=True) as scope:  # noqa: ASYNC912
        try:
            pending = await client.comm.submit(terminal.to_wire())
        except TrioCoordError as exc:
            _report_fatal(f"could not deliver {terminal.describe()}: {exc}")
            return 1
        sent = True
        try:
            await pending.wait()
        except ApiError as exc:
            # Delivered: the supervisor replays the failed API call after we exit.
            logger.warning("the supervisor could not record %s: %s", terminal.type_name, exc)
        except DispatcherClosed as exc:
            logger.warning(
                "%s was sent, but the comm socket closed before its reply: %s", terminal.type_name, exc
            )
        else:
            logger.debug("terminal message %s acknowledged", terminal.type_name)
        finally:
            pending.abandon()
    if scope.cancelled_caught:
        if sent:
            logger.warning(
                "%s was sent, but no reply came within %g s", terminal.type_name, options.terminal_timeout
            )
            return 0
        _report_fatal(f"could not deliver {terminal.describe()} within {options.terminal_timeout:g} s")
        return 1
    return 0
