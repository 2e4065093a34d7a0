"""serve: the coordinator-mode main loop (the Go SDK's ``execution.Serve``).

Theory of operation
===================

``serve`` owns one nursery. In it live: the log sender (once the logs socket
is connected), the comm reader (started after the first frame), a comm
watcher, and the user's task. The flow:

1. Dial ``--comm`` and ``--logs`` concurrently. The comm socket is required;
   if the logs socket cannot be reached the log handler falls back to
   standard error (which the supervisor forwards) and the task still runs.
2. Read the first frame directly and decode it as ``StartupDetails``. Any
   other first frame is a fatal protocol error: logged, no frame sent,
   non-zero exit (the supervisor then fails the task from the exit code). A
   stop requested before it arrives shortens the wait to the grace period:
   once the details are in hand the run is reported as cancelled, so that a
   run that may retry is not left RUNNING by an exit code alone.
3. Run the task (``run_task``) inside a cancel scope. SIGTERM/SIGINT, or the
   comm socket closing, cancel that scope: the task sees ``trio.Cancelled``
   at its next checkpoint instead of hanging. Further signals are logged and
   otherwise ignored, so a second SIGTERM cannot interrupt the reporting.
4. Send exactly one terminal message through the :class:`TerminalGate`
   (``_terminal.py``), shielded from cancellation and bounded in time, and
   wait (bounded) for its ``[id, nil, nil]`` reply.
5. Drain the log buffer (bounded), close both sockets, and return the exit
   code the gate gives: 0 once a terminal frame was written whole, 1 when
   none was (or one may have been cut short).

A task that ignores cancellation gets ``grace_period`` seconds. If the event
loop is still alive (the task hides in a shielded scope), ``serve`` then
reports the task as failed (or up for retry) on its behalf and calls
``on_abandon`` (the CLI passes a hard process exit: trio cannot wait out a
task that refuses cancellation). If the event loop itself is blocked (the
task runs blocking synchronous code), nothing in trio can act, so a watchdog
*thread*, woken by the signal handler, does the same: it probes the event
loop with ``TrioToken.run_sync_soon`` and, only when the loop has run none of
its probes for a second and the grace period plus a second has passed since
the signal, claims the gate and writes the terminal frame to the comm socket
itself (with a frame id reserved on the trio side in advance, under the
comm's write lock, and only at a frame boundary), diverts buffered log lines
to standard error and calls ``on_abandon``. The watchdog never sends a
terminal frame once the trio side has claimed the gate, so a supervisor that
is slow to acknowledge a terminal frame never gets a second one. Both paths
stay under the supervisor's five seconds between SIGTERM and SIGKILL.

Signals are handled with plain ``signal.signal`` handlers rather than
``trio.open_signal_receiver`` because the handler must also wake the
watchdog thread when the trio loop cannot run. The handler does nothing that
can block or take a lock: it stores a string, writes one byte to the
watchdog's non-blocking pipe and re-enters trio with
``TrioToken.run_sync_soon``, which is safe from a signal handler.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import select
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Final

import trio

from ._bundle import Bundle
from ._client import DEFAULT_REQUEST_TIMEOUT, CoordinatorClient, seconds_from_env
from ._comm import CoordinatorComm
from ._errors import ApiError, DispatcherClosed, LocalProtocolError, RemoteProtocolError, TrioCoordError
from ._logging import SocketLogHandler
from ._messages import StartupDetails, TerminalMessage
from ._record import Record, replace
from ._runner import describe_exception, failure_terminal, run_task
from ._terminal import TerminalGate, TerminalPhase, write_frame_blocking

__all__ = ["ServeOptions", "parse_address", "serve"]

logger = logging.getLogger("trio_coord.serve")

DEFAULT_DIAL_TIMEOUT: Final = 30.0
#: The watchdog's probe interval, and how long the event loop must have run
#: none of its probes to count as blocked (seconds).
_PROBE_INTERVAL: Final = 0.2
_BLOCKED_AFTER: Final = 1.0


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServeOptions:
        """Defaults, with ``TRIO_COORD_GRACE_PERIOD``, ``_TERMINAL_TIMEOUT`` and ``_REQUEST_TIMEOUT`` applied.

        Raises:
            ValueError: naming the variable, when a value is not a positive
                number of seconds.
        """
        defaults = cls()
        return replace(
            defaults,
            grace_period=seconds_from_env("TRIO_COORD_GRACE_PERIOD", defaults.grace_period, env),
            terminal_timeout=seconds_from_env("TRIO_COORD_TERMINAL_TIMEOUT", defaults.terminal_timeout, env),
            request_timeout=seconds_from_env("TRIO_COORD_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT, env),
        )


class _Fatal(Exception):
    """A failure that ends serve before a terminal frame could be delivered."""


def _report_fatal(message: str) -> None:
    logger.error("%s", message)
    print(f"trio_coord: error: {message}", file=sys.stderr, flush=True)


async def _dial(address: tuple[str, int], what: str, seconds: float, stopper: _Stopper) -> trio.SocketStream:
    host, port = address
    with trio.move_on_after(seconds) as scope, stopper.shortened_by_stop(scope):
        try:
            return await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise _Fatal(f"cannot connect the {what} socket to {host}:{port}: {exc}") from exc
    assert scope.cancelled_caught
    if stopper.reason is not None:
        raise _Fatal(f"{stopper.reason} before the {what} socket to {host}:{port} connected")
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
    logged (to the logs socket when connected, and to standard error). An
    unexpected error inside trio_coord itself is logged with its traceback;
    if it happens before a terminal frame was sent, a failure terminal frame
    is still sent when the comm socket allows.

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
        The exit code of the terminal-frame contract: 0 when a terminal
        frame was written whole (acknowledged or not), 1 otherwise.

    Exception groups: none escape; ``KeyboardInterrupt`` is not raised,
    because SIGINT is handled as a cooperative cancel. A cancellation of
    ``serve`` from outside propagates.
    """
    session = _Session(bundle, log_handler, options or ServeOptions(), on_abandon)
    code = 1
    try:
        code = await session.run(comm_address, logs_address)
    except* _Fatal as group:
        for exc in group.exceptions:
            _report_fatal(str(exc))
    except* Exception as group:  # a bug of ours: say so, keep the contract
        logger.critical("trio_coord failed internally", exc_info=group)
        _report_fatal(f"internal error: {describe_exception(group.exceptions[0])}")
        code = session.gate.exit_code()
    return code


