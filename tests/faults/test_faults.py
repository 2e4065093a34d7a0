"""Fault injection: the supervisor or the task misbehaves; the runtime never hangs or loses data.

Each test asserts the exit code, the terminal frame (or its absence), the log
lines, and a time bound. The bounds are hang detectors, far above what a
healthy run takes (well under a second), not speed measurements.
"""

from __future__ import annotations

import resource
import signal
import tempfile

import msgpack
import pytest

from .fault_bundle import HUGE, LINES
from .harness import Fault, FaultRun, frame, run_faulty

pytestmark = pytest.mark.usefixtures("io_budget")

PROMPT: float = 15.0  # "promptly": any healthy reaction is far below this


def assert_clean_failure(run: FaultRun, *needles: str) -> None:
    """Exit non-zero, no terminal frame, a one-line reason naming the problem, no traceback."""
    assert run.exit_code == 1, (run.exit_code, run.stderr)
    assert run.terminal is None
    text = run.stderr_text()
    assert "Traceback" not in text
    errors = [line for line in run.stderr if line.startswith("trio_coord: error:")]
    assert errors, text
    for needle in needles:
        assert any(needle in line for line in errors), (needle, errors)
    assert run.elapsed < PROMPT


# ----------------------------------------------------------------- the supervisor goes away


async def test_comm_closed_mid_request() -> None:
    run = await run_faulty("request_then_sleep", Fault(on_request=lambda _: "close"))
    assert_clean_failure(run, "could not deliver", "the supervisor closed the comm socket")
    assert "asking" in run.events()
    assert any("DispatcherClosed" in event for event in run.events())  # the task's request failed


async def test_comm_closed_mid_task() -> None:
    run = await run_faulty("sleeps", Fault(close_after_first_frame=True))
    assert_clean_failure(run)
    assert any("comm socket closed while the task ran" in event for event in run.events())


# ----------------------------------------------------------------- the logs socket misbehaves


@pytest.mark.parametrize("mode", ["refuse", "close", "stall"])
async def test_logs_socket_faults_lose_no_line_and_block_nothing(mode: str) -> None:
    run = await run_faulty("logs_many", Fault(logs=mode), bound=60)  # type: ignore[arg-type]
    assert run.exit_code == 0, run.stderr[-5:]
    assert run.terminal is not None
    assert run.terminal["type"] == "SucceedTask"
    seen = {line.get("i") for line in run.log_lines}
    for text in run.stderr:  # the fallback: JSON lines on stderr
        if text.startswith("{"):
            seen.add(__import__("json").loads(text).get("i"))
    if mode == "stall":  # what the kernel buffered before the stall still counts
        for raw in run.raw_log_bytes.splitlines():
            if raw.endswith(b"}"):
                seen.add(__import__("json").loads(raw).get("i"))
    missing = set(range(LINES)) - seen
    assert not missing, f"{len(missing)} lines lost, e.g. {sorted(missing)[:5]}"
    assert "all logged" in run.events()
    assert run.elapsed < 30


# ----------------------------------------------------------------- malformed frames

_VALID_BODY = {"type": "StartupDetails"}


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (frame(b"\xc1"), "not valid msgpack"),
        (frame(msgpack.packb({"id": 0})), "must be a msgpack array"),
        (frame(msgpack.packb([0])), "at least 2 elements"),
        (frame(msgpack.packb(["0", _VALID_BODY, None])), "id must be an integer"),
        (frame(msgpack.packb([0, "body", None])), "frame body must be a map"),
        (frame(msgpack.packb([0, {"type": "DagFileParseRequest"}, None])), "expected StartupDetails"),
        (frame(msgpack.packb([0, {"type": "StartupDetails", "ti": {}}, None])), "invalid StartupDetails"),
        (frame(msgpack.packb([0, None, {"error": "GENERIC_ERROR"}])), "first frame is an error"),
        (b"\xff\xff\xff\xff", "0 of 4294967295"),
        (frame(b"\x93\x00\x80\xc0")[:6], "connection closed inside a frame"),
        (b"\x00\x00\x00\x00", "zero-length frame"),
        (b"", "closed the comm socket before sending StartupDetails"),
    ],
    ids=[
        "not-msgpack",
        "not-an-array",
        "wrong-arity",
        "non-int-id",
        "body-not-a-map",
        "unknown-first-message",
        "startup-missing-fields",
        "error-frame-first",
        "4GiB-prefix-no-data",
        "truncated",
        "zero-length",
        "nothing",
    ],
)
async def test_malformed_first_frame(raw: bytes, needle: str) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    run = await run_faulty("ok", Fault(first_frame=raw, close_after_first_frame=True))
    assert_clean_failure(run, needle)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert max(before, peak_kib) < 200 * 1024  # bounded memory: nothing sized by a hostile prefix


