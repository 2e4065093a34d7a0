"""CoordinatorComm: the trio driver for the comm socket.

Theory of operation
===================

One stream, one reader task, many callers.

* The supervisor's first frame (``StartupDetails``) arrives unsolicited and is
  read directly with :meth:`CoordinatorComm.read_message`. From then on, a
  single reader task owned by the comm's nursery consumes every inbound byte;
  ``read_message`` refuses to run once it has started, because two readers
  would race for the same bytes.
* A caller of :meth:`CoordinatorComm.communicate` takes the next frame id,
  registers the send end of a fresh one-slot memory channel under that id,
  queues its frame and waits on the receive end. The reader decodes each
  reply and routes it with ``send_nowait``: it never waits for a caller, so a
  slow or departed caller cannot stall replies to the others. A reply for an
  id nobody waits on (its caller timed out or was cancelled) is dropped and
  logged.
* Writes are coalesced. A caller appends its encoded frame to the outbox; if
  no other task is writing, it becomes the writer and sends everything queued,
  looping until the outbox is empty; otherwise the active writer sends its
  frame too. Only one task ever calls ``send_all``, so frames never
  interleave, and a burst of concurrent requests costs one system call rather
  than one each. The write itself is shielded from cancellation and bounded
  by ``write_timeout``: once a frame is queued it is written whole or the
  connection is declared broken; a half-written frame would corrupt every
  frame after it.
* When the reader ends (end of stream, a frame it cannot decode, a broken
  socket) it records the cause, closes every pending channel, and sets the
  ``closed`` event. Every waiting caller wakes with :class:`DispatcherClosed`
  carrying the cause, every later call fails the same way at once, and
  :meth:`wait_closed` returns so that the owner can cancel the task rather
  than let it hang.

Cancellation: a caller cancelled before its frame is queued sends nothing; a
caller cancelled after it was queued leaves the frame to be written (the
supervisor will act on it) and its reply is dropped on arrival.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import os
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Final

import trio

from ._errors import ApiError, DispatcherClosed, RemoteProtocolError
from ._framing import (
    MAX_FRAME_SIZE,
    FrameDecoder,
    RequestEncoder,
    ResponseFrame,
    WireMap,
    decode_response,
    frame_prefix,
)
from ._messages import ErrorResponse
from ._record import Record

__all__ = ["CommStatistics", "CoordinatorComm", "IncomingFrame", "PendingReply", "open_coordinator_comm"]

logger = logging.getLogger("trio_coord.comm")

#: Go name for a decoded inbound frame (``execution.IncomingFrame``).
IncomingFrame = ResponseFrame

_RECEIVE_CHUNK: Final = 64 * 1024
_LARGE_RECEIVE_CHUNK: Final = 4 * 1024 * 1024
# Frames queued together are joined into one buffer up to this size; bigger
# payloads are written as they are, never copied into a joined buffer.
_COALESCE_LIMIT: Final = 256 * 1024
# Consecutive reads the reader makes without parking before it yields anyway.
_MAX_READS_WITHOUT_PARKING: Final = 16
# Buffers handed to one writev(2) (IOV_MAX is 1024 on Linux).
_MAX_IOVECS: Final = 512
# Reply channels kept for reuse (each is two small objects).
_CHANNEL_POOL_SIZE: Final = 256
DEFAULT_WRITE_TIMEOUT: Final = 30.0
DEFAULT_MAX_IN_FLIGHT: Final = 4096


class CommStatistics(Record):
    """A snapshot of a :class:`CoordinatorComm`'s counters."""

    requests_sent: int
    replies_routed: int
    replies_dropped: int
    pending: int
    write_batches: int
    bytes_sent: int
    bytes_received: int
    closed: bool


#: What the timer sends a caller whose deadline passed (never a real frame: ids are >= 0).
_TIMED_OUT: Final = ResponseFrame(-1, None, None)


def _open_reply_channel() -> tuple[
    trio.MemorySendChannel[ResponseFrame], trio.MemoryReceiveChannel[ResponseFrame]
]:
    return trio.open_memory_channel[ResponseFrame](1)


