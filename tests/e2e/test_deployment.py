"""A real Airflow 3.3.2 runs the packed example bundle end to end (``nox -s e2e``).

The scheduler schedules, the LocalExecutor's workers run ``supervise_task``,
which routes queue ``trio`` to Airflow's own ``ExecutableCoordinator``; that
finds the packed bundle by Dag id and launches it. Everything is checked
through the public REST API, as a user would: final states, XComs in both
directions, and the trio task's log lines in the task log.

The ``airflow`` fixture starts one deployment for the whole session
(deployment.py): a fresh ``AIRFLOW_HOME``, the packed example bundle, ``db
migrate``, the api-server, dag-processor and scheduler, until the Dags under
``dags/`` are parsed; then it creates a variable and a connection and
triggers one run of every Dag, so the runs overlap and each test waits only
for its own. Its finalizer always stops every server it started and removes
the folder, also when the set-up failed half-way (``TRIO_COORD_E2E_KEEP=1``
keeps the folder, with every server's log, for a look afterwards).

Without ``apache-airflow`` installed the module is skipped, unless
``TRIO_COORD_E2E=1`` (set by the e2e nox session) says it must run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

if importlib.util.find_spec("airflow") is None:
    if os.environ.get("TRIO_COORD_E2E") == "1":
        raise RuntimeError("TRIO_COORD_E2E=1 but apache-airflow is not installed here (run nox -s e2e)")
    pytest.skip("needs apache-airflow==3.3.2 (nox -s e2e)", allow_module_level=True)

from .deployment import QUEUE, DagRunResult, Deployment, RestClient, seconds_between
from .timings import record, timed

#: Every Dag under dags/ (the deployment waits until each is parsed).
DAG_IDS = ("example_mixed", "example_retry", "e2e_no_bundle", "e2e_queue_typo")

#: What the session creates through the REST API before the runs start.
GREETING = "hello from the REST API"
WAREHOUSE = {
    "conn_type": "postgres",
    "host": "wh.example",
    "login": "etl",
    "password": "s3cret-e2e-password",
    "port": 5432,
    "schema": "analytics",
}


@dataclass
class Airflow:
    """The running deployment, its REST client and the runs triggered at start-up (by Dag id)."""

    deployment: Deployment
    rest: RestClient
    runs: dict[str, str]
    _finished: dict[str, DagRunResult] = field(default_factory=dict)

    def finished(self, dag_id: str) -> DagRunResult:
        """Wait (bounded) for the triggered run of ``dag_id`` to end; time it once."""
        if dag_id not in self._finished:
            result = self.deployment.wait_for_run(dag_id, self.runs[dag_id])
            self._finished[dag_id] = result
            _record_run(result)
        return self._finished[dag_id]


def _record_run(result: DagRunResult) -> None:
    """Record how long the run and each of its task instances took, by the server's clock."""
    if result.seconds is not None:
        record(f"run {result.dag_id}: queued -> {result.state}", result.seconds)
    for task_id, ti in result.task_instances.items():
        waited = seconds_between(ti.get("queued_when"), ti.get("start_date"))
        ran = seconds_between(ti.get("start_date"), ti.get("end_date"))
        if waited is not None and ran is not None:
            record(
                f"  {task_id} (queue {ti.get('queue')}, try {ti.get('try_number')}): queued -> running",
                waited,
            )
            record(f"  {task_id}: running -> {ti.get('state')}", ran)


@pytest.fixture(scope="session")
def airflow(request: pytest.FixtureRequest) -> Iterator[Airflow]:
    """One real Airflow deployment for the session, with every Dag run already triggered."""
    session_start = time.monotonic()
    deployment = Deployment()
    failed = True
    try:
        rest = deployment.start(DAG_IDS)
        with timed("create a variable and a connection (REST)"):
            rest.create_variable("example_greeting", GREETING)
            rest.create_connection("example_warehouse", **WAREHOUSE)
        with timed(f"trigger {len(DAG_IDS)} Dag runs (REST)"):
            runs = {dag_id: rest.trigger(dag_id) for dag_id in DAG_IDS}
        failed = False
        yield Airflow(deployment, rest, runs)
        failed = request.session.testsfailed > 0
    finally:
        if failed:
            print(f"\n[e2e] something failed; the server logs end with:{deployment.explain()}", flush=True)
        try:
            deployment.stop(keep=os.environ.get("TRIO_COORD_E2E_KEEP") == "1")
        finally:
            record("whole e2e session (set-up, runs, teardown)", time.monotonic() - session_start)


def _records(entries: list[dict[str, object]], **match: object) -> list[dict[str, object]]:
    return [entry for entry in entries if all(entry.get(k) == v for k, v in match.items())]


def _describe(entries: list[dict[str, object]]) -> str:
    return "\n".join(json.dumps(entry, default=str) for entry in entries)


