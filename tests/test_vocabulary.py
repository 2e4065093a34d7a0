"""The whole supervisor vocabulary: client methods, outlets and Reschedule, under the embedded supervisor.

One task calls every client method of the wider vocabulary and returns what
it got (pushed as its ``return_value`` XCom); the tests check those values,
the requests the supervisor saw and the state the calls left in the store.
Smaller tasks cover the error replies, outlets and rescheduling.
"""

from __future__ import annotations

import datetime as dt
from typing import Unpack

import pytest
import trio

from trio_coord import (
    ApiServerError,
    Asset,
    AssetAlias,
    AssetNotFound,
    AssetStoreNotFound,
    Bundle,
    DagRun,
    DagRunAlreadyExists,
    HITLUser,
    LocalProtocolError,
    OutletEvents,
    RemoteProtocolError,
    Reschedule,
    TaskContext,
    TaskStoreNotFound,
    XComNotFound,
)
from trio_coord._messages import AssetProfile
from trio_coord._vocabulary import AssetEvent, AssetResult, DagResult, DagRunAssetReference
from trio_coord.testing import EmbeddedSupervisor, RequestHandlers, StartupOptions, TaskRun, XComKey
from trio_coord.testing._store import TaskInstanceRecord

RUN_ID = "manual__trio_coord"
OTHER_TI = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
DAY = dt.datetime(2026, 6, 16, tzinfo=dt.UTC)
ORDERS = Asset("orders", "s3://bucket/orders")
DAILY = AssetAlias("daily")

bundle = Bundle("vocabulary", "1.0")
dag = bundle.dag("v")


def day(n: int) -> dt.datetime:
    return DAY + dt.timedelta(days=n)


@dag.task
async def uses_vocabulary(ctx: TaskContext) -> dict[str, object]:
    c = ctx.client
    out: dict[str, object] = {}
    # variables
    await c.set_variable("new_var", "fresh", description="made by the task")
    await c.delete_variable("old_var")
    page = await c.get_variable_keys("etl_", limit=2, offset=1)
    out["keys"] = [page.keys, page.total_entries]
    # xcoms
    ids = {"dag_id": "v", "run_id": RUN_ID, "task_id": "mapped", "key": "return_value"}
    out["xcom_count"] = await c.get_xcom_count(**ids)
    out["xcom_item"] = await c.get_xcom_sequence_item(**ids, offset=-1)
    out["xcom_slice"] = await c.get_xcom_sequence_slice(
        dag_id="v", run_id=RUN_ID, task_id="mapped", key="return_value", start=0, stop=3, step=2
    )
    # rendering and secrets
    await c.mask_secret("a-long-secret-value")
    await c.set_rendered_fields(
        {"sql": "select 1 -- a-long-secret-value", "conn": {"password": "pw12345678"}}
    )
    await c.set_rendered_map_index("region=eu")
    # task instances and Dag runs
    await ctx.skip_downstream("cleanup", ("fan_out", 1))
    await c.trigger_dag_run("other", "triggered_1", conf={"why": "test"}, logical_date=day(5), note="hi")
    await c.trigger_dag_run("v", "scheduled__2", reset_dag_run=True)
    run = await c.get_dag_run("v", "scheduled__1")
    out["dag_run"] = [run.run_id, run.state, run.logical_date.isoformat() if run.logical_date else None]
    out["dag_run_state"] = await c.get_dag_run_state("v", "scheduled__2")
    out["dr_count"] = await c.get_dag_run_count("v", states=["success"])
    out["dr_count_dates"] = await c.get_dag_run_count("v", logical_dates=[day(1)])
    previous = await c.get_previous_dag_run("v", day(3), state="success")
    out["previous_dag_run"] = previous.run_id if previous else None
    out["no_previous_dag_run"] = await c.get_previous_dag_run("v", day(0))
    prev_ok = await c.get_prev_successful_dag_run(ctx.ti.id)
    out["prev_successful"] = [prev_ok.data_interval_start == day(1), prev_ok.end_date]
    prev_ti = await c.get_previous_ti("v", "extract", logical_date=day(3))
    out["previous_ti"] = [prev_ti.run_id, prev_ti.state, prev_ti.try_number] if prev_ti else None
    out["ti_count"] = await c.get_ti_count("v", run_ids=["scheduled__1"], states=["success", "failed"])
    out["ti_count_group"] = await c.get_ti_count("v", task_group_id="grp")
    out["task_states"] = await c.get_task_states("v", run_ids=["scheduled__1"])
    out["breadcrumbs"] = await c.get_task_breadcrumbs("v", "scheduled__1")
    reschedule_start = await c.get_task_reschedule_start_date(OTHER_TI, 2)
    out["reschedule_start"] = reschedule_start.isoformat() if reschedule_start else None
    out["no_reschedule_start"] = await c.get_task_reschedule_start_date(OTHER_TI)
    the_dag = await c.get_dag("v")
    out["dag"] = [the_dag.is_paused, the_dag.tags, the_dag.owners]
    # assets
    asset = await c.get_asset_by_name("orders")
    out["asset_by_name"] = [asset.uri, asset.group, asset.extra]
    out["asset_by_uri"] = (await c.get_asset_by_uri("s3://bucket/orders")).name
    out["assets_by_alias"] = [a.name for a in await c.get_assets_by_alias("daily")]
    events = await c.get_asset_events(name="orders", ascending=False, limit=2)
    out["asset_events"] = [[e.id, e.extra, [d.run_id for d in e.created_dagruns]] for e in events]
    out["asset_events_after"] = [
        e.id for e in await c.get_asset_events(uri="s3://bucket/orders", after=day(2))
    ]
    out["alias_events"] = [e.id for e in await c.get_asset_events_by_alias("daily")]
    out["inactive"] = [[p.name, p.type] for p in await c.validate_inlets_and_outlets(ctx.ti.id)]
    # state stores
    await ctx.set_task_state("cursor", {"page": 2})
    out["task_state"] = await ctx.get_task_state("cursor")
    await ctx.delete_task_state("cursor")
    out["task_state_default"] = await ctx.get_task_state("cursor", "gone")
    await c.set_task_state(OTHER_TI, "a", 1, expires_at=day(30))
    await c.set_task_state(OTHER_TI, "b", 2)
    await c.clear_task_state(OTHER_TI)
    await c.set_asset_state("watermark", "2026-06-15", name="orders")
    out["asset_state_by_uri"] = await c.get_asset_state("watermark", uri="s3://bucket/orders")
    await c.delete_asset_state("watermark", uri="s3://bucket/orders")
    out["asset_state_default"] = await c.get_asset_state("watermark", None, name="orders")
    await c.set_asset_state("x", 1, name="orders")
    await c.clear_asset_state(uri="s3://bucket/orders")
    # human in the loop
    hitl = await c.create_hitl_detail(
        ctx.ti.id, options=["approve", "reject"], subject="Ship it?", assigned_users=[HITLUser("u1", "Ada")]
    )
    out["hitl"] = [hitl.options, hitl.subject, hitl.multiple, [u.name for u in hitl.assigned_users or []]]
    return out


