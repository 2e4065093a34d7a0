"""trio_coord under the real Airflow 1.3.2 task supervisor, one scenario per test.

Each test runs one task of ``interop_bundle.py`` through ``supervise_task``
(see ``harness.py``) and checks three things: the exit code and final state,
the exact Execution API calls the supervisor made (heartbeats aside: their
number depends on timing), and the records our task left in the task log.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import signal
import threading
import time
import uuid
from pathlib import Path
from unittest.mock import ANY

import pytest

if importlib.util.find_spec("airflow") is None:
    pytest.skip("needs apache-airflow-task-sdk==1.3.2 (nox -s interop)", allow_module_level=True)

import trio_coord
from trio_coord import ServeOptions

from .harness import (
    RUN_ID,
    WORKER_CWD,
    ApiCall,
    FakeExecutionAPI,
    Result,
    run,
    runtime_processes,
    start_call,
    state_call,
)
from .interop_bundle import SUCCEEDING_MARKER, WAITING_MARKER, WHERE_MARKER

PASSWORD = "s3cr3t-pa55word"


def xcom_path(task_id: str, key: str, dag_id: str = "interop") -> str:
    return f"xcoms/{dag_id}/{RUN_ID}/{task_id}/{key}"


def assert_heartbeats_are_well_formed(result: Result) -> None:
    for call in result.heartbeats:
        assert call.body == {"hostname": ANY, "pid": result.runtime_pid}


# ---------------------------------------------------------------------- which trio_coord runs


SOURCE_TREE = Path(__file__).resolve().parents[2]


def _installed_editable() -> bool | None:
    """Whether trio_coord is installed in editable mode (``None``: not installed at all)."""
    try:
        direct_url = importlib.metadata.distribution("trio_coord").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    return bool(direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"))


def test_the_runtime_imports_the_trio_coord_this_session_installed_not_the_source_tree() -> None:
    # The supervisor launches `python -m trio_coord serve` in its own working directory, and `-m`
    # puts that directory first on sys.path: from the project root, the runtime would import the
    # source tree while the tests believe they exercise the installed package.
    result = run("interop", "reports_where_it_runs")

    assert (result.exit_code, result.final_state) == (0, "success"), result.describe_log()
    record = result.record(event=WHERE_MARKER)
    runtime_file = Path(record["trio_coord_file"]).resolve()
    assert runtime_file == Path(trio_coord.__file__).resolve(), (
        f"the runtime imported {runtime_file}, the tests {trio_coord.__file__}"
    )
    if _installed_editable() is False:  # installed as a copy (nox): never the tree it was built from
        source_package = SOURCE_TREE / "trio_coord"
        assert runtime_file.parent != source_package, f"the runtime imported the source tree: {runtime_file}"
    assert Path(record["cwd"]).resolve() == WORKER_CWD.resolve()


# ---------------------------------------------------------------------- log fields the supervisor chokes on


def test_log_fields_named_like_the_supervisors_arguments_do_not_crash_it() -> None:
    # A field named target, self, method_name or positional_args raises out of the 1.3.2
    # supervisor's log loop (TI left running); trio_coord sends them with a trailing underscore.
    result = run("interop", "logs_awkward_fields", api=FakeExecutionAPI())

    assert (result.exit_code, result.final_state) == (0, "success"), result.describe_log()
    record = result.record(event="awkward fields")
    assert (record["target_"], record["self_"], record["method_name_"]) == ("t", "s", "m")
    assert record["positional_args_"] == ["p"]
    assert record["target__"] == "mine"


# ---------------------------------------------------------------------- 1. success


def test_success_reads_variable_connection_and_xcom_then_pushes() -> None:
    api = FakeExecutionAPI(
        variables={"greeting": "hello from the API"},
        connections={
            "warehouse": {
                "conn_type": "postgres",
                "host": "db.internal",
                "schema": "analytics",
                "login": "etl",
                "password": PASSWORD,
                "port": 5432,
                "extra": '{"sslmode": "require"}',
            }
        },
        xcoms={("interop", RUN_ID, "upstream", "return_value"): [1, 2, 3, 4]},
    )

    result = run("interop", "reads_everything", api=api)

    assert (result.exit_code, result.final_state) == (0, "success")
    assert result.calls_without_heartbeats == [
        start_call(result.ti),
        ApiCall("GET", "variables/greeting"),
        ApiCall("GET", "connections/warehouse"),
        ApiCall("GET", xcom_path("upstream", "return_value")),
        ApiCall("POST", xcom_path("reads_everything", "summary"), {}, {"total": 10, "rows": 4}),
        ApiCall(
            "POST",
            xcom_path("reads_everything", "return_value"),
            {},
            {"greeting": "hello from the API", "total": 10},
        ),
        state_call(result.ti, "success", task_outlets=[], outlet_events=[]),
    ]
    assert_heartbeats_are_well_formed(result)

    record = result.record(
        logger="task.interop.reads_everything", event="connected to db.internal as etl with password ***"
    )
    assert record["level"] == "info"
    assert record["timestamp"].startswith("20")
    assert record["greeting"] == "hello from the API"
    assert record["row_count"] == 4
    assert (record["conn.host"], record["conn.port"], record["conn.password"]) == ("db.internal", 5432, "***")
    assert PASSWORD not in result.log_text
    assert result.record(logger="trio_coord.runner", event="task interop.reads_everything succeeded")


# ---------------------------------------------------------------------- 2. missing variable


def test_missing_variable_is_caught_by_the_task_and_defaults_apply() -> None:
    result = run("interop", "handles_missing_variable", api=FakeExecutionAPI())

    assert (result.exit_code, result.final_state) == (0, "success")
    assert result.calls_without_heartbeats == [
        start_call(result.ti),
        ApiCall("GET", "variables/does_not_exist"),
        ApiCall("GET", "variables/also_missing"),
        ApiCall("GET", "variables/missing_json"),
        ApiCall("GET", "connections/no_such_conn"),
        ApiCall(
            "POST",
            xcom_path("handles_missing_variable", "return_value"),
            {},
            {"fallback": "the-default", "json_fallback": {"n": 1}},
        ),
        state_call(result.ti, "success", task_outlets=[], outlet_events=[]),
    ]

    task_logger = "task.interop.handles_missing_variable"
    missing = result.record(logger=task_logger, event="variable is missing, carrying on")
    assert (missing["level"], missing["error"]) == ("warning", "VariableNotFound")
    assert result.record(logger=task_logger, event="connection is missing, carrying on")["level"] == "warning"
    defaults = result.record(logger=task_logger, event="defaults used")
    assert (defaults["fallback"], defaults["json_fallback.n"]) == ("the-default", 1)


# ---------------------------------------------------------------------- 3. failure


def test_failure_without_retries_is_reported_failed_after_exit_0() -> None:
    result = run("interop", "fails", api=FakeExecutionAPI(run_context={"max_tries": 0}))

    assert (result.exit_code, result.final_state) == (0, "failed")
    # TaskState(failed) is not a state sent directly: the supervisor PATCHes it after the exit.
    assert result.calls_without_heartbeats == [start_call(result.ti), state_call(result.ti, "failed")]

    assert result.record(logger="task.interop.fails", event="about to fail")["level"] == "info"
    failure = result.record(
        logger="trio_coord.runner", event="task interop.fails failed: ValueError: boom: the input is bad"
    )
    assert failure["level"] == "error"
    (exception,) = failure["error_detail"]  # the supervisor renames "exception" to "error_detail"
    assert (exception["exc_type"], exception["exc_value"]) == ("ValueError", "boom: the input is bad")
    assert any(frame["name"] == "fails" for frame in exception["frames"])


def test_failure_with_retries_is_up_for_retry_with_the_error_as_reason() -> None:
    result = run("interop", "fails", api=FakeExecutionAPI(run_context={"max_tries": 2}))

    assert (result.exit_code, result.final_state) == (0, "up_for_retry")
    assert result.calls_without_heartbeats == [
        start_call(result.ti),
        state_call(result.ti, "up_for_retry", retry_delay_seconds=None, retry_reason=ANY),
    ]
    retry_reason = result.calls_without_heartbeats[-1].body["retry_reason"]
    assert "ValueError: boom: the input is bad" in retry_reason
    assert result.record(
        logger="trio_coord.runner", event="task interop.fails failed: ValueError: boom: the input is bad"
    )


def test_failure_on_the_last_try_is_failed() -> None:
    # The server computes should_retry = max_tries != 0 and try_number <= max_tries: false here.
    result = run("interop", "fails", api=FakeExecutionAPI(run_context={"max_tries": 1}), try_number=2)

    assert (result.exit_code, result.final_state) == (0, "failed")
    assert result.calls_without_heartbeats == [start_call(result.ti), state_call(result.ti, "failed")]


def test_fail_task_is_failed_even_when_the_run_may_retry() -> None:
    result = run("interop", "fails_without_retry", api=FakeExecutionAPI(run_context={"should_retry": True}))

    assert (result.exit_code, result.final_state) == (0, "failed")
    assert result.calls_without_heartbeats == [start_call(result.ti), state_call(result.ti, "failed")]
    failure = result.record(
        logger="trio_coord.runner",
        event="task interop.fails_without_retry failed (no retry): permanent problem, do not retry",
    )
    assert failure["error_detail"][0]["exc_type"] == "FailTask"


# ---------------------------------------------------------------------- 4. skip


def test_skip_task_is_skipped() -> None:
    result = run("interop", "skips", api=FakeExecutionAPI(run_context={"max_tries": 3}))

    assert (result.exit_code, result.final_state) == (0, "skipped")
    assert result.calls_without_heartbeats == [start_call(result.ti), state_call(result.ti, "skipped")]
    skipped = result.record(
        logger="trio_coord.runner", event="task interop.skips skipped: nothing to do today"
    )
    assert skipped["level"] == "info"


# ---------------------------------------------------------------------- 5. unknown task


@pytest.mark.parametrize(
    ("dag_id", "task_id"), [("interop", "no_such_task"), ("no_such_dag", "reads_everything")]
)
def test_unknown_task_is_removed(dag_id: str, task_id: str) -> None:
    result = run(dag_id, task_id)

    assert (result.exit_code, result.final_state) == (0, "removed")
    assert result.calls_without_heartbeats == [start_call(result.ti), state_call(result.ti, "removed")]
    record = result.record(
        logger="trio_coord.runner",
        event=f"task {task_id!r} of Dag {dag_id!r} is not registered in bundle 'trio_coord-interop'",
    )
    assert (record["level"], record["dag_id"], record["task_id"]) == ("error", dag_id, task_id)


# ---------------------------------------------------------------------- 6. SIGTERM mid-task


@pytest.mark.parametrize(
    ("deliver_to", "run_context", "final_state"),
    [
        pytest.param("runtime", {"max_tries": 0}, "failed", id="to-runtime-failed"),
        pytest.param("runtime", {"max_tries": 1}, "up_for_retry", id="to-runtime-up-for-retry"),
        pytest.param("supervisor", {"max_tries": 0}, "failed", id="forwarded-by-supervisor-failed"),
    ],
)
def test_sigterm_while_the_task_sleeps_cancels_it_promptly(
    deliver_to: str, run_context: dict[str, int], final_state: str
) -> None:
    result = run(
        "interop",
        "waits_for_cancellation",
        api=FakeExecutionAPI(run_context=run_context),
        signal_when_logged=(WAITING_MARKER, signal.SIGTERM, deliver_to),
    )

    assert (result.exit_code, result.final_state) == (0, final_state)
    # The task would sleep 60 s; it must end within seconds of the signal.
    assert result.signal_sent_after is not None
    assert result.duration - result.signal_sent_after < 10, result
    assert result.duration < 30

    if final_state == "failed":
        terminal = state_call(result.ti, "failed")
    else:
        terminal = state_call(result.ti, "up_for_retry", retry_delay_seconds=None, retry_reason=ANY)
    assert result.calls_without_heartbeats == [start_call(result.ti), terminal]
    if final_state == "up_for_retry":
        assert "cancel" in result.calls_without_heartbeats[-1].body["retry_reason"]

    assert result.record(logger="task.interop.waits_for_cancellation", event=WAITING_MARKER)
    received = result.record(logger="trio_coord.serve", event="received SIGTERM: cancelling the task")
    assert (received["level"], received["signal"]) == ("warning", "SIGTERM")
    cancelled = result.record(
        logger="trio_coord.runner",
        event="task interop.waits_for_cancellation was cancelled before it finished",
    )
    assert cancelled["level"] == "error"
    # Cancelled cooperatively: no "ignored cancellation ... reporting it as failed" on its behalf.
    assert not [r for r in result.log_records if "ignored cancellation" in str(r.get("event"))]


# ---------------------------------------------------------------------- 7. SIGTERM during SucceedTask's reply

#: The runtime's default timings (before issue 12, its watchdog thread sent a second
#: terminal frame when no reply to the first had come grace + 1 s after a signal).
DEFAULTS = ServeOptions()
#: How long the fake Execution API holds the supervisor's ``PATCH …/state`` (success):
#: 2 s past grace + 1 s, so that such a watchdog fires even on a loaded machine, and
#: well inside the runtime's bound on awaiting the reply (``terminal_timeout``).
LATE_ACK_DELAY = DEFAULTS.grace_period + 1.0 + 2.0


class SigtermWhileSucceeding:
    """A hook on ``PATCH …/state``: on the ``success`` call, SIGTERM the runtime, then stall.

    Runs in the supervisor's thread, which handles ``SucceedTask`` by making this
    call before it replies to the frame: the runtime gets the signal while it
    awaits that reply, and the reply comes ``delay`` seconds later.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.signalled_pid: int | None = None
        self.error: str | None = None
        self._lock = threading.Lock()

    def __call__(self, call: ApiCall) -> None:
        with self._lock:
            if call.body.get("state") != "success" or self.signalled_pid is not None:
                return
            runtimes = runtime_processes()
            if len(runtimes) != 1:
                self.error = f"expected one runtime process, found {runtimes}"
                return
            runtimes[0].send_signal(signal.SIGTERM)
            self.signalled_pid = runtimes[0].pid
        time.sleep(self.delay)


