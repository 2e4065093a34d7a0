"""The terminal frame's owner, cancellation classification and lifecycle leaks (issue 12).

In-process, deterministic tests; the same defects are covered end to end,
with a real process and signals, in tests/faults.
"""

from __future__ import annotations

import socket
import threading

import pytest
import trio
import trio.testing

from trio_coord import (
    Bundle,
    CoordinatorClient,
    CoordinatorComm,
    DispatcherClosed,
    TaskContext,
    VariableNotFound,
    open_coordinator_comm,
)
from trio_coord._framing import FrameDecoder, decode_request, encode_response, frame_prefix
from trio_coord._messages import RetryTask, StartupDetails, SucceedTask, TaskState, TerminalMessage
from trio_coord._runner import MAX_REASON_LENGTH, describe_exception, run_task
from trio_coord._serve import ServeOptions, _dial_both, _Stopper
from trio_coord._terminal import TerminalGate, TerminalPhase
from trio_coord.testing import EmbeddedSupervisor

# ----------------------------------------------------------------- TerminalGate


def test_only_the_first_claim_wins_and_phases_only_move_forward() -> None:
    gate = TerminalGate()
    assert gate.exit_code() == 1
    assert gate.claim("runtime", SucceedTask())
    assert not gate.claim("watchdog", TaskState("failed"))
    assert gate.owner == "runtime"
    assert gate.exit_code() == 1  # writing: the frame may be cut short
    gate.advance("runtime", TerminalPhase.ACKNOWLEDGED)
    gate.advance("runtime", TerminalPhase.WRITTEN)  # never backwards
    assert gate.phase is TerminalPhase.ACKNOWLEDGED
    assert gate.exit_code() == 0
    with pytest.raises(RuntimeError, match="watchdog does not own"):
        gate.advance("watchdog", TerminalPhase.WRITTEN)


def test_a_released_claim_can_be_taken_again() -> None:
    gate = TerminalGate()
    assert gate.claim("runtime", SucceedTask())
    gate.release("runtime")
    assert gate.phase is TerminalPhase.NONE
    assert gate.claim("watchdog", TaskState("failed"))
    with pytest.raises(RuntimeError, match="cannot release"):
        gate.release("runtime")
    gate.advance("watchdog", TerminalPhase.WRITTEN)
    with pytest.raises(RuntimeError, match="cannot release"):
        gate.release("watchdog")  # bytes were written: nobody may send another


@pytest.mark.parametrize("round_", range(20))
def test_threads_racing_for_the_claim_get_exactly_one_winner(round_: int) -> None:
    gate = TerminalGate()
    start = threading.Barrier(8)
    winners: list[int] = []

    def contender(n: int) -> None:
        start.wait()
        if gate.claim(f"thread-{n}", TaskState("failed")):
            winners.append(n)

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert gate.owner == f"thread-{winners[0]}"


# ----------------------------------------------------------------- describing user exceptions


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class ReprOnly(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        return "ReprOnly(42)"


class NotAString(Exception):
    def __str__(self) -> str:
        return 42  # type: ignore[return-value]


def test_descriptions_never_raise_and_are_bounded() -> None:
    assert describe_exception(Unprintable()) == "Unprintable: <unprintable Unprintable>"
    assert describe_exception(ReprOnly()) == "ReprOnly: (str() failed) ReprOnly(42)"
    assert describe_exception(NotAString()).startswith("NotAString: (str() failed)")
    assert describe_exception(ValueError()) == "ValueError"
    huge = describe_exception(ValueError("y" * 100_000))
    assert len(huge) < MAX_REASON_LENGTH + 40
    assert huge.endswith(f"... ({len('ValueError: ') + 100_000 - MAX_REASON_LENGTH} more characters)")


# ----------------------------------------------------------------- run_task's classification

bundle = Bundle("terminal", "1.0")
dag = bundle.dag("d")


@dag.task
async def children_sleep(ctx: TaskContext) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep_forever)
        nursery.start_soon(trio.sleep_forever)
        await trio.sleep_forever()


@dag.task
async def error_during_cancellation(ctx: TaskContext) -> None:
    async def fails_when_cancelled() -> None:
        try:
            await trio.sleep_forever()
        finally:
            raise KeyError("cleanup")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep_forever)
        nursery.start_soon(fails_when_cancelled)


