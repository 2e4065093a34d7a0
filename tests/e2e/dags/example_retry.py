# mypy: disable-error-code="untyped-decorator"
"""Dag ``example_retry``: one trio task that fails on its first try and succeeds on its retry.

``flaky`` runs in the packed trio_coord example bundle (``trio_coord/example.py``).
``retries`` is all Airflow needs to retry a stub task: the runtime asks for a
retry (``RetryTask``) when the task fails and the run context says it may.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task


@task.stub(queue="trio", retries=1, retry_delay=timedelta(seconds=1))
def flaky() -> None: ...


@dag(dag_id="example_retry", schedule=None, catchup=False, tags=["trio_coord", "e2e"])
def example_retry() -> None:
    flaky()


example_retry()