class _Stopper:
    """Cancels whatever phase is running when a stop is requested (signal, comm loss)."""

    def __init__(self, grace_period: float) -> None:
        self.reason: str | None = None
        self.grace_period = grace_period
        self.grace_over = trio.Event()
        self._scopes: set[trio.CancelScope] = set()
        self._nursery: trio.Nursery | None = None
        self._shortened: set[trio.CancelScope] = set()

    def attach(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery

    def new_scope(self) -> trio.CancelScope:
        """A cancel scope (to be entered by the caller) that a stop cancels."""
        scope = trio.CancelScope()
        if self.reason is not None:
            scope.cancel()
        self._scopes.add(scope)
        return scope

    @contextlib.contextmanager
    def shortened_by_stop(self, scope: trio.CancelScope) -> Iterator[None]:
        """While inside, a stop brings ``scope``'s deadline to at most the grace period.

        For the phases a stop must not cut short (connecting, reading
        ``StartupDetails``): once they complete, the run can still be reported.
        """
        self._shortened.add(scope)
        if self.reason is not None:
            self._shorten(scope)
        try:
            yield
        finally:
            self._shortened.discard(scope)

    def _shorten(self, scope: trio.CancelScope) -> None:
        scope.deadline = min(scope.deadline, trio.current_time() + self.grace_period)

    def stop(self, reason: str) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        for scope in self._scopes:
            scope.cancel()
        for scope in self._shortened:
            self._shorten(scope)
        if self._nursery is not None:
            self._nursery.start_soon(self._grace_timer)

    async def _grace_timer(self) -> None:
        await trio.sleep(self.grace_period)
        self.grace_over.set()


class _Watchdog:
    """A thread that reports for a task whose event loop stays blocked after a signal.

    The signal handler calls :meth:`signalled` (one non-blocking write to a
    pipe: safe in a signal handler, whatever the interrupted code holds). The
    thread then probes the event loop every ``_PROBE_INTERVAL`` seconds with
    ``run_sync_soon``; once ``deadline`` seconds have passed since the
    signal and the loop has run none of its probes for ``_BLOCKED_AFTER``
    seconds, it calls ``emergency`` (which must not return). :meth:`finish`
    (from the trio thread) stands it down.
    """

    def __init__(
        self, deadline: float, token: trio.lowlevel.TrioToken, emergency: Callable[[], None]
    ) -> None:
        self._deadline = deadline
        self._token = token
        self._emergency = emergency
        self._finished = False
        self._last_beat = 0.0
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._thread = threading.Thread(target=self._run, name="trio_coord-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def signalled(self) -> None:
        """Wake the thread (safe in a signal handler: one non-blocking ``write``)."""
        self._poke(b"s")

    def finish(self) -> None:
        """The terminal message is handled: the thread stands down."""
        self._finished = True
        self._poke(b"f")

    def _poke(self, byte: bytes) -> None:
        with contextlib.suppress(OSError):  # a full pipe is already a wake-up
            os.write(self._write_fd, byte)

    def _beat(self) -> None:
        self._last_beat = time.monotonic()

    def _wait(self, poller: select.poll, seconds: float | None) -> None:
        if poller.poll(None if seconds is None else int(seconds * 1000)):
            with contextlib.suppress(OSError):
                os.read(self._read_fd, 4096)

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._read_fd, select.POLLIN)
        self._wait(poller, None)
        woke = self._last_beat = time.monotonic()
        while not self._finished:
            try:
                self._token.run_sync_soon(self._beat)
            except trio.RunFinishedError:
                return
            now = time.monotonic()
            if now - woke >= self._deadline and now - self._last_beat >= _BLOCKED_AFTER:
                self._emergency()
                return
            self._wait(poller, _PROBE_INTERVAL)

    def join(self) -> None:
        """Stand down, wait (bounded) for the thread, and close the pipe."""
        self.finish()
        self._thread.join(timeout=1.0)
        if not self._thread.is_alive():
            os.close(self._read_fd)
            os.close(self._write_fd)


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
        self.gate = TerminalGate()
        # Held around every write to the comm socket, so that the watchdog
        # thread can write a frame of its own only between two of ours.
        self.write_lock = threading.Lock()
        self.details: StartupDetails | None = None
        self.comm: CoordinatorComm | None = None
        self.comm_stream: trio.SocketStream | None = None
        self.watchdog_frame_id: int | None = None  # reserved on the trio thread
        self.watchdog: _Watchdog | None = None
        self.first_signal: str | None = None  # set by the signal handler itself

    async def run(self, comm_address: tuple[str, int], logs_address: tuple[str, int]) -> int:
        async with trio.open_nursery() as nursery:
            self.stopper.attach(nursery)
            with self._signal_handlers():
                # A stop while connecting shortens the dial to the grace period:
                # with the comm socket up, the run can still be reported.
                comm_stream, logs_stream = await _dial_both(
                    comm_address, logs_address, self.options, self.stopper
                )
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
        watchdog = None
        if self.on_abandon is not None:
            watchdog = _Watchdog(self.options.grace_period + 1.0, token, self._emergency)
            watchdog.start()
            self.watchdog = watchdog

        def handler(signum: int, frame: types.FrameType | None) -> None:
            # Runs between two bytecodes of whatever the main thread was doing:
            # nothing here may block or take a lock.
            if self.first_signal is None:
                self.first_signal = f"received {signal.Signals(signum).name}"
            if watchdog is not None:
                watchdog.signalled()
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
            if watchdog is not None:
                watchdog.join()

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.stopper.reason is not None:
            logger.warning("received %s again; already stopping (%s)", name, self.stopper.reason)
            return
        logger.warning("received %s: cancelling the task", name, extra={"signal": name})
        self.stopper.stop(f"received {name}")

    def _emergency(self) -> None:
        """Watchdog thread: the event loop stayed blocked past the grace period after a signal."""
        reason = self.stopper.reason or self.first_signal or "a signal"
        problem = "the task blocked the event loop"
        # Taken and never given back: once the process is being abandoned, no
        # frame of the trio side may follow (bounded: the trio side holds it
        # for one non-blocking system call at a time).
        locked = self.write_lock.acquire(timeout=1.0)
        comm, details, stream, frame_id = self.comm, self.details, self.comm_stream, self.watchdog_frame_id
        if comm is None or details is None or stream is None or frame_id is None:
            problem += " before it started"
        else:
            terminal = failure_terminal(details, f"the task blocked the event loop after {reason}")
            phase = self.gate.phase
            if phase is not TerminalPhase.NONE:
                problem += f" after its terminal message was {phase.name.lower()}"
            elif not locked:
                problem += "; the comm socket stayed busy"
            elif comm.closed or comm.mid_frame:
                problem += "; the comm socket cannot take a frame now"
            elif self.gate.claim("watchdog", terminal):
                try:
                    write_frame_blocking(stream.socket.fileno(), frame_id, terminal)
                except (OSError, LocalProtocolError) as exc:
                    problem += f"; could not send the terminal message ({exc})"
                else:
                    self.gate.advance("watchdog", TerminalPhase.WRITTEN)
                    problem += f"; sent {terminal.type_name} on its behalf"
            else:
                problem += "; the trio side claimed the terminal message meanwhile"
        if self.log_handler is not None:
            self.log_handler.detach(timeout=1.0)  # buffered lines go to stderr now
        _report_fatal(f"{problem} ({self.options.grace_period:g} s grace after {reason}); exiting")
        assert self.on_abandon is not None
        self.on_abandon(self.gate.exit_code())

    # ------------------------------------------------------------------ the task

    async def _run_task(self, nursery: trio.Nursery, comm_stream: trio.SocketStream) -> int:
        comm = CoordinatorComm(comm_stream, nursery, write_lock=self.write_lock)
        self.comm = comm
        details = await _read_startup(comm, self.options, self.stopper)
        if details is None:
            return 1
        self.watchdog_frame_id = comm.next_id()
        self.details = details
        ti = details.ti
        comm.start_reader()
        client = CoordinatorClient(comm, request_timeout=self.options.request_timeout)
        if self.stopper.reason is not None:
            logger.error(
                "task %s.%s not started: %s before it could start", ti.dag_id, ti.task_id, self.stopper.reason
            )
            return await self._deliver_terminal(client, failure_terminal(details, "cancelled"))
        logger.info(
            "starting task %s.%s run %s (try %d) from bundle %s %s",
            ti.dag_id,
            ti.task_id,
            ti.run_id,
            ti.try_number,
            self.bundle.name,
            self.bundle.version,
        )
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
            try:
                terminals.append(await run_task(self.bundle, details, client, cancel_scope=scope))
            except Exception as exc:  # a bug of ours: the run is still reported
                logger.critical("trio_coord failed while running the task", exc_info=exc)
                terminals.append(
                    failure_terminal(details, f"trio_coord internal error: {describe_exception(exc)}")
                )
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
            terminal = failure_terminal(
                details, "the task did not stop within the grace period after cancellation"
            )
        code = await self._deliver_terminal(client, terminal)
        if self.watchdog is not None:
            self.watchdog.finish()
        if not task_done.is_set() and self.on_abandon is not None:
            if self.log_handler is not None:
                with trio.move_on_after(self.options.log_drain_timeout, shield=True):
                    await self.log_handler.wait_drained()
            self.on_abandon(code)
        return code

    async def _deliver_terminal(self, client: CoordinatorClient, terminal: TerminalMessage) -> int:
        """Send ``terminal`` as the one terminal frame, unless the watchdog already did; return the exit code.

        Shielded from cancellation and bounded by ``terminal_timeout``. A
        terminal message that cannot be encoded (nothing is sent) is replaced
        once by a failure naming why.
        """
        details = self.details
        assert details is not None
        gate = self.gate
        with trio.move_on_after(self.options.terminal_timeout, shield=True) as scope:  # noqa: ASYNC912
            attempts = [terminal]
            pending = None
            while attempts and pending is None:
                attempt = attempts.pop()
                if not gate.claim("runtime", attempt):
                    # The watchdog claimed it while the event loop was blocked;
                    # it ends the process once its frame is written.
                    logger.warning("the watchdog is reporting the task; not sending %s", attempt.type_name)
                    await trio.sleep(2 * _BLOCKED_AFTER)
                    return gate.exit_code()
                try:
                    pending = await client.comm.submit(attempt.to_wire())
                except LocalProtocolError as exc:  # nothing was written
                    gate.release("runtime")
                    logger.error("could not encode %s: %s", attempt.describe(), exc)
                    if attempt is terminal:
                        reason = f"could not encode {terminal.type_name}: {describe_exception(exc)}"
                        attempts.append(failure_terminal(details, reason))
                except TrioCoordError as exc:
                    _report_fatal(f"could not deliver {attempt.describe()}: {exc}")
                    return gate.exit_code()
            if pending is None:
                _report_fatal(f"could not encode {terminal.describe()}, nor a failure in its place")
                return gate.exit_code()
            gate.advance("runtime", TerminalPhase.WRITTEN)
            try:
                await pending.wait()
            except ApiError as exc:
                # Delivered: the supervisor replays the failed API call after we exit.
                logger.warning("the supervisor could not record %s: %s", attempt.type_name, exc)
            except DispatcherClosed as exc:
                logger.warning(
                    "%s was sent, but the comm socket closed before its reply: %s", attempt.type_name, exc
                )
            else:
                gate.advance("runtime", TerminalPhase.ACKNOWLEDGED)
                logger.debug("terminal message %s acknowledged", attempt.type_name)
            finally:
                pending.abandon()
        if scope.cancelled_caught:
            if gate.phase is TerminalPhase.WRITTEN:
                logger.warning(
                    "%s was sent, but no reply came within %g s",
                    terminal.type_name,
                    self.options.terminal_timeout,
                )
            else:
                _report_fatal(
                    f"could not deliver {terminal.describe()} within {self.options.terminal_timeout:g} s"
                )
        return gate.exit_code()


async def _dial_both(
    comm_address: tuple[str, int],
    logs_address: tuple[str, int],
    options: ServeOptions,
    stopper: _Stopper,
) -> tuple[trio.SocketStream, trio.SocketStream | None]:
    """Dial both sockets at once; a logs socket that cannot be reached is ``None``.

    Raises:
        _Fatal: the comm socket cannot be reached.

    Cancellation: propagates, closing whichever socket was already open.
    """
    streams: dict[str, trio.SocketStream] = {}
    failures: dict[str, _Fatal] = {}

    async def dial(name: str, address: tuple[str, int]) -> None:
        try:
            streams[name] = await _dial(address, name, options.dial_timeout, stopper)
        except _Fatal as exc:
            failures[name] = exc

    try:
        async with trio.open_nursery() as dialers:
            dialers.start_soon(dial, "comm", comm_address)
            dialers.start_soon(dial, "logs", logs_address)
    except BaseException:
        for stream in streams.values():
            await trio.aclose_forcefully(stream)
        raise
    if "comm" in failures:
        if "logs" in streams:
            await trio.aclose_forcefully(streams["logs"])
        raise failures["comm"]
    if "logs" in failures:
        message = str(failures["logs"])
        logger.warning("%s; log lines go to standard error instead", message)
        print(f"trio_coord: warning: {message}; logging to stderr", file=sys.stderr, flush=True)
    return streams["comm"], streams.get("logs")


async def _read_startup(
    comm: CoordinatorComm, options: ServeOptions, stopper: _Stopper
) -> StartupDetails | None:
    # read_message always checkpoints, so the scope can always cancel it. A
    # stop shortens the wait to the grace period rather than ending it: with
    # the details in hand the run can still be reported.
    with (
        trio.move_on_after(options.startup_timeout) as timeout_scope,  # noqa: ASYNC912
        stopper.shortened_by_stop(timeout_scope),
    ):
        try:
            frame = await comm.read_message()
        except DispatcherClosed as exc:
            _report_fatal(f"the supervisor closed the comm socket before sending StartupDetails ({exc})")
            return None
        except RemoteProtocolError as exc:
            _report_fatal(f"the supervisor's first frame is not valid: {exc}")
            return None
    if timeout_scope.cancelled_caught:
        if stopper.reason is not None:
            _report_fatal(f"{stopper.reason} before the task started")
        else:
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
