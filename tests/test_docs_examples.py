"""The documentation's code samples, run: every task in docs/examples/ does what its page says.

The pages include these files with ``literalinclude``, so a sample cannot
drift from what is tested here. Each test loads an example bundle the way a
user's command would (``load_bundle("path/to/file.py")``) and runs its tasks
under the embedded supervisor with :class:`trio_coord.testing.TaskRunner`,
then asserts the outcome the page describes. The tutorial's command-line
transcripts and the other pages' snippets are checked by
``tests/test_docs_snippets.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from trio_coord import AssetEvent, AssetResult, Bundle, load_bundle
from trio_coord.testing import DEFAULT_RUN_ID, EmbeddedSupervisor, TaskRun, TaskRunner

from .conftest import REPO

EXAMPLES = REPO / "docs" / "examples"


def example(name: str) -> Bundle:
    """The bundle of ``docs/examples/<name>.py``, loaded from its path."""
    return load_bundle(str(EXAMPLES / f"{name}.py"))


def record(run: TaskRun, event: str) -> dict[str, object]:
    """The one log record whose event is ``event``."""
    (found,) = [r for r in run.logs if r.get("event") == event]
    return found


# ---------------------------------------------------------------------------- tutorial


async def test_tutorial_fetch_orders_reads_the_batch() -> None:
    runner = TaskRunner(example("tutorial/orders"))
    runner.set_json_variable("orders_batch", [{"id": 7, "amount": 12.5}])

    run = await runner.run("orders", "fetch_orders")

    assert (run.state, run.xcom()) == ("success", [{"id": 7, "amount": 12.5}])
    assert record(run, "fetched 1 orders")["orders"] == 1


async def test_tutorial_fetch_orders_without_the_variable_returns_nothing() -> None:
    run = await TaskRunner(example("tutorial/orders")).run("orders", "fetch_orders")

    assert (run.state, run.xcom()) == ("success", [])


async def test_tutorial_fetch_orders_refuses_a_batch_that_is_not_a_list() -> None:
    runner = TaskRunner(example("tutorial/orders"))
    runner.set_json_variable("orders_batch", {"id": 7})

    run = await runner.run("orders", "fetch_orders")

    assert run.state == "failed"
    assert any("orders_batch must be a JSON list, got dict" in event for event in run.log_events())


async def test_tutorial_summarize_chains_after_fetch_orders() -> None:
    runner = TaskRunner(example("tutorial/orders"))
    runner.set_json_variable("orders_batch", [{"id": 1, "amount": 20}, {"id": 2, "amount": 22.5}])

    await runner.run("orders", "fetch_orders")
    run = await runner.run("orders", "summarize")

    assert run.state == "success"
    assert run.xcom() == {"orders": 2, "total": 42.5}
    assert run.xcom("order_count") == 2
    assert record(run, "2 orders worth 42.50")["total"] == 42.5


@pytest.mark.parametrize(
    ("upstream", "state"),
    [([], "skipped"), (None, "skipped"), ([{"id": 1}], "failed"), (["x"], "failed")],
)
async def test_tutorial_summarize_skips_or_fails_on_bad_input(upstream: object, state: str) -> None:
    runner = TaskRunner(example("tutorial/orders"))
    if upstream is not None:
        runner.set_xcom("orders", "fetch_orders", upstream)  # type: ignore[arg-type]

    run = await runner.run("orders", "summarize")

    assert run.state == state
    assert run.xcoms_pushed == {}


# ---------------------------------------------------------------------------- variables and connections


async def test_variables_defaults_when_nothing_is_set() -> None:
    run = await TaskRunner(example("howto_variables")).run("howto_variables", "read_variables")

    assert run.xcom() == {"region": "eu", "batch_size": "100", "limits": {"max_rows": 1000}}


async def test_variables_read_what_is_set() -> None:
    runner = TaskRunner(example("howto_variables"))
    runner.set_variable("region", "us-east")
    runner.set_variable("batch_size", "500")
    runner.set_json_variable("limits", {"max_rows": 5})

    run = await runner.run("howto_variables", "read_variables")

    assert run.xcom() == {"region": "us-east", "batch_size": "500", "limits": {"max_rows": 5}}


async def test_variables_from_the_environment_come_first(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = TaskRunner(example("howto_variables"), use_env=True)
    runner.set_variable("region", "from-the-supervisor")
    monkeypatch.setenv("AIRFLOW_VAR_REGION", "from-the-environment")

    run = await runner.run("howto_variables", "read_variables")

    assert run.xcom()["region"] == "from-the-environment"  # type: ignore[call-overload, index]
    assert run.requests_of("GetVariable")[0]["key"] == "batch_size"  # region never asked


async def test_variables_are_written_and_deleted() -> None:
    runner = TaskRunner(example("howto_variables"))
    runner.set_variable("stale_marker", "x")

    run = await runner.run("howto_variables", "write_variables")

    assert run.state == "success"
    assert runner.store.variables == {"last_run": DEFAULT_RUN_ID}
    assert runner.store.variable_descriptions["last_run"] == "set by write_variables"


async def test_connection_is_skipped_when_missing() -> None:
    run = await TaskRunner(example("howto_variables")).run("howto_variables", "use_connection")

    assert run.state == "skipped"


async def test_connection_fields_and_the_password_is_masked() -> None:
    runner = TaskRunner(example("howto_variables"))
    runner.set_connection("warehouse", "postgresql://etl:pa55-w0rd-7@wh.internal:5432/sales?sslmode=require")

    run = await runner.run("howto_variables", "use_connection")

    assert run.xcom() == {
        "conn_type": "postgres",
        "host": "wh.internal",
        "port": 5432,
        "schema": "sales",
        "sslmode": "require",
    }
    assert "connecting to wh.internal as etl with ***" in run.log_events()
    assert "pa55-w0rd-7" not in json.dumps(run.logs)


# ---------------------------------------------------------------------------- xcoms


async def test_xcoms_produce_then_consume() -> None:
    runner = TaskRunner(example("howto_xcoms"))

    produced = await runner.run("howto_xcoms", "produce")
    consumed = await runner.run("howto_xcoms", "consume")

    assert produced.xcoms_pushed == {"row_count": 3, "return_value": [1, 2, 3]}
    assert consumed.xcom() == 6
    assert "got [1, 2, 3] rows (count 3), missing=None" in consumed.log_events()


async def test_xcoms_push_return_value_false_pushes_nothing() -> None:
    run = await TaskRunner(example("howto_xcoms")).run("howto_xcoms", "side_effect_only")

    assert (run.state, run.xcoms_pushed) == ("success", {})


async def test_xcoms_from_another_dag_run() -> None:
    runner = TaskRunner(example("howto_xcoms"))
    runner.set_xcom("howto_xcoms", "produce", [9], run_id="scheduled__2026-06-15T00:00:00+00:00")
    runner.set_xcom("howto_xcoms", "produce", [1])  # this run's: not the one read

    run = await runner.run("howto_xcoms", "read_elsewhere")

    assert run.xcom() == [9]


async def test_xcoms_of_a_mapped_task() -> None:
    runner = TaskRunner(example("howto_xcoms"))
    for index in range(4):
        runner.set_xcom("howto_xcoms", "mapped", f"value {index}", map_index=index)

    run = await runner.run("howto_xcoms", "read_mapped")

    assert run.xcom() == {"count": 4, "first": "value 0", "last_two": ["value 2", "value 3"]}


async def test_xcoms_are_deleted() -> None:
    runner = TaskRunner(example("howto_xcoms"))
    await runner.run("howto_xcoms", "produce")

    await runner.run("howto_xcoms", "clean_up")

    assert sorted(key.key for key in runner.store.xcoms) == ["return_value"]


# ---------------------------------------------------------------------------- logging


async def test_logging_structured_fields_and_exceptions() -> None:
    run = await TaskRunner(example("howto_logging")).run("howto_logging", "log_things")

    assert run.state == "success"
    loading = record(run, "loading 42 rows into orders")
    assert (loading["level"], loading["logger"]) == ("info", "task.howto_logging.log_things")
    done = record(run, "batch done")
    assert (done["rows"], done["db.host"], done["db.schema"]) == (42, "wh.internal", "sales")
    assert record(run, "GET /orders -> 200")["logger"] == "my_company.http"
    failed = record(run, "parsing failed")
    assert failed["level"] == "error"
    assert "forty-two" in json.dumps(failed["exception"])


def _events_at(run: TaskRun, *events: str) -> list[str]:
    logged = run.log_events()
    return [event for event in events if event in logged]


LOG_THINGS = (
    "loading 42 rows into orders",
    "only when the level is DEBUG",
    "GET /orders -> 200",
    "retrying GET /orders",
)


@pytest.mark.parametrize(
    ("level", "namespaces", "expected"),
    [
        ("", "", [LOG_THINGS[0], LOG_THINGS[3]]),  # INFO when unset
        ("DEBUG", "my_company.http=WARNING", [LOG_THINGS[0], LOG_THINGS[1], LOG_THINGS[3]]),
        ("WARNING", "task.howto_logging=debug", [LOG_THINGS[0], LOG_THINGS[1], LOG_THINGS[3]]),
        ("ERROR", "my_company=DEBUG, task=WARNING", [LOG_THINGS[2], LOG_THINGS[3]]),
    ],
)
async def test_logging_levels_follow_airflows_settings(
    monkeypatch: pytest.MonkeyPatch, level: str, namespaces: str, expected: list[str]
) -> None:
    monkeypatch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", level)
    monkeypatch.setenv("AIRFLOW__LOGGING__NAMESPACE_LEVELS", namespaces)
    supervisor = EmbeddedSupervisor()

    # log_level=None: the thresholds come from the environment, as under Airflow.
    run = await supervisor.run_in_process(
        example("howto_logging"), "howto_logging", "log_things", log_level=None
    )

    assert _events_at(run, *LOG_THINGS) == expected


async def test_logging_masks_secrets() -> None:
    runner = TaskRunner(example("howto_logging"))
    runner.set_connection("warehouse", "postgresql://etl:pa55-w0rd-7@wh.internal/sales")

    run = await runner.run("howto_logging", "mask_things")

    assert run.state == "success"
    assert _events_at(run, "calling the API with ***", "password is ***") == [
        "calling the API with ***",
        "password is ***",
    ]
    assert "sk-3f9a1c77" not in json.dumps(run.logs)
    assert "pa55-w0rd-7" not in json.dumps(run.logs)
    assert [body["value"] for body in run.requests_of("MaskSecret")] == ["sk-3f9a1c77"]


# ---------------------------------------------------------------------------- retries, skip, fail


async def test_retries_until_the_third_try_succeeds() -> None:
    runner = TaskRunner(example("howto_retries"))

    last = await runner.run("howto_retries", "flaky", retries=2)

    assert [run.state for run in runner.runs] == ["up_for_retry", "up_for_retry", "success"]
    assert last.xcom() == "succeeded on try 3"


async def test_retries_run_out() -> None:
    runner = TaskRunner(example("howto_retries"))

    last = await runner.run("howto_retries", "flaky", retries=1)

    assert [run.state for run in runner.runs] == ["up_for_retry", "failed"]
    assert last.terminal is not None
    assert last.terminal["state"] == "failed"
    assert "upstream unavailable on try 2" in json.dumps(last.logs)


async def test_skip_when_there_is_nothing_to_do() -> None:
    runner = TaskRunner(example("howto_retries"))

    skipped = await runner.run("howto_retries", "nothing_to_do")
    runner.set_json_variable("incoming_files", ["a.csv"])
    done = await runner.run("howto_retries", "nothing_to_do")

    assert (skipped.state, done.state) == ("skipped", "success")


async def test_fail_task_does_not_retry() -> None:
    runner = TaskRunner(example("howto_retries"))

    failed = await runner.run("howto_retries", "bad_input", retries=3)
    ok = await runner.run("howto_retries", "bad_input", conf={"region": "eu"})

    assert [run.state for run in runner.runs] == ["failed", "success"]
    assert failed.terminal is not None
    assert failed.terminal["type"] == "TaskState"
    assert ok.state == "success"


async def test_reschedule_asks_to_run_again_later() -> None:
    runner = TaskRunner(example("howto_retries"))
    before = dt.datetime.now(dt.UTC)

    run = await runner.run("howto_retries", "wait_for_partner")

    assert run.state == "up_for_reschedule"
    assert run.terminal is not None
    assert run.terminal["type"] == "RescheduleTask"
    when = run.terminal["reschedule_date"]
    assert isinstance(when, dt.datetime)
    assert dt.timedelta(minutes=10) <= when - before < dt.timedelta(minutes=11)

    runner.set_variable("partner_ready", "yes")
    assert (await runner.run("howto_retries", "wait_for_partner")).state == "success"


async def test_fail_task_inside_a_nursery_keeps_its_meaning() -> None:
    runner = TaskRunner(example("howto_retries"))

    run = await runner.run("howto_retries", "fail_inside_a_nursery", retries=2)

    assert [r.state for r in runner.runs] == ["failed"]
    assert "b is invalid" in json.dumps(run.logs)


async def test_cleanup_runs_shielded_after_cancellation() -> None:
    runner = TaskRunner(example("howto_retries"))

    run = await runner.run("howto_retries", "clean_up_when_cancelled")

    assert run.state == "failed"
    events = run.log_events()
    assert "session closed" in events
    assert events.index("session closed") < next(i for i, e in enumerate(events) if "failed" in e)


async def test_skip_downstream() -> None:
    run = await TaskRunner(example("howto_retries")).run("howto_retries", "skip_some_downstream")

    assert run.state == "success"
    assert run.skipped_downstream == ["notify_eu", ("notify_region", 3)]


# ---------------------------------------------------------------------------- concurrency


async def test_many_requests_at_once() -> None:
    runner = TaskRunner(example("howto_concurrency"))
    for i in range(0, 50, 5):
        runner.set_variable(f"shard_{i}", str(i))

    run = await runner.run("howto_concurrency", "many_requests")

    assert run.xcom() == {"read": 50, "present": 10}
    assert len(run.requests_of("GetVariable")) == 50


async def test_bounded_fan_out() -> None:
    run = await TaskRunner(example("howto_concurrency")).run("howto_concurrency", "bounded_fan_out")

    assert run.xcom() == sum(i * i for i in range(100))


async def test_blocking_code_in_a_thread() -> None:
    run = await TaskRunner(example("howto_concurrency")).run("howto_concurrency", "blocking_code")

    assert run.xcom() == hashlib.sha256(bytes(range(256)) * 4096).hexdigest()


async def test_a_deadline_inside_the_task() -> None:
    run = await TaskRunner(example("howto_concurrency")).run("howto_concurrency", "with_deadline")

    assert (run.state, run.xcom()) == ("success", "timed out")
    assert record(run, "gave up waiting after 0.2 s")["level"] == "warning"


# ---------------------------------------------------------------------------- large xcoms


async def test_a_large_xcom_round_trips() -> None:
    bundle = example("howto_large_xcoms")
    runner = TaskRunner(bundle)

    pushed = await runner.run("howto_large_xcoms", "push_big")
    pulled = await runner.run("howto_large_xcoms", "pull_big")

    rows = pushed.xcom("rows")
    assert isinstance(rows, list)
    assert len(json.dumps(rows)) > 10_000_000  # the page says "roughly 12 MB"
    assert rows[-1] == {"id": 199_999, "sku": "SKU-00199999", "amount": 99.9}
    assert pulled.xcom() == 200_000


async def test_a_reference_instead_of_the_data() -> None:
    run = await TaskRunner(example("howto_large_xcoms")).run("howto_large_xcoms", "push_reference")

    assert run.xcom() == {"uri": f"s3://warehouse/exports/{DEFAULT_RUN_ID}/orders.parquet", "rows": 200_000}


# ---------------------------------------------------------------------------- run context


async def test_the_run_context() -> None:
    runner = TaskRunner(example("howto_run_context"))

    run = await runner.run(
        "howto_run_context",
        "where_am_i",
        try_number=2,
        max_tries=3,
        conf={"region": "us"},
        logical_date=dt.datetime(2026, 6, 16, tzinfo=dt.UTC),
    )

    assert run.xcom() == {
        "dag_id": "howto_run_context",
        "task_id": "where_am_i",
        "run_id": DEFAULT_RUN_ID,
        "map_index": -1,
        "try_number": 2,
        "max_tries": 3,
        "may_retry": True,
        "logical_date": "2026-06-16T00:00:00+00:00",
        "run_type": "manual",
        "region": "us",
        "dag_bundle": "dags-folder",
    }


# ---------------------------------------------------------------------------- assets and more


async def test_outlets_and_outlet_events_are_sent_on_success() -> None:
    runner = TaskRunner(example("howto_assets"))

    run = await runner.run(
        "howto_assets", "export_orders", logical_date=dt.datetime(2026, 6, 16, tzinfo=dt.UTC)
    )

    assert run.state == "success"
    assert run.terminal is not None
    assert run.terminal["task_outlets"] == [
        {"name": "orders", "uri": "s3://warehouse/orders", "type": "Asset"},
        {"name": "daily-exports", "type": "AssetAlias"},
    ]
    assert run.terminal["outlet_events"] == [
        {"dest_asset_key": {"name": "orders", "uri": "s3://warehouse/orders"}, "extra": {"rows": 42}},
        {
            "dest_asset_key": {"name": "orders", "uri": "s3://warehouse/orders"},
            "extra": {"rows": 7},
            "partition_key": "eu",
        },
        {
            "source_alias_name": "daily-exports",
            "dest_asset_key": {"name": "orders-2026-06-16", "uri": "s3://warehouse/orders/2026-06-16"},
            "dest_asset_extra": {},
            "extra": {"rows": 42},
        },
    ]


async def test_reading_assets_and_their_events() -> None:
    runner = TaskRunner(example("howto_assets"))
    asset = AssetResult(name="orders", uri="s3://warehouse/orders")
    runner.store.assets["orders"] = asset
    when = dt.datetime(2026, 6, 16, tzinfo=dt.UTC)
    runner.store.asset_events.extend(
        AssetEvent(id=i, timestamp=when + dt.timedelta(hours=i), asset=asset, extra={"rows": i})
        for i in (1, 2)
    )

    run = await runner.run("howto_assets", "read_assets")

    assert run.xcom() == {"uri": "s3://warehouse/orders", "events": 2}
    events = [event for event in run.log_events() if event.startswith("event ")]
    assert [event.split(" at ")[0] for event in events] == ["event 2", "event 1"]  # newest first


async def test_state_stores() -> None:
    runner = TaskRunner(example("howto_assets"))
    runner.store.assets["orders"] = AssetResult(name="orders", uri="s3://warehouse/orders")

    run = await runner.run("howto_assets", "remember_progress")

    assert run.xcom() == "2026-06-16"
    assert list(runner.store.task_state_store.values()) == [100]
    assert runner.store.asset_state_store == {("orders", "watermark"): "2026-06-16"}


async def test_triggering_another_dag() -> None:
    runner = TaskRunner(example("howto_assets"))

    run = await runner.run("howto_assets", "kick_off_reporting")

    assert run.xcom() == "queued"
    triggered = runner.store.dag_runs[("reporting", f"triggered__{DEFAULT_RUN_ID}")]
    assert triggered.conf == {"source": "orders"}


async def test_rendered_fields_are_masked() -> None:
    run = await TaskRunner(example("howto_assets")).run("howto_assets", "show_in_the_ui")

    assert run.rendered_fields == {"query": "SELECT * FROM orders", "api_token": "***"}


def test_every_example_is_tested() -> None:
    """A new example file needs tests: here, by name, or (the tutorial's others) in test_docs_snippets."""
    source = Path(__file__).read_text(encoding="utf-8")
    names = {p.relative_to(EXAMPLES).with_suffix("").as_posix() for p in EXAMPLES.rglob("*.py")}
    tested_elsewhere = {"tutorial/test_orders", "tutorial/orders_dag"}
    assert sorted(name for name in names - tested_elsewhere if f'example("{name}")' not in source) == []