def raise_for_error(frame: ResponseFrame) -> WireMap | None:
    """Return the frame's body, or raise the :class:`ApiError` it carries.

    An error in the error slot and a body whose ``type`` is ``ErrorResponse``
    are both errors.
    """
    if frame.error is not None:
        err = ErrorResponse.from_wire(frame.error, "error")
        raise ApiError.from_error(err.error, err.detail)
    body = frame.body
    if body is not None and body.get("type") == "ErrorResponse":
        err = ErrorResponse.from_wire(body, "ErrorResponse")
        raise ApiError.from_error(err.error, err.detail)
    return body


class CoordinatorComm:
    """Request/response multiplexing over the supervisor's comm stream.

    Construct it on a connected stream and a nursery that will own the
    reader task (or use :func:`open_coordinator_comm`, which makes both).
    Read the first frame with :meth:`read_message`; then call
    :meth:`communicate` from as many tasks as you like. The reader task is
    started by the first :meth:`communicate` (or :meth:`start_reader`).

    Args:
        stream: the connected comm stream.
        nursery: the nursery that owns the reader task.
        write_timeout: how long one write may stall before the connection
            is declared broken (seconds).
        max_in_flight: how many requests may await replies at once; further
            callers wait for a slot.
        max_frame_size: the largest inbound payload accepted.
        write_lock: a lock held around every write to the socket, for a
            thread that may have to write a frame itself while the event
            loop is blocked (``serve``'s watchdog). It is only ever held for
            one non-blocking system call.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        nursery: trio.Nursery,
        *,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_frame_size: int = MAX_FRAME_SIZE,
        write_lock: threading.Lock | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._stream = stream
        self._nursery = nursery
        self._write_timeout = write_timeout
        self._max_in_flight = max_in_flight
        self._decoder = FrameDecoder(max_frame_size=max_frame_size)
        self._encoder = RequestEncoder()
        # A socket gets the fast path: non-blocking system calls on its file
        # descriptor, parking only in wait_readable / wait_writable.
        self._sock = stream.socket if isinstance(stream, trio.SocketStream) else None
        self._scratch = memoryview(bytearray(_RECEIVE_CHUNK if self._sock is not None else 0))
        self._socket_drained = True  # the last read came back short: wait before reading
        self._reads_without_parking = 0
        self._next_unused_id = 1
        self._pending: dict[int, trio.MemorySendChannel[ResponseFrame]] = {}
        self._slot_waiters = trio.lowlevel.ParkingLot()
        self._slot_waiting = 0  # tasks parked in _slot_waiters (no ParkingLot.__bool__ call per request)
        self._outbox: list[bytes | memoryview] = []
        self._outbox_bytes = 0
        # The outbox starts with the rest of a frame whose first bytes are written.
        self._mid_frame = False
        self._prefix_parity = 0  # the index parity of the frame prefixes in the outbox
        self._write_lock = write_lock
        self._writing = False  # a task is draining the outbox
        self._flush_pending = False  # the reader writes the outbox after its callers queue
        self._woken_unrun = 0  # callers the reader woke that have not resumed yet
        self._flushed = trio.Event()  # set and replaced when the outbox empties
        self._flush_waiters = 0
        self._queued_seq = 0  # frames queued so far
        self._written_seq = 0  # frames handed to the OS so far
        self._reader_started = False
        self._closed = trio.Event()
        self._is_closed = False  # mirrors _closed, without a method call on the hot path
        # One-slot channels whose request ended with its reply taken: they are
        # empty and unused, so the next request may reuse one.
        self._channel_pool: list[
            tuple[trio.MemorySendChannel[ResponseFrame], trio.MemoryReceiveChannel[ResponseFrame]]
        ] = []
        # Request deadlines: a heap of (deadline, frame id), entries of requests
        # that ended meanwhile dropped lazily; one timer task sleeps until the
        # earliest (a cancel scope per request would cost more than the rest of
        # a round trip on a small machine).
        self._deadlines: list[tuple[float, int]] = []
        self._timer_started = False
        # The run's clock, read directly for a relative timeout (trio.current_time() is three
        # Python calls to reach the same method).
        self._clock = trio.lowlevel.current_clock()
        self._timer_rearm = trio.Event()
        self._close_cause: BaseException | None = None
        self._close_reason = ""
        self._requests_sent = 0
        self._replies_routed = 0
        self._replies_dropped = 0
        self._write_batches = 0
        self._bytes_sent = 0
        self._bytes_received = 0

    # ------------------------------------------------------------------ state

    @property
    def closed(self) -> bool:
        """Whether the reader has stopped (no reply will arrive any more)."""
        return self._is_closed

    @property
    def writing(self) -> bool:
        """Whether a write batch is in progress (a frame may be partly sent)."""
        return self._writing

    @property
    def mid_frame(self) -> bool:
        """Whether a frame was written only in part (another frame now would corrupt the stream)."""
        return self._mid_frame

    @property
    def close_cause(self) -> BaseException | None:
        """What stopped the reader: an exception, or ``None`` for end of stream."""
        return self._close_cause

    def statistics(self) -> CommStatistics:
        """Return a snapshot of the counters."""
        return CommStatistics(
            requests_sent=self._requests_sent,
            replies_routed=self._replies_routed,
            replies_dropped=self._replies_dropped,
            pending=len(self._pending),
            write_batches=self._write_batches,
            bytes_sent=self._bytes_sent,
            bytes_received=self._bytes_received,
            closed=self.closed,
        )

    async def wait_closed(self) -> BaseException | None:
        """Block until the reader stops; return its cause (``None`` on clean EOF)."""
        await self._closed.wait()
        return self._close_cause

    def _dispatcher_closed(self) -> DispatcherClosed:
        exc = DispatcherClosed(
            f"coordinator comm: dispatcher closed: {self._close_reason}", self._close_cause
        )
        exc.__cause__ = self._close_cause
        return exc

    def _close(self, reason: str, cause: BaseException | None) -> None:
        if self._is_closed:
            return
        self._is_closed = True
        self._channel_pool.clear()
        self._close_reason = reason
        self._close_cause = cause
        self._closed.set()
        self._timer_rearm.set()  # the timer task sees the comm closed and ends
        pending, self._pending = self._pending, {}
        for channel in pending.values():
            channel.close()
        self._slot_waiters.unpark_all()

    # ------------------------------------------------------------------ reading

    async def read_message(self) -> ResponseFrame:
        """Read and decode one frame directly: the supervisor's first frame.

        Blocks until a whole frame has arrived. Cancelling it may leave part
        of a frame buffered, which a later call (or the reader) continues.

        Raises:
            RuntimeError: the reader task is already running.
            RemoteProtocolError: the bytes are not a valid frame.
            DispatcherClosed: the stream ended before a whole frame arrived.
        """
        if self._reader_started:
            raise RuntimeError("read_message() cannot be used once the reader task is running")
        if self.closed:
            raise self._dispatcher_closed()
        while True:
            payload = self._decoder.next_frame()
            if payload is not None:
                await trio.lowlevel.checkpoint()
                return decode_response(payload)
            if self._decoder.at_eof:
                self._close("the supervisor closed the comm socket", None)
                raise self._dispatcher_closed()
            await self._receive()

    async def _receive(self) -> list[memoryview]:
        """Feed the decoder at least one more byte, or end of stream (returns no frames).

        The reader task calls :meth:`_receive_from_socket` itself on a socket,
        to have whole small frames returned in place.
        """
        if self._sock is not None:
            return await self._receive_from_socket(False)
        missing = self._decoder.buffered
        size = _LARGE_RECEIVE_CHUNK if missing > _RECEIVE_CHUNK else _RECEIVE_CHUNK
        try:
            data = await self._stream.receive_some(size)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._close(f"comm socket failed: {exc!r}", exc)
            raise self._dispatcher_closed() from exc
        self._bytes_received += len(data)
        self._decoder.receive_data(data)
        return []

    def _fileno(self) -> int:
        assert self._sock is not None
        fd = self._sock.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("the comm socket was closed")
        return fd

    async def _receive_from_socket(self, in_place: bool) -> list[memoryview]:
        """Socket fast path: park only in ``wait_readable``, read with one system call.

        Bytes of a large frame are read straight into the decoder's buffer
        for it; everything else goes through one reused scratch buffer.
        After a read that filled its buffer (more is probably waiting) the
        next read is tried at once, but never more than
        ``_MAX_READS_WITHOUT_PARKING`` times in a row, so a flood of input
        cannot starve the other tasks.
        """
        while True:  # noqa: ASYNC913 - EAGAIN sets _socket_drained, so the next pass parks
            try:
                if self._socket_drained:
                    await trio.lowlevel.wait_readable(self._fileno())
                    self._reads_without_parking = 0
                elif self._reads_without_parking >= _MAX_READS_WITHOUT_PARKING:
                    await trio.lowlevel.checkpoint()
                    self._reads_without_parking = 0
                target = self._decoder.receive_buffer()
                view = self._scratch if target is None else target
                count = os.readv(self._fileno(), [view])
            except BlockingIOError:
                self._socket_drained = True
                continue
            except (OSError, trio.ClosedResourceError, trio.BrokenResourceError) as exc:
                self._close(f"comm socket failed: {exc!r}", exc)
                raise self._dispatcher_closed() from exc
            self._reads_without_parking += 1
            self._socket_drained = count < len(view)
            self._bytes_received += count
            if count == 0:
                self._decoder.receive_data(b"")
            elif target is not None:
                self._decoder.buffer_filled(count)
            elif in_place:
                return self._decoder.receive_frames(view[:count])
            else:
                self._decoder.receive_data(view[:count])
            return []

    def start_reader(self) -> None:
        """Start the reader task in the comm's nursery (idempotent, non-blocking)."""
        if not self._reader_started and not self.closed:
            self._reader_started = True
            self._nursery.start_soon(self._reader_loop, name="trio_coord.comm.reader")

    async def _reader_loop(self) -> None:
        reason, cause = "the comm reader was cancelled", None
        on_socket = self._sock is not None
        try:
            woken = 0
            while True:
                while (payload := self._decoder.next_frame()) is not None:
                    woken += self._dispatch(decode_response(payload))
                if self._decoder.at_eof:
                    reason = "the supervisor closed the comm socket"
                    return
                if woken > 1 and on_socket and not self._writing:
                    await self._flush_after_woken_callers(woken)
                woken = 0
                for view in await (self._receive_from_socket(True) if on_socket else self._receive()):
                    woken += self._dispatch(decode_response(view))
        except DispatcherClosed:
            return  # _receive already recorded why
        except RemoteProtocolError as exc:
            reason, cause = f"bad frame from the supervisor: {exc}", exc
            logger.error("comm reader stopped: %s", exc)
        finally:
            self._close(reason, cause)

    def _dispatch(self, frame: ResponseFrame) -> int:
        """Route a reply to its caller; return 1 if a caller was woken, else 0."""
        channel = self._pending.pop(frame.id, None)
        if channel is None:
            self._replies_dropped += 1
            if frame.id < self._next_unused_id:
                logger.debug("dropping reply %d: its caller is no longer waiting", frame.id)
            else:
                logger.warning("dropping reply with unknown frame id %d", frame.id)
            return 0
        try:
            channel.send_nowait(frame)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self._replies_dropped += 1
            logger.debug("dropping reply %d: its caller is no longer waiting", frame.id)
            return 0
        self._replies_routed += 1
        return 1

    async def _flush_after_woken_callers(self, woken: int) -> None:
        """Let the callers just woken queue their next frames, then write them all at once.

        While ``_flush_pending`` is set, callers only queue. The reader yields
        (not cancellable: the frames queued meanwhile must be written) until
        the ``woken`` callers have run: once, or twice when the scheduler ran
        the reader's batch in reverse and the reader came first. It then
        writes what it can without blocking and hands any rest to a drain
        task, because the reader itself must never wait for the socket to
        become writable (the supervisor may be waiting for us to read).
        """
        self._woken_unrun = woken
        self._flush_pending = True
        try:
            await trio.lowlevel.cancel_shielded_checkpoint()
            if self._woken_unrun:
                await trio.lowlevel.cancel_shielded_checkpoint()
        finally:
            self._flush_pending = False
            self._woken_unrun = 0
        if self._outbox and not self._writing and not self.closed:
            self._write_now()
            if self._outbox and not self.closed:
                self._writing = True
                self._nursery.start_soon(self._drain_outbox, name="trio_coord.comm.drain")

    # ------------------------------------------------------------------ writing

    def _queue(self, prefix: bytes, payload: bytes | memoryview) -> bool:
        """Queue one encoded frame; on an idle socket, write it at once (one system call, no yield).

        Returns whether the frame still needs a writer: then the caller must
        become it (:meth:`_drain_as_writer`). Returns ``False`` when another
        task is writing or a flush is pending (the frame goes with theirs),
        or when the frame was written whole.

        Raises:
            DispatcherClosed: the write found the connection broken.
        """
        outbox = self._outbox
        outbox.append(prefix)
        outbox.append(payload)
        self._outbox_bytes += len(prefix) + len(payload)
        self._queued_seq += 1
        if self._writing or self._flush_pending:
            return False
        if self._sock is not None:
            self._write_now()
            if not self._outbox:
                if self._is_closed:
                    raise self._dispatcher_closed()
                return False
        return True

    async def _drain_as_writer(self) -> None:
        """Become the writer and write the outbox until it is empty (see :meth:`_drain_outbox`)."""
        self._writing = True
        await self._drain_outbox()
        if self._is_closed:
            raise self._dispatcher_closed()

    async def _write(self, prefix: bytes, payload: bytes | memoryview) -> int:
        """Queue one encoded frame and make sure someone is writing it.

        Returns the frame's write sequence number once the frame is queued
        behind an active writer (or a pending flush), or once this task has
        written it (and anything queued meanwhile). Never leaves a frame
        half-written. On a socket, an idle connection gets the frame with one
        non-blocking system call and no scheduling at all.
        """
        needs_writer = self._queue(prefix, payload)
        seq = self._queued_seq  # this frame's: queueing did not yield
        if needs_writer:
            await self._drain_as_writer()
        return seq

    def _write_now(self) -> None:
        """Write as much of the outbox as the socket takes without blocking."""
        lock = self._write_lock
        if lock is None:
            self._write_now_unlocked()
        else:
            with lock:
                self._write_now_unlocked()

    def _write_now_unlocked(self) -> None:
        pieces = self._outbox
        try:
            fd = self._fileno()
            if self._outbox_bytes <= _COALESCE_LIMIT:
                sent = os.write(fd, pieces[0] if len(pieces) == 1 else b"".join(pieces))
            else:
                sent = os.writev(fd, pieces[:_MAX_IOVECS])
        except BlockingIOError:
            return
        except (OSError, trio.ClosedResourceError) as exc:
            self._close(f"comm socket failed while writing: {exc!r}", exc)
            self._discard_outbox()
            return
        self._write_batches += 1
        self._bytes_sent += sent
        if sent == self._outbox_bytes:
            self._outbox = []
            self._outbox_bytes = 0
            self._mid_frame = False
            self._prefix_parity = 0
            self._written_seq = self._queued_seq
            if self._flush_waiters:
                self._wake_flush_waiters()
            return
        self._outbox_bytes -= sent
        index = 0
        while sent >= len(pieces[index]):
            sent -= len(pieces[index])
            index += 1
        rest = pieces[index:]
        if sent:
            rest[0] = memoryview(rest[0])[sent:]
        # The outbox is (prefix, payload) pairs, perhaps after the tail of a
        # frame: the write ended between frames only if it stopped exactly at
        # a prefix.
        at_prefix = index % 2 == self._prefix_parity
        self._prefix_parity = 0 if at_prefix else 1
        self._mid_frame = bool(sent) or not at_prefix
        self._outbox = rest

    def _discard_outbox(self) -> None:
        self._outbox = []
        self._outbox_bytes = 0
        self._prefix_parity = 0
        self._wake_flush_waiters()

    async def _drain_outbox(self) -> None:
        """Write the outbox until it is empty; the caller has set ``_writing``.

        Shielded from cancellation and bounded by ``write_timeout``: a queued
        frame is written whole, or the connection is declared broken.
        """
        try:
            with trio.CancelScope(shield=True) as scope:  # noqa: ASYNC912 - both branches checkpoint
                scope.relative_deadline = self._write_timeout
                while self._outbox and not self.closed:
                    if self._sock is not None:
                        await trio.lowlevel.wait_writable(self._fileno())
                        self._write_now()
                    else:
                        batch, self._outbox = self._outbox, []
                        self._outbox_bytes = 0
                        batch_seq = self._queued_seq
                        await self._send_batch(batch)
                        self._written_seq = batch_seq
                        self._wake_flush_waiters()
            if scope.cancelled_caught:
                self._close(f"a write stalled for more than {self._write_timeout:g} s", None)
                await self._stream.aclose()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._close(f"comm socket failed while writing: {exc!r}", exc)
        finally:
            self._writing = False
            if self.closed:
                self._discard_outbox()

    def _wake_flush_waiters(self) -> None:
        flushed, self._flushed = self._flushed, trio.Event()
        flushed.set()

    async def _send_batch(self, batch: list[bytes | memoryview]) -> None:
        """Generic streams: join small frames, write large payloads on their own."""
        total = sum(map(len, batch))
        self._write_batches += 1
        if total <= _COALESCE_LIMIT:
            await self._stream.send_all(b"".join(batch) if len(batch) > 1 else batch[0])
        else:
            small: list[bytes | memoryview] = []
            for chunk in batch:
                if len(chunk) > _COALESCE_LIMIT:
                    if small:
                        await self._stream.send_all(b"".join(small))
                        small = []
                    await self._stream.send_all(chunk)
                else:
                    small.append(chunk)
            if small:
                await self._stream.send_all(b"".join(small))
        self._bytes_sent += total

    async def send_request(self, frame_id: int, body: Mapping[str, object]) -> None:
        """Write one request frame ``[frame_id, body]`` without waiting for a reply.

        Blocks until the frame has been handed to the operating system.

        Raises:
            LocalProtocolError: the body cannot be encoded (nothing is sent).
            DispatcherClosed: the connection is broken.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        payload = self._encoder.encode(frame_id, body)
        prefix = frame_prefix(len(payload))
        if self.closed:
            await trio.lowlevel.cancel_shielded_checkpoint()
            raise self._dispatcher_closed()
        self._requests_sent += 1
        await self._write_and_wait(prefix, payload)

    async def _write_and_wait(self, prefix: bytes, payload: bytes | memoryview) -> None:
        """Queue a frame and return once it has been handed to the OS."""
        seq = await self._write(prefix, payload)
        while self._written_seq < seq:  # queued behind another writer
            self._flush_waiters += 1
            try:
                await self._flushed.wait()
            finally:
                self._flush_waiters -= 1
            if self.closed:
                raise self._dispatcher_closed()
        await trio.lowlevel.cancel_shielded_checkpoint()  # a write on an idle socket did not yield

    def next_id(self) -> int:
        """Reserve and return the next request frame id."""
        frame_id = self._next_unused_id
        self._next_unused_id = frame_id + 1
        return frame_id

    # ------------------------------------------------------------------ requests

    async def communicate(
        self,
        body: Mapping[str, object],
        *,
        deadline: float = math.inf,
        timeout: float = math.inf,  # noqa: ASYNC109 - a cancel scope per request costs more than the round trip
    ) -> WireMap | None:
        """Send a request and wait for the reply carrying its frame id.

        Safe to call from many tasks at once. Always checkpoints.

        Args:
            body: the request body (with its ``type``).
            deadline: give up waiting for the reply at this :func:`trio.current_time`
                (as :func:`trio.fail_at` would, but without a cancel scope per
                request: the comm's timer task enforces every deadline).
            timeout: give up waiting for the reply this many seconds after the
                call (as :func:`trio.fail_after` would); with ``deadline`` too,
                the earlier of the two applies.

        Returns:
            The reply body, or ``None`` for a ``[id, nil, nil]`` reply.

        Raises:
            ApiError: the supervisor answered with an ``ErrorResponse`` (in
                the error slot or the body); the subclass names the error.
            LocalProtocolError: the body cannot be encoded (nothing sent).
            DispatcherClosed: the connection ended before the reply arrived,
                or had already ended.
            trio.TooSlowError: ``deadline`` or ``timeout`` passed first (the
                request was sent; a late reply is dropped).

        Cancellation: if cancelled before the frame is queued, nothing is
        sent; after that, the frame is still written and its reply dropped.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._is_closed:
            await trio.lowlevel.cancel_shielded_checkpoint()  # fail fast, but still a schedule point
            raise self._dispatcher_closed()
        if len(self._pending) >= self._max_in_flight:
            await self._wait_for_slot()
        frame_id = self._next_unused_id
        payload = self._encoder.encode(frame_id, body)
        self._next_unused_id = frame_id + 1
        prefix = frame_prefix(len(payload))
        if not self._reader_started:
            self.start_reader()
        send, receive = self._channel_pool.pop() if self._channel_pool else _open_reply_channel()
        self._pending[frame_id] = send
        self._requests_sent += 1
        if timeout != math.inf:
            timeout_at = self._clock.current_time() + timeout
            if timeout_at < deadline:
                deadline = timeout_at
        if deadline != math.inf:
            self._add_deadline(deadline, frame_id)
        replied = False
        try:
            if self._queue(prefix, payload):  # not written yet, and nobody else is writing
                await self._drain_as_writer()
            del payload  # the outbox holds it until written; do not pin a large one
            try:
                frame = await receive.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                raise self._dispatcher_closed() from self._close_cause
            replied = True
            if self._woken_unrun and frame is not _TIMED_OUT:
                self._woken_unrun -= 1
        finally:
            if replied:  # the reader popped the id; the channel is empty again
                if len(self._channel_pool) < _CHANNEL_POOL_SIZE and not self._is_closed:
                    self._channel_pool.append((send, receive))
                if self._slot_waiting:
                    self._slot_waiters.unpark()
            else:
                receive.close()
                self._forget(frame_id)
        if frame is _TIMED_OUT:
            raise trio.TooSlowError
        if frame.error is None:  # the common reply, checked here without a call
            reply = frame.body
            if reply is None or reply.get("type") != "ErrorResponse":
                return reply
        return raise_for_error(frame)

    # ------------------------------------------------------------------ deadlines

    def _add_deadline(self, deadline: float, frame_id: int) -> None:
        heap = self._deadlines
        earlier = not heap or deadline < heap[0][0]
        heapq.heappush(heap, (deadline, frame_id))
        if len(heap) > 2 * len(self._pending) + 64:  # mostly requests that ended: rebuild
            pending = self._pending
            heap[:] = [entry for entry in heap if entry[1] in pending]
            heapq.heapify(heap)
        if not self._timer_started:
            self._timer_started = True
            self._nursery.start_soon(self._timer_loop, name="trio_coord.comm.timer")
        elif earlier:
            self._timer_rearm.set()

    async def _timer_loop(self) -> None:
        """Fail every request whose deadline passed: wake its caller with the timeout marker."""
        heap = self._deadlines
        pending = self._pending
        while not self._is_closed:
            while heap and heap[0][1] not in pending:
                heapq.heappop(heap)  # that request ended
            rearm = self._timer_rearm = trio.Event()
            if not heap:
                await rearm.wait()
                continue
            with trio.move_on_at(heap[0][0]):
                await rearm.wait()  # an earlier deadline arrived: look again
                continue
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                _, frame_id = heapq.heappop(heap)
                channel = pending.pop(frame_id, None)
                if channel is not None:
                    with contextlib.suppress(
                        trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError
                    ):
                        channel.send_nowait(_TIMED_OUT)

    async def submit(self, body: Mapping[str, object]) -> PendingReply:
        """Send a request and return once it is written, without waiting for the reply.

        Use it when knowing that the frame left matters (the terminal
        message): await :meth:`PendingReply.wait` for the reply and call
        :meth:`PendingReply.abandon` when done.

        Raises:
            LocalProtocolError: the body cannot be encoded (nothing sent).
            DispatcherClosed: the connection is broken.
        """
        pending = await self._register(body)
        try:
            await self._write_and_wait(pending.prefix, pending.payload)
        except BaseException:
            pending.abandon()
            raise
        return pending

    async def _register(self, body: Mapping[str, object]) -> PendingReply:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self.closed:
            await trio.lowlevel.cancel_shielded_checkpoint()  # fail fast, but still a schedule point
            raise self._dispatcher_closed()
        if len(self._pending) >= self._max_in_flight:
            await self._wait_for_slot()
        frame_id = self.next_id()
        payload = self._encoder.encode(frame_id, body)
        prefix = frame_prefix(len(payload))
        self.start_reader()
        send, receive = trio.open_memory_channel[ResponseFrame](1)
        self._pending[frame_id] = send
        self._requests_sent += 1
        return PendingReply(self, frame_id, prefix, payload, receive)

    async def _wait_for_slot(self) -> None:
        while len(self._pending) >= self._max_in_flight:
            self._slot_waiting += 1
            try:
                await self._slot_waiters.park()
            finally:
                self._slot_waiting -= 1
            if self._is_closed:
                raise self._dispatcher_closed()

    def _forget(self, frame_id: int) -> None:
        self._pending.pop(frame_id, None)
        if self._slot_waiting:
            self._slot_waiters.unpark()

    # ------------------------------------------------------------------ closing

    async def aclose(self) -> None:
        """Close the stream; the reader stops and waiters get DispatcherClosed."""
        self._close("the comm was closed locally", None)
        await self._stream.aclose()


class PendingReply:
    """A request that was sent and whose reply has not been taken yet."""

    __slots__ = ("_comm", "_receive", "frame_id", "payload", "prefix")

    def __init__(
        self,
        comm: CoordinatorComm,
        frame_id: int,
        prefix: bytes,
        payload: bytes | memoryview,
        receive: trio.MemoryReceiveChannel[ResponseFrame],
    ) -> None:
        self._comm = comm
        self.frame_id = frame_id
        self.prefix = prefix
        self.payload = payload
        self._receive = receive

    async def wait(self) -> WireMap | None:
        """Block until the reply arrives; return its body or raise its error.

        Raises:
            ApiError: the reply is an ``ErrorResponse``.
            DispatcherClosed: the connection ended first.
        """
        try:
            frame = await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise self._comm._dispatcher_closed() from self._comm.close_cause
        return raise_for_error(frame)

    def abandon(self) -> None:
        """Stop waiting: a reply arriving later is dropped (idempotent)."""
        self._receive.close()
        self._comm._forget(self.frame_id)


@asynccontextmanager
async def open_coordinator_comm(
    stream: trio.abc.Stream,
    *,
    write_timeout: float = DEFAULT_WRITE_TIMEOUT,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
) -> AsyncIterator[CoordinatorComm]:
    """Open a :class:`CoordinatorComm` whose reader task lives in its own nursery.

    On exit the stream is closed (bounded, shielded) and the reader cancelled.

    Exception groups: none are added. The reader and the timer never raise,
    so the only exception the nursery can carry is the one the body of the
    ``async with`` raised, and that exception propagates as itself
    (``except VariableNotFound:`` around the block works). Should a group
    hold anything else (a bug in the comm's own tasks), it propagates whole.
    """
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            comm = CoordinatorComm(stream, nursery, write_timeout=write_timeout, max_in_flight=max_in_flight)
            try:
                yield comm
            except BaseException as exc:
                body_error = exc
                raise
            finally:
                with trio.move_on_after(1, shield=True):
                    await comm.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if body_error is None or len(group.exceptions) != 1 or group.exceptions[0] is not body_error:
            raise
        context = body_error.__context__
        try:
            raise body_error  # re-raised as itself; its own context is restored below
        finally:
            body_error.__context__ = context