@dag.task
async def hits_errors(ctx: TaskContext) -> list[object]:
    c = ctx.client
    seen: list[object] = []

    async def expect(kind: type[Exception], call: object) -> None:
        with pytest.raises(kind) as info:
            await call  # type: ignore[misc]
        error = info.value
        seen.append([type(error).__name__, getattr(error, "error", None), getattr(error, "detail", None)])

    ids = {"dag_id": "v", "run_id": RUN_ID, "task_id": "nobody", "key": "k"}
    await expect(XComNotFound, c.get_xcom_sequence_item(**ids, offset=0))
    await expect(DagRunAlreadyExists, c.trigger_dag_run("v", "scheduled__1"))
    await expect(AssetNotFound, c.get_asset_by_name("missing"))
    await expect(AssetNotFound, c.get_asset_by_uri("s3://missing"))
    await expect(TaskStoreNotFound, ctx.get_task_state("absent"))
    await expect(AssetStoreNotFound, c.get_asset_state("absent", name="orders"))
    await expect(ApiServerError, c.get_dag_run("v", "no_such_run"))
    await expect(ApiServerError, c.get_dag("no_such_dag"))
    await expect(ApiServerError, c.set_asset_state("k", 1, name="missing"))
    return seen


@dag.task
async def reschedules(ctx: TaskContext) -> None:
    ctx.log.info("not ready yet")
    raise Reschedule(dt.timedelta(minutes=5))


@dag.task(outlets=[ORDERS, DAILY, Asset(name="only-a-name")])
async def produces_assets(ctx: TaskContext) -> int:
    ctx.outlet_events.add(ORDERS, {"rows": 42})
    ctx.outlet_events.add(ORDERS, partition_key="2026-06-16")
    ctx.outlet_events.add_via_alias(DAILY, Asset(uri="s3://bucket/daily/2026-06-16"), {"n": 1})
    return len(ctx.outlet_events)


