"""The tasks test_vocabulary.py runs under Airflow's real supervisor.

Served through ``harness.serving(VOCABULARY_BUNDLE)``. ``exercises_vocabulary``
calls every supervisor request type of the wider vocabulary once (or more) and
returns what each typed result held; its return value is pushed as an XCom,
which the test reads from the fake Execution API. ``hits_errors`` collects the
error classes of the not-found replies. The names used here are mirrored by
the test that seeds the fake Execution API.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

from trio_coord import (
    ApiError,
    Asset,
    AssetAlias,
    AwaitInput,
    Bundle,
    Defer,
    HITLUser,
    Reschedule,
    TaskContext,
)

VOCABULARY_BUNDLE: Final = Path(__file__).resolve()
#: A task instance other than the running one (reschedule dates, a second state store).
OTHER_TI: Final = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
#: The asset the tasks read and produce.
ORDERS: Final = Asset("orders", "s3://bucket/orders")
DAILY: Final = AssetAlias("daily")
#: When ``reschedules`` asks to run again.
RESCHEDULE_AT: Final = dt.datetime(2026, 6, 17, 6, 30, tzinfo=dt.UTC)
SECRET: Final = "trio-coord-secret-token"
#: The trigger ``defers`` hands itself to, and the moment it waits for.
TRIGGER: Final = "airflow.providers.standard.triggers.temporal.DateTimeTrigger"
TRIGGER_AT: Final = dt.datetime(2026, 6, 17, 7, 0, tzinfo=dt.UTC)

bundle = Bundle(name="trio_coord-vocabulary", version="0.0.1")
dag = bundle.dag("vocabulary")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dag.task
async def exercises_vocabulary(ctx: TaskContext) -> dict[str, object]:
    """Call every request type of the wider vocabulary; return what the results held."""
    c = ctx.client
    run_id = ctx.ti.run_id
    out: dict[str, object] = {}
    # variables
    await c.set_variable("written", "by trio", description="interop")
    await c.delete_variable("obsolete")
    keys = await c.get_variable_keys("etl_", limit=1, offset=1)
    out["variable_keys"] = [keys.keys, keys.total_entries]
    # xcoms of a mapped upstream task
    ids = {"dag_id": "vocabulary", "run_id": run_id, "task_id": "mapped", "key": "return_value"}
    out["xcom_count"] = await c.get_xcom_count(**ids)
    out["xcom_item"] = await c.get_xcom_sequence_item(**ids, offset=-1)
    out["xcom_slice"] = await c.get_xcom_sequence_slice(
        dag_id="vocabulary", run_id=run_id, task_id="mapped", key="return_value", start=1, step=1
    )
    # rendering, secrets
    await c.set_rendered_fields({"query": "select 1", "limits": [1, 2]})
    await c.set_rendered_map_index("region=eu")
    await c.mask_secret(SECRET, name="api_token")
    ctx.log.info("the token is %s", SECRET)
    # task instances and Dag runs
    await ctx.skip_downstream("cleanup", ("fan_out", 2))
    await c.trigger_dag_run(
        "downstream",
        "triggered__1",
        conf={"source": "trio"},
        logical_date=dt.datetime(2026, 6, 16, tzinfo=dt.UTC),
    )
    await c.trigger_dag_run("vocabulary", "scheduled__1", reset_dag_run=True)
    dag_run = await c.get_dag_run("vocabulary", "scheduled__2")
    out["dag_run"] = [
        dag_run.run_id,
        dag_run.run_type,
        dag_run.state,
        _iso(dag_run.logical_date),
        dag_run.conf,
    ]
    out["dag_run_state"] = await c.get_dag_run_state("vocabulary", "scheduled__1")
    out["dag_run_count"] = await c.get_dag_run_count("vocabulary", states=["success"])
    previous = await c.get_previous_dag_run(
        "vocabulary", dt.datetime(2026, 6, 16, tzinfo=dt.UTC), state="success"
    )
    out["previous_dag_run"] = previous.run_id if previous is not None else None
    prev_ok = await c.get_prev_successful_dag_run(OTHER_TI)  # the supervisor answers for its own TI
    out["prev_successful"] = [_iso(prev_ok.data_interval_start), _iso(prev_ok.end_date)]
    prev_ti = await c.get_previous_ti("vocabulary", "extract", state="success")
    out["previous_ti"] = [prev_ti.run_id, prev_ti.try_number, prev_ti.duration] if prev_ti else None
    out["ti_count"] = await c.get_ti_count("vocabulary", run_ids=["scheduled__2"])
    out["task_states"] = await c.get_task_states("vocabulary", run_ids=["scheduled__2"])
    out["breadcrumbs"] = await c.get_task_breadcrumbs("vocabulary", "scheduled__2")
    out["reschedule_start"] = _iso(await c.get_task_reschedule_start_date(OTHER_TI, try_number=2))
    the_dag = await c.get_dag("vocabulary")
    out["dag"] = [the_dag.dag_id, the_dag.is_paused, the_dag.tags, _iso(the_dag.next_dagrun)]
    # assets
    by_name = await c.get_asset_by_name("orders")
    by_uri = await c.get_asset_by_uri("s3://bucket/orders")
    out["asset"] = [by_name.uri, by_name.group, by_name.extra, by_uri.name]
    out["assets_by_alias"] = [a.name for a in await c.get_assets_by_alias("daily")]
    events = await c.get_asset_events(name="orders", ascending=False, limit=5)
    out["asset_events"] = [
        [e.id, _iso(e.timestamp), e.extra, e.source_task_id, [d.run_id for d in e.created_dagruns]]
        for e in events
    ]
    after = dt.datetime(2026, 6, 15, 12, tzinfo=dt.UTC)
    out["alias_events"] = [e.id for e in await c.get_asset_events_by_alias("daily", after=after)]
    out["inactive"] = [[p.name, p.uri, p.type] for p in await c.validate_inlets_and_outlets(ctx.ti.id)]
    # state stores
    await ctx.set_task_state("cursor", {"page": 7}, expires_at=dt.datetime(2026, 7, 1, tzinfo=dt.UTC))
    out["task_state"] = await ctx.get_task_state("cursor")
    await ctx.delete_task_state("cursor")
    await c.clear_task_state(OTHER_TI)
    await c.set_asset_state("watermark", "2026-06-15", name="orders")
    out["asset_state"] = await c.get_asset_state("watermark", uri="s3://bucket/orders")
    await c.set_asset_state("extra", 1, uri="s3://bucket/orders")
    await c.delete_asset_state("watermark", name="orders")
    out["asset_state_after_delete"] = await c.get_asset_state("watermark", "gone", uri="s3://bucket/orders")
    await c.clear_asset_state(name="orders")
    await c.clear_asset_state(uri="s3://bucket/orders")
    out["asset_state_by_name"] = await c.get_asset_state("extra", "cleared", name="orders")
    # human in the loop
    hitl = await c.create_hitl_detail(
        ctx.ti.id,
        options=["approve", "reject"],
        subject="Ship it?",
        defaults=["approve"],
        assigned_users=[HITLUser("u1", "Ada")],
    )
    out["hitl"] = [
        hitl.ti_id == ctx.ti.id,
        hitl.options,
        hitl.defaults,
        hitl.multiple,
        [[u.id, u.name] for u in hitl.assigned_users or []],
    ]
    return out


@dag.task
async def hits_errors(ctx: TaskContext) -> list[object]:
    """Collect the exception class, error code and detail of each error reply."""
    c = ctx.client
    seen: list[object] = []
    calls = [
        c.get_xcom_sequence_item(
            dag_id="vocabulary", run_id=ctx.ti.run_id, task_id="none", key="k", offset=3
        ),
        c.trigger_dag_run("vocabulary", "scheduled__1"),
        c.get_asset_by_name("missing"),
        c.get_asset_by_uri("s3://missing"),
        ctx.get_task_state("absent"),
        c.get_asset_state("absent", name="orders"),
        c.get_dag_run("vocabulary", "no_such_run"),
    ]
    for call in calls:
        try:
            await call
        except ApiError as exc:
            seen.append([type(exc).__name__, exc.error, exc.detail])
        else:
            seen.append("no error")
    return seen


@dag.task
async def reschedules(ctx: TaskContext) -> None:
    """Ask to be run again later."""
    raise Reschedule(RESCHEDULE_AT)


@dag.task
async def defers(ctx: TaskContext) -> object:
    """Defer to Airflow's DateTimeTrigger; when resumed, report what the resumed run was given."""
    if ctx.next_method is None:
        raise Defer(
            TRIGGER,
            {"moment": TRIGGER_AT, "end_from_trigger": False},
            method="after_trigger",
            kwargs={"page": 2},
            timeout=dt.timedelta(minutes=5),
        )
    kwargs = ctx.next_kwargs
    assert isinstance(kwargs, dict)
    event = kwargs.get("event")
    return {
        "method": ctx.next_method,
        "page": kwargs.get("page"),
        "event": event.isoformat() if isinstance(event, dt.datetime) else event,
    }


@dag.task
async def awaits_input(ctx: TaskContext) -> None:
    """Park for a human answer."""
    raise AwaitInput(method="answered", timeout=dt.timedelta(hours=1), kwargs={"asked": True})


@dag.task(outlets=[ORDERS, DAILY])
async def produces_assets(ctx: TaskContext) -> None:
    """Succeed with declared outlets and attached asset events."""
    ctx.outlet_events.add(ORDERS, {"rows": 42})
    ctx.outlet_events.add(ORDERS, {"rows": 7}, partition_key="eu")
    ctx.outlet_events.add_via_alias(DAILY, Asset("daily-orders", "s3://bucket/daily"), {"day": "2026-06-16"})
