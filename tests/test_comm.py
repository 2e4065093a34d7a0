"""CoordinatorComm over in-memory streams: routing, concurrency, failure, cancellation."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from trio_coord import (
    ApiError,
    ConnectionNotFound,
    CoordinatorComm,
    DispatcherClosed,
    LocalProtocolError,
    RemoteProtocolError,
    VariableNotFound,
    open_coordinator_comm,
)
from trio_coord._framing import FrameDecoder, RequestFrame, decode_request, encode_response, frame_prefix


class FakeSupervisor:
    """The supervisor end of a memory stream pair: reads requests, sends scripted frames."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.decoder = FrameDecoder()
        self.received: list[RequestFrame] = []

    async def send_frame(self, frame_id: int, body: dict[str, object] | None, error: object = None) -> None:
        payload = encode_response(frame_id, body, error)  # type: ignore[arg-type]
        await self.stream.send_all(frame_prefix(len(payload)) + payload)

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def receive_request(self) -> RequestFrame:
        while (payload := self.decoder.next_frame()) is None:
            self.decoder.receive_data(await self.stream.receive_some(65536))
        request = decode_request(payload)
        self.received.append(request)
        return request

    async def echo_requests(self, count: int) -> None:
        for _ in range(count):
            request = await self.receive_request()
            await self.send_frame(request.id, {"type": "Echo", "echo": request.body})


@pytest.fixture
async def pair(io_budget: None) -> AsyncIterator[tuple[CoordinatorComm, FakeSupervisor]]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with open_coordinator_comm(client_stream) as comm:
        yield comm, FakeSupervisor(server_stream)


async def test_read_message_returns_the_first_frame(pair: tuple[CoordinatorComm, FakeSupervisor]) -> None:
    comm, sup = pair
    await sup.send_frame(0, {"type": "StartupDetails"})
    frame = await comm.read_message()
    assert frame.id == 0
    assert frame.body == {"type": "StartupDetails"}


async def test_read_message_trickled_one_byte_at_a_time(io_budget: None) -> None:
    client, server = trio.testing.lockstep_stream_pair()
    async with open_coordinator_comm(client) as comm, trio.open_nursery() as nursery:
        payload = encode_response(0, {"type": "StartupDetails", "x": "y" * 50})
        data = frame_prefix(len(payload)) + payload

        async def trickle() -> None:
            for byte in data:
                await server.send_all(bytes([byte]))

        nursery.start_soon(trickle)
        frame = await comm.read_message()
        assert frame.body == {"type": "StartupDetails", "x": "y" * 50}


async def test_communicate_returns_the_matching_reply(pair: tuple[CoordinatorComm, FakeSupervisor]) -> None:
    comm, sup = pair
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sup.echo_requests, 1)
        reply = await comm.communicate({"type": "GetVariable", "key": "k"})
    assert reply == {"type": "Echo", "echo": {"type": "GetVariable", "key": "k"}}
    assert sup.received[0].id == 1  # request ids start at 1; 0 belongs to StartupDetails


async def test_read_message_is_refused_once_the_reader_runs(
    pair: tuple[CoordinatorComm, FakeSupervisor],
) -> None:
    comm, sup = pair
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sup.echo_requests, 1)
        await comm.communicate({"type": "Ping"})
    with pytest.raises(RuntimeError, match="cannot be used once the reader task is running"):
        await comm.read_message()


async def test_concurrent_callers_get_their_own_replies_in_reverse_order(
    pair: tuple[CoordinatorComm, FakeSupervisor],
) -> None:
    comm, sup = pair
    results: dict[int, object] = {}

    async def call(n: int) -> None:
        results[n] = await comm.communicate({"type": "Call", "n": n})

    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(call, n)
        requests = [await sup.receive_request() for _ in range(8)]
        for request in reversed(requests):
            await sup.send_frame(request.id, {"type": "Reply", "n": request.body["n"]})
    assert results == {n: {"type": "Reply", "n": n} for n in range(8)}


async def test_concurrent_writes_are_coalesced_and_never_interleaved(
    pair: tuple[CoordinatorComm, FakeSupervisor],
) -> None:
    comm, sup = pair

    async def call(n: int) -> None:
        await comm.communicate({"type": "Call", "n": n, "pad": "x" * n})

    async with trio.open_nursery() as nursery:
        for n in range(64):
            nursery.start_soon(call, n)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(sup.echo_requests, 64)
    assert sorted(request.body["n"] for request in sup.received) == list(range(64))  # type: ignore[type-var]
    stats = comm.statistics()
    assert stats.requests_sent == 64
    assert stats.write_batches < 64  # queued frames went out together


async def test_stray_reply_is_dropped_and_the_real_one_delivered(
    pair: tuple[CoordinatorComm, FakeSupervisor], caplog: pytest.LogCaptureFixture
) -> None:
    comm, sup = pair

    async def serve_one() -> None:
        request = await sup.receive_request()
        await sup.send_frame(999, {"type": "Stray"})
        await sup.send_frame(request.id, {"type": "Real"})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_one)
        reply = await comm.communicate({"type": "Q"})
    assert reply == {"type": "Real"}
    assert comm.statistics().replies_dropped == 1
    assert "unknown frame id 999" in caplog.text


