"""The performance paths: socket I/O in CoordinatorComm, mapped frames, the copy-free encoder, log lines.

These paths exist for speed (see docs/performance.md); the tests check that
they behave exactly like the plain ones: same frames, same bytes, same order,
same failures. Speed itself is measured by ``nox -s bench``, never here.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import gc
import json
import logging
import math
import os
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Final, cast
from unittest import mock

import msgpack
import pytest
import trio
import trio.testing
from hypothesis import given, settings, strategies as st

from trio_coord import (
    ApiError,
    Bundle,
    CoordinatorClient,
    CoordinatorComm,
    DispatcherClosed,
    JsonValue,
    LocalProtocolError,
    RemoteProtocolError,
    TaskContext,
    VariableNotFound,
    _client,
    _framing,
)
from trio_coord._framing import (
    MAPPED_FRAME_SIZE,
    FrameDecoder,
    RequestEncoder,
    WireMap,
    decode_request,
    encode_request,
    encode_response,
    frame_prefix,
)
from trio_coord._logging import SocketLogHandler
from trio_coord._messages import GetVariable
from trio_coord._redact import register_secret
from trio_coord.testing import TaskRunner


def frame(payload: bytes) -> bytes:
    return frame_prefix(len(payload)) + payload


# ---------------------------------------------------------------- framing


def test_mapped_frame_is_received_into_its_buffer() -> None:
    payload = encode_request(7, {"type": "SetXCom", "value": "v" * (MAPPED_FRAME_SIZE + 5000)})
    data = frame(payload)
    decoder = FrameDecoder()
    decoder.receive_data(data[:1000])
    assert decoder.next_frame() is None
    assert decoder.buffered == 996
    pos = 1000
    while (view := decoder.receive_buffer()) is not None:
        assert len(view) == len(data) - pos  # exactly what the frame lacks
        count = min(len(view), 300_000)
        view[:count] = data[pos : pos + count]
        decoder.buffer_filled(count)
        pos += count
    assert pos == len(data)
    result = decoder.next_frame()
    assert isinstance(result, memoryview)
    assert result.readonly
    assert result == payload
    assert decode_request(result).body["value"] == "v" * (MAPPED_FRAME_SIZE + 5000)
    assert decoder.next_frame() is None
    assert decoder.buffered == 0


def test_mapped_frame_fed_in_pieces_then_the_next_frame() -> None:
    big = encode_request(1, {"type": "SetXCom", "value": "w" * MAPPED_FRAME_SIZE})
    small = encode_request(2, {"type": "GetVariable", "key": "k"})
    data = frame(big) + frame(small)
    decoder = FrameDecoder()
    frames: list[bytes] = []
    for start in range(0, len(data), 65_537):
        decoder.receive_data(data[start : start + 65_537])
        while (payload := decoder.next_frame()) is not None:
            frames.append(bytes(payload))
    assert frames == [big, small]


def test_buffer_filled_must_match_the_receive_buffer() -> None:
    decoder = FrameDecoder()
    with pytest.raises(ValueError, match="does not match"):
        decoder.buffer_filled(1)
    decoder.receive_data(frame_prefix(MAPPED_FRAME_SIZE))
    assert decoder.next_frame() is None
    view = decoder.receive_buffer()
    assert view is not None
    with pytest.raises(ValueError, match="does not match"):
        decoder.buffer_filled(len(view) + 1)


def test_truncated_mapped_frame_is_reported() -> None:
    decoder = FrameDecoder()
    decoder.receive_data(frame_prefix(MAPPED_FRAME_SIZE) + b"x" * 10)
    assert decoder.next_frame() is None
    decoder.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match=f"10 of {MAPPED_FRAME_SIZE}"):
        decoder.next_frame()


def test_receive_frames_hands_out_whole_frames_in_place() -> None:
    payloads = [encode_request(i, {"type": "T", "i": i}) for i in range(3)]
    tail = frame(encode_request(9, {"type": "T", "i": 9}))
    data = memoryview(b"".join(frame(p) for p in payloads) + tail[:5])
    decoder = FrameDecoder()
    views = decoder.receive_frames(data)
    assert [bytes(v) for v in views] == payloads
    assert all(v.obj is data.obj for v in views)  # slices of the caller's buffer, not copies
    assert decoder.next_frame() is None
    assert decoder.receive_frames(memoryview(tail[5:])) == []  # bytes were buffered: plain path
    assert decoder.next_frame() == encode_request(9, {"type": "T", "i": 9})


def test_receive_frames_leaves_bad_prefixes_to_next_frame() -> None:
    good = encode_request(1, {"type": "T"})
    decoder = FrameDecoder()
    views = decoder.receive_frames(memoryview(frame(good) + b"\x00\x00\x00\x00"))
    assert [bytes(v) for v in views] == [good]
    with pytest.raises(RemoteProtocolError, match="zero-length"):
        decoder.next_frame()


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=1, max_value=5000), max_size=20),
)
def test_every_path_yields_the_same_frames(sizes: list[int], cuts: list[int]) -> None:
    payloads = [encode_request(i, {"type": "T", "x": "y" * n}) for i, n in enumerate(sizes)]
    data = b"".join(frame(p) for p in payloads)
    mapped = _framing.MAPPED_FRAME_SIZE
    _framing.MAPPED_FRAME_SIZE = 1000  # type: ignore[misc]  # exercise the mapped path with small frames
    try:
        decoder = FrameDecoder()
        got: list[bytes] = []
        pos = 0
        for cut in [*cuts, len(data)]:
            chunk = data[pos : pos + cut]
            pos += len(chunk)
            while chunk:
                view = decoder.receive_buffer()
                if view is not None:
                    count = min(len(view), len(chunk))
                    view[:count] = chunk[:count]
                    decoder.buffer_filled(count)
                    chunk = chunk[count:]
                else:
                    got += [bytes(v) for v in decoder.receive_frames(memoryview(chunk))]
                    chunk = b""
                while (payload := decoder.next_frame()) is not None:
                    got.append(bytes(payload))
            if pos >= len(data):
                break
    finally:
        _framing.MAPPED_FRAME_SIZE = mapped  # type: ignore[misc]
    assert got == payloads


def packer_views_own_their_memory() -> bool:
    """Whether this msgpack's ``Packer.getbuffer()`` keeps its memory alive (1.1+, or pure Python)."""
    view = msgpack.Packer(autoreset=False).getbuffer()
    try:
        return _framing._owns_its_memory(view)
    finally:
        view.release()