@dag.task
async def interrupt_in_a_nursery(ctx: TaskContext) -> None:
    async def interrupts() -> None:
        raise KeyboardInterrupt

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep_forever)
        nursery.start_soon(interrupts)


@dag.task
async def two_errors(ctx: TaskContext) -> None:
    raise ExceptionGroup("several", [ValueError("first"), TypeError("second")])


@dag.task
async def raises_unprintable(ctx: TaskContext) -> None:
    raise Unprintable


async def _run(task_id: str, *, max_tries: int = 2) -> TerminalMessage:
    details = StartupDetails.from_wire(
        EmbeddedSupervisor().startup_details("d", task_id, max_tries=max_tries)
    )
    client_stream, _server_stream = trio.testing.memory_stream_pair()
    async with open_coordinator_comm(client_stream) as comm:
        client = CoordinatorClient(comm)
        return await run_task(bundle, details, client)


async def _run_cancelled_after_start(task_id: str, *, max_tries: int = 2) -> TerminalMessage:
    details = StartupDetails.from_wire(
        EmbeddedSupervisor().startup_details("d", task_id, max_tries=max_tries)
    )
    client_stream, _server_stream = trio.testing.memory_stream_pair()
    async with open_coordinator_comm(client_stream) as comm:
        scope = trio.CancelScope()
        result: list[TerminalMessage] = []

        async def runner() -> None:
            result.append(await run_task(bundle, details, CoordinatorClient(comm), cancel_scope=scope))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(runner)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
        return result[0]


def outcome_of(terminal: TerminalMessage) -> tuple[str, str | None]:
    """What a terminal message says, without its timestamps."""
    if isinstance(terminal, RetryTask):
        return ("RetryTask", terminal.retry_reason)
    if isinstance(terminal, TaskState):
        return ("TaskState", terminal.state)
    return (terminal.type_name, None)


@pytest.mark.parametrize("max_tries", [0, 2])
async def test_a_cancelled_task_whose_children_sleep_in_a_nursery_is_cancelled(max_tries: int) -> None:
    terminal = await _run_cancelled_after_start("children_sleep", max_tries=max_tries)
    assert outcome_of(terminal) == (("RetryTask", "cancelled") if max_tries else ("TaskState", "failed"))


async def test_an_error_among_cancellations_is_reported_by_the_error() -> None:
    terminal = await _run_cancelled_after_start("error_during_cancellation")
    assert outcome_of(terminal) == ("RetryTask", "KeyError: 'cleanup'")


async def test_keyboard_interrupt_inside_a_group_is_named_as_if_raised_alone() -> None:
    assert outcome_of(await _run("interrupt_in_a_nursery")) == ("RetryTask", "KeyboardInterrupt")


async def test_a_group_of_real_errors_is_reported_by_the_first() -> None:
    terminal = await _run("two_errors")
    assert outcome_of(terminal) == (
        "RetryTask",
        "ValueError: first (and 1 more in ExceptionGroup: several (2 sub-exceptions))",
    )


async def test_an_unprintable_exception_becomes_a_terminal_message() -> None:
    terminal = await _run("raises_unprintable")
    assert outcome_of(terminal) == ("RetryTask", "Unprintable: <unprintable Unprintable>")


async def test_a_cancellation_that_is_not_ours_propagates_even_from_a_nursery() -> None:
    details = StartupDetails.from_wire(
        EmbeddedSupervisor().startup_details("d", "children_sleep", max_tries=2)
    )
    client_stream, _server_stream = trio.testing.memory_stream_pair()
    returned: list[TerminalMessage] = []
    async with open_coordinator_comm(client_stream) as comm:
        with trio.CancelScope() as outer:

            async def runner() -> None:
                returned.append(
                    await run_task(bundle, details, CoordinatorClient(comm), cancel_scope=trio.CancelScope())
                )

            async with trio.open_nursery() as nursery:
                nursery.start_soon(runner)
                await trio.testing.wait_all_tasks_blocked()
                outer.cancel()  # not run_task's scope
        assert outer.cancelled_caught
    assert returned == []  # nothing was reported: the cancellation went through


# ----------------------------------------------------------------- lifecycle leaks


