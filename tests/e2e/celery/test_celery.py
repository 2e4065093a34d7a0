"""A distributed Airflow 3.3.2 runs trio tasks (``nox -s e2e_celery``).

CeleryExecutor, PostgreSQL, Redis and two Celery workers, each with its own
executables root holding its own copy of the packed bundles (celery_deployment.py).
Everything is checked through the public REST API:

* a 40-wide fan-out of trio stub tasks, collected by a Python task, runs on
  both workers; the same Dag with plain Python tasks runs beside it for the
  figures;
* the example's mapped Dag with 40 items: each mapped trio task gets its own
  item (``ctx.mapped_item()``), over a Python list and over a mapped trio task;
* the trio tasks' log lines are in their task logs, read through the REST API
  from the shared log folder (the workers serve no logs);
* a worker killed with ``kill -9`` while its trio tasks run: with
  ``retries=1`` they run again on the other worker, and the run succeeds
  with every XCom (last, since it leaves one worker).

The tests run in file order and each waits for its own run, so the figures
(printed, and listed at the end) are for one run at a time. Without the
servers the module is skipped, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

if importlib.util.find_spec("airflow.providers.celery") is None:
    if os.environ.get("TRIO_COORD_E2E_CELERY") == "1":
        raise RuntimeError("TRIO_COORD_E2E_CELERY=1 but apache-airflow[celery] is not installed")
    pytest.skip("needs apache-airflow[celery,postgres]==3.3.2 (nox -s e2e_celery)", allow_module_level=True)

from ..deployment import DagRunResult, RestClient, seconds_between, wait_for
from ..timings import record, timed
from .bundle import FANOUT_WIDTH, LOSS_WIDTH, RELEASE_VARIABLE
from .celery_deployment import WORKER_NAMES, CeleryDeployment
from .servers import missing_servers

_missing = missing_servers()
if _missing:
    _why = "the CeleryExecutor e2e run needs " + "; ".join(_missing)
    if os.environ.get("CI") == "true":
        raise RuntimeError(_why)
    pytest.skip(_why, allow_module_level=True)

DAG_IDS = ("celery_fanout", "celery_fanout_python", "example_mapped", "celery_worker_loss")
MAPPED_COUNT = 40
#: The Python tasks around each fan-out (left out of the launch figures).
_EDGE_TASKS = frozenset({"start", "collect", "numbers", "total"})
#: Celery's line for a finished task: "Task <name>[<id>] succeeded in 2.31s: None".
_SLOT_LINE = re.compile(r"Task \S+\[[0-9a-f-]+\] (?:succeeded|failed|raised \S+) in ([0-9.]+)s")


@dataclass
class Celery:
    """The running deployment and its REST client."""

    deployment: CeleryDeployment
    rest: RestClient

    def log_sizes(self) -> dict[str, int]:
        """How far each worker's log has grown (to read only a run's lines afterwards)."""
        return {w.name: w.server.log_path.stat().st_size for w in self.deployment.workers}

    def slot_seconds(self, since: dict[str, int]) -> list[float]:
        """Celery's "succeeded in" durations logged by the workers since ``since``."""
        durations = []
        for worker in self.deployment.workers:
            with worker.server.log_path.open("rb") as log:
                log.seek(since.get(worker.name, 0))
                text = log.read().decode("utf-8", errors="replace")
            durations += [float(m.group(1)) for m in _SLOT_LINE.finditer(text)]
        return durations

    def run(self, dag_id: str, conf: dict[str, object] | None = None) -> tuple[DagRunResult, Figures]:
        """Trigger ``dag_id``, wait for the end, and measure the run."""
        sizes = self.log_sizes()
        start = time.monotonic()
        run_id = self.rest.trigger(dag_id, conf)
        result = self.deployment.wait_for_run(dag_id, run_id)
        wall = time.monotonic() - start
        instances = self.rest.task_instance_list(dag_id, run_id)
        figures = Figures.of(result, instances, wall, self.slot_seconds(sizes))
        figures.record()
        return result, figures


@dataclass
class Figures:
    """What one run measured."""

    dag_id: str
    wall_seconds: float
    run_seconds: float | None
    launch_seconds: list[float]
    slot_seconds: list[float]
    per_worker: Counter[str]

    @classmethod
    def of(
        cls, result: DagRunResult, instances: list[dict[str, object]], wall: float, slots: list[float]
    ) -> Figures:
        # The fanned-out tasks only: not the Python tasks before and after them.
        fanned = [ti for ti in instances if ti["task_id"] not in _EDGE_TASKS]
        launches = [
            s
            for ti in fanned
            if (s := seconds_between(ti.get("queued_when"), ti.get("start_date"))) is not None
        ]
        workers = Counter(str(ti.get("hostname")) for ti in instances)
        return cls(result.dag_id, wall, result.seconds, launches, slots, workers)

    def record(self) -> None:
        """Print the figures and add them to the session's timing table."""
        record(f"{self.dag_id}: trigger -> end (wall clock)", self.wall_seconds)
        if self.run_seconds is not None:
            record(f"{self.dag_id}: run queued -> end (server clock)", self.run_seconds)
        if self.launch_seconds:
            record(f"{self.dag_id}: TI queued -> running, median", statistics.median(self.launch_seconds))
            record(f"{self.dag_id}: TI queued -> running, max", max(self.launch_seconds))
        if self.slot_seconds:
            record(f"{self.dag_id}: worker-slot time per task, median", statistics.median(self.slot_seconds))
            record(f"{self.dag_id}: worker-slot time per task, max", max(self.slot_seconds))
        print(f"[e2e] {self.dag_id}: task instances per worker {dict(self.per_worker)}", flush=True)