@dag.task(outlets=[ORDERS])
async def produces_then_fails(ctx: TaskContext) -> None:
    ctx.outlet_events.add(ORDERS, {"rows": 1})
    raise RuntimeError("no success, no events")


def seeded() -> EmbeddedSupervisor:
    sup = EmbeddedSupervisor()
    store = sup.store
    store.variables.update({"old_var": "x", "etl_a": "1", "etl_b": "2", "etl_c": "3", "other": "4"})
    for index, value in enumerate(["zero", "one", "two", "three"]):
        store.xcoms[XComKey("v", RUN_ID, "mapped", "return_value", index)] = value
    for n, state in ((1, "success"), (2, "success"), (3, "failed")):
        store.dag_runs[("v", f"scheduled__{n}")] = DagRun(
            "v",
            f"scheduled__{n}",
            logical_date=day(n),
            data_interval_start=day(n),
            data_interval_end=day(n + 1),
            end_date=day(n + 1) if n != 1 else None,
            run_type="scheduled",
            state=state,
        )
    store.dag_runs[("v", RUN_ID)] = DagRun("v", RUN_ID, logical_date=day(4), state="running")
    store.task_instances.extend(
        [
            TaskInstanceRecord("v", "scheduled__1", "extract", "success", logical_date=day(1), operator="X"),
            TaskInstanceRecord("v", "scheduled__1", "load", "failed", logical_date=day(1), duration=2.5),
            TaskInstanceRecord("v", "scheduled__1", "fan_out", "running", map_index=0, logical_date=day(1)),
            TaskInstanceRecord("v", "scheduled__2", "extract", "success", try_number=2, logical_date=day(2)),
            TaskInstanceRecord("v", "scheduled__2", "grp.inner", "success", logical_date=day(2)),
            TaskInstanceRecord("v", RUN_ID, "cleanup", None, logical_date=day(4)),
            TaskInstanceRecord("v", RUN_ID, "fan_out", None, map_index=1, logical_date=day(4)),
        ]
    )
    store.task_reschedule_start_dates[(OTHER_TI, 2)] = day(7)
    store.dags["v"] = DagResult("v", is_paused=True, bundle_name="b", owners="ops", tags=["etl", "daily"])
    store.assets["orders"] = AssetResult("orders", "s3://bucket/orders", extra={"team": "data"})
    store.assets["daily_orders"] = AssetResult("daily_orders", "s3://bucket/daily")
    store.asset_aliases["daily"] = ["daily_orders", "unknown_asset"]
    orders = store.assets["orders"]
    created = [DagRunAssetReference("consumer_1", "consumer", "queued", start_date=day(1))]
    store.asset_events.extend(
        [
            AssetEvent(1, day(1), orders, extra={"rows": 1}, created_dagruns=created),
            AssetEvent(2, day(2), orders, source_task_id="t", source_map_index=-1),
            AssetEvent(3, day(3), orders),
            AssetEvent(4, day(3), store.assets["daily_orders"]),
        ]
    )
    store.inactive_assets.append(AssetProfile(name="retired", uri="s3://retired", type="Asset"))
    return sup


async def run(
    task_id: str, sup: EmbeddedSupervisor | None = None, **startup: Unpack[StartupOptions]
) -> TaskRun:
    sup = sup if sup is not None else seeded()
    with trio.fail_after(30):
        return await sup.run_in_process(bundle, "v", task_id, **startup)


