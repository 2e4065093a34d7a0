# mypy: disable-error-code="untyped-decorator"
"""Dag ``celery_worker_loss``: 16 trio stubs with ``retries=1``; a worker is killed under them.

Their first try waits for a variable (see tests/e2e/celery/bundle.py) so the
test can kill one Celery worker with ``kill -9`` while its tasks run. The
scheduler fails those instances once their heartbeats stop; they retry on
the other worker. ``collect`` (Python) checks that all 16 XComs are there.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

WIDTH = 16
TASK_IDS = [f"hold_{number:02d}" for number in range(WIDTH)]


@task
def collect() -> dict[str, object]:
    results = get_current_context()["ti"].xcom_pull(task_ids=TASK_IDS)
    if [r["task_id"] for r in results] != TASK_IDS:
        raise ValueError(f"missing or misplaced XComs: {results!r}")
    return {
        "collected": len(results),
        "retried": sorted(r["task_id"] for r in results if r["try_number"] > 1),
    }


@dag(
    dag_id="celery_worker_loss",
    schedule=None,
    catchup=False,
    max_active_tasks=64,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    tags=["trio_coord", "e2e"],
)
def celery_worker_loss() -> None:
    holds = []
    for task_id in TASK_IDS:

        @task.stub(task_id=task_id, queue="trio")
        def hold() -> None: ...

        holds.append(hold())
    holds >> collect()


celery_worker_loss()