@pytest.fixture(scope="session")
def celery(request: pytest.FixtureRequest) -> Iterator[Celery]:
    """One distributed deployment for the session; every process stopped by pid at the end."""
    session_start = time.monotonic()
    deployment = CeleryDeployment()
    failed = True
    try:
        rest = deployment.start(DAG_IDS)
        failed = False
        yield Celery(deployment, rest)
        failed = request.session.testsfailed > 0
    finally:
        if failed:
            print(f"\n[e2e] something failed; the server logs end with:{deployment.explain()}", flush=True)
        try:
            deployment.stop(keep=os.environ.get("TRIO_COORD_E2E_KEEP") == "1")
        finally:
            record("whole e2e_celery session (set-up, runs, teardown)", time.monotonic() - session_start)


def _states(instances: list[dict[str, object]]) -> Counter[tuple[str, object]]:
    return Counter((str(ti["task_id"]), ti["state"]) for ti in instances)


def _events(entries: list[dict[str, object]]) -> list[str]:
    return [str(entry.get("event")) for entry in entries]


def test_a_40_wide_fan_out_of_trio_tasks_runs_on_both_workers(celery: Celery) -> None:
    result, figures = celery.run("celery_fanout")
    rest = celery.rest
    instances = rest.task_instance_list("celery_fanout", result.run_id)

    assert result.state == "success", f"{_states(instances)}{celery.deployment.explain('scheduler')}"
    trio_tasks = [ti for ti in instances if ti["queue"] == "trio"]
    assert len(trio_tasks) == FANOUT_WIDTH
    assert {ti["state"] for ti in instances} == {"success"}
    ran_on = Counter(str(ti["hostname"]) for ti in trio_tasks)
    assert set(ran_on) == set(WORKER_NAMES), ran_on
    assert rest.xcom("celery_fanout", result.run_id, "collect") == {
        "collected": FANOUT_WIDTH,
        "total": sum(1000 + n for n in range(FANOUT_WIDTH)),
    }
    assert rest.xcom("celery_fanout", result.run_id, "work_07") == {"task_id": "work_07", "value": 1007}
    assert len(figures.launch_seconds) == FANOUT_WIDTH


def test_the_same_fan_out_with_python_tasks_for_comparison(celery: Celery) -> None:
    result, _ = celery.run("celery_fanout_python")

    instances = celery.rest.task_instance_list("celery_fanout_python", result.run_id)
    assert result.state == "success", _states(instances)
    assert celery.rest.xcom("celery_fanout_python", result.run_id, "collect") == {
        "collected": FANOUT_WIDTH,
        "total": sum(1000 + n for n in range(FANOUT_WIDTH)),
    }


def test_each_mapped_trio_task_gets_its_own_item(celery: Celery) -> None:
    result, _ = celery.run("example_mapped", {"count": MAPPED_COUNT})
    rest = celery.rest
    run_id = result.run_id
    instances = rest.task_instance_list("example_mapped", run_id)

    assert result.state == "success", _states(instances)
    for task_id in ("square", "describe"):
        mapped = [ti for ti in instances if ti["task_id"] == task_id]
        assert sorted(int(str(ti["map_index"])) for ti in mapped) == list(range(MAPPED_COUNT)), task_id
        assert {(ti["queue"], ti["state"]) for ti in mapped} == {("trio", "success")}
    squares = [ti for ti in instances if ti["task_id"] == "square"]
    assert {str(ti["hostname"]) for ti in squares} == set(WORKER_NAMES)
    for index in (0, 17, MAPPED_COUNT - 1):
        number = index + 1
        assert rest.xcom("example_mapped", run_id, "square", map_index=index) == {
            "map_index": index,
            "number": number,
            "square": number * number,
        }
        assert rest.xcom("example_mapped", run_id, "describe", map_index=index) == (
            f"{number} squared is {number * number}"
        )
    # total (Python) compared all 40 of each with what it computed itself.
    assert rest.xcom("example_mapped", run_id, "total") == {
        "count": MAPPED_COUNT,
        "sum_of_squares": sum(n * n for n in range(1, MAPPED_COUNT + 1)),
        "last": f"{MAPPED_COUNT} squared is {MAPPED_COUNT**2}",
    }


