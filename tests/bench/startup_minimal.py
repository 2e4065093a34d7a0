"""The smallest trio + msgpack runtime: the reference for the start-up figure (T5).

``python startup_minimal.py --comm=HOST:PORT --logs=HOST:PORT``: dial both
sockets (as every runtime must), read the first frame, answer it with a
``SucceedTask``, read that reply, exit. No validation, no logging, no task.
"""

from __future__ import annotations

import datetime as dt
import struct
import sys

import msgpack
import trio

PREFIX = struct.Struct(">I")


def _address(argv: list[str], flag: str) -> tuple[str, int]:
    for arg in argv:
        if arg.startswith(flag + "="):
            host, _, port = arg[len(flag) + 1 :].rpartition(":")
            return host, int(port)
    raise SystemExit(f"missing {flag}=HOST:PORT")


async def _read_frame(stream: trio.SocketStream, buf: bytearray) -> object:
    while len(buf) < 4 or len(buf) < 4 + PREFIX.unpack_from(buf)[0]:
        data = await stream.receive_some(65536)
        if not data:
            raise EOFError("comm socket closed")
        buf += data
    (length,) = PREFIX.unpack_from(buf)
    frame = msgpack.unpackb(buf[4 : 4 + length], timestamp=3)
    del buf[: 4 + length]
    return frame


async def main(argv: list[str]) -> None:
    comm = await trio.open_tcp_stream(*_address(argv, "--comm"))
    logs = await trio.open_tcp_stream(*_address(argv, "--logs"))
    buf = bytearray()
    await _read_frame(comm, buf)
    body = {
        "type": "SucceedTask",
        "state": "success",
        "end_date": dt.datetime.now(dt.UTC),
        "task_outlets": [],
        "outlet_events": [],
    }
    payload = msgpack.packb([1, body], datetime=True)
    await comm.send_all(PREFIX.pack(len(payload)) + payload)
    await _read_frame(comm, buf)
    await comm.aclose()
    await logs.aclose()


if __name__ == "__main__":
    trio.run(main, sys.argv[1:])