async def test_every_client_method_gets_its_typed_result() -> None:
    sup = seeded()
    result = await run("uses_vocabulary", sup)
    assert result.problems == []
    assert result.state == "success", result.log_events()
    out = result.xcom()
    assert isinstance(out, dict)
    assert out["keys"] == [["etl_b", "etl_c"], 3]
    assert (out["xcom_count"], out["xcom_item"], out["xcom_slice"]) == (4, "three", ["zero", "two"])
    assert out["dag_run"] == ["scheduled__1", "success", day(1).isoformat()]
    assert out["dag_run_state"] == "queued"  # reset by the trigger with reset_dag_run
    # scheduled__2 was reset to queued by the trigger above: scheduled__1 is the last success
    assert (out["dr_count"], out["dr_count_dates"]) == (1, 1)
    assert (out["previous_dag_run"], out["no_previous_dag_run"]) == ("scheduled__1", None)
    assert out["prev_successful"] == [True, None]  # scheduled__1 has no end_date: the key is omitted
    assert out["previous_ti"] == ["scheduled__2", "success", 2]
    assert (out["ti_count"], out["ti_count_group"]) == (2, 1)
    assert out["task_states"] == {
        "scheduled__1": {"extract": "success", "load": "failed", "fan_out_0": "running"}
    }
    assert out["breadcrumbs"] == [
        {"task_id": "extract", "map_index": -1, "state": "success", "operator": "X", "duration": None},
        {"task_id": "load", "map_index": -1, "state": "failed", "operator": None, "duration": 2.5},
    ]
    assert (out["reschedule_start"], out["no_reschedule_start"]) == (day(7).isoformat(), None)
    assert out["dag"] == [True, ["etl", "daily"], "ops"]
    assert out["asset_by_name"] == ["s3://bucket/orders", "asset", {"team": "data"}]
    assert out["asset_by_uri"] == "orders"
    assert out["assets_by_alias"] == ["daily_orders"]
    assert out["asset_events"] == [[3, {}, []], [2, {}, []]]
    assert out["asset_events_after"] == [2, 3]
    assert out["alias_events"] == [4]
    assert out["inactive"] == [["retired", "Asset"]]
    assert (out["task_state"], out["task_state_default"]) == ({"page": 2}, "gone")
    assert (out["asset_state_by_uri"], out["asset_state_default"]) == ("2026-06-15", None)
    assert out["hitl"] == [["approve", "reject"], "Ship it?", False, ["Ada"]]

    store = sup.store
    assert store.variables["new_var"] == "fresh"
    assert store.variable_descriptions["new_var"] == "made by the task"
    assert "old_var" not in store.variables
    # masked as the Python task runner masks them: registered secrets and sensitive keys
    assert result.rendered_fields == {"sql": "select 1 -- ***", "conn": {"password": "***"}}
    assert result.rendered_map_index == "region=eu"
    assert result.skipped_downstream == ["cleanup", ("fan_out", 1)]
    skipped = [(ti.task_id, ti.map_index) for ti in store.task_instances if ti.state == "skipped"]
    assert skipped == [("cleanup", -1), ("fan_out", 1)]
    triggered = store.dag_runs[("other", "triggered_1")]
    assert (triggered.state, triggered.run_type, triggered.conf, triggered.note) == (
        "queued",
        "operator_triggered",
        {"why": "test"},
        "hi",
    )
    assert triggered.logical_date == day(5)
    assert store.dag_runs[("v", "scheduled__2")].clear_number == 1
    assert store.task_state_store == {}
    assert store.asset_state_store == {}
    (ti_id,) = store.hitl_details
    assert store.hitl_details[ti_id]["assigned_users"] == [{"id": "u1", "name": "Ada"}]

    kinds = [body["type"] for body in result.requests]
    assert set(kinds) >= {
        "PutVariable",
        "DeleteVariable",
        "GetVariableKeys",
        "GetXComCount",
        "GetXComSequenceItem",
        "GetXComSequenceSlice",
        "SetRenderedFields",
        "SetRenderedMapIndex",
        "MaskSecret",
        "SkipDownstreamTasks",
        "TriggerDagRun",
        "GetDagRun",
        "GetDagRunState",
        "GetDRCount",
        "GetPreviousDagRun",
        "GetPrevSuccessfulDagRun",
        "GetPreviousTI",
        "GetTICount",
        "GetTaskStates",
        "GetTaskBreadcrumbs",
        "GetTaskRescheduleStartDate",
        "GetDag",
        "GetAssetByName",
        "GetAssetByUri",
        "GetAssetsByAlias",
        "GetAssetEventByAsset",
        "GetAssetEventByAssetAlias",
        "ValidateInletsAndOutlets",
        "GetTaskStateStore",
        "SetTaskStateStore",
        "DeleteTaskStateStore",
        "ClearTaskStateStore",
        "GetAssetStateStoreByName",
        "GetAssetStateStoreByUri",
        "SetAssetStateStoreByName",
        "DeleteAssetStateStoreByUri",
        "ClearAssetStateStoreByUri",
        "CreateHITLDetailPayload",
        "SucceedTask",
    }
    (skip,) = result.requests_of("SkipDownstreamTasks")
    assert skip["tasks"] == ["cleanup", ["fan_out", 1]]
    (put,) = result.requests_of("PutVariable")
    assert put == {
        "key": "new_var",
        "value": "fresh",
        "description": "made by the task",
        "type": "PutVariable",
    }