def test_request_encoder_matches_encode_request() -> None:
    encoder = RequestEncoder()
    small = encoder.encode(3, {"type": "GetVariable", "key": "k"})
    assert isinstance(small, bytes)
    assert small == encode_request(3, {"type": "GetVariable", "key": "k"})
    when = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    body = {"type": "SetXCom", "value": "z" * 300_000, "end_date": when}
    large = encoder.encode(4, body)
    # The packer's buffer, not a copy, where msgpack's view owns it; msgpack 1.0's does not: a copy.
    assert isinstance(large, memoryview if packer_views_own_their_memory() else bytes)
    assert large == encode_request(4, body)
    again = encoder.encode(5, {"type": "GetVariable", "key": "k"})  # a fresh buffer; the view is intact
    assert again == encode_request(5, {"type": "GetVariable", "key": "k"})
    assert large == encode_request(4, body)


def test_request_encoder_large_payloads_in_a_row_stay_intact() -> None:
    encoder = RequestEncoder()
    bodies = {
        frame_id: {"type": "SetXCom", "key": f"k{frame_id}", "value": chr(ord("a") + frame_id) * size}
        for frame_id, size in enumerate([300_000, 1_200_000, 400_000, 2_500_000, 300_000])
    }
    payloads = {}
    for frame_id, body in bodies.items():  # each packs where the last one's buffer was (or is)
        payloads[frame_id] = encoder.encode(frame_id, body)
        encoder.encode(100 + frame_id, {"type": "GetVariable", "key": "between"})
    gc.collect()  # anything a payload did not keep alive is gone now
    for frame_id, body in bodies.items():
        assert payloads[frame_id] == encode_request(frame_id, body)


