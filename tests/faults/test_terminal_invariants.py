"""The terminal-frame contract as invariants over generated fault schedules (issue 12).

Each example launches ``python -m trio_coord serve`` against the fault
harness's supervisor with one combination of:

* what the task does (succeeds, raises, runs children in a nursery, hides in a
  shielded scope longer than the grace period, blocks the event loop longer
  than the grace period plus a second);
* when SIGTERM lands (never, before StartupDetails, while the task runs, while
  the terminal frame awaits its acknowledgement);
* when the supervisor acknowledges the terminal frame (at once, later than the
  grace period plus a second, never);
* whether the comm socket is lost (never, while the task runs, right after
  the terminal frame arrived).

and checks, for every example:

1. at most one terminal frame, ever;
2. exactly one whenever the comm socket stays up;
3. its state matches what the task did (the task prints ``OUTCOME ...`` to
   standard output, which leaves even when its event loop is blocked);
4. the exit code follows the contract (0 once a terminal frame was written,
   1 with a one-line reason otherwise);
5. no traceback, and the process ends within its bound.

The grace period is 1 s and the terminal timeout 3 s here
(``TRIO_COORD_GRACE_PERIOD``, ``TRIO_COORD_TERMINAL_TIMEOUT``) to keep each
example short. Under ``CI`` the examples are derandomized (a fixed seed);
``TRIO_COORD_INVARIANT_EXAMPLES`` sets how many run per task behaviour
(default 8, so 40 in all).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from .harness import Fault, FaultRun, run_faulty

pytestmark = pytest.mark.usefixtures("io_budget")

GRACE = 1.0
TERMINAL_TIMEOUT = 3.0
LATE = GRACE + 1.0 + 0.5  # later than the watchdog's deadline
BOUND = 15.0  # a hang detector, far above the slowest schedule (about 6 s)
EXAMPLES = int(os.environ.get("TRIO_COORD_INVARIANT_EXAMPLES", "8"))

SCRIPTS = ("succeed", "fail", "nursery", "shielded", "blocks")
SIGNALS = ("none", "before", "during", "in_flight")
ACKS = ("prompt", "late", "never")
COMM_LOSS = ("none", "during", "after_terminal")


@dataclass(frozen=True)
class Schedule:
    script: str
    signal: str
    ack: str
    comm_loss: str

    def fault(self) -> Fault:
        return Fault(
            max_tries=2,  # failures are RetryTask, whose reason says which failure it is
            signals=(signal.SIGTERM,) if self.signal != "none" else (),
            signal_on_connect=self.signal == "before",
            startup_delay=0.3 if self.signal == "before" else 0.0,
            # stdout, not the logs socket: a task that blocks its event loop cannot log
            signal_on_stdout="task started" if self.signal == "during" else "",
            signal_on_terminal=self.signal == "in_flight",
            terminal_ack_delay={"prompt": 0.0, "late": LATE, "never": None}[self.ack],
            close_comm_on="task started" if self.comm_loss == "during" else "",
            close_comm_on_terminal=self.comm_loss == "after_terminal",
        )


def _outcomes(run: FaultRun) -> list[str]:
    return [line.removeprefix("OUTCOME ") for line in run.stdout if line.startswith("OUTCOME ")]


def check_invariants(schedule: Schedule, run: FaultRun) -> None:
    terminals = run.terminals
    # 1. at most one terminal frame, ever
    assert len(terminals) <= 1, terminals
    # 2. exactly one whenever the comm socket stays up
    if schedule.comm_loss != "during":
        assert len(terminals) == 1, (terminals, run.stderr[-8:])
    # 5. no traceback, bounded
    assert "Traceback" not in run.stderr_text(), run.stderr_text()[-3000:]
    assert run.elapsed < BOUND
    # 4. the exit code contract
    if terminals:
        assert run.exit_code == 0, (run.exit_code, run.stderr[-8:])
    else:
        assert run.exit_code in (0, 1), run.exit_code
        if run.exit_code == 1:
            assert any(line.startswith("trio_coord: error:") for line in run.stderr), run.stderr[-8:]
    if not terminals:
        return
    # 3. the state matches what the task did
    terminal = terminals[0]
    outcomes = _outcomes(run)
    started = "task started" in run.stdout
    stopped = schedule.signal in ("before", "during") or schedule.comm_loss == "during"
    if terminal["type"] == "SucceedTask":
        assert outcomes == ["succeeded"], (outcomes, terminal)
        return
    assert terminal["type"] == "RetryTask", terminal
    reason = str(terminal["retry_reason"])
    if reason == "ValueError: scripted failure":
        assert outcomes == ["raised"], (outcomes, terminal)
    elif reason == "cancelled":
        assert stopped, (schedule, terminal)
        assert outcomes == ["cancelled"] or (schedule.signal == "before" and not started), (
            outcomes,
            schedule,
        )
    elif "did not stop within the grace period" in reason:
        assert schedule.script == "shielded", (schedule, terminal)
        assert stopped, (schedule, terminal)
    elif "blocked the event loop" in reason:
        assert schedule.script == "blocks", (schedule, terminal)
        assert schedule.signal == "during", (schedule, terminal)
    else:
        raise AssertionError(f"unexpected terminal {terminal} for {schedule}")
    # Nothing stopped the task: it was reported as it ended.
    if not stopped:
        assert outcomes == ["raised"], (schedule, terminal, outcomes)
        assert reason == "ValueError: scripted failure", (schedule, terminal)


@pytest.mark.parametrize("script", SCRIPTS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(
    signal_timing=st.sampled_from(SIGNALS),
    ack=st.sampled_from(ACKS),
    comm_loss=st.sampled_from(COMM_LOSS),
)
async def test_exactly_one_right_terminal_frame_under_any_schedule(
    script: str, signal_timing: str, ack: str, comm_loss: str
) -> None:
    schedule = Schedule(script, signal_timing, ack, comm_loss)
    event(f"signal={schedule.signal}")
    event(f"ack={schedule.ack}")
    event(f"comm_loss={schedule.comm_loss}")
    env = {
        "TRIO_COORD_FAULT_SCRIPT": schedule.script,
        "TRIO_COORD_GRACE_PERIOD": str(GRACE),
        "TRIO_COORD_TERMINAL_TIMEOUT": str(TERMINAL_TIMEOUT),
    }
    run = await run_faulty("scripted", schedule.fault(), env=env, bound=BOUND + 5)
    check_invariants(schedule, run)