async def test_error_replies_raise_their_own_exception_classes() -> None:
    result = await run("hits_errors")
    assert result.state == "success", result.log_events()
    assert result.problems == []
    seen = result.xcom()
    assert isinstance(seen, list)
    assert seen[:6] == [
        [
            "XComNotFound",
            "XCOM_NOT_FOUND",
            {"dag_id": "v", "run_id": RUN_ID, "task_id": "nobody", "key": "k", "offset": 0},
        ],
        ["DagRunAlreadyExists", "DAGRUN_ALREADY_EXISTS", None],
        ["AssetNotFound", "ASSET_NOT_FOUND", {"name": "missing"}],
        ["AssetNotFound", "ASSET_NOT_FOUND", {"uri": "s3://missing"}],
        ["TaskStoreNotFound", "TASK_STORE_NOT_FOUND", {"key": "absent"}],
        ["AssetStoreNotFound", "ASSET_STORE_NOT_FOUND", {"key": "absent"}],
    ]
    for entry in seen[6:]:
        assert isinstance(entry, list)
        assert entry[:2] == ["ApiServerError", "API_SERVER_ERROR"]
        assert isinstance(entry[2], dict)
        assert entry[2]["status_code"] == 404


async def test_reschedule_ends_the_try_as_up_for_reschedule() -> None:
    before = dt.datetime.now(dt.UTC)
    result = await run("reschedules")
    assert result.problems == []
    assert result.state == "up_for_reschedule"
    assert result.terminal is not None
    assert result.terminal["type"] == "RescheduleTask"
    assert set(result.terminal) == {"reschedule_date", "end_date", "state", "type"}
    when = result.terminal["reschedule_date"]
    assert isinstance(when, dt.datetime)
    assert before + dt.timedelta(minutes=5) <= when <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert any(
        event.startswith("task v.reschedules asked to be rescheduled at") for event in result.log_events()
    )


async def test_outlets_and_outlet_events_go_into_succeed_task() -> None:
    result = await run("produces_assets")
    assert result.problems == []
    assert result.state == "success"
    assert result.terminal is not None
    assert result.terminal["task_outlets"] == [
        {"name": "orders", "uri": "s3://bucket/orders", "type": "Asset"},
        {"name": "daily", "type": "AssetAlias"},
        {"name": "only-a-name", "uri": "only-a-name", "type": "Asset"},
    ]
    assert result.terminal["outlet_events"] == [
        {"dest_asset_key": {"name": "orders", "uri": "s3://bucket/orders"}, "extra": {"rows": 42}},
        {
            "dest_asset_key": {"name": "orders", "uri": "s3://bucket/orders"},
            "extra": {},
            "partition_key": "2026-06-16",
        },
        {
            "source_alias_name": "daily",
            "dest_asset_key": {"name": "s3://bucket/daily/2026-06-16", "uri": "s3://bucket/daily/2026-06-16"},
            "dest_asset_extra": {},
            "extra": {"n": 1},
        },
    ]
    assert result.xcom() == 3


async def test_outlet_events_are_dropped_when_the_task_fails() -> None:
    result = await run("produces_then_fails")
    assert result.state == "failed"
    assert result.terminal is not None
    assert result.terminal["type"] == "TaskState"


async def test_ok_false_and_wrong_reply_types_are_protocol_errors() -> None:
    class Odd(RequestHandlers):
        def _handle_DeleteVariable(self, body: object, run: TaskRun) -> dict[str, object]:
            return {"ok": False, "type": "OKResponse"}

        def _handle_GetDag(self, body: object, run: TaskRun) -> dict[str, object]:
            return {"ok": True, "type": "OKResponse"}

    odd_bundle = Bundle("odd")

    @odd_bundle.dag("o").task
    async def calls(ctx: TaskContext) -> list[str]:
        messages = []
        for call in (ctx.client.delete_variable("k"), ctx.client.get_dag("o")):
            with pytest.raises(RemoteProtocolError) as info:
                await call
            messages.append(str(info.value))
        return messages

    sup = EmbeddedSupervisor()
    sup.handlers = Odd(sup.store)
    with trio.fail_after(30):
        result = await sup.run_in_process(odd_bundle, "o", "calls")
    assert result.xcom() == [
        "DeleteVariable(key='k'): the supervisor answered OKResponse(ok=false)",
        "GetDag(dag_id='o'): expected a DagResult reply, got 'OKResponse'",
    ]


# ---------------------------------------------------------------------- the author API, without I/O


