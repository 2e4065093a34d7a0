"""A real Airflow 3.3.2, started by ``python -m trio_coord dev``, runs the example bundle (``nox -s e2e``).

The scheduler schedules, the LocalExecutor's workers run ``supervise_task``,
which routes queue ``trio`` to Airflow's own ``ExecutableCoordinator``; that
finds the packed bundle by Dag id and launches it. Everything is checked
through the public REST API, as a user would: final states, XComs in both
directions, and the trio task's log lines in the task log.

The ``airflow`` fixture starts one deployment for this module with ``dev``
(deployment.py), serving a copy of the example bundle for the Dags under
``dags/`` with a variable and a connection given as ``--var`` / ``--conn``;
then it triggers one run of every Dag, so the runs overlap and each test
waits only for its own. The tests of ``dev`` itself come last, in this order:
a changed bundle is repacked, and a server that dies ends ``dev`` with its
log's tail and nothing left running. The finalizer always stops ``dev`` (and
kills whatever outlived it), also when the set-up failed half-way
(``TRIO_COORD_E2E_KEEP=1`` keeps the folder, with every server's log, for a
look afterwards).

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

import psutil
import pytest

if importlib.util.find_spec("airflow") is None:
    if os.environ.get("TRIO_COORD_E2E") == "1":
        raise RuntimeError("TRIO_COORD_E2E=1 but apache-airflow is not installed here (run nox -s e2e)")
    pytest.skip("needs apache-airflow==3.3.2 (nox -s e2e)", allow_module_level=True)

from trio_coord._dev import free_port

from .deployment import QUEUE, DagRunResult, Deployment, RestClient, living, seconds_between, wait_for
from .timings import record, timed

#: Every Dag under dags/.
DAG_IDS = ("example_mixed", "example_retry", "e2e_no_bundle", "e2e_queue_typo")
#: The Dags whose stub tasks go to queue "trio": the ones dev unpauses.
TRIO_DAG_IDS = ("e2e_no_bundle", "example_mixed", "example_retry")
#: Parsed but not triggered here (the Celery run triggers it): its mapped stubs go to queue "trio" too.
MAPPED_DAG_ID = "example_mapped"

#: What dev creates through the REST API before the runs start (--var, --conn).
GREETING = "hello from the REST API"
WAREHOUSE = {
    "conn_type": "postgres",
    "host": "wh.example",
    "login": "etl",
    "password": "s3cret-e2e-password",
    "port": 5432,
    "schema": "analytics",
}
WAREHOUSE_URI = "postgres://etl:s3cret-e2e-password@wh.example:5432/analytics"


@dataclass
class Airflow:
    """The running deployment, its REST client, the runs triggered at start-up (by Dag id)
    and whether each Dag was paused when dev said it was ready."""

    deployment: Deployment
    rest: RestClient
    runs: dict[str, str]
    paused_at_start: dict[str, bool]
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


@pytest.fixture(scope="module")
def airflow(request: pytest.FixtureRequest) -> Iterator[Airflow]:
    """One real Airflow deployment (dev) for the module, with every Dag run already triggered."""
    session_start = time.monotonic()
    deployment = Deployment(
        variables={"example_greeting": GREETING},
        connections={"example_warehouse": WAREHOUSE_URI},
        api_port=free_port(),  # dev --port, as a user who wants a fixed address runs it
    )
    failed = True
    try:
        rest = deployment.start()
        with timed(f"wait until the {len(DAG_IDS)} Dags are stored"):
            for dag_id in DAG_IDS:
                deployment.wait_for_dag(dag_id)
        paused = {dag_id: bool(rest.dag(dag_id)["is_paused"]) for dag_id in DAG_IDS}
        with timed(f"unpause the others, trigger {len(DAG_IDS)} Dag runs (REST)"):
            for dag_id, is_paused in paused.items():
                if is_paused:
                    rest.patch(f"/dags/{dag_id}", {"is_paused": False})
            runs = {dag_id: rest.trigger(dag_id) for dag_id in DAG_IDS}
        failed = False
        yield Airflow(deployment, rest, runs, paused)
        failed = request.session.testsfailed > 0
    finally:
        if failed and deployment.dev is not None:
            print(
                f"\n[e2e] something failed; dev printed:\n{deployment.dev.output()}{deployment.explain()}",
                flush=True,
            )
        try:
            deployment.stop(keep=os.environ.get("TRIO_COORD_E2E_KEEP") == "1")
        finally:
            record("whole e2e deployment (set-up, runs, teardown)", time.monotonic() - session_start)


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


# ---------------------------------------------------------------------------- dev itself


def test_dev_reported_what_check_found_and_unpaused_only_the_trio_dags(airflow: Airflow) -> None:
    output = airflow.deployment.dev.output() if airflow.deployment.dev else ""

    # check, run by dev at start: the Dag no bundle claims, and the bundle's Dag with no Dag file.
    assert "check: 2 mismatches between the Dags folder and bundle trio_coord-example 1.0.0" in output, output
    assert (
        "Dag e2e_no_bundle has stub tasks on queue 'trio' (orphan) but bundle trio_coord-example 1.0.0 "
        "does not claim it"
    ) in output, output
    assert "bundle Dag example_etl (extract, load, transform) has no stubs" in output, output
    # The Dags whose stub tasks go to queue trio were unpaused; the one on another queue was not.
    assert airflow.paused_at_start == {dag_id: dag_id not in TRIO_DAG_IDS for dag_id in DAG_IDS}
    for dag_id in (*TRIO_DAG_IDS, MAPPED_DAG_ID):
        assert f"unpaused Dag {dag_id} (its stub tasks run on queue 'trio')" in output, output
    assert "set variable example_greeting" in output
    assert "set connection example_warehouse" in output
    # Everything lives in one airflow.cfg, so `AIRFLOW_HOME=DIR airflow ...` reaches this deployment.
    cfg = (airflow.deployment.home / "airflow.cfg").read_text(encoding="utf-8")
    assert f"execution_api_server_url = {airflow.deployment.base_url}/execution/" in cfg
    assert 'queue_to_coordinator = {"trio": "trio"}' in cfg


def test_a_changed_bundle_is_repacked_and_the_next_run_uses_it(airflow: Airflow) -> None:
    for dag_id in DAG_IDS:  # the other runs first: they ran the bundle as it was
        airflow.finished(dag_id)
    deployment = airflow.deployment
    assert deployment.dev is not None
    source = deployment.bundle_source
    source.write_text(
        source.read_text(encoding="utf-8").replace('version="1.0.0"', 'version="1.0.1"'), encoding="utf-8"
    )

    with timed("dev notices the change and repacks"):
        deployment.dev.wait_for_output(r"^repacked example_bundle\.py into ", timeout=120)
    run_id = airflow.rest.trigger("example_mixed")
    with timed("a run of example_mixed after the repack"):
        run = deployment.wait_for_run("example_mixed", run_id)

    assert run.state == "success", run.task_instances
    log = _describe(airflow.rest.task_log("example_mixed", run_id, "enrich", 1))
    assert "from bundle trio_coord-example 1.0.1" in log, log


def test_a_server_that_dies_ends_dev_with_its_log_and_nothing_left_running(airflow: Airflow) -> None:
    """Last: it ends the deployment. The triggerer is killed; dev must notice, say so, stop the rest."""
    deployment = airflow.deployment
    assert deployment.dev is not None
    processes = deployment.dev.descendants()
    (triggerer,) = [p for p in deployment.dev.children() if "triggerer" in _command(p)]

    triggerer.kill()
    with timed("dev notices the dead triggerer and stops the rest"):
        code = wait_for("dev to exit", deployment.dev.process.poll, timeout=60)
    stopped = deployment.stop()

    assert stopped is not None
    assert code == 1, stopped.output
    assert "trio_coord: error: airflow triggerer exited with code -9; the end of " in stopped.output
    assert "triggerer.log:" in stopped.output
    assert "stopped api-server, scheduler, dag-processor, triggerer in " in stopped.output
    assert living(processes) == []


def _command(process: psutil.Process) -> list[str]:
    try:
        return [str(word) for word in process.cmdline()]
    except psutil.Error:  # gone, or a zombie
        return []