def test_python_and_trio_tasks_pass_xcoms_both_ways(airflow: Airflow) -> None:
    run = airflow.finished("example_mixed")
    rest = airflow.rest

    states = {task_id: ti["state"] for task_id, ti in run.task_instances.items()}
    assert run.state == "success", f"{states}{airflow.deployment.explain('scheduler')}"
    assert states == {"produce": "success", "enrich": "success", "check": "success"}
    queues = {task_id: ti["queue"] for task_id, ti in run.task_instances.items()}
    assert queues == {"produce": "default", "enrich": QUEUE, "check": "default"}

    # Python -> trio: what produce returned is what enrich summed.
    assert rest.xcom("example_mixed", run.run_id, "produce") == {"rows": [3, 4, 5], "source": "python"}
    summary = {
        "greeting": GREETING,
        "total": 12,
        "rows": 3,
        "warehouse": f"{WAREHOUSE['conn_type']}://{WAREHOUSE['host']}",
    }
    assert rest.xcom("example_mixed", run.run_id, "enrich") == summary
    assert rest.xcom("example_mixed", run.run_id, "enrich", "row_count") == 3
    # trio -> Python: check pulled both and compared them with its own computation.
    assert rest.xcom("example_mixed", run.run_id, "check") == {"checked": summary, "row_count": 3}


def test_the_trio_tasks_log_lines_are_in_the_airflow_task_log(airflow: Airflow) -> None:
    run = airflow.finished("example_mixed")
    entries = airflow.rest.task_log("example_mixed", run.run_id, "enrich", 1)

    described = _describe(entries)
    enriched = _records(entries, event="enriched 3 rows from python for wh.example")
    assert len(enriched) == 1, described
    record = enriched[0]
    assert record["logger"] == "task.example_mixed.enrich", described
    assert record["level"] == "info", described
    assert (record["rows"], record["total"], record["warehouse"]) == (3, 12, "wh.example"), described
    assert record.get("timestamp"), described
    assert _records(entries, logger="trio_coord.runner", event="task example_mixed.enrich succeeded"), (
        described
    )
    # The task logs a uri with the connection's password in it; the log shows it masked by
    # trio_coord. (A field *named* like a secret, e.g. "dsn", Airflow's own masker blanks whole.)
    assert record["uri"] == f"{WAREHOUSE['conn_type']}://{WAREHOUSE['login']}:***@{WAREHOUSE['host']}", (
        described
    )
    assert str(WAREHOUSE["password"]) not in described


def test_a_trio_task_fails_its_first_try_and_succeeds_on_its_retry(airflow: Airflow) -> None:
    run = airflow.finished("example_retry")
    rest = airflow.rest

    flaky = run.task_instances["flaky"]
    assert (run.state, flaky["state"], flaky["try_number"]) == ("success", "success", 2), flaky
    tries = rest.tries("example_retry", run.run_id, "flaky")
    # Airflow archives a retried try as "failed" (its state was up_for_retry, not a final one).
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    assert rest.xcom("example_retry", run.run_id, "flaky") == "ok on try 2"
    assert rest.xcom("example_retry", run.run_id, "flaky", "attempt") == 2

    first = rest.task_log("example_retry", run.run_id, "flaky", 1)
    failed = _records(first, logger="trio_coord.runner", level="error")
    assert failed, _describe(first)
    assert "transient failure on the first try" in str(failed[0]["event"]), _describe(first)
    # The traceback, as structured frames (the supervisor renames trio_coord's "exception" field).
    error_detail = failed[0]["error_detail"]
    assert isinstance(error_detail, list), _describe(first)
    assert error_detail[0]["exc_type"] == "RuntimeError", _describe(first)
    second = rest.task_log("example_retry", run.run_id, "flaky", 2)
    assert _records(second, logger="task.example_retry.flaky", event="succeeded on try 2"), _describe(second)


def test_a_dag_without_a_bundle_fails_and_only_the_scheduler_says_why(airflow: Airflow) -> None:
    run = airflow.finished("e2e_no_bundle")

    orphan = run.task_instances["orphan"]
    assert (run.state, orphan["state"]) == ("failed", "failed"), orphan
    assert orphan["start_date"] is None, orphan  # it never started
    assert "cannot find executable bundle containing dag_id='e2e_no_bundle'" in (
        airflow.deployment.scheduler_output()
    ), airflow.deployment.explain("scheduler")
    log = airflow.rest.task_log("e2e_no_bundle", run.run_id, "orphan", 1)
    assert "cannot find executable bundle" not in _describe(log)


def test_a_queue_missing_from_queue_to_coordinator_runs_the_stub_as_python(airflow: Airflow) -> None:
    run = airflow.finished("e2e_queue_typo")

    misrouted = run.task_instances["misrouted"]
    assert (run.state, misrouted["state"], misrouted["queue"]) == ("failed", "failed", "trio-typo"), misrouted
    log = _describe(airflow.rest.task_log("e2e_queue_typo", run.run_id, "misrouted", 1))
    assert "@task.stub should not be executed directly" in log, log