@pytest.mark.skipif(
    not os.environ.get("TRIO_COORD_E2E_CELERY_REPEAT"),
    reason="figures only: TRIO_COORD_E2E_CELERY_REPEAT=N runs each fan-out N more times, warm",
)
def test_warm_fan_out_figures(celery: Celery) -> None:
    """Run both fan-outs again, alternately, and print the medians of the warm runs (docs/performance.md)."""
    repeat = int(os.environ.get("TRIO_COORD_E2E_CELERY_REPEAT", "0"))
    measured: dict[str, list[Figures]] = {"celery_fanout": [], "celery_fanout_python": []}
    for _ in range(repeat):
        for dag_id, runs in measured.items():
            result, figures = celery.run(dag_id)
            assert result.state == "success", dag_id
            runs.append(figures)
    for dag_id, runs in measured.items():
        walls = ", ".join(f"{f.wall_seconds:.1f}" for f in runs)
        launch = ", ".join(f"{statistics.median(f.launch_seconds):.2f}" for f in runs)
        slots = ", ".join(f"{statistics.median(f.slot_seconds):.2f}" for f in runs)
        print(
            f"[e2e] warm {dag_id}: trigger -> end {walls} s; median queued -> running {launch} s; "
            f"median worker-slot time {slots} s",
            flush=True,
        )


def test_the_trio_tasks_log_lines_are_readable_through_the_rest_api(celery: Celery) -> None:
    rest = celery.rest
    runs = rest.get("/dags/celery_fanout/dagRuns")
    assert isinstance(runs, dict), runs
    fanout_run = str(runs["dag_runs"][0]["dag_run_id"])
    mapped_runs = rest.get("/dags/example_mapped/dagRuns")
    assert isinstance(mapped_runs, dict), mapped_runs
    mapped_run = str(mapped_runs["dag_runs"][0]["dag_run_id"])

    work = rest.task_log("celery_fanout", fanout_run, "work_07", 1)
    assert "fan-out task work_07 computed 1007" in _events(work), _events(work)
    assert "task celery_fanout.work_07 succeeded" in _events(work), _events(work)
    square = rest.task_log("example_mapped", mapped_run, "square", 1, map_index=17)
    assert "map_index 17 squared 18" in _events(square), _events(square)
    line = next(e for e in square if e.get("event") == "map_index 17 squared 18")
    assert (line["logger"], line["number"], line["square"]) == ("task.example_mapped.square", 18, 324)


def test_a_worker_killed_under_its_trio_tasks_loses_no_xcom(celery: Celery) -> None:
    deployment, rest = celery.deployment, celery.rest
    dag_id = "celery_worker_loss"
    run_id = rest.trigger(dag_id)

    def all_running() -> list[dict[str, object]] | None:
        instances = [ti for ti in rest.task_instance_list(dag_id, run_id) if ti["queue"] == "trio"]
        return instances if [ti["state"] for ti in instances] == ["running"] * LOSS_WIDTH else None

    # The first tries wait for the release variable, so all 16 end up running: 8 on each worker.
    with timed(f"{dag_id}: trigger -> all {LOSS_WIDTH} trio tasks running"):
        running = wait_for(f"all {LOSS_WIDTH} trio tasks of {dag_id} to run", all_running, timeout=180)
    victim = deployment.worker(WORKER_NAMES[0])
    on_victim = sorted(str(ti["task_id"]) for ti in running if ti["hostname"] == victim.name)
    assert on_victim, Counter(str(ti["hostname"]) for ti in running)
    print(
        f"[e2e] kill -9 {victim.name} (pid {victim.pid}) under {len(on_victim)} running trio tasks",
        flush=True,
    )
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    victim.server.process.wait(timeout=30)
    rest.create_variable(RELEASE_VARIABLE, "go")

    result = deployment.wait_for_run(dag_id, run_id)
    record(f"{dag_id}: kill -9 -> run {result.state}", time.monotonic() - killed_at)
    instances = rest.task_instance_list(dag_id, run_id)

    assert result.state == "success", _states(instances)
    holds = {str(ti["task_id"]): ti for ti in instances if ti["queue"] == "trio"}
    retried = sorted(task_id for task_id, ti in holds.items() if ti["try_number"] == 2)
    assert retried == on_victim
    assert {str(holds[task_id]["hostname"]) for task_id in retried} == {WORKER_NAMES[1]}
    first_try = rest.tries(dag_id, run_id, on_victim[0])
    assert [(t["try_number"], t["hostname"]) for t in first_try] == [(1, victim.name), (2, WORKER_NAMES[1])]
    # collect (Python) found all 16 XComs; the killed ones came from their second try.
    assert rest.xcom(dag_id, run_id, "collect") == {"collected": LOSS_WIDTH, "retried": on_victim}