async def test_error_slot_raises_api_error(pair: tuple[CoordinatorComm, FakeSupervisor]) -> None:
    comm, sup = pair

    async def fail_one() -> None:
        request = await sup.receive_request()
        await sup.send_frame(
            request.id, None, {"error": "API_SERVER_ERROR", "detail": {"status_code": 500, "message": "x"}}
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fail_one)
        with pytest.raises(ApiError) as info:
            await comm.communicate({"type": "Q"})
    assert info.value.error == "API_SERVER_ERROR"
    assert info.value.detail == {"status_code": 500, "message": "x"}
    assert str(info.value) == "[API_SERVER_ERROR] {'status_code': 500, 'message': 'x'}"


@pytest.mark.parametrize(
    ("code", "expected"),
    [("VARIABLE_NOT_FOUND", VariableNotFound), ("CONNECTION_NOT_FOUND", ConnectionNotFound)],
)
async def test_body_slot_error_response_raises_the_specific_error(
    pair: tuple[CoordinatorComm, FakeSupervisor], code: str, expected: type[ApiError]
) -> None:
    comm, sup = pair

    async def fail_one() -> None:
        request = await sup.receive_request()
        # a 2-element reply, as the Go tests send
        await sup.send_raw(
            _two_element(request.id, {"type": "ErrorResponse", "error": code, "detail": {"k": 1}})
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fail_one)
        with pytest.raises(expected) as info:
            await comm.communicate({"type": "Q"})
    assert info.value.error == code
    assert isinstance(info.value, KeyError)


def _two_element(frame_id: int, body: dict[str, object]) -> bytes:
    import msgpack

    payload: bytes = msgpack.packb([frame_id, body])
    return frame_prefix(len(payload)) + payload


async def test_eof_wakes_every_waiter_and_fails_later_calls(
    pair: tuple[CoordinatorComm, FakeSupervisor],
) -> None:
    comm, sup = pair
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await comm.communicate({"type": "Q"})
        except DispatcherClosed as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(call)
        for _ in range(3):
            await sup.receive_request()
        await sup.stream.aclose()
    assert len(errors) == 3
    assert all("closed the comm socket" in str(exc) for exc in errors)
    assert comm.closed
    assert await comm.wait_closed() is None
    with pytest.raises(DispatcherClosed):
        await comm.communicate({"type": "Q"})


async def test_bad_frame_closes_the_dispatcher_with_its_cause(
    pair: tuple[CoordinatorComm, FakeSupervisor],
) -> None:
    comm, sup = pair

    async def garbage() -> None:
        await sup.receive_request()
        await sup.send_raw(b"\x00\x00\x00\x01\xc1")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(garbage)
        with pytest.raises(DispatcherClosed, match="bad frame") as info:
            await comm.communicate({"type": "Q"})
    assert isinstance(info.value.cause, RemoteProtocolError)
    assert isinstance(info.value.__cause__, RemoteProtocolError)


async def test_cancelled_before_sending_writes_nothing(
    pair: tuple[CoordinatorComm, FakeSupervisor],
) -> None:
    comm, sup = pair
    with trio.CancelScope() as scope:
        scope.cancel()
        await comm.communicate({"type": "Q"})
    assert comm.statistics().requests_sent == 0
    assert comm.statistics().pending == 0
    with trio.move_on_after(0.01):
        await sup.receive_request()
    assert sup.received == []


async def test_cancelled_while_waiting_removes_the_waiter_and_drops_the_late_reply(
    pair: tuple[CoordinatorComm, FakeSupervisor], caplog: pytest.LogCaptureFixture
) -> None:
    comm, sup = pair
    caplog.set_level("DEBUG", logger="trio_coord.comm")
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:

            async def cancel_after_receipt() -> None:
                await sup.receive_request()
                scope.cancel()

            nursery.start_soon(cancel_after_receipt)
            await comm.communicate({"type": "Q"})
    assert scope.cancelled_caught
    assert comm.statistics().pending == 0
    await sup.send_frame(sup.received[0].id, {"type": "Late"})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sup.echo_requests, 1)
        assert await comm.communicate({"type": "Next"}) == {"type": "Echo", "echo": {"type": "Next"}}
    assert comm.statistics().replies_dropped == 1
    assert "no longer waiting" in caplog.text


async def test_unencodable_body_sends_nothing(pair: tuple[CoordinatorComm, FakeSupervisor]) -> None:
    comm, _ = pair
    with pytest.raises(LocalProtocolError):
        await comm.communicate({"type": "Q", "value": object()})
    assert comm.statistics().pending == 0
    assert comm.statistics().requests_sent == 0


async def test_write_failure_fails_the_call_and_later_ones(io_budget: None) -> None:
    client, server = trio.testing.memory_stream_pair()
    await server.aclose()
    client.send_stream.close()  # writes now raise ClosedResourceError
    async with open_coordinator_comm(client) as comm:
        with pytest.raises(DispatcherClosed, match="failed while writing"):
            await comm.communicate({"type": "Q"})
        assert comm.statistics().pending == 0
        with pytest.raises(DispatcherClosed):
            await comm.communicate({"type": "Q"})


