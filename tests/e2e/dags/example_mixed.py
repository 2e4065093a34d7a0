# mypy: disable-error-code="untyped-decorator"
"""Dag ``example_mixed``: Python, then trio, then Python again.

The Python file of a Dag that mixes both kinds of task. ``enrich`` is a
``@task.stub``: the dag-processor parses it as an empty task, and the worker's
supervisor runs it through the coordinator that ``[sdk] queue_to_coordinator``
maps queue ``trio`` to, which finds the packed trio_coord example bundle by
this Dag id (``trio_coord/example.py``, Dag ``example_mixed``, task
``enrich``).

* ``produce`` (Python) returns the rows ``enrich`` pulls;
* ``enrich`` (trio) sums them, reads the variable ``example_greeting`` and the
  connection ``example_warehouse``, pushes ``row_count`` and returns a summary;
* ``check`` (Python) pulls both of ``enrich``'s XComs and checks them against
  what it computes itself; it fails the run if they differ.
"""

from __future__ import annotations

from airflow.sdk import Connection, Variable, dag, get_current_context, task

ROWS = [3, 4, 5]


@task
def produce() -> dict[str, object]:
    return {"rows": ROWS, "source": "python"}


@task.stub(queue="trio")
def enrich() -> None: ...


@task
def check() -> dict[str, object]:
    ti = get_current_context()["ti"]
    summary = ti.xcom_pull(task_ids="enrich")
    row_count = ti.xcom_pull(task_ids="enrich", key="row_count")
    warehouse = Connection.get("example_warehouse")
    expected = {
        "greeting": Variable.get("example_greeting"),
        "total": sum(ROWS),
        "rows": len(ROWS),
        "warehouse": f"{warehouse.conn_type}://{warehouse.host}",
    }
    if summary != expected or row_count != len(ROWS):
        raise ValueError(f"enrich returned {summary!r} and row_count {row_count!r}; expected {expected!r}")
    print(f"enrich's XComs check out: {summary}")
    return {"checked": summary, "row_count": row_count}


@dag(dag_id="example_mixed", schedule=None, catchup=False, tags=["trio_coord", "e2e"])
def example_mixed() -> None:
    produce() >> enrich() >> check()


example_mixed()