def test_asset_names_default_to_the_uri_and_back() -> None:
    assert Asset(uri="s3://x") == Asset("s3://x", "s3://x")
    assert Asset("x") == Asset(name="x", uri="x")
    assert Asset("a", "s3://a").to_profile() == {"name": "a", "uri": "s3://a", "type": "Asset"}
    assert DAILY.to_profile() == {"name": "daily", "type": "AssetAlias"}
    with pytest.raises(ValueError, match="needs a name or a uri"):
        Asset()
    with pytest.raises(ValueError, match=r"Asset.name must not be empty"):
        Asset("   ", "s3://a")
    with pytest.raises(ValueError, match="longer than 1500"):
        Asset("a" * 1501)
    with pytest.raises(TypeError, match=r"Asset\.uri must be a str"):
        Asset("a", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"AssetAlias\.name must not be empty"):
        AssetAlias("")


def test_outlets_must_be_assets_or_aliases() -> None:
    local = Bundle("local").dag("d")
    with pytest.raises(TypeError, match="outlets must be Asset or AssetAlias objects"):

        @local.task(outlets=["s3://not-an-asset"])  # type: ignore[list-item]
        async def bad(ctx: TaskContext) -> None:
            return None

    @local.task(outlets=[ORDERS, ORDERS])
    async def twice(ctx: TaskContext) -> None:
        return None

    assert local.tasks["twice"].outlets == (ORDERS,)


def test_outlet_events_accept_only_declared_outlets_and_json() -> None:
    events = OutletEvents([ORDERS, DAILY])
    with pytest.raises(ValueError, match=r"Asset\(name='other'.* is not an outlet of this task"):
        events.add(Asset("other"))
    with pytest.raises(ValueError, match="AssetAlias\\(name='nope'\\) is not an outlet"):
        events.add_via_alias(AssetAlias("nope"), ORDERS)
    with pytest.raises(TypeError, match="use add_via_alias for aliases"):
        events.add(DAILY)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match=r"extra\['when'\]: datetime is not JSON"):
        events.add(ORDERS, {"when": DAY})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="partition_key must be a non-empty string"):
        events.add(ORDERS, partition_key=" ")
    with pytest.raises(ValueError, match="partition_key is longer than 250"):
        events.add(ORDERS, partition_key="p" * 251)
    assert len(events) == 0
    events.add(ORDERS)
    assert events.to_wire() == [
        {"dest_asset_key": {"name": "orders", "uri": "s3://bucket/orders"}, "extra": {}}
    ]


def test_reschedule_takes_an_aware_datetime_or_a_delay() -> None:
    assert Reschedule(DAY).reschedule_date == DAY
    assert str(Reschedule(DAY)) == "reschedule at 2026-06-16T00:00:00+00:00"
    soon = Reschedule(dt.timedelta(seconds=30)).reschedule_date
    assert soon.tzinfo is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        Reschedule(dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="non-negative delay"):
        Reschedule(dt.timedelta(seconds=-1))
    with pytest.raises(TypeError, match="takes a datetime or a timedelta"):
        Reschedule("tomorrow")  # type: ignore[arg-type]


async def test_asset_state_needs_exactly_one_address() -> None:
    # Refused before anything is sent: the client has no comm at all here.
    from trio_coord import CoordinatorClient

    client = CoordinatorClient(None, request_timeout=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one of name= or uri="):
        await client.get_asset_state("k", name="a", uri="s3://a")
    with pytest.raises(ValueError, match="exactly one of name= or uri="):
        await client.clear_asset_state()


def test_the_embedded_supervisor_sends_api_errors_in_the_error_slot() -> None:
    from trio_coord._framing import RequestFrame, decode_response
    from trio_coord.testing import EmbeddedSupervisor, TaskRun

    sup = EmbeddedSupervisor()
    run = TaskRun("d", "t", "r", 1)
    unknown_run = RequestFrame(7, {"type": "GetDagRun", "dag_id": "d", "run_id": "no_such_run"})
    reply = decode_response(sup.handle(unknown_run, run))
    assert reply.body is None
    assert reply.error is not None
    assert reply.error["error"] == "API_SERVER_ERROR"
    missing_variable = RequestFrame(8, {"type": "GetVariable", "key": "nope"})
    domain = decode_response(sup.handle(missing_variable, run))
    assert domain.error is None  # domain errors stay in the body slot
    assert domain.body is not None
    assert domain.body["error"] == "VARIABLE_NOT_FOUND"
