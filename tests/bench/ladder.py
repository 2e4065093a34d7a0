"""Where a trio_coord round trip goes: the same request through ever more of the stack.

``python tests/bench/ladder.py [--pin CPU] [--count N]`` starts the bench's
fake supervisor (server.py), then times one sequential ``GetVariable`` round
trip per rung, interleaved over a few rounds, as wall and CPU microseconds
(the CPU figure is this process's user + system time: the client's own cost).
Each rung adds one layer to the one before:

A  trio socket ``send`` / ``recv`` in one task (trio's own socket wrappers)
B  one task: ``os.write``, park in ``wait_readable``, ``os.readv``: the
   least trio can do (what performance.md calls "0.92x the floor")
C  B with a reader task routing the reply through a fresh one-slot memory
   channel: the design's shape with nothing else
C2 C inside ``trio.move_on_after`` (what CoordinatorClient does per request)
D  ``CoordinatorComm.communicate``
E  ``CoordinatorClient.get_variable`` (message validation, the timeout scope,
   reply decoding)

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

import msgpack
import trio

import trio_coord

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


async def _reader_rung(stream: trio.SocketStream, count: int, with_deadline: bool) -> None:
    fd = stream.socket.fileno()
    buf = memoryview(bytearray(65536))
    pending: dict[int, trio.MemorySendChannel[object]] = {}

    async def reader() -> None:
        while True:
            await trio.lowlevel.wait_readable(fd)
            got = os.readv(fd, [buf])
            reply = msgpack.unpackb(buf[4:got])
            pending.pop(reply[0]).send_nowait(reply)

    async def one(i: int) -> None:
        send, receive = trio.open_memory_channel[object](1)
        pending[i] = send
        os.write(fd, _request(i))
        await receive.receive()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        for i in range(count):
            if with_deadline:
                with trio.move_on_after(120):
                    await one(i)
            else:
                await one(i)
        nursery.cancel_scope.cancel()


async def rung_c(stream: trio.SocketStream, count: int) -> None:
    await _reader_rung(stream, count, with_deadline=False)


async def rung_c2(stream: trio.SocketStream, count: int) -> None:
    await _reader_rung(stream, count, with_deadline=True)


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
    "C B + reader task + memory channel": rung_c,
    "C2 C + move_on_after": rung_c2,
    "D CoordinatorComm.communicate": rung_d,
    "E CoordinatorClient.get_variable": rung_e,
}


async def run(port: int, count: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in RUNGS}
    for _ in range(rounds):
        for name, rung in RUNGS.items():
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await rung(stream, 200)  # warm up (and leave the connection idle)
            await stream.aclose()
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            cpu0, t0 = _cpu(), time.perf_counter()
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
    args = parser.parse_args()
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
        results = trio.run(run, port, args.count, args.rounds)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    pinned = f"pinned to CPU {args.pin}" if args.pin is not None else "unpinned"
    print(
        f"median of {args.rounds} rounds x {args.count} round trips, {pinned}; load {os.getloadavg()[0]:.2f}"
    )
    for name, samples in results.items():
        wall = statistics.median(s[0] for s in samples) * 1e6
        cpu = statistics.median(s[1] for s in samples) * 1e6
        print(f"{name:38s} {wall:7.1f} us wall {cpu:7.1f} us client CPU")
    print("trio's building blocks, no I/O:")
    for name, micros in trio.run(primitives, args.count * 5).items():
        print(f"  {name:36s} {micros:7.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