async def test_aclose_ends_the_deadline_timer_so_the_owning_nursery_exits() -> None:
    client_stream, _server_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(5):  # a hang detector: the timer used to sleep forever
        async with trio.open_nursery() as nursery:
            comm = CoordinatorComm(client_stream, nursery)

            async def ask() -> None:
                with pytest.raises(DispatcherClosed):
                    await comm.communicate(
                        {"type": "GetVariable", "key": "k"}, deadline=trio.current_time() + 1000
                    )

            nursery.start_soon(ask)
            await trio.testing.wait_all_tasks_blocked()
            await comm.aclose()
    assert comm.closed


async def test_an_exception_in_the_body_of_open_coordinator_comm_is_not_wrapped() -> None:
    client_stream, _server_stream = trio.testing.memory_stream_pair()
    cause = ValueError("the cause")
    with pytest.raises(VariableNotFound) as info:
        async with open_coordinator_comm(client_stream):
            raise VariableNotFound("VARIABLE_NOT_FOUND", {"key": "k"}) from cause
    assert info.value.__cause__ is cause
    assert not isinstance(info.value, BaseExceptionGroup)


async def test_a_cancellation_of_the_body_of_open_coordinator_comm_is_not_wrapped() -> None:
    client_stream, _server_stream = trio.testing.memory_stream_pair()
    with trio.CancelScope() as scope:
        async with open_coordinator_comm(client_stream):
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught


async def test_a_stop_while_dialling_propagates_and_closes_what_was_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[trio.SocketStream] = []
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]

    async def fake_dial(
        address: tuple[str, int], what: str, seconds: float, stopper: _Stopper
    ) -> trio.SocketStream:
        if what == "logs":
            await trio.sleep_forever()  # the logs socket never connects
        stream = await trio.open_tcp_stream(*address)
        opened.append(stream)
        return stream

    monkeypatch.setattr("trio_coord._serve._dial", fake_dial)
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:

            async def dial() -> None:
                await _dial_both(("127.0.0.1", port), ("127.0.0.1", port), ServeOptions(), _Stopper(1.0))
                raise AssertionError("a cancelled dial must not return normally")

            nursery.start_soon(dial)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
    assert scope.cancelled_caught
    assert len(opened) == 1
    assert opened[0].socket.fileno() == -1  # closed, not leaked
    await listener.aclose()


# ----------------------------------------------------------------- a partly written frame


async def test_mid_frame_is_true_only_while_a_frame_is_partly_written() -> None:
    left, right = socket.socketpair()
    left.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    right.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(left))
    peer = trio.SocketStream(trio.socket.from_stdlib_socket(right))
    decoder = FrameDecoder()
    async with trio.open_nursery() as nursery:
        comm = CoordinatorComm(stream, nursery)

        def mid_frame() -> bool:
            return comm.mid_frame

        assert not mid_frame()
        big = {"type": "SetXCom", "key": "k", "value": "z" * 1_000_000}

        async def send() -> None:
            await comm.send_request(7, big)

        nursery.start_soon(send)
        await trio.testing.wait_all_tasks_blocked()
        assert mid_frame()  # the socket took part of the frame
        frames: list[bytes | bytearray | memoryview] = []
        while not frames:
            decoder.receive_data(await peer.receive_some(1 << 20))
            frames.extend(iter(decoder.next_frame, None))
        await trio.testing.wait_all_tasks_blocked()
        assert not mid_frame()
        assert decode_request(frames[0]).body == big
        await comm.aclose()
    await peer.aclose()


async def test_a_reply_routes_after_a_reserved_id() -> None:
    # serve reserves an id for the watchdog before the task's requests: ids stay unique.
    client_stream, server_stream = trio.testing.memory_stream_pair()
    async with open_coordinator_comm(client_stream) as comm:
        reserved = comm.next_id()

        async def answer() -> None:
            decoder = FrameDecoder()
            while (payload := decoder.next_frame()) is None:
                decoder.receive_data(await server_stream.receive_some(65536))
            request = decode_request(payload)
            assert request.id != reserved
            reply = encode_response(request.id, {"type": "VariableResult", "key": "k", "value": "v"})
            await server_stream.send_all(frame_prefix(len(reply)) + reply)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer)
            assert await CoordinatorClient(comm).get_variable("k") == "v"
