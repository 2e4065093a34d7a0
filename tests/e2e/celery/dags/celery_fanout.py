# mypy: disable-error-code="untyped-decorator"
"""Dags ``celery_fanout`` (40 trio stubs) and ``celery_fanout_python`` (the same with Python tasks).

Both: the Python task ``start`` returns a base number; 40 tasks ``work_00`` ..
``work_39`` each return ``{"task_id", "value": base + number}``; the Python
task ``collect`` pulls all 40 XComs, checks them and returns a summary. In
``celery_fanout`` the 40 are trio stubs (queue ``trio``: the packed bundle
of tests/e2e/celery/bundle.py runs them); in ``celery_fanout_python`` they
are plain Python ``@task``s doing the same, for the figures beside them.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

WIDTH = 40
BASE = 1000
TASK_IDS = [f"work_{number:02d}" for number in range(WIDTH)]


@task
def start() -> dict[str, int]:
    return {"base": BASE}


@task
def collect() -> dict[str, object]:
    ti = get_current_context()["ti"]
    results = ti.xcom_pull(task_ids=TASK_IDS)
    expected = [{"task_id": task_id, "value": BASE + number} for number, task_id in enumerate(TASK_IDS)]
    if list(results) != expected:
        raise ValueError(f"the fan-out returned {results!r}; expected {expected!r}")
    return {"collected": len(results), "total": sum(r["value"] for r in results)}


def python_work(task_id: str, number: int):  # type: ignore[no-untyped-def]
    @task(task_id=task_id)
    def work() -> dict[str, object]:
        started = get_current_context()["ti"].xcom_pull(task_ids="start")
        value = started["base"] + number
        print(f"fan-out task {task_id} computed {value}")
        return {"task_id": task_id, "value": value}

    return work()


@dag(dag_id="celery_fanout", schedule=None, catchup=False, max_active_tasks=64, tags=["trio_coord", "e2e"])
def celery_fanout() -> None:
    stubs = []
    for task_id in TASK_IDS:

        @task.stub(task_id=task_id, queue="trio")
        def work() -> None: ...

        stubs.append(work())
    start() >> stubs >> collect()


@dag(
    dag_id="celery_fanout_python",
    schedule=None,
    catchup=False,
    max_active_tasks=64,
    tags=["trio_coord", "e2e"],
)
def celery_fanout_python() -> None:
    start() >> [python_work(task_id, number) for number, task_id in enumerate(TASK_IDS)] >> collect()


celery_fanout()
celery_fanout_python()
