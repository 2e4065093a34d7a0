"""SocketLogHandler: stdlib logging to the supervisor's logs socket as JSON lines.

Theory of operation
===================

``emit`` runs in whatever thread logged. It renders the record to one JSON
object line (``timestamp``, ``level``, ``event``, ``logger``, extra fields,
``exception``) and masks registered secrets, outside any lock (rendering reads
only the record and caches whose entries are replaced whole), then appends the
bytes to an in-memory buffer under the handler's lock. It never awaits and
never makes a system call per line. While the handler is not connected, lines
simply accumulate (they are flushed, in order, on connect).

A record with no extra field, exception or stack (nearly every one) is written
out by hand from cached parts: the head up to the current second's fraction,
the level's middle and the logger's tail, with ``json``'s own string encoder
for the message. These are the bytes ``json.dumps`` gives for the general
path's dict, which a property test checks.

Once connected, a single sender task owned by a trio nursery waits for the
buffer to become non-empty, swaps it out, and writes the whole batch with one
``send_all``. A log call from the trio thread wakes the sender with
``Event.set``; a call from another thread wakes it through the run's
``TrioToken.run_sync_soon``, at most once per batch.

Nothing is lost when the logs socket misbehaves: if a write fails (or the
socket was never reachable) the handler switches to the fallback stream,
standard error by default, which the supervisor forwards into the task log;
the batch whose write failed goes there too. If the socket stalls and the
buffer passes ``max_buffer_bytes``, further lines go to the fallback instead
of growing memory, so a stalled logs socket costs neither memory nor progress
on the comm socket.

Every line is a JSON object with a lower-case ``level`` and an RFC 3339 UTC
``timestamp``: the 1.3.2 supervisor crashes on anything else. Values JSON
cannot encode are rendered with ``str()``; non-finite floats become strings.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import functools
import logging
import math
import os
import re
import sys
import threading
import time
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

import trio

if TYPE_CHECKING:
    import json
    import traceback

from ._record import Record
from ._redact import REPLACEMENT, has_secrets, is_sensitive_key, redact

__all__ = [
    "LogStatistics",
    "SocketLogHandler",
    "flush_stderr_fallback",
    "install_log_handler",
    "parse_level",
    "parse_namespace_levels",
]

_STANDARD_ATTRS: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_RESERVED_KEYS: Final = ("timestamp", "level", "event", "logger")
#: Field names the 1.3.2 supervisor cannot take: it passes every field as a
#: keyword argument to ``_log_to_target(target, level, msg, **event)``, then to
#: structlog's ``log(self, level, event, ...)`` and ``_proxy_to_logger(method_name,
#: ...)``, and structlog %-formats the message with ``positional_args``. A field
#: with one of these names raises out of the supervisor's loop and leaves the
#: task instance running (found by tests/interop, not in protocol.md). Such a
#: field is sent with a trailing underscore (``target`` → ``target_``).
SUPERVISOR_UNSAFE_KEYS: Final = frozenset({"target", "self", "method_name", "positional_args", "msg"})
# "000".."999": a six-digit fraction of a second is two of these.
_THREE_DIGITS: Final = [f"{n:03d}" for n in range(1000)]
_HEAD_LEN: Final = len('{"timestamp":"')
_MAX_CACHED_LOGGERS: Final = 10_000
# The JSON string literal of a str, exactly as json.encoder writes it: its C function, taken
# from the accelerator module so that a run whose lines are all common never imports the json
# package (its decoder compiles regular expressions at import: ~1.4 ms of every start).
try:
    from _json import encode_basestring as _json_str
except ImportError:  # pragma: no cover - a CPython built without the accelerator
    from json.encoder import encode_basestring as _json_str


@functools.cache
def _json_encoder() -> json.JSONEncoder:
    """The one encoder of every general line (``json.dumps`` with options builds one per call)."""
    import json

    return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


_MAX_FRAMES: Final = 50
_MAX_DEPTH: Final = 16
DEFAULT_MAX_BUFFER_BYTES: Final = 16 * 1024 * 1024
_REPLAY_BYTES: Final = 4 * 1024 * 1024  # the most recently sent bytes kept for replay

_LEVEL_NAMES: Final = {
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "notset": logging.NOTSET,
}


def parse_level(text: str) -> int | None:
    """Parse a level name (any case, ``WARN``/``FATAL``/``EXCEPTION`` too) or number."""
    name = text.strip().lower()
    if name in _LEVEL_NAMES:
        return _LEVEL_NAMES[name]
    if name.isdigit():
        return int(name)
    return None


_STANDARD_LEVEL_NAMES: Final = {
    logging.CRITICAL: "critical",
    logging.ERROR: "error",
    logging.WARNING: "warning",
    logging.INFO: "info",
    logging.DEBUG: "debug",
}
# What a line holds between the timestamp's fraction and the message, by level.
_LEVEL_MIDDLES: Final = {
    levelno: f'Z","level":"{name}","event":' for levelno, name in _STANDARD_LEVEL_NAMES.items()
}


def level_name(levelno: int) -> str:
    """The supervisor's lower-case name for a level (custom levels fall into bands)."""
    name = _STANDARD_LEVEL_NAMES.get(levelno)
    if name is not None:
        return name
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"  # "notset" would be dropped by the supervisor


