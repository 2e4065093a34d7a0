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

A task that ignores cancellation gets ``grace_period`` seconds; after that,
``serve`` reports the task as failed (or up for retry) on its behalf and
calls ``on_abandon`` (the CLI passes a hard process exit, because a trio task
that refuses cancellation cannot be waited out).
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import outcome
import trio

from ._bundle import Bundle
from ._client import CoordinatorClient
from ._comm import CoordinatorComm
from ._errors import ApiError, DispatcherClosed, RemoteProtocolError, TrioCoordError
from ._logging import SocketLogHandler
from ._messages import RetryTask, StartupDetails, TaskState, TerminalMessage
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


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """Timing knobs of :func:`serve` (seconds).

    Attributes:
        dial_timeout: the most time to connect each socket.
        startup_timeout: the most time to wait for ``StartupDetails``.
        grace_period: how long a cancelled task may take to finish before it
            is reported as failed on its behalf.
        terminal_timeout: the most time to deliver the terminal message and
            receive its reply.
        log_drain_timeout: the most time to flush buffered log lines at the end.
        request_timeout: the client's bound on each request (``None``: default).
        handle_signals: watch SIGTERM/SIGINT (main thread only).
    """

    dial_timeout: float = DEFAULT_DIAL_TIMEOUT
    startup_timeout: float = 600.0
    grace_period: float = 4.0
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
            already sent; the CLI exits the process there.

    Returns:
        0 when a terminal message was delivered, 1 otherwise.

    Exception groups: none escape; ``KeyboardInterrupt`` is not raised,
    because SIGINT is handled as a cooperative cancel.
    """
    options = options or ServeOptions()
    code = 1
    try:
        code = await _serve(bundle, comm_address, logs_address, log_handler, options, on_abandon)
    except* _Fatal as group:
        for exc in group.exceptions:
            _report_fatal(str(exc))
    return code


async def _serve(
    bundle: Bundle,
    comm_address: tuple[str, int],
    logs_address: tuple[str, int],
    log_handler: SocketLogHandler | None,
    options: ServeOptions,
    on_abandon: Callable[[int], None] | None,
) -> int:
    async with trio.open_nursery() as nursery:
        comm_stream, logs_stream = await _dial_both(comm_address, logs_address, options)
        if log_handler is not None:
            if logs_stream is not None:
                await nursery.start(log_handler.run_sender, logs_stream)
            else:
                log_handler.detach()
        try:
            code = await _run_session(nursery, bundle, comm_stream, log_handler, options, on_abandon)
        finally:
            with trio.move_on_after(options.log_drain_timeout, shield=True):
                if log_handler is not None:
                    await log_handler.wait_drained()
                    log_handler.detach()
                await comm_stream.aclose()
                if logs_stream is not None:
                    await logs_stream.aclose()
            nursery.cancel_scope.cancel()
    return code


async def _dial_both(
    comm_address: tuple[str, int], logs_address: tuple[str, int], options: ServeOptions
) -> tuple[trio.SocketStream, trio.SocketStream | None]:
    results: dict[str, outcome.Outcome[trio.SocketStream]] = {}

    async def dial(name: str, address: tuple[str, int]) -> None:
        results[name] = await outcome.acapture(_dial, address, name, options.dial_timeout)

    async with trio.open_nursery() as dialers:
        dialers.start_soon(dial, "comm", comm_address)
        dialers.start_soon(dial, "logs", logs_address)
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


async def _watch_signals(
    stopper: _Stopper,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if stopper.reason is not None:
                logger.warning("received %s again; already stopping (%s)", name, stopper.reason)
                continue
            logger.warning("received %s: cancelling the task", name, extra={"signal": name})
            stopper.stop(f"received {name}")


async def _run_session(
    nursery: trio.Nursery,
    bundle: Bundle,
    comm_stream: trio.SocketStream,
    log_handler: SocketLogHandler | None,
    options: ServeOptions,
    on_abandon: Callable[[int], None] | None,
) -> int:
    comm = CoordinatorComm(comm_stream, nursery)
    stopper = _Stopper(options.grace_period)
    stopper.attach(nursery)
    if options.handle_signals and threading.current_thread() is threading.main_thread():
        await nursery.start(_watch_signals, stopper)

    details = await _read_startup(comm, options, stopper)
    if details is None:
        return 1
    ti = details.ti
    logger.info(
        "starting task %s.%s run %s (try %d) from bundle %s %s",
        ti.dag_id,
        ti.task_id,
        ti.run_id,
        ti.try_number,
        bundle.name,
        bundle.version,
    )
    comm.start_reader()
    client = CoordinatorClient(comm, request_timeout=options.request_timeout)
    task_done = trio.Event()

    async def watch_comm() -> None:
        cause = await comm.wait_closed()
        if not task_done.is_set():
            reason = f": {cause}" if cause is not None else ""
            logger.error("the supervisor's comm socket closed while the task ran%s; cancelling it", reason)
            stopper.stop("the supervisor's comm socket closed")

    nursery.start_soon(watch_comm)
    terminals: list[TerminalMessage] = []

    async def run() -> None:
        terminals.append(await run_task(bundle, details, client, cancel_scope=stopper.new_scope()))
        task_done.set()

    nursery.start_soon(run)
    async with trio.open_nursery() as waiter:

        async def wait_for(event: trio.Event) -> None:
            await event.wait()
            waiter.cancel_scope.cancel()

        waiter.start_soon(wait_for, task_done)
        waiter.start_soon(wait_for, stopper.grace_over)

    if task_done.is_set():
        terminal = terminals[0]
    else:
        logger.error(
            "task %s.%s ignored cancellation for %g s after %s; reporting it as failed",
            ti.dag_id,
            ti.task_id,
            options.grace_period,
            stopper.reason,
        )
        reason = "the task did not stop within the grace period after cancellation"
        terminal = RetryTask(retry_reason=reason) if details.ti_context.should_retry else TaskState("failed")
    code = await _send_terminal(client, terminal, options)
    if not task_done.is_set() and on_abandon is not None:
        if log_handler is not None:
            with trio.move_on_after(options.log_drain_timeout, shield=True):
                await log_handler.wait_drained()
        on_abandon(code)
    return code


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
