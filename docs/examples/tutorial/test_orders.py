"""The tutorial's tests: run each task under trio_coord's embedded supervisor."""

from __future__ import annotations

import pytest
from orders import bundle

from trio_coord import Bundle
from trio_coord.testing import TaskRunner

pytestmark = pytest.mark.trio  # or set trio_mode = true in your pytest configuration


@pytest.fixture
def trio_coord_bundle() -> Bundle:
    return bundle  # the bundle trio_coord_runner runs tasks from


async def test_fetch_orders_returns_the_batch(trio_coord_runner: TaskRunner) -> None:
    trio_coord_runner.set_json_variable("orders_batch", [{"id": 1, "amount": 9.5}])

    run = await trio_coord_runner.run("orders", "fetch_orders")

    assert run.state == "success"
    assert run.xcom() == [{"id": 1, "amount": 9.5}]
    assert "fetched 1 orders" in run.log_events()


async def test_summarize_adds_up_the_orders(trio_coord_runner: TaskRunner) -> None:
    # Store what fetch_orders would have pushed, then run summarize.
    trio_coord_runner.set_xcom("orders", "fetch_orders", [{"id": 1, "amount": 9.5}, {"id": 2, "amount": 0.5}])

    run = await trio_coord_runner.run("orders", "summarize")

    assert run.state == "success"
    assert run.xcom() == {"orders": 2, "total": 10.0}
    assert run.xcom("order_count") == 2


async def test_summarize_skips_an_empty_batch(trio_coord_runner: TaskRunner) -> None:
    run = await trio_coord_runner.run("orders", "summarize", xcoms={"fetch_orders": []})

    assert run.state == "skipped"