def test_sigterm_while_succeed_task_is_acknowledged_leaves_the_task_successful() -> None:
    # Issue 12: the 1.3.2 supervisor keeps the last TaskState it receives, so a second
    # terminal frame sent while SucceedTask awaits its reply would turn success into failure.
    assert DEFAULTS.terminal_timeout > LATE_ACK_DELAY, "the runtime would stop awaiting the reply"
    ti_id = uuid.uuid4()
    api = FakeExecutionAPI(run_context={"max_tries": 0})
    hook = SigtermWhileSucceeding(LATE_ACK_DELAY)
    api.on("PATCH", f"task-instances/{ti_id}/state", hook)

    result = run("interop", "succeeds", api=api, id=ti_id, timeout=30)

    assert hook.error is None, hook.error
    assert hook.signalled_pid == result.runtime_pid, "the SIGTERM did not reach the runtime"
    assert (result.exit_code, result.final_state) == (0, "success"), result.describe_log()
    # One terminal frame, SucceedTask, and the fake API's last state is success: a second
    # one would add a state call (RetryTask at once, TaskState failed after the exit).
    assert result.calls_without_heartbeats == [
        start_call(result.ti),
        state_call(result.ti, "success", task_outlets=[], outlet_events=[]),
    ], result.describe_log()

    assert result.record(logger="task.interop.succeeds", event=SUCCEEDING_MARKER)
    assert result.record(logger="trio_coord.runner", event="task interop.succeeds succeeded")
    received = result.record(logger="trio_coord.serve", event="received SIGTERM: cancelling the task")
    assert received["signal"] == "SIGTERM"
    assert "blocked the event loop" not in result.log_text, result.describe_log()
    assert "no reply came" not in result.log_text, result.describe_log()
