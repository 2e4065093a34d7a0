# mypy: disable-error-code="untyped-decorator"
"""Two Dags that are set up wrong on purpose, to pin how each mistake shows itself.

* ``e2e_no_bundle``: routed to the coordinator, but no packed bundle lists
  this Dag id. The task fails before it starts; only the scheduler's output
  (the LocalExecutor worker) says why.
* ``e2e_queue_typo``: the queue is not in ``[sdk] queue_to_coordinator``, so
  the worker runs the stub as Python, and the stub raises.
"""

from __future__ import annotations

from airflow.sdk import dag, task


@task.stub(queue="trio")
def orphan() -> None: ...


@task.stub(queue="trio-typo")
def misrouted() -> None: ...


@dag(dag_id="e2e_no_bundle", schedule=None, catchup=False, tags=["trio_coord", "e2e"])
def e2e_no_bundle() -> None:
    orphan()


@dag(dag_id="e2e_queue_typo", schedule=None, catchup=False, tags=["trio_coord", "e2e"])
def e2e_queue_typo() -> None:
    misrouted()


e2e_no_bundle()
e2e_queue_typo()