_bare_memory_view = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int)(
    ("PyMemoryView_FromMemory", ctypes.pythonapi)
)
_PyBUF_READ: Final = 0x100


class BareViewPacker:
    """A ``Packer`` whose ``getbuffer()`` is a bare view of its memory, as msgpack 1.0's compiled one."""

    def __init__(self) -> None:
        self._packer = msgpack.Packer(autoreset=False, use_bin_type=True, datetime=True)
        self._memory = ctypes.create_string_buffer(0)

    def pack(self, obj: object) -> None:
        self._packer.pack(obj)

    def reset(self) -> None:
        self._packer.reset()

    def getbuffer(self) -> memoryview:
        data = self._packer.bytes()
        self._memory = ctypes.create_string_buffer(data, len(data))
        view = _bare_memory_view(ctypes.addressof(self._memory), len(data), _PyBUF_READ)
        assert isinstance(view, memoryview)
        assert not _framing._owns_its_memory(view)  # nothing keeps self._memory alive for it
        return view


def test_request_encoder_copies_a_view_that_does_not_own_its_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RequestEncoder, "_new_packer", staticmethod(BareViewPacker))
    encoder = RequestEncoder()
    body = {"type": "SetXCom", "value": "z" * 300_000}
    large = encoder.encode(4, body)
    assert isinstance(large, bytes)  # the packer it came from is dropped: a view would dangle
    assert large == encode_request(4, body)
    small = encoder.encode(5, {"type": "GetVariable", "key": "k"})
    assert isinstance(small, bytes)
    assert small == encode_request(5, {"type": "GetVariable", "key": "k"})


def test_request_encoder_errors_keep_nothing() -> None:
    encoder = RequestEncoder()
    with pytest.raises(LocalProtocolError, match="cannot encode"):
        encoder.encode(1, {"type": "T", "bad": object()})
    with pytest.raises(LocalProtocolError, match="'type'"):
        encoder.encode(1, {"key": "k"})
    assert encoder.encode(2, {"type": "T"}) == encode_request(2, {"type": "T"})


# ---------------------------------------------------------------- comm over a real socket


