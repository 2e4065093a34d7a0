"""A minimal client of trio_coord's design: T1's denominator, and the ladder's rung C and P2.

The design (docs/design.md) is one reader task, owned by a nursery, that reads
every reply and routes it by frame id to the caller waiting for it; callers
write their own request frame and park until their reply arrives. This module
is that design with nothing else, so that ``trio_coord``'s round trip can be
gated against what the design itself costs (the Targets table's T1) rather
than against one blocking thread:

* a caller encodes ``[id, body]`` with msgpack, prefixes the 4-byte big-endian
  length, registers a one-slot memory channel under the id, writes the frame
  with one non-blocking ``os.write`` (no scheduler pass for it) and parks on
  the channel. The channel is taken from a free list and put back once its
  reply has arrived, as trio_coord does: opening a channel costs about as
  much CPU as a scheduler pass, which trio_coord does not pay per request,
  so a fresh one per request would flatter trio_coord;
* the reader parks in ``trio.lowlevel.wait_readable``, reads with one
  ``os.readv`` into a reused buffer, splits every whole frame out of what
  arrived (keeping a partial one for the next read), decodes each with msgpack
  and sends it down the channel registered under its id;
* the caller checks the reply's error slot and returns its body.

What trio_coord does on top and this client does not: message types and
validation, a deadline per request, a bound on requests in flight, a bound
on the reused channels, coalesced writes, large-frame handling, cancellation
bookkeeping (a cancelled caller's channel stays registered here; the bench
never cancels), a clean close. Everything this client does, trio_coord must
also do.

It is imported both by ``tests/bench/worker.py`` (the ``design`` variant of T1
and T2) and by ``tests/bench/ladder.py`` (rungs C, C2 and P2), so the gate and
the profile time the same code. Both run as scripts, with this directory first
on ``sys.path``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

import msgpack
import trio

PREFIX: Final = struct.Struct(">I")
READ_SIZE: Final = 65536


class DesignClient:
    """Requests over one connection: callers write directly, a reader task routes replies by id.

    Use :func:`open_design_client`, which owns the reader task.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._next_id = 1
        self._pending: dict[int, trio.MemorySendChannel[Any]] = {}
        # Reply channels whose reply has arrived (empty again), ready for the next request.
        self._free: list[tuple[trio.MemorySendChannel[Any], trio.MemoryReceiveChannel[Any]]] = []
        # Bytes a short write left unsent; non-empty only while one caller drains it.
        self._unsent = bytearray()

    async def request(self, body: Mapping[str, object]) -> Any:
        """Send ``body`` as one frame and return the reply's body.

        Safe to call from many tasks at once. Blocks until the reply arrives.

        Raises:
            RuntimeError: the reply's error slot is set.

        Cancellation: the request may already have been written; its reply is
        then dropped into the abandoned channel, which is never reused.
        """
        frame_id = self._next_id
        self._next_id = frame_id + 1
        payload: bytes = msgpack.packb([frame_id, body])
        channel = self._free.pop() if self._free else trio.open_memory_channel[Any](1)
        self._pending[frame_id] = channel[0]
        await self._write(PREFIX.pack(len(payload)) + payload)
        reply = await channel[1].receive()
        self._free.append(channel)
        if reply[2] is not None:
            raise RuntimeError(f"error reply to frame {frame_id}: {reply[2]!r}")
        return reply[1]

    async def _write(self, frame: bytes) -> None:
        """Write ``frame`` now if the socket takes it; otherwise wait until it has taken it all.

        Frames never interleave: while one caller drains a short write, the
        others append to what it drains and go on to wait for their reply.
        """
        if self._unsent:
            self._unsent += frame
            return
        try:
            sent = os.write(self._fd, frame)
        except BlockingIOError:
            sent = 0
        if sent == len(frame):
            return
        self._unsent += frame[sent:]
        while self._unsent:
            await trio.lowlevel.wait_writable(self._fd)
            try:
                sent = os.write(self._fd, self._unsent)
            except BlockingIOError:
                continue
            del self._unsent[:sent]

    async def read_replies(self) -> None:
        """Read replies until the connection ends; route each to its caller by id.

        Runs as the reader task (started by :func:`open_design_client`);
        returns only by cancellation or an error.

        Raises:
            EOFError: the server closed the connection.
            RuntimeError: a reply names a frame id nobody is waiting for.
        """
        fd = self._fd
        buf = bytearray(READ_SIZE)
        view = memoryview(buf)
        partial = bytearray()
        pending = self._pending
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                got = os.readv(fd, [view])
            except BlockingIOError:
                continue
            if not got:
                raise EOFError("the server closed the connection")
            if partial:
                partial += view[:got]
                data = memoryview(bytes(partial))
                partial.clear()
            else:
                data = view[:got]
            end = len(data)
            pos = 0
            while end - pos >= 4:
                (length,) = PREFIX.unpack_from(data, pos)
                if end - pos - 4 < length:
                    break
                reply = msgpack.unpackb(data[pos + 4 : pos + 4 + length])
                pos += 4 + length
                send = pending.pop(reply[0], None)
                if send is None:
                    raise RuntimeError(f"reply to frame {reply[0]!r}, which no caller is waiting for")
                send.send_nowait(reply)
            if pos < end:
                partial += data[pos:]
            data.release()


@asynccontextmanager
async def open_design_client(stream: trio.SocketStream) -> AsyncIterator[DesignClient]:
    """A :class:`DesignClient` on ``stream``'s socket, its reader task running in a nursery.

    The caller keeps ownership of ``stream``. On exit the reader is cancelled;
    an error in the reader (the connection ended) cancels the body.
    """
    client = DesignClient(stream.socket.fileno())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.read_replies)
        yield client
        nursery.cancel_scope.cancel()
