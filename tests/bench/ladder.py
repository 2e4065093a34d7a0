"""Where a trio_coord round trip goes: the same request through ever more of the stack.

``python tests/bench/ladder.py [--pin CPU] [--count N]`` starts the bench's
fake supervisor (server.py), then times one sequential ``GetVariable`` round
trip per rung, interleaved over a few rounds, as wall and CPU microseconds
(the CPU figure is this process's user + system time: the client's own cost).
Each rung adds one layer to the one before:

A  trio socket ``send`` / ``recv`` in one task (trio's own socket wrappers)
B  one task: ``os.write``, park in ``wait_readable``, ``os.readv``: the
   least trio can do (what performance.md calls "0.92x the floor")
C  the design's minimal client (``design.py``, T1's base in ``nox -s bench``):
   the caller encodes and writes its frame with ``os.write``, a reader task
   parked in ``wait_readable`` reads with ``os.readv``, splits and decodes the
   frame and routes the reply by id through a one-slot memory channel (reused
   once its reply has arrived, as CoordinatorComm does)
C2 C inside ``trio.move_on_after`` (what CoordinatorClient once did per request)
D  ``CoordinatorComm.communicate``
E  ``CoordinatorClient.get_variable`` (message validation, the timeout scope,
   reply decoding)

``--inflight 64`` times the same request with 64 in flight instead (T2), as
client CPU µs per request (the server's cost is the same under every rung):

P0 the bench's floor: a blocking socket, a window of 64, the refills for
   each read's replies sent with one ``sendall`` (no trio)
P1 one trio task doing the same with ``os.write`` / ``wait_readable`` /
   ``os.readv``: the least trio can do
P2 64 trio tasks calling the design's minimal client (``design.py``): each
   registers a one-slot memory channel, writes its frame with its own
   ``os.write`` and parks on the channel; a reader task routes replies by id:
   the design's minimum, without coalescing (``design`` in T2)
P3 the same shape written out here, but callers queue their frame and the
   reader writes every queued frame with one ``os.write`` after each read
   (what ``CoordinatorComm`` does)
D  64 tasks calling ``CoordinatorComm.communicate``
E  64 tasks calling ``CoordinatorClient.get_variable``

It is a profile, not a gate: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import msgpack
import trio

import trio_coord

if TYPE_CHECKING:
    from tests.bench.design import open_design_client
else:  # ladder.py runs as a script: its directory is first on sys.path
    from design import open_design_client

PREFIX = struct.Struct(">I")
BODY = {"type": "GetVariable", "key": "bench_var"}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _request(frame_id: int) -> bytes:
    payload: bytes = msgpack.packb([frame_id, BODY])
    return PREFIX.pack(len(payload)) + payload


async def rung_a(stream: trio.SocketStream, count: int) -> None:
    sock = stream.socket
    for i in range(count):
        await sock.send(_request(i))
        await sock.recv(65536)


async def rung_b(stream: trio.SocketStream, count: int) -> None:
    fd = stream.socket.fileno()
    buf = memoryview(bytearray(65536))
    for i in range(count):
        os.write(fd, _request(i))
        await trio.lowlevel.wait_readable(fd)
        got = os.readv(fd, [buf])
        msgpack.unpackb(buf[4:got])


async def rung_c(stream: trio.SocketStream, count: int) -> None:
    async with open_design_client(stream) as client:
        for _ in range(count):
            await client.request(BODY)


async def rung_c2(stream: trio.SocketStream, count: int) -> None:
    async with open_design_client(stream) as client:
        for _ in range(count):
            with trio.move_on_after(120):
                await client.request(BODY)


async def rung_d(stream: trio.SocketStream, count: int) -> None:
    async with trio_coord.open_coordinator_comm(stream) as comm:
        for _ in range(count):
            await comm.communicate(BODY)


async def rung_e(stream: trio.SocketStream, count: int) -> None:
    async with trio_coord.open_coordinator_comm(stream) as comm:
        client = trio_coord.CoordinatorClient(comm, use_env=False)
        for _ in range(count):
            await client.get_variable("bench_var")


RUNGS: dict[str, Callable[[trio.SocketStream, int], Awaitable[None]]] = {
    "A trio socket send/recv": rung_a,
    "B os.write + wait_readable + readv": rung_b,
    "C design.py: reader task + channels": rung_c,
    "C2 C + move_on_after": rung_c2,
    "D CoordinatorComm.communicate": rung_d,
    "E CoordinatorClient.get_variable": rung_e,
}


WINDOW = 64


def _frames(buf: bytearray) -> list[object]:
    """Split every whole frame off the front of ``buf`` and decode it."""
    out = []
    pos = 0
    while len(buf) - pos >= 4:
        (length,) = PREFIX.unpack_from(buf, pos)
        if len(buf) - pos - 4 < length:
            break
        out.append(msgpack.unpackb(buf[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    del buf[:pos]
    return out


async def inflight_p0(stream: trio.SocketStream, count: int) -> None:
    # The floor's loop, blocking, in a worker thread so the trio run stays the harness.
    sock = stream.socket.dup()

    def blocking() -> None:
        import socket as socket_module

        raw = socket_module.socket(fileno=sock.detach())
        raw.setblocking(True)
        try:
            buf = bytearray()
            sent = min(WINDOW, count)
            raw.sendall(b"".join(_request(i) for i in range(sent)))
            done = 0
            while done < count:
                buf += raw.recv(65536)
                replies = _frames(buf)
                done += len(replies)
                refill = min(len(replies), count - sent)
                if refill:
                    raw.sendall(b"".join(_request(sent + i) for i in range(refill)))
                    sent += refill
        finally:
            raw.close()

    await trio.to_thread.run_sync(blocking)


async def inflight_p1(stream: trio.SocketStream, count: int) -> None:
    fd = stream.socket.fileno()
    buf = bytearray()
    sent = min(WINDOW, count)
    os.write(fd, b"".join(_request(i) for i in range(sent)))
    done = 0
    while done < count:
        await trio.lowlevel.wait_readable(fd)
        buf += os.read(fd, 65536)
        replies = _frames(buf)
        done += len(replies)
        refill = min(len(replies), count - sent)
        if refill:
            os.write(fd, b"".join(_request(sent + i) for i in range(refill)))
            sent += refill


async def inflight_p2(stream: trio.SocketStream, count: int) -> None:
    async with open_design_client(stream) as client, trio.open_nursery() as nursery:

        async def caller(per_task: int) -> None:
            for _ in range(per_task):
                await client.request(BODY)

        for _ in range(WINDOW):
            nursery.start_soon(caller, count // WINDOW)


async def inflight_p3(stream: trio.SocketStream, count: int) -> None:
    fd = stream.socket.fileno()
    pending: dict[int, trio.MemorySendChannel[object]] = {}
    queued: list[bytes] = []
    next_id = 0

    async def reader() -> None:
        buf = bytearray()
        while True:
            # Let the woken callers queue their next frame (two scheduler batches, whatever
            # order trio runs a batch in), then write them all at once.
            await trio.lowlevel.checkpoint()
            await trio.lowlevel.checkpoint()
            if queued:
                os.write(fd, b"".join(queued))
                queued.clear()
            await trio.lowlevel.wait_readable(fd)
            buf += os.read(fd, 65536)
            for reply in _frames(buf):
                assert isinstance(reply, list)
                pending.pop(reply[0]).send_nowait(reply)

    async def caller(per_task: int) -> None:
        nonlocal next_id
        for _ in range(per_task):
            frame_id, next_id = next_id, next_id + 1
            send, receive = trio.open_memory_channel[object](1)
            pending[frame_id] = send
            queued.append(_request(frame_id))
            await receive.receive()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        async with trio.open_nursery() as callers:
            for _ in range(WINDOW):
                callers.start_soon(caller, count // WINDOW)
        nursery.cancel_scope.cancel()


async def inflight_d(stream: trio.SocketStream, count: int) -> None:
    async with trio_coord.open_coordinator_comm(stream) as comm, trio.open_nursery() as nursery:

        async def caller(per_task: int) -> None:
            for _ in range(per_task):
                await comm.communicate(BODY)

        for _ in range(WINDOW):
            nursery.start_soon(caller, count // WINDOW)


async def inflight_e(stream: trio.SocketStream, count: int) -> None:
    async with trio_coord.open_coordinator_comm(stream) as comm, trio.open_nursery() as nursery:
        client = trio_coord.CoordinatorClient(comm, use_env=False)

        async def caller(per_task: int) -> None:
            for _ in range(per_task):
                await client.get_variable("bench_var")

        for _ in range(WINDOW):
            nursery.start_soon(caller, count // WINDOW)


INFLIGHT_RUNGS: dict[str, Callable[[trio.SocketStream, int], Awaitable[None]]] = {
    "P0 floor: blocking socket, window 64": inflight_p0,
    "P1 one trio task, window 64": inflight_p1,
    "P2 64 tasks on design.py": inflight_p2,
    "P3 P2 + one write per read": inflight_p3,
    "D 64 x CoordinatorComm.communicate": inflight_d,
    "E 64 x CoordinatorClient.get_variable": inflight_e,
}


async def run(
    port: int, count: int, rounds: int, rungs: dict[str, Callable[[trio.SocketStream, int], Awaitable[None]]]
) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in rungs}
    for _ in range(rounds):
        for name, rung in rungs.items():
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await rung(stream, 200)  # warm up (and leave the connection idle)
            await stream.aclose()
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            cpu0, t0 = _cpu(), time.perf_counter()
            with trio.fail_after(300):
                await rung(stream, count)
            results[name].append(((time.perf_counter() - t0) / count, (_cpu() - cpu0) / count))
            await stream.aclose()
    return results


async def primitives(count: int) -> dict[str, float]:
    """What trio's own building blocks cost here, in µs each (no I/O)."""
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    for _ in range(count):
        await trio.lowlevel.checkpoint()
    out["trio.lowlevel.checkpoint()"] = (time.perf_counter() - t0) / count * 1e6
    t0 = time.perf_counter()
    for _ in range(count):
        with trio.move_on_after(120):
            await trio.lowlevel.checkpoint()
    out["move_on_after(120) + checkpoint()"] = (time.perf_counter() - t0) / count * 1e6
    t0 = time.perf_counter()
    for _ in range(count):
        trio.open_memory_channel[object](1)
    out["open_memory_channel(1)"] = (time.perf_counter() - t0) / count * 1e6
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pin", type=int, default=None, help="pin this process and the server to one CPU")
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--inflight", action="store_true", help="64 requests in flight (T2) instead of one at a time"
    )
    args = parser.parse_args()
    if args.inflight:
        args.count -= args.count % WINDOW
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("server.py")), "comm"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        if args.pin is not None:
            os.sched_setaffinity(0, {args.pin})
            os.sched_setaffinity(server.pid, {args.pin})
        rungs = INFLIGHT_RUNGS if args.inflight else RUNGS
        results = trio.run(run, port, args.count, args.rounds, rungs)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    pinned = f"pinned to CPU {args.pin}" if args.pin is not None else "unpinned"
    what = f"requests, {WINDOW} in flight" if args.inflight else "round trips"
    print(f"median of {args.rounds} rounds x {args.count} {what}, {pinned}; load {os.getloadavg()[0]:.2f}")
    for name, samples in results.items():
        wall = statistics.median(s[0] for s in samples) * 1e6
        cpu = statistics.median(s[1] for s in samples) * 1e6
        print(f"{name:38s} {wall:7.1f} us wall {cpu:7.1f} us client CPU")
    if args.inflight:
        return 0
    print("trio's building blocks, no I/O:")
    for name, micros in trio.run(primitives, args.count * 5).items():
        print(f"  {name:36s} {micros:7.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