class SocketSupervisor:
    """The supervisor end of a loopback TCP connection."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.decoder = FrameDecoder()
        self.payloads: dict[int, bytes] = {}  # every request's payload as it arrived, by frame id

    async def receive_requests(self, count: int) -> list[tuple[int, dict[str, object]]]:
        requests: list[tuple[int, dict[str, object]]] = []
        while len(requests) < count:
            while len(requests) < count and (payload := self.decoder.next_frame()) is not None:
                request = decode_request(payload)
                self.payloads[request.id] = bytes(payload)
                requests.append((request.id, request.body))
            if len(requests) < count:
                data = await self.stream.receive_some(1 << 20)
                assert data, "the runtime closed the comm socket"
                self.decoder.receive_data(data)
        return requests

    async def reply_all(self, replies: list[tuple[int, dict[str, object] | None]]) -> None:
        data = b"".join(frame(encode_response(frame_id, body)) for frame_id, body in replies)
        await self.stream.send_all(data)  # one write: the runtime reads them together


@pytest.fixture
async def socket_pair(io_budget: None) -> AsyncIterator[tuple[CoordinatorComm, SocketSupervisor]]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        client = await trio.open_tcp_stream("127.0.0.1", port)
        server = await listeners[0].accept()
        assert isinstance(server, trio.SocketStream)
        comm = CoordinatorComm(client, nursery)
        try:
            yield comm, SocketSupervisor(server)
        finally:
            await comm.aclose()
            await server.aclose()
            await listeners[0].aclose()
            nursery.cancel_scope.cancel()


async def test_socket_first_frame_then_round_trip(
    socket_pair: tuple[CoordinatorComm, SocketSupervisor],
) -> None:
    comm, sup = socket_pair
    await sup.reply_all([(0, {"type": "StartupDetails"})])
    first = await comm.read_message()
    assert (first.id, first.body) == (0, {"type": "StartupDetails"})

    async def serve_one() -> None:
        [(frame_id, body)] = await sup.receive_requests(1)
        await sup.reply_all([(frame_id, {"type": "Echo", "echo": body})])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_one)
        reply = await comm.communicate({"type": "GetVariable", "key": "k"})
    assert reply == {"type": "Echo", "echo": {"type": "GetVariable", "key": "k"}}
    assert comm.statistics().write_batches == 1


async def test_socket_woken_callers_next_frames_go_out_in_one_write(
    socket_pair: tuple[CoordinatorComm, SocketSupervisor],
) -> None:
    comm, sup = socket_pair
    results: dict[int, list[object]] = {}

    async def caller(n: int) -> None:
        first = await comm.communicate({"type": "Call", "n": n, "round": 1})
        second = await comm.communicate({"type": "Call", "n": n, "round": 2})
        results[n] = [first, second]

    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(caller, n)
        first_round = await sup.receive_requests(8)
        assert comm.statistics().write_batches == 8  # idle connection: each wrote its own frame
        await sup.reply_all([(fid, {"n": body["n"], "round": 1}) for fid, body in first_round])
        second_round = await sup.receive_requests(8)
        assert comm.statistics().write_batches == 9  # the eight woken callers' frames: one write
        await sup.reply_all([(fid, {"n": body["n"], "round": 2}) for fid, body in second_round])
    assert results == {n: [{"n": n, "round": 1}, {"n": n, "round": 2}] for n in range(8)}


async def test_socket_reader_hands_a_flush_the_socket_cannot_take_to_a_drain_task(
    socket_pair: tuple[CoordinatorComm, SocketSupervisor],
) -> None:
    comm, sup = socket_pair
    big = "d" * (4 * 1024 * 1024)  # eight of these overflow the socket buffers

    async def caller(n: int) -> None:
        await comm.communicate({"type": "Call", "n": n})
        await comm.communicate({"type": "SetXCom", "n": n, "value": big})

    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(caller, n)
        first_round = await sup.receive_requests(8)
        await sup.reply_all([(fid, None) for fid, _ in first_round])
        await trio.testing.wait_all_tasks_blocked()  # the reader's flush filled the socket
        assert comm.statistics().bytes_sent < 8 * len(big)
        second_round = await sup.receive_requests(8)  # reading lets the drain task finish
        assert sorted(body["n"] for _, body in second_round) == list(range(8))  # type: ignore[type-var]
        assert all(body["value"] == big for _, body in second_round)
        await sup.reply_all([(fid, None) for fid, _ in second_round])
    assert comm.statistics().pending == 0


async def test_socket_large_frames_both_ways_then_small(
    socket_pair: tuple[CoordinatorComm, SocketSupervisor],
) -> None:
    comm, sup = socket_pair
    value = "abc" * (MAPPED_FRAME_SIZE // 2)  # 1.5 MiB: mapped on the way in, a view on the way out

    async def serve() -> None:
        [(big_id, big_body)] = await sup.receive_requests(1)
        assert big_body["value"] == value
        await sup.reply_all([(big_id, {"type": "XComResult", "key": "k", "value": value})])
        [(small_id, _)] = await sup.receive_requests(1)
        await sup.reply_all([(small_id, {"type": "VariableResult", "key": "k", "value": "v"})])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        big = await comm.communicate({"type": "SetXCom", "key": "k", "value": value})
        small = await comm.communicate({"type": "GetVariable", "key": "k"})
    assert big == {"type": "XComResult", "key": "k", "value": value}
    assert small == {"type": "VariableResult", "key": "k", "value": "v"}


async def test_socket_large_values_pushed_and_pulled_in_a_row_arrive_intact(
    socket_pair: tuple[CoordinatorComm, SocketSupervisor],
) -> None:
    # Issue 17: payloads over 256 KiB leave the encoder as its packer's buffer (or a copy, on
    # msgpack 1.0) one after another, several queued at once, small frames between, and every
    # frame must be byte for byte the one encoded.
    comm, sup = socket_pair
    sizes = {"k0": 300_000, "k1": 1_500_000, "k2": 400_000, "k3": 16_000_000, "k4": 300_000, "k5": 600_000}
    values: dict[str, object] = {
        key: {"n": n, "blob": chr(ord("a") + n) * size, "rows": list(range(n * 1000, n * 1000 + 500))}
        for n, (key, size) in enumerate(sizes.items())
    }
    sent: list[dict[str, object]] = []  # every request body, in the order the frames go out
    received: list[tuple[int, dict[str, object]]] = []
    stored: dict[str, object] = {}

    async def supervise(count: int) -> None:
        # As the supervisor would: SetXCom stores the value, GetXCom answers from the store.
        for _ in range(count):
            [(frame_id, body)] = await sup.receive_requests(1)
            received.append((frame_id, body))
            key = str(body["key"])
            if body["type"] == "SetXCom":
                stored[key] = body["value"]
                await sup.reply_all([(frame_id, None)])
            elif body["type"] == "GetXCom":
                await sup.reply_all([(frame_id, {"type": "XComResult", "key": key, "value": stored[key]})])
            else:
                await sup.reply_all([(frame_id, {"type": "VariableResult", "key": key, "value": "v"})])

    async def call(body: dict[str, object]) -> WireMap | None:
        sent.append(body)
        return await comm.communicate(body)

    keys = list(values)
    async with trio.open_nursery() as nursery:  # one after another, a small frame after each
        nursery.start_soon(supervise, 6)
        for key in keys[:3]:
            await call({"type": "SetXCom", "key": key, "value": values[key]})
            await call({"type": "GetVariable", "key": key})
    async with trio.open_nursery() as nursery:  # queued at once, while nobody reads
        for key in keys[3:]:
            nursery.start_soon(call, {"type": "SetXCom", "key": key, "value": values[key]})
            await trio.testing.wait_all_tasks_blocked()  # encoded; the first one fills the socket
        assert comm.statistics().bytes_sent < sum(sizes[key] for key in keys[3:])
        nursery.start_soon(supervise, 3)
    pulled: dict[str, object] = {}
    async with trio.open_nursery() as nursery:  # large replies, each decoded where it was received
        nursery.start_soon(supervise, 2 * len(keys))
        for key in keys:
            reply = await call({"type": "GetXCom", "key": key})
            assert reply is not None
            pulled[key] = reply["value"]
            await call({"type": "GetVariable", "key": key})

    assert [body for _, body in received] == sent
    for frame_id, body in received:
        assert sup.payloads[frame_id] == encode_request(frame_id, body), f"frame {frame_id}"
    assert stored == values
    assert pulled == values


large_values_bundle = Bundle("large-values", "1.0")
large_values_dag = large_values_bundle.dag("large_values")
#: XComs over 256 KiB each: every push leaves the encoder as its packer's buffer (or a copy).
LARGE_VALUES: dict[str, JsonValue] = {
    f"v{n}": {"n": n, "blob": chr(ord("A") + n) * size, "rows": list(range(n, n + 300))}
    for n, size in enumerate([300_000, 1_200_000, 300_000, 3_000_000])
}


@large_values_dag.task
async def push_and_pull_large_values(ctx: TaskContext) -> dict[str, bool]:
    for key, value in LARGE_VALUES.items():  # one after another
        await ctx.xcom_push(key, value)
    async with trio.open_nursery() as nursery:  # and all at once
        for key, value in LARGE_VALUES.items():
            nursery.start_soon(ctx.xcom_push, f"{key}_again", value)
    pulled = {key: await ctx.xcom_pull("push_and_pull_large_values", key=key) for key in LARGE_VALUES}
    return {key: pulled[key] == value for key, value in LARGE_VALUES.items()}


async def test_a_task_pushes_and_pulls_large_values_intact() -> None:
    run = await TaskRunner(large_values_bundle).run("large_values", "push_and_pull_large_values")
    assert run.state == "success"
    assert run.xcom() == dict.fromkeys(LARGE_VALUES, True)  # every pull decoded to what was pushed
    for key, value in LARGE_VALUES.items():  # every push decoded to what was sent
        assert run.xcom(key) == value
        assert run.xcom(f"{key}_again") == value


async def test_socket_blocked_writes_finish_whole_and_in_order(
    socket_pair: tuple[CoordinatorComm, SocketSupervisor],
) -> None:
    comm, sup = socket_pair
    big = "q" * (16 * 1024 * 1024)  # more than the socket buffers hold: the write must wait
    order: list[int] = []

    async def caller(n: int, body: dict[str, object]) -> None:
        await comm.communicate(body)
        order.append(n)

    big_body: dict[str, object] = {"type": "SetXCom", "key": "big", "value": big}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller, 0, big_body)
        await trio.testing.wait_all_tasks_blocked()  # the big frame is partly written, the rest waits
        for n in range(1, 4):  # queued one at a time, behind the blocked writer
            nursery.start_soon(caller, n, {"type": "Call", "n": n})
            await trio.testing.wait_all_tasks_blocked()
        requests = await sup.receive_requests(4)  # reading unblocks the writer
        assert [body.get("n", 0) for _, body in requests] == [0, 1, 2, 3]
        assert requests[0][1]["value"] == big
        await sup.reply_all([(fid, None) for fid, _ in requests])
    assert sorted(order) == [0, 1, 2, 3]


async def test_socket_end_of_stream_fails_waiters_and_later_calls(
    socket_pair: tuple[CoordinatorComm, SocketSupervisor],
) -> None:
    comm, sup = socket_pair

    async def close_after_request() -> None:
        await sup.receive_requests(1)
        await sup.stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(close_after_request)
        with pytest.raises(DispatcherClosed, match="closed the comm socket"):
            await comm.communicate({"type": "GetVariable", "key": "k"})
    with pytest.raises(DispatcherClosed):
        await comm.communicate({"type": "GetVariable", "key": "k"})
    assert comm.statistics().pending == 0


async def test_socket_local_close_wakes_a_waiting_caller(
    socket_pair: tuple[CoordinatorComm, SocketSupervisor],
) -> None:
    comm, sup = socket_pair

    async def close_when_asked() -> None:
        await sup.receive_requests(1)
        await comm.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(close_when_asked)
        with pytest.raises(DispatcherClosed, match="closed locally"):
            await comm.communicate({"type": "GetVariable", "key": "k"})


async def test_socket_cancelled_caller_drops_its_late_reply(
    socket_pair: tuple[CoordinatorComm, SocketSupervisor],
) -> None:
    comm, sup = socket_pair
    cancel_scope = trio.CancelScope()

    async def slow_call() -> None:
        with cancel_scope:
            await comm.communicate({"type": "GetVariable", "key": "slow"})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow_call)
        [(slow_id, _)] = await sup.receive_requests(1)
        cancel_scope.cancel()  # the request was written; its caller gives up before the reply
    assert cancel_scope.cancelled_caught

    async def serve() -> None:
        [(next_id, _)] = await sup.receive_requests(1)
        await sup.reply_all([(slow_id, {"late": True}), (next_id, {"late": False})])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        assert await comm.communicate({"type": "GetVariable", "key": "next"}) == {"late": False}
    assert comm.statistics().replies_dropped == 1


# ---------------------------------------------------------------- the client's get_variable


class ScriptedComm:
    """Stands in for a CoordinatorComm: records what it is asked, answers as scripted."""

    def __init__(self, answer: Callable[[], WireMap | None]) -> None:
        self.answer = answer  # returns the reply, or raises what communicate would
        self.sent: list[tuple[bytes, float, float]] = []  # each payload (as frame 1), deadline, timeout

    async def communicate(
        self,
        body: Mapping[str, object],
        *,
        deadline: float = math.inf,
        timeout: float = math.inf,  # noqa: ASYNC109 - CoordinatorComm's signature
    ) -> WireMap | None:
        await trio.lowlevel.checkpoint()
        self.sent.append((encode_request(1, body), deadline, timeout))
        return self.answer()


Outcome = tuple[str, object, list[tuple[object, str | None]], list[tuple[bytes, float, float]]]


def _get_variable_both_ways(
    key: object, default: object, answer: Callable[[], WireMap | None], use_env: bool = False
) -> tuple[Outcome, Outcome]:
    """What ``get_variable`` gives (value or error, secrets registered, frames sent), fast and general."""

    async def one(general: bool) -> Outcome:
        comm = ScriptedComm(answer)
        client = CoordinatorClient(cast("CoordinatorComm", comm), request_timeout=7, use_env=use_env)
        get = client._get_variable_general if general else client.get_variable
        registered: list[tuple[object, str | None]] = []
        with mock.patch.object(_client, "register_secret", lambda v, n=None: registered.append((v, n))):
            try:
                result: tuple[str, object] = ("value", await get(key, default))  # type: ignore[arg-type]
            except Exception as exc:  # the outcome compared is the exception itself
                result = (type(exc).__name__, str(exc))
        return (*result, registered, comm.sent)

    async def both() -> tuple[Outcome, Outcome]:
        return await one(general=False), await one(general=True)

    return trio.run(both)


class KeyStr(str):
    """A str subclass: a valid key the fast path leaves to the general one."""

    __slots__ = ()


_variable_keys = st.sampled_from(["plain_key", "api_token", "db_password", "k"]) | st.text(max_size=12)
_wire_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.binary(max_size=4)
_reply_fields = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["VariableResult", "XComResult", "ErrorResponse"]) | _wire_scalars,
        "key": st.text(max_size=8) | _wire_scalars,
        "value": st.sampled_from(["", "a-secret-value", "x"]) | _wire_scalars | st.lists(st.integers()),
        "extra": _wire_scalars,
    },
)


def _replies(reply: WireMap | None) -> Callable[[], WireMap | None]:
    return lambda: None if reply is None else dict(reply)


def _raises(make_error: Callable[[], BaseException]) -> Callable[[], WireMap | None]:
    def answer() -> WireMap | None:
        raise make_error()

    return answer


_answers = st.builds(_replies, _reply_fields | st.none()) | st.builds(
    _raises,
    st.sampled_from(
        [
            lambda: VariableNotFound("VARIABLE_NOT_FOUND", {"key": "k"}),
            lambda: ApiError("API_SERVER_ERROR", {"status_code": 500}),
            trio.TooSlowError,
            lambda: DispatcherClosed("gone"),
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    key=_variable_keys | st.none() | st.integers() | st.builds(KeyStr, st.text(min_size=1)),
    default=st.sampled_from([_client._NO_DEFAULT, None, "fallback"]),
    answer=_answers,
)
def test_get_variable_fast_path_matches_the_typed_messages(
    key: object, default: object, answer: Callable[[], WireMap | None]
) -> None:
    fast, general = _get_variable_both_ways(key, default, answer)
    assert fast == general
    if isinstance(key, str) and key:
        # What went on the wire is GetVariable(key).to_wire(), byte for byte.
        assert [(payload, timeout) for payload, _, timeout in fast[3]] == [
            (encode_request(1, GetVariable(key).to_wire()), 7)
        ]


@pytest.mark.parametrize("key", ["plain_key", "api_token"])
@pytest.mark.parametrize("use_env", [True, False])
def test_get_variable_fast_path_matches_from_the_environment(key: str, use_env: bool) -> None:
    name = f"AIRFLOW_VAR_{key.upper()}"
    reply: WireMap = {"type": "VariableResult", "key": key, "value": "from-the-supervisor"}
    os.environ[name] = "from-the-environment"
    try:
        fast, general = _get_variable_both_ways(key, _client._NO_DEFAULT, _replies(reply), use_env=use_env)
    finally:
        del os.environ[name]
    assert fast == general
    assert fast[1] == ("from-the-environment" if use_env else "from-the-supervisor")


# ---------------------------------------------------------------- log lines


@pytest.mark.parametrize(
    "message",
    [
        "plain",
        'quote " backslash \\ slash /',
        "new\nline\ttab\x00nul\x1f",
        "ünïcødé ✓ 𝄞",
        "lone \ud800 surrogate",
    ],
)
def test_common_log_line_has_the_bytes_json_dumps_gives(message: str) -> None:
    handler = SocketLogHandler()
    record = logging.LogRecord("task.x", logging.WARNING, __file__, 1, message, None, None)
    expected = {
        "timestamp": handler._timestamp(record.created),
        "level": "warning",
        "event": message,
        "logger": "task.x",
    }
    text = json.dumps(expected, ensure_ascii=False, separators=(",", ":"))
    assert handler.render(record) == text.encode("utf-8", "replace") + b"\n"


def test_common_log_line_is_masked() -> None:
    register_secret("hunter2-secret")
    handler = SocketLogHandler()
    record = logging.LogRecord("task.x", logging.INFO, __file__, 1, "pw=%s", ("hunter2-secret",), None)
    assert json.loads(handler.render(record))["event"] == "pw=***"


_LOG_TEXT: Final = st.text(st.characters(codec=None), max_size=40)  # lone surrogates too
_SECRET: Final = "hunter2-secret"


@settings(max_examples=300, deadline=None)
@given(
    message=st.one_of(_LOG_TEXT, _LOG_TEXT.map(lambda text: f"{text} {_SECRET}")),
    args=st.one_of(st.none(), st.tuples(st.integers()), st.tuples(_LOG_TEXT)),
    level=st.one_of(
        st.sampled_from([logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]),
        st.integers(min_value=0, max_value=100),
    ),
    name=_LOG_TEXT,
    created=st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
    extra=st.dictionaries(
        st.sampled_from(["rows", "password", "target", "db", "message", "asctime", "msg"]),
        st.one_of(st.integers(), _LOG_TEXT, st.dictionaries(st.sampled_from(["host", "api_key"]), _LOG_TEXT)),
        max_size=3,
    ),
    secrets=st.booleans(),
)
def test_log_line_fast_path_equals_the_general_path(
    message: str,
    args: tuple[object, ...] | None,
    level: int,
    name: str,
    created: float,
    extra: dict[str, object],
    secrets: bool,
) -> None:
    """``render`` (which takes the hand-written path for a plain record) gives ``_render``'s bytes."""
    from trio_coord import _redact

    _redact.reset_secrets()
    if secrets:
        register_secret(_SECRET)
    handler = SocketLogHandler()
    fmt = message + " %s" if args else message
    record = logging.LogRecord(name, level, __file__, 1, fmt, args, None)
    record.created = created
    record.__dict__.update(extra)
    for _ in range(2):  # the second time from the handler's caches
        assert handler.render(record) == handler._render(record)
    if secrets:
        assert _SECRET not in json.loads(handler.render(record))["event"]


@pytest.mark.parametrize(("fmt", "args"), [("%d", ("not a number",)), ("%s %s", ("one",))])
def test_log_line_with_bad_format_arguments_is_written_whole(fmt: str, args: tuple[object, ...]) -> None:
    handler = SocketLogHandler()
    record = logging.LogRecord("task.x", logging.INFO, __file__, 1, fmt, args, None)
    line = json.loads(handler.render(record))
    assert line["event"].startswith(repr(fmt))
    assert "formatting failed" in line["event"]
    assert handler.render(record) == handler._render(record)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_log_timestamps_are_rfc3339_truncated_to_microseconds(created: float) -> None:
    handler = SocketLogHandler()
    text = handler._timestamp(created)
    assert text.endswith("Z")
    assert len(text) == len("2026-01-01T00:00:00.000000Z")
    second = int(created)
    micros = min(int((created - second) * 1_000_000), 999_999)
    expected = dt.datetime.fromtimestamp(second, dt.UTC).replace(microsecond=micros)
    assert dt.datetime.fromisoformat(text) == expected