def parse_namespace_levels(text: str) -> tuple[dict[str, int], list[str]]:
    """Parse ``AIRFLOW__LOGGING__NAMESPACE_LEVELS``: ``name=level`` entries.

    Entries are separated by commas and/or whitespace; later duplicates win.

    Returns:
        The levels by logger namespace, and the entries that were invalid.
    """
    levels: dict[str, int] = {}
    invalid: list[str] = []
    for entry in re.split(r"[\s,]+", text.strip()):
        if not entry:
            continue
        name, sep, level_text = entry.partition("=")
        level = parse_level(level_text) if sep else None
        if not name or level is None:
            invalid.append(entry)
            continue
        levels[name] = level
    return levels, invalid


class LogStatistics(Record):
    """A snapshot of a :class:`SocketLogHandler`'s counters."""

    lines: int
    lines_sent: int
    lines_to_fallback: int
    batches_sent: int
    bytes_sent: int
    buffered_bytes: int
    connected: bool


def _write_to_stderr(data: bytes) -> None:
    stream = sys.__stderr__ if sys.stderr is None else sys.stderr
    if stream is None:
        return
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        buffer.write(data)
    else:
        stream.write(data.decode("utf-8", "replace"))
    stream.flush()


class _StderrWriter:
    """The default fallback: standard error, written from a thread of its own.

    A write to standard error blocks for as long as its reader (the
    supervisor) takes to drain the pipe, and a diverted buffer can be
    megabytes: neither the event loop's thread nor a holder of the handler's
    lock may wait for that. Calls only queue the bytes (in order); one daemon
    thread, started on first use, writes them. :meth:`flush` waits for the
    queue to empty (bounded), and runs at interpreter exit, so nothing queued
    is lost when the process ends normally.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: collections.deque[bytes] = collections.deque()
        self._busy = False
        self._thread: threading.Thread | None = None

    def __call__(self, data: bytes) -> None:
        with self._cond:
            self._queue.append(data)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="trio_coord-stderr", daemon=True)
                self._thread.start()
                atexit.register(self.flush)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                chunks = list(self._queue)
                self._queue.clear()
                self._busy = True
            try:
                _write_to_stderr(b"".join(chunks))
            except Exception:  # noqa: BLE001, S110 - nowhere left to report to
                pass
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything queued so far is written (at most ``timeout`` s); ``True`` if it was."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True


#: The fallback every handler uses unless given another.
_STDERR: Final = _StderrWriter()


def flush_stderr_fallback(timeout: float = 5.0) -> bool:
    """Wait (at most ``timeout`` seconds) until lines diverted to standard error are written.

    Call it before leaving the process with ``os._exit``; a normal exit does
    it by itself. Returns ``False`` if the time ran out.
    """
    return _STDERR.flush(timeout)


class SocketLogHandler(logging.Handler):
    """A :class:`logging.Handler` that ships records to the supervisor's logs socket.

    Args:
        level: the global threshold (records below it are dropped).
        namespace_levels: thresholds by logger namespace; the longest dotted
            prefix of a record's logger name wins over ``level``.
        max_buffer_bytes: the most bytes held while disconnected or while
            the socket is slow; beyond it lines go to the fallback.
        fallback: called with bytes to write when the socket cannot take
            them (default: standard error, which the supervisor forwards,
            written from a thread of its own so that a slow reader never
            blocks a log call). It is called with the handler's lock held.
    """

    def __init__(
        self,
        level: int = logging.NOTSET,
        *,
        namespace_levels: Mapping[str, int] | None = None,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        fallback: Callable[[bytes], None] | None = None,
    ) -> None:
        # The handler's own level stays NOTSET: Logger.callHandlers drops records below
        # it before handle() could apply a namespace level lower than the global one.
        super().__init__(logging.NOTSET)
        self._global_level = level
        self._namespace_levels = dict(namespace_levels or {})
        self._threshold_cache: dict[str, int] = {}
        self._max_buffer = max_buffer_bytes
        self._fallback = fallback or _STDERR
        self._chunks: list[bytes] = []
        self._buffered = 0
        # "buffering" until connected, "connected" while a sender runs,
        # "fallback" once the socket failed or was detached.
        self._mode = "buffering"
        self._wakeup = trio.Event()
        self._wake_pending = False
        self._token: trio.lowlevel.TrioToken | None = None
        self._trio_thread: int | None = None
        self._drained = trio.Event()
        self._sending = False
        # (second, the line's head up to that second's fraction): one attribute, so
        # that a thread rendering outside the lock never pairs a second with another's head.
        self._ts_head: tuple[int, str] = (-1, "")
        # Per logger name: ',"logger":"<name>"}\n', the line's tail.
        self._tails: dict[str, str] = {}
        self.replay_window = 1.0
        self._recent: collections.deque[tuple[float, bytes, int]] = collections.deque()
        self._recent_bytes = 0
        self._lines = 0
        self._lines_sent = 0
        self._lines_to_fallback = 0
        self._batches = 0
        self._bytes_sent = 0

    # ------------------------------------------------------------------ config

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: object) -> SocketLogHandler:
        """Build a handler from ``AIRFLOW__LOGGING__LOGGING_LEVEL`` and ``..._NAMESPACE_LEVELS``.

        An invalid global level means INFO; invalid namespace entries are
        skipped, and each is reported as an error record once the handler
        exists.
        """
        env = os.environ if env is None else env
        raw_level = env.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "")
        level = parse_level(raw_level) if raw_level.strip() else logging.INFO
        namespace_levels, invalid = parse_namespace_levels(env.get("AIRFLOW__LOGGING__NAMESPACE_LEVELS", ""))
        handler = cls(
            level if level is not None else logging.INFO,
            namespace_levels=namespace_levels,
            **kwargs,  # type: ignore[arg-type]
        )
        problems = [("Ignoring invalid logging_level", {"value": raw_level})] if level is None else []
        problems += [("Ignoring invalid namespace_levels entry", {"entry": entry}) for entry in invalid]
        for message, extra in problems:
            record = logging.LogRecord("trio_coord.logging", logging.ERROR, __file__, 0, message, None, None)
            record.__dict__.update(extra)
            handler.handle(record)
        return handler

    @property
    def lowest_level(self) -> int:
        """The lowest threshold in effect (what the root logger must let through)."""
        return min([self._global_level or logging.DEBUG, *self._namespace_levels.values()])

    @property
    def global_level(self) -> int:
        """The threshold for loggers no namespace level covers."""
        return self._global_level

    def setLevel(self, level: int | str) -> None:  # noqa: N802 - logging's API
        """Set the global threshold (namespace levels still apply)."""
        self._global_level = logging._checkLevel(level)  # type: ignore[attr-defined]
        self._threshold_cache.clear()

    def threshold_for(self, name: str) -> int:
        """The level a record from logger ``name`` must reach to be emitted."""
        cached = self._threshold_cache.get(name)
        if cached is not None:
            return cached
        best, best_len = self._global_level, -1
        for namespace, level in self._namespace_levels.items():
            if (name == namespace or name.startswith(namespace + ".")) and len(namespace) > best_len:
                best, best_len = level, len(namespace)
        if len(self._threshold_cache) < _MAX_CACHED_LOGGERS:
            self._threshold_cache[name] = best
        return best

    def filter(self, record: logging.LogRecord) -> bool:
        """Apply the namespace thresholds, then any attached filters."""
        if record.levelno < self.threshold_for(record.name):
            return False
        return not self.filters or bool(super().filter(record))

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter by level and namespace, then emit; bypasses the handler-level check.

        :meth:`filter` and :meth:`emit` inlined to the cached threshold, since
        this runs for every record; ``emit`` takes the handler's lock itself,
        only to queue the rendered line.
        """
        threshold = self._threshold_cache.get(record.name)
        if threshold is None:
            threshold = self.threshold_for(record.name)
        if record.levelno < threshold:
            return False
        if self.filters and not logging.Filterer.filter(self, record):
            return False
        self.emit(record)
        return True

    # ------------------------------------------------------------------ rendering

    def _head(self, second: int) -> str:
        """``{"timestamp":"YYYY-MM-DDTHH:MM:SS.`` for ``second``, cached for the last second seen."""
        cached_second, head = self._ts_head
        if second != cached_second:
            head = '{"timestamp":"' + time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
            self._ts_head = (second, head)
        return head

    def _timestamp(self, created: float) -> str:
        second = int(created)
        micros = int((created - second) * 1_000_000)
        if micros > 999_999:
            micros = 999_999
        fraction = _THREE_DIGITS[micros // 1000] + _THREE_DIGITS[micros % 1000]
        return self._head(second)[_HEAD_LEN:] + fraction + "Z"

    def render(self, record: logging.LogRecord) -> bytes:
        """Render ``record`` as one newline-terminated JSON object line. Never raises.

        Thread-safe: it reads the record and the handler's caches only.
        """
        try:
            if (
                _STANDARD_ATTRS.issuperset(record.__dict__)  # no extra fields
                and not record.exc_info
                and not record.exc_text
                and not record.stack_info
            ):
                return self._render_common(record)
            return self._render(record)
        except Exception as exc:  # noqa: BLE001 - a log line must never be lost
            fallback = {
                "timestamp": self._timestamp(time.time()),
                "level": level_name(getattr(record, "levelno", logging.ERROR)),
                "event": redact(
                    f"{getattr(record, 'msg', '')!r} (trio_coord could not render this record: {exc!r})"
                ),
                "logger": str(getattr(record, "name", "")),
            }
            import json

            return json.dumps(fallback, ensure_ascii=True).encode("ascii") + b"\n"

    def _render_common(self, record: logging.LogRecord) -> bytes:
        """The common line (no extra field, exception or stack), written out by hand.

        The same bytes ``json.dumps`` gives for :meth:`_render`'s dict: the
        timestamp and level need no escapes, the message and logger name go
        through ``json``'s own string encoder. The fixed parts come from
        caches (the second's head, the level's middle, the logger's tail).
        """
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - the general path writes the formatting error
            return self._render(record)
        created = record.created
        second = int(created)
        cached_second, head = self._ts_head
        if second != cached_second:
            head = self._head(second)
        micros = int((created - second) * 1_000_000)
        if micros > 999_999:
            micros = 999_999
        middle = _LEVEL_MIDDLES.get(record.levelno)
        if middle is None:
            middle = 'Z","level":"' + level_name(record.levelno) + '","event":'
        name = record.name
        tail = self._tails.get(name)
        if tail is None:
            tail = ',"logger":' + _json_str(name) + "}\n"
            if len(self._tails) < _MAX_CACHED_LOGGERS:
                self._tails[name] = tail
        text = (
            f"{head}{_THREE_DIGITS[micros // 1000]}{_THREE_DIGITS[micros % 1000]}"
            f"{middle}{_json_str(redact(message))}{tail}"
        )
        try:
            return text.encode()
        except UnicodeEncodeError:  # a lone surrogate: "?" as the general path writes it
            return text.encode("utf-8", "replace")

    def _render(self, record: logging.LogRecord) -> bytes:
        try:
            message = record.getMessage()
        except Exception as exc:  # noqa: BLE001 - bad %-args must not lose the line
            message = f"{record.msg!r} % {record.args!r} (formatting failed: {exc})"
        masking = has_secrets()
        out: dict[str, object] = {
            "timestamp": self._timestamp(record.created),
            "level": level_name(record.levelno),
            "event": redact(message) if masking else message,
            "logger": record.name,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS:
                _add_field(out, key, value, masking, 0)
        if record.exc_info and record.exc_info[1] is not None:
            out["exception"] = exception_to_list(record.exc_info[1], masking)
        elif record.exc_text:
            out["exception_text"] = redact(record.exc_text) if masking else record.exc_text
        if record.stack_info:
            out["stack"] = redact(record.stack_info) if masking else record.stack_info
        return _json_encoder().encode(out).encode("utf-8", "replace") + b"\n"

    # ------------------------------------------------------------------ buffering

    def emit(self, record: logging.LogRecord) -> None:
        """Render one record, then queue it under the handler's lock. Never blocks, never raises.

        Rendering runs outside the lock (it may call a message argument's
        ``__str__``); the lock is held only to append the line.
        """
        line = self.render(record)
        size = len(line)
        with self.lock:  # type: ignore[union-attr]
            self._lines += 1
            mode = self._mode
            if mode == "fallback" or self._buffered + size > self._max_buffer:
                self._write_fallback(line, 1)
                return
            self._chunks.append(line)
            self._buffered += size
            if mode == "connected" and not self._wake_pending:
                self._wake_pending = True
                self._wake_sender()

    def _wake_sender(self) -> None:
        if threading.get_ident() == self._trio_thread:
            self._wakeup.set()
            return
        token = self._token
        try:
            if token is None:
                raise trio.RunFinishedError
            token.run_sync_soon(self._wakeup.set)
        except trio.RunFinishedError:
            self._to_fallback_locked()

    def _write_fallback(self, data: bytes, lines: int) -> None:
        self._lines_to_fallback += lines
        with contextlib.suppress(Exception):  # nowhere left to report to
            self._fallback(data)

    def _to_fallback_locked(self) -> None:
        """Switch to the fallback and move anything buffered there (lock held)."""
        self._mode = "fallback"
        chunks, self._chunks = self._chunks, []
        self._buffered = 0
        if chunks:
            self._write_fallback(b"".join(chunks), len(chunks))
        self._drained.set()

    # ------------------------------------------------------------------ connection

    @property
    def connected(self) -> bool:
        """Whether a sender task is shipping lines to the socket."""
        return self._mode == "connected"

    def statistics(self) -> LogStatistics:
        """Return a snapshot of the counters."""
        return LogStatistics(
            lines=self._lines,
            lines_sent=self._lines_sent,
            lines_to_fallback=self._lines_to_fallback,
            batches_sent=self._batches,
            bytes_sent=self._bytes_sent,
            buffered_bytes=self._buffered,
            connected=self.connected,
        )

    async def run_sender(
        self,
        stream: trio.abc.SendStream,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Ship buffered and future lines to ``stream`` until cancelled or it fails.

        Start it with ``await nursery.start(handler.run_sender, stream)``:
        everything buffered so far is flushed first, in order. If the stream
        fails, the unsent lines and all later ones go to the fallback; this
        method then returns (it never raises for a broken socket).

        If ``stream`` can also be read (a socket), the peer closing it is
        noticed at once: the supervisor never writes to the logs socket, so
        end of stream there means it went away. The batches written in the
        last ``replay_window`` seconds before that are written to the
        fallback too, because TCP may have accepted bytes the peer never read;
        a duplicate line beats a lost one.
        """
        with self.lock:  # type: ignore[union-attr]
            if self._mode == "connected":
                raise RuntimeError("this SocketLogHandler is already connected")
            self._mode = "connected"
            self._token = trio.lowlevel.current_trio_token()
            self._trio_thread = threading.get_ident()
            self._wakeup = trio.Event()
            self._drained = trio.Event()
            self._wake_pending = bool(self._chunks)
            if self._chunks:
                self._wakeup.set()
        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                if isinstance(stream, trio.abc.ReceiveStream):
                    nursery.start_soon(self._watch_for_close, stream, nursery.cancel_scope)
                await self._send_loop(stream)
                nursery.cancel_scope.cancel()
        finally:
            with self.lock:  # type: ignore[union-attr]
                if self._mode == "connected":
                    self._to_fallback_locked()

    async def _watch_for_close(self, stream: trio.abc.ReceiveStream, sender_scope: trio.CancelScope) -> None:
        try:
            while await stream.receive_some(4096):
                pass  # the supervisor never writes here; ignore anything it does
        except trio.ClosedResourceError:
            return  # closed on our side: an orderly end, nothing to replay
        except (trio.BrokenResourceError, OSError):
            pass
        with self.lock:  # type: ignore[union-attr]
            if self._mode != "connected":
                return  # already detached: an orderly end
            replay, self._recent = list(self._recent), collections.deque()
            for _, data, lines in replay:
                self._write_fallback(data, lines)
            self._to_fallback_locked()
        sender_scope.cancel()

    async def _send_loop(self, stream: trio.abc.SendStream) -> None:
        while True:
            await self._wakeup.wait()
            with self.lock:  # type: ignore[union-attr]
                chunks, self._chunks = self._chunks, []  # one line per chunk
                lines = len(chunks)
                self._buffered = 0
                self._wakeup = trio.Event()
                self._wake_pending = False
                self._sending = bool(chunks)
            if not chunks:
                continue
            data = b"".join(chunks)
            try:
                await stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                with self.lock:  # type: ignore[union-attr]
                    self._write_fallback(data, lines)
                    self._to_fallback_locked()
                return
            except BaseException:
                # Cancelled (or worse) mid-write: part of the batch may have
                # left. Send it all to the fallback too: a duplicate beats a
                # lost line.
                with self.lock:  # type: ignore[union-attr]
                    self._write_fallback(data, lines)
                raise
            finally:
                self._sending = False
            self._lines_sent += lines
            self._batches += 1
            self._bytes_sent += len(data)
            now = trio.current_time()
            with self.lock:  # type: ignore[union-attr]
                self._remember(now, data, lines)
                if not self._chunks:
                    drained, self._drained = self._drained, trio.Event()
                    drained.set()

    def _remember(self, now: float, data: bytes, lines: int) -> None:
        """Keep recently sent batches for replay if the peer turns out to be gone (lock held)."""
        recent = self._recent
        recent.append((now, data, lines))
        self._recent_bytes += len(data)
        while recent and (recent[0][0] < now - self.replay_window or self._recent_bytes > _REPLAY_BYTES):
            self._recent_bytes -= len(recent.popleft()[1])

    async def wait_drained(self) -> None:
        """Block until every line queued so far has been written (or diverted).

        Use it under a timeout: a stalled socket never drains.
        """
        while True:
            with self.lock:  # type: ignore[union-attr]
                done = self._mode != "connected" or (not self._chunks and not self._sending)
                drained = self._drained
            if done:
                await trio.lowlevel.checkpoint()
                return
            await drained.wait()

    def detach(self, timeout: float | None = None) -> bool:
        """Stop using the socket: later lines go to the fallback (buffered ones too).

        Blocks only for the handler's lock; with ``timeout``, for at most that
        many seconds (for a thread that must not hang on a lock the blocked
        main thread holds), returning ``False`` if it could not take it.
        """
        lock = self.lock
        assert lock is not None
        if not lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            self._to_fallback_locked()
        finally:
            lock.release()
        return True

    def flush(self) -> None:
        """Wait (bounded, 5 s) until lines diverted to standard error are written."""
        if self._fallback is _STDERR:
            _STDERR.flush()

    def close(self) -> None:
        """Write anything still buffered to the fallback, then close."""
        with self.lock:  # type: ignore[union-attr]
            if self._chunks:
                self._to_fallback_locked()
        super().close()


def _plain(value: object, masking: bool, depth: int) -> object:
    """Convert ``value`` to something ``json.dumps`` encodes, masking strings."""
    if isinstance(value, str):
        return redact(value) if masking else value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth < _MAX_DEPTH:
        if isinstance(value, Mapping):
            return {str(k): _plain(v, masking, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [_plain(v, masking, depth + 1) for v in value]
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the line
        text = f"<unprintable {type(value).__name__}>"
    return redact(text) if masking else text


def _add_field(out: dict[str, object], key: str, value: object, masking: bool, depth: int) -> None:
    """Add an extra field; a map becomes dotted keys (``{"db": {"host": h}}`` → ``db.host``)."""
    if isinstance(value, Mapping) and depth < _MAX_DEPTH:
        for sub_key, sub_value in value.items():
            _add_field(out, f"{key}.{sub_key}", sub_value, masking, depth + 1)
        return
    if key in _RESERVED_KEYS:
        return  # standard fields win over attributes
    if key.rstrip("_") in SUPERVISOR_UNSAFE_KEYS:
        key += "_"  # target -> target_, and a field really named target_ -> target__: they stay apart
    # A field whose name looks sensitive is masked whatever its value, as
    # Airflow's masker does (``extra={"password": ...}``); ``db.password`` too.
    out[key] = _mask_all(value, 0) if is_sensitive_key(key) else _plain(value, masking, 0)


def _mask_all(value: object, depth: int) -> object:
    """Every string inside ``value`` replaced by ``***`` (Airflow's ``_redact_all``)."""
    if isinstance(value, str) or depth >= _MAX_DEPTH:
        return REPLACEMENT
    if isinstance(value, Mapping):
        return {str(k): _mask_all(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_mask_all(v, depth + 1) for v in value]
    return _plain(value, False, depth)


def _extract_tb(tb: types.TracebackType | None) -> list[traceback.FrameSummary]:
    import traceback

    return traceback.extract_tb(tb)


def exception_to_list(exc: BaseException, masking: bool = True) -> list[dict[str, object]]:
    """Render an exception as structlog's dict traceback (outermost first, then causes)."""
    result: list[dict[str, object]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    is_cause = False
    while current is not None and id(current) not in seen and len(result) < 10:
        seen.add(id(current))
        result.append(_exception_entry(current, is_cause, masking, 0))
        if current.__cause__ is not None:
            current, is_cause = current.__cause__, True
        elif current.__context__ is not None and not current.__suppress_context__:
            current, is_cause = current.__context__, False
        else:
            current = None
    return result


def _exception_entry(exc: BaseException, is_cause: bool, masking: bool, depth: int) -> dict[str, object]:
    def text(value: str) -> str:
        return redact(value) if masking else value

    try:
        value = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the line
        value = f"<unprintable {type(exc).__name__}>"
    frames = [
        {"filename": frame.filename, "lineno": frame.lineno, "name": frame.name}
        for frame in _extract_tb(exc.__traceback__)
    ]
    if len(frames) > _MAX_FRAMES:
        half = _MAX_FRAMES // 2
        frames = frames[:half] + frames[-half:]
    syntax_error: dict[str, object] | None = None
    if isinstance(exc, SyntaxError):
        syntax_error = {
            "offset": exc.offset,
            "filename": exc.filename,
            "line": text(exc.text or ""),
            "lineno": exc.lineno,
            "msg": text(exc.msg or ""),
        }
    notes = getattr(exc, "__notes__", None) or []
    entry: dict[str, object] = {
        "exc_type": type(exc).__name__,
        "exc_value": text(value),
        "exc_notes": [text(str(note)) for note in notes],
        "syntax_error": syntax_error,
        "is_cause": is_cause,
        "frames": frames,
        "is_group": isinstance(exc, BaseExceptionGroup),
        "exceptions": [],
    }
    if isinstance(exc, BaseExceptionGroup) and depth < 5:
        entry["exceptions"] = [
            [_exception_entry(sub, False, masking, depth + 1)] for sub in exc.exceptions[:20]
        ]
    return entry


def install_log_handler(
    handler: SocketLogHandler | None = None,
    *,
    env: Mapping[str, str] | None = None,
    owns_process: bool = False,
) -> SocketLogHandler:
    """Attach a :class:`SocketLogHandler` to the root logger (from the environment by default).

    Sets the root logger's level to the lowest threshold in effect, so that
    namespace levels below the global one still see their records, and routes
    :mod:`warnings` into logging.

    Args:
        handler: the handler (default: :meth:`SocketLogHandler.from_env`).
        env: the environment to read levels from (default ``os.environ``).
        owns_process: trio_coord owns this process (``serve``, a packed
            bundle): also switch off the record fields that the JSON lines
            never carry and that cost time on every log call, the thread and
            process names (``logging.logThreads``, ``logProcesses``,
            ``logMultiprocessing``: the logging HOWTO's "Optimization"
            knobs). These switches are process-wide, so they are left alone
            otherwise (a test run, an application embedding trio_coord).
            The call-site lookup (``logging._srcfile``) is never switched
            off: ``stack_info=True`` and other handlers' file and line
            depend on it.
    """
    handler = handler or SocketLogHandler.from_env(env)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(handler.lowest_level)
    logging.captureWarnings(True)
    if owns_process:
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
        if hasattr(logging, "logAsyncioTasks"):  # Python 3.12+
            logging.logAsyncioTasks = False
    return handler