async def test_malformed_reply_mid_task_cancels_and_exits_non_zero() -> None:
    run = await run_faulty("request_then_sleep", Fault(on_request=lambda _: frame(b"\xc1")))
    assert_clean_failure(run, "could not deliver")
    assert any("bad frame from the supervisor" in event for event in run.events())


# ----------------------------------------------------------------- replies that never come


async def test_a_reply_that_never_comes_times_out_naming_the_request() -> None:
    fault = Fault(on_request=lambda r: "ignore" if r.body.get("key") == "never" else "reply")
    run = await run_faulty("catches_timeout", fault, env={"TRIO_COORD_REQUEST_TIMEOUT": "1"})
    assert run.exit_code == 0
    assert run.terminal is not None
    assert run.terminal["type"] == "SucceedTask"
    assert any("GetVariable(key='never'): no reply from the supervisor within 1 s" in e for e in run.events())


async def test_an_unhandled_timeout_fails_the_task_with_the_request_named() -> None:
    fault = Fault(on_request=lambda _: "ignore", max_tries=2)
    run = await run_faulty("lets_timeout_fail", fault, env={"TRIO_COORD_REQUEST_TIMEOUT": "1"})
    assert run.exit_code == 0
    assert run.terminal is not None
    assert run.terminal["type"] == "RetryTask"
    assert "GetVariable(key='never')" in str(run.terminal["retry_reason"])


# ----------------------------------------------------------------- signals


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT,)])
async def test_signals_cancel_cooperatively_and_report(signals: tuple[signal.Signals, ...]) -> None:
    run = await run_faulty("sleeps", Fault(signals=signals, signal_on="sleeping"))
    assert run.exit_code == 0, run.stderr
    assert run.terminal is not None
    assert run.terminal["type"] == "TaskState"
    assert run.terminal["state"] == "failed"
    assert f"received {signals[0].name}: cancelling the task" in run.events()
    assert run.elapsed < PROMPT


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
async def test_a_second_signal_while_stopping_is_ignored(second: signal.Signals) -> None:
    # the task takes 0.5 s to clean up after cancellation; the second signal lands then
    run = await run_faulty("slow_to_stop", Fault(signals=(signal.SIGTERM, second), signal_on="sleeping"))
    assert run.exit_code == 0, run.stderr
    assert run.terminal is not None
    assert run.terminal["state"] == "failed"
    events = run.events()
    assert "cleaning up" in events
    assert f"received {second.name} again; already stopping (received SIGTERM)" in events
    assert run.elapsed < PROMPT


async def test_signal_during_the_terminal_send_is_harmless() -> None:
    # the task ends the moment it logs; the signals land while it reports
    run = await run_faulty("ok", Fault(signals=(signal.SIGTERM, signal.SIGTERM), signal_on="ok ran"))
    assert run.exit_code == 0, run.stderr
    assert run.terminal is not None
    assert run.terminal["type"] in ("SucceedTask", "TaskState")


async def test_a_shielded_task_still_reports_within_the_grace_period() -> None:
    run = await run_faulty("shielded", Fault(signals=(signal.SIGTERM,), signal_on="sleeping", max_tries=2))
    assert run.exit_code == 0, run.stderr
    assert run.terminal is not None
    assert run.terminal["type"] == "RetryTask"
    assert "did not stop within the grace period" in str(run.terminal["retry_reason"])
    assert any("ignored cancellation for 3 s" in event for event in run.events())
    assert run.elapsed < 10  # grace 3 s: under the supervisor's 5 s between SIGTERM and SIGKILL


async def test_a_task_blocking_the_event_loop_is_reported_by_the_watchdog() -> None:
    fault = Fault(signals=(signal.SIGTERM,), signal_on_stdout="blocking the event loop now", max_tries=2)
    run = await run_faulty("blocks_the_loop", fault)
    assert run.exit_code == 0, run.stderr
    assert run.terminal is not None
    assert run.terminal["type"] == "RetryTask"
    assert "blocked the event loop after received SIGTERM" in str(run.terminal["retry_reason"])
    assert any("sent RetryTask on its behalf" in line for line in run.stderr)
    assert run.elapsed < 10  # grace 3 s + 1 s: under the supervisor's 5 s SIGKILL


