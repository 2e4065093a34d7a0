"""The bench's minimal design client (tests/bench/design.py) gets every caller its own reply.

``nox -s bench`` gates T1 against this client, so it must do the work it
claims: frames split across reads or packed several to a read, replies in any
order, the error slot checked. Its speed is measured only by the bench.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest
import trio
import trio.testing

from tests.bench.design import open_design_client

PREFIX = struct.Struct(">I")


def _frame(obj: object) -> bytes:
    payload: bytes = msgpack.packb(obj)
    return PREFIX.pack(len(payload)) + payload


async def _read_requests(sock: trio.socket.SocketType, count: int) -> list[Any]:
    """The first ``count`` request frames that arrive on ``sock``, decoded."""
    buf = bytearray()
    requests: list[Any] = []
    while len(requests) < count:
        data = await sock.recv(65536)
        assert data, "the client closed the connection"
        buf += data
        while len(buf) >= 4 and len(buf) >= 4 + PREFIX.unpack_from(buf)[0]:
            length = PREFIX.unpack_from(buf)[0]
            requests.append(msgpack.unpackb(bytes(buf[4 : 4 + length])))
            del buf[: 4 + length]
    return requests


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 16])
async def test_replies_in_reverse_order_and_split_anywhere_reach_their_callers(chunk: int) -> None:
    client_sock, server_sock = trio.socket.socketpair()
    callers = 16
    got: dict[int, Any] = {}
    with server_sock, trio.fail_after(30):  # a lost reply fails the test instead of hanging it
        async with trio.SocketStream(client_sock) as stream, open_design_client(stream) as client:

            async def caller(i: int) -> None:
                got[i] = await client.request({"type": "GetVariable", "key": f"k{i}"})

            async with trio.open_nursery() as nursery:
                for i in range(callers):
                    nursery.start_soon(caller, i)
                requests = await _read_requests(server_sock, callers)
                replies = b"".join(
                    _frame([frame_id, {"value": body["key"].upper()}, None])
                    for frame_id, body in reversed(requests)
                )
                for start in range(0, len(replies), chunk):
                    await server_sock.send(replies[start : start + chunk])
                    # Let the reader take this piece before the next arrives: a read ends mid-frame.
                    await trio.testing.wait_all_tasks_blocked()
    assert got == {i: {"value": f"K{i}"} for i in range(callers)}
    assert sorted(frame_id for frame_id, _ in requests) == list(range(1, callers + 1))


async def test_an_error_reply_raises_in_its_caller() -> None:
    client_sock, server_sock = trio.socket.socketpair()
    with server_sock, trio.fail_after(30):
        async with (
            trio.SocketStream(client_sock) as stream,
            open_design_client(stream) as client,
            trio.open_nursery() as nursery,
        ):

            async def serve_one() -> None:
                ((frame_id, _),) = await _read_requests(server_sock, 1)
                await server_sock.send(_frame([frame_id, None, {"error": "not_found"}]))

            nursery.start_soon(serve_one)
            with pytest.raises(RuntimeError, match=r"error reply to frame 1: .*not_found"):
                await client.request({"type": "GetVariable", "key": "missing"})
