"""The shipped example bundle's ``example_mixed`` Dag under the embedded supervisor.

(``tests/e2e`` runs the same task under a real Airflow deployment.)
"""

from __future__ import annotations

import pytest
import trio

from trio_coord import Connection, JsonValue
from trio_coord.example import bundle
from trio_coord.testing import EmbeddedSupervisor, TaskRun, XComKey

RUN_ID = "manual__trio_coord"


def supervisor(produced: JsonValue) -> EmbeddedSupervisor:
    sup = EmbeddedSupervisor()
    sup.set_variable("example_greeting", "hi")
    sup.set_connection(
        Connection("example_warehouse", "postgres", host="wh.local", login="etl", password="pw-secret")
    )
    sup.set_xcom(XComKey("example_mixed", RUN_ID, "produce", "return_value"), produced)
    return sup


async def enrich(sup: EmbeddedSupervisor) -> TaskRun:
    with trio.fail_after(30):
        return await sup.run_in_process(bundle, "example_mixed", "enrich", run_id=RUN_ID)


async def test_enrich_sums_the_python_rows_and_tags_them() -> None:
    result = await enrich(supervisor({"rows": [1, 2.5, 3], "source": "python"}))

    assert (result.problems, result.state) == ([], "success")
    assert result.xcom() == {"greeting": "hi", "total": 6.5, "rows": 3, "warehouse": "postgres://wh.local"}
    assert result.xcom("row_count") == 3
    [line] = [r for r in result.logs if r["logger"] == "task.example_mixed.enrich"]
    assert line["event"] == "enriched 3 rows from python for wh.local"
    assert (line["rows"], line["total"], line["warehouse"]) == (3, 6.5, "wh.local")
    assert line["uri"] == "postgres://etl:***@wh.local"  # the password is masked


@pytest.mark.parametrize(
    ("produced", "message"),
    [
        (None, "must be a JSON object with a rows list, got None"),
        ([1, 2], "must be a JSON object with a rows list, got [1, 2]"),
        ({"rows": "1,2"}, "must be a JSON object with a rows list"),
        ({"rows": [1, "2"]}, "the rows of task produce must be numbers, got '2'"),
        ({"rows": [True]}, "the rows of task produce must be numbers, got True"),
    ],
)
async def test_enrich_fails_on_rows_it_cannot_sum(produced: JsonValue, message: str) -> None:
    result = await enrich(supervisor(produced))

    assert result.state == "failed"
    assert any(message in event for event in result.log_events()), result.log_events()
    assert result.xcom("row_count") is None  # it failed before pushing anything


async def test_enrich_needs_the_variable_and_the_connection() -> None:
    no_variable = supervisor({"rows": [1]})
    no_variable.store.variables.clear()
    no_connection = supervisor({"rows": [1]})
    no_connection.store.connections.clear()

    for sup, missing in ((no_variable, "example_greeting"), (no_connection, "example_warehouse")):
        result = await enrich(sup)
        assert result.state == "failed"
        assert any(missing in event for event in result.log_events()), result.log_events()