# ----------------------------------------------------------------- what user code does


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        ("raises_group", "ExceptionGroup: many"),
        ("raises_keyboard_interrupt", "KeyboardInterrupt"),
        ("raises_system_exit", "SystemExit"),
        ("raises_base_exception", "CustomBase: custom base"),
        ("returns_unencodable", "set is not JSON-serialisable"),
    ],
)
async def test_anything_the_task_raises_becomes_a_terminal_state(task: str, reason: str) -> None:
    run = await run_faulty(task, Fault(max_tries=2))
    assert run.exit_code == 0, run.stderr
    assert run.terminal is not None
    assert run.terminal["type"] == "RetryTask"
    assert reason in str(run.terminal["retry_reason"])
    assert run.elapsed < PROMPT


async def test_strange_log_calls_and_threads_lose_nothing() -> None:
    run = await run_faulty("logs_strange_things")
    assert run.exit_code == 0
    events = run.events()
    assert "weird" in events
    assert "threads done" in events
    for n in range(4):
        assert [e for e in events if e.startswith(f"t{n}-")] == [f"t{n}-{i}" for i in range(200)]


# ----------------------------------------------------------------- security


async def test_secrets_never_reach_the_logs() -> None:
    fault = Fault(variables={"service_api_key": "api-k3y-value"}, max_tries=2)
    run = await run_faulty("logs_secrets", fault)
    assert run.exit_code == 0
    everything = run.raw_log_bytes.decode() + run.stderr_text()
    for secret in ("s3cr3t-value-123", "api-k3y-value", "pg-pa55word!", "extra-t0ken-value"):
        assert secret not in everything, secret
    assert run.terminal is not None
    assert "s3cr3t-value-123" not in str(run.terminal["retry_reason"])
    masks = [r for r in run.requests if r.get("type") == "MaskSecret"]
    assert masks == [{"type": "MaskSecret", "value": "s3cr3t-value-123", "name": None}]


async def test_sockets_are_not_inherited_by_children() -> None:
    run = await run_faulty("spawns_a_child")
    assert run.exit_code == 0, run.stderr
    pushed = [r for r in run.requests if r.get("type") == "SetXCom"]
    value = pushed[0]["value"]
    assert isinstance(value, dict)
    assert len(value["sockets"]) >= 2  # the comm and logs sockets
    assert value["inherited"] == []


async def test_stdin_is_never_read() -> None:
    with tempfile.TemporaryFile() as stdin:
        stdin.write(b"do not read me\n" * 100)
        stdin.seek(0)
        run = await run_faulty("ok", stdin=stdin.fileno())
        assert run.exit_code == 0
        assert stdin.tell() == 0  # the shared file offset did not move


# ----------------------------------------------------------------- one right terminal frame

GRACE = 3.0  # ServeOptions' default grace period; the watchdog acts a second after it


def assert_one_terminal(run: FaultRun, kind: str, **fields: object) -> dict[str, object]:
    """Exactly one terminal frame, of ``kind`` with ``fields``; exit 0; no traceback."""
    assert run.exit_code == 0, (run.exit_code, run.stderr[-10:])
    assert len(run.terminals) == 1, run.terminals
    terminal = run.terminals[0]
    assert terminal["type"] == kind, terminal
    for name, value in fields.items():
        assert terminal[name] == value, (name, terminal)
    assert "Traceback" not in run.stderr_text()
    return terminal


async def test_a_late_acknowledgement_after_sigterm_gets_no_second_terminal() -> None:
    # The supervisor calls the Execution API (with retries) before it acknowledges a
    # terminal frame; SIGTERM lands meanwhile. The watchdog must not send a second one.
    fault = Fault(signals=(signal.SIGTERM,), signal_on_terminal=True, terminal_ack_delay=GRACE + 1.5)
    run = await run_faulty("ok", fault)
    assert_one_terminal(run, "SucceedTask")
    assert not any("blocked the event loop" in line for line in run.stderr), run.stderr
    assert "received SIGTERM: cancelling the task" in run.events()


