"""Tests for the shipped example bundle, written with trio_coord's pytest plugin: a model for yours.

The ``trio_coord_runner`` fixture runs a task in this process under an
embedded supervisor (real loopback sockets, the real runtime): seed what the
task reads, run it, assert its final state, its XComs and its log. The
``trio_coord_bundle`` fixture below sets the bundle once for the module.
"""

from __future__ import annotations

import pytest

from trio_coord import Bundle, example
from trio_coord.testing import TaskRunner


@pytest.fixture
def trio_coord_bundle() -> Bundle:
    return example.bundle


async def test_extract_returns_the_rows_variable(trio_coord_runner: TaskRunner) -> None:
    trio_coord_runner.set_json_variable("example_rows", [5, 6, 7])

    run = await trio_coord_runner.run("example_etl", "extract")

    assert run.state == "success"
    assert run.xcom() == [5, 6, 7]
    assert "extracted 3 rows" in run.log_events()


async def test_extract_falls_back_to_default_rows(trio_coord_runner: TaskRunner) -> None:
    run = await trio_coord_runner.run("example_etl", "extract")

    assert (run.state, run.xcom()) == ("success", [1, 2, 3, 4])


async def test_extract_fails_on_rows_that_are_not_a_list(trio_coord_runner: TaskRunner) -> None:
    trio_coord_runner.set_json_variable("example_rows", {"not": "a list"})

    run = await trio_coord_runner.run("example_etl", "extract")

    assert run.state == "failed"
    assert run.xcoms_pushed == {}
    assert any("must be a JSON list, got dict" in event for event in run.log_events())


async def test_transform_sums_what_extract_pushed(trio_coord_runner: TaskRunner) -> None:
    run = await trio_coord_runner.run("example_etl", "transform", xcoms={"extract": [1, 2, 3.5]})

    assert run.state == "success"
    assert run.xcom() == {"total": 6.5, "rows": 3}
    assert run.xcom("row_count") == 3


async def test_extract_then_transform_share_the_store(trio_coord_runner: TaskRunner) -> None:
    trio_coord_runner.set_variable("example_rows", "[10, 20]")

    await trio_coord_runner.run("example_etl", "extract")
    run = await trio_coord_runner.run("example_etl", "transform")

    assert run.xcom() == {"total": 30.0, "rows": 2}


async def test_load_is_skipped_without_a_warehouse(trio_coord_runner: TaskRunner) -> None:
    run = await trio_coord_runner.run("example_etl", "load")

    assert run.state == "skipped"


async def test_load_writes_to_the_warehouse(trio_coord_runner: TaskRunner) -> None:
    trio_coord_runner.set_connection("example_warehouse", "postgresql://etl:pa55-w0rd@wh.internal:5432/dw")

    run = await trio_coord_runner.run("example_etl", "load", xcoms={"transform": {"total": 3.0}})

    assert run.state == "success"
    (record,) = [r for r in run.logs if r["event"] == "loading summary into wh.internal"]
    assert record["conn_type"] == "postgres"
    assert record["summary.total"] == 3.0
    assert "pa55-w0rd" not in str(run.logs)


async def test_flaky_succeeds_when_retried(trio_coord_runner: TaskRunner) -> None:
    run = await trio_coord_runner.run("example_retry", "flaky", retries=1)

    assert [r.state for r in trio_coord_runner.runs] == ["up_for_retry", "success"]
    assert run.xcom() == "ok on try 2"
    assert run.xcom("attempt") == 2


async def test_flaky_fails_without_retries(trio_coord_runner: TaskRunner) -> None:
    run = await trio_coord_runner.run("example_retry", "flaky")

    assert run.state == "failed"
    assert run.xcom("attempt") == 1
