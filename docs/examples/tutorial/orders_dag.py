"""The Airflow side of the tutorial: a Python Dag file whose stub task runs in trio_coord.

Put it in Airflow's Dags folder. The Dag id must be one the bundle's manifest
lists (``orders``), and the stub tasks' queue must be routed to the
``ExecutableCoordinator`` by ``[sdk] queue_to_coordinator``.
"""

from __future__ import annotations

from airflow.sdk import dag, task


@task.stub(queue="trio")
def fetch_orders() -> None: ...


@task.stub(queue="trio")
def summarize() -> None: ...


@dag(dag_id="orders", schedule="@daily", catchup=False)
def orders() -> None:
    fetch_orders() >> summarize()


orders()