async def test_a_terminal_frame_never_acknowledged_still_exits_zero() -> None:
    run = await run_faulty("ok", Fault(terminal_ack_delay=None), env={"TRIO_COORD_TERMINAL_TIMEOUT": "1"})
    assert_one_terminal(run, "SucceedTask")
    assert any("SucceedTask was sent, but no reply came within 1 s" in e for e in run.events())


async def test_a_terminal_frame_never_acknowledged_with_a_signal_in_flight() -> None:
    fault = Fault(signals=(signal.SIGTERM, signal.SIGINT), signal_on_terminal=True, terminal_ack_delay=None)
    run = await run_faulty("ok", fault, env={"TRIO_COORD_TERMINAL_TIMEOUT": str(GRACE + 2)})
    assert_one_terminal(run, "SucceedTask")
    assert not any("blocked the event loop" in line for line in run.stderr), run.stderr


async def test_the_comm_socket_closing_before_the_acknowledgement_exits_zero() -> None:
    # The frame was written whole: the state is in it (the exit-code contract).
    run = await run_faulty("ok", Fault(close_comm_on_terminal=True))
    assert_one_terminal(run, "SucceedTask")


async def test_a_signal_before_startup_details_still_reports_the_run() -> None:
    fault = Fault(signals=(signal.SIGTERM,), signal_on_connect=True, startup_delay=0.5, max_tries=2)
    run = await run_faulty("ok", fault)
    assert_one_terminal(run, "RetryTask", retry_reason="cancelled")
    assert "ok ran" not in run.events()  # the task never started
    assert any("not started: received SIGTERM before it could start" in e for e in run.events())


@pytest.mark.parametrize("task", ["nursery_sleepers", "nested_nurseries", "sleeps"])
@pytest.mark.parametrize("max_tries", [0, 2])
async def test_cancelling_a_task_with_nurseries_reports_a_cancellation(task: str, max_tries: int) -> None:
    run = await run_faulty(task, Fault(signals=(signal.SIGTERM,), signal_on="sleeping", max_tries=max_tries))
    if max_tries:
        assert_one_terminal(run, "RetryTask", retry_reason="cancelled")
    else:
        assert_one_terminal(run, "TaskState", state="failed")
    events = run.events()
    assert any("was cancelled before it finished" in event for event in events), events
    assert not any("ExceptionGroup" in event for event in events), events
    assert run.elapsed < PROMPT


async def test_an_error_among_cancellations_is_reported_by_the_error() -> None:
    fault = Fault(signals=(signal.SIGTERM,), signal_on="sleeping", max_tries=2)
    run = await run_faulty("error_among_cancellations", fault)
    terminal = assert_one_terminal(run, "RetryTask")
    assert terminal["retry_reason"] == "RuntimeError: cleanup failed"
    failed = [
        line for line in run.log_lines if "failed: RuntimeError: cleanup failed" in str(line.get("event"))
    ]
    assert failed, run.events()
    # the log line carries the whole group
    exception = failed[0]["exception"]
    assert isinstance(exception, list)
    assert exception[0]["is_group"] is True


async def test_an_unprintable_exception_is_still_reported() -> None:
    run = await run_faulty("raises_unprintable", Fault(max_tries=2))
    assert_one_terminal(run, "RetryTask", retry_reason="Unprintable: <unprintable Unprintable>")
    assert run.elapsed < PROMPT


async def test_a_huge_exception_message_is_bounded() -> None:
    run = await run_faulty("raises_huge_message", Fault(max_tries=2))
    terminal = assert_one_terminal(run, "RetryTask")
    reason = str(terminal["retry_reason"])
    assert reason.startswith("ValueError: xxx")
    assert len(reason) == 500  # Airflow's retry_reason column; cut with an ellipsis
    assert reason.endswith("x…")
    failed = next(line for line in run.log_lines if str(line.get("event", "")).startswith("task faults."))
    event = str(failed["event"])  # the log line's reason is bounded too
    assert event.endswith(f"... ({len('ValueError: ') + HUGE - 4096} more characters)")
    assert len(event) < 4200


async def test_extra_fields_with_sensitive_names_are_masked() -> None:
    run = await run_faulty("logs_sensitive_extra")
    assert run.exit_code == 0
    line = next(line for line in run.log_lines if line.get("event") == "connecting")
    assert line["password"] == "***"
    assert line["db.api_key"] == "***"
    assert line["db.host"] == "db.local"
    assert line["retries"] == 3
    assert "hunter2-password" not in run.raw_log_bytes.decode()