async def test_stalled_write_is_bounded(autojump_clock: trio.testing.MockClock) -> None:
    client, _server = trio.testing.lockstep_stream_pair()  # nobody reads: send_all blocks
    async with trio.open_nursery() as nursery:
        comm = CoordinatorComm(client, nursery, write_timeout=5)
        start = trio.current_time()
        with pytest.raises(DispatcherClosed, match="stalled for more than 5 s"):
            await comm.communicate({"type": "Q"})
        assert trio.current_time() - start == pytest.approx(5)
        nursery.cancel_scope.cancel()


async def test_max_in_flight_makes_callers_wait_for_a_slot(io_budget: None) -> None:
    client, server = trio.testing.memory_stream_pair()
    sup = FakeSupervisor(server)
    async with trio.open_nursery() as nursery:
        comm = CoordinatorComm(client, nursery, max_in_flight=2)
        for n in range(5):
            nursery.start_soon(comm.communicate, {"type": "Call", "n": n})
        await trio.testing.wait_all_tasks_blocked()
        assert comm.statistics().pending == 2
        await sup.echo_requests(5)
        await trio.testing.wait_all_tasks_blocked()
        assert comm.statistics().pending == 0
        assert comm.statistics().requests_sent == 5
        nursery.cancel_scope.cancel()


async def test_submit_returns_once_written_then_waits(pair: tuple[CoordinatorComm, FakeSupervisor]) -> None:
    comm, sup = pair
    pending = await comm.submit({"type": "SucceedTask"})
    request = await sup.receive_request()
    assert request.id == pending.frame_id
    await sup.send_frame(request.id, None)
    assert await pending.wait() is None
    pending.abandon()
    pending.abandon()  # idempotent
    assert comm.statistics().pending == 0


async def test_send_request_writes_one_frame_with_the_given_id(
    pair: tuple[CoordinatorComm, FakeSupervisor],
) -> None:
    comm, sup = pair
    await comm.send_request(0, {"type": "TaskState", "state": "failed"})
    request = await sup.receive_request()
    assert (request.id, request.body) == (0, {"type": "TaskState", "state": "failed"})


async def test_deadlines_fail_only_the_late_requests(autojump_clock: trio.testing.MockClock) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    sup = FakeSupervisor(server_stream)
    outcomes: dict[str, str] = {}
    async with open_coordinator_comm(client_stream) as comm:

        async def call(name: str, seconds: float) -> None:
            try:
                await comm.communicate({"type": "Q", "name": name}, deadline=trio.current_time() + seconds)
            except trio.TooSlowError:
                outcomes[name] = f"timed out at {trio.current_time():g}"
            else:
                outcomes[name] = f"answered at {trio.current_time():g}"

        async with trio.open_nursery() as nursery:
            nursery.start_soon(call, "slow", 10.0)
            nursery.start_soon(call, "answered", 10.0)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(call, "earlier deadline, later request", 3.0)  # the timer must re-arm
            requests = {}
            for _ in range(3):
                request = await sup.receive_request()
                requests[request.body["name"]] = request.id
            await trio.sleep(5)
            await sup.send_frame(requests["answered"], {"type": "A"})
        assert outcomes == {
            "earlier deadline, later request": "timed out at 3",
            "answered": "answered at 5",
            "slow": "timed out at 10",
        }
        assert comm.statistics().pending == 0
        await sup.send_frame(requests["slow"], {"type": "Late"})  # dropped, not routed
        await trio.testing.wait_all_tasks_blocked()
        assert comm.statistics().replies_dropped == 1


async def test_a_timeout_counts_from_the_call_and_the_earlier_bound_wins(
    autojump_clock: trio.testing.MockClock,
) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    FakeSupervisor(server_stream)  # never answers
    async with open_coordinator_comm(client_stream) as comm:
        await trio.sleep(100)
        # (timeout, deadline as seconds from the call or None, when the call gives up)
        for timeout, deadline_in, expected_in in [(4.0, None, 4.0), (4.0, 2.0, 2.0), (4.0, 9.0, 4.0)]:
            start = trio.current_time()
            deadline = math.inf if deadline_in is None else start + deadline_in
            with pytest.raises(trio.TooSlowError):
                await comm.communicate({"type": "Q"}, timeout=timeout, deadline=deadline)
            assert trio.current_time() == start + expected_in
        assert comm.statistics().pending == 0


async def test_deadline_entries_of_finished_requests_do_not_pile_up(io_budget: None) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    sup = FakeSupervisor(server_stream)
    async with open_coordinator_comm(client_stream) as comm, trio.open_nursery() as nursery:
        nursery.start_soon(sup.echo_requests, 1000)
        for _ in range(1000):
            await comm.communicate({"type": "Q"}, deadline=trio.current_time() + 60)
        assert len(comm._deadlines) <= 2 * comm.statistics().pending + 65
