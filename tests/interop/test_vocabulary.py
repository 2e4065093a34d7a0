"""The whole supervisor vocabulary through the real task-sdk 1.3.2 supervisor.

Each test runs one task of ``vocabulary_bundle.py`` under ``supervise_task``
(see ``harness.py``), against a fake Execution API seeded with what the task
reads. The task calls the client methods and returns what their typed
results held; the test checks those values (the task's ``return_value``
XCom), the exact Execution API calls the supervisor made for each request,
and the final state.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import uuid
from collections.abc import Iterator
from typing import Any
from unittest.mock import ANY

import pytest

if importlib.util.find_spec("airflow") is None:
    pytest.skip("needs apache-airflow-task-sdk==1.3.2 (nox -s interop)", allow_module_level=True)

from .harness import RUN_ID, ApiCall, FakeExecutionAPI, Result, run, serving, start_call, state_call
from .vocabulary_bundle import OTHER_TI, RESCHEDULE_AT, SECRET, TRIGGER, TRIGGER_AT, VOCABULARY_BUNDLE

DAG = "vocabulary"


@pytest.fixture(autouse=True)
def _vocabulary_bundle(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A request the supervisor drops would hang the task: fail it within seconds instead.
    monkeypatch.setenv("TRIO_COORD_REQUEST_TIMEOUT", "15")
    with serving(VOCABULARY_BUNDLE):
        yield


def dag_run(run_id: str, day: int, state: str, **fields: Any) -> dict[str, Any]:
    """A ``DagRun`` as the Execution API returns it (every key present)."""
    when = f"2026-06-{day:02d}T00:00:00Z"
    return {
        "dag_id": DAG,
        "run_id": run_id,
        "logical_date": when,
        "data_interval_start": when,
        "data_interval_end": f"2026-06-{day + 1:02d}T00:00:00Z",
        "run_after": when,
        "start_date": when,
        "end_date": None,
        "clear_number": 0,
        "run_type": "scheduled",
        "state": state,
        "conf": {},
        "triggering_user_name": None,
        "consumed_asset_events": [],
        "partition_key": None,
        "partition_date": None,
        "note": None,
        "team_name": None,
        **fields,
    }


ORDERS_JSON = {"name": "orders", "uri": "s3://bucket/orders", "group": "asset", "extra": {"team": "data"}}
DAILY_JSON = {"name": "daily-orders", "uri": "s3://bucket/daily", "group": "asset", "extra": None}


def asset_event(event_id: int, when: str, asset: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "timestamp": when, "asset": asset, "created_dagruns": [], **fields}


def seeded_api() -> FakeExecutionAPI:
    api = FakeExecutionAPI(
        variables={"obsolete": "x", "etl_a": "1", "etl_b": "2", "etl_c": "3", "other": "4"},
        xcoms={(DAG, RUN_ID, "mapped", "return_value", i): value for i, value in enumerate(["a", "b", "c"])},
    )
    api.dag_runs.update(
        {
            (DAG, "scheduled__1"): dag_run("scheduled__1", 14, "success"),
            (DAG, "scheduled__2"): dag_run("scheduled__2", 15, "failed", conf={"retry": True}),
        }
    )
    api.task_instances.extend(
        [
            {
                "dag_id": DAG,
                "run_id": "scheduled__1",
                "task_id": "extract",
                "map_index": -1,
                "state": "success",
                "logical_date": "2026-06-14T00:00:00Z",
                "start_date": "2026-06-14T00:01:00Z",
                "end_date": None,
                "try_number": 2,
                "duration": 61.5,
                "operator": "TrioTask",
            },
            {
                "dag_id": DAG,
                "run_id": "scheduled__2",
                "task_id": "extract",
                "map_index": -1,
                "state": "failed",
                "logical_date": "2026-06-15T00:00:00Z",
                "try_number": 1,
                "duration": 3.0,
                "operator": "TrioTask",
            },
            {
                "dag_id": DAG,
                "run_id": "scheduled__2",
                "task_id": "load",
                "map_index": 0,
                "state": "success",
                "logical_date": "2026-06-15T00:00:00Z",
                "try_number": 1,
                "duration": None,
                "operator": "TrioTask",
            },
            {
                "dag_id": DAG,
                "run_id": "scheduled__2",
                "task_id": "report",
                "map_index": -1,
                "state": None,
                "logical_date": "2026-06-15T00:00:00Z",
                "try_number": 1,
            },
        ]
    )
    api.reschedule_start_dates[OTHER_TI] = "2026-06-16T05:00:00Z"
    api.dags[DAG] = {
        "dag_id": DAG,
        "is_paused": False,
        "bundle_name": "trio_coord-vocabulary",
        "bundle_version": None,
        "relative_fileloc": "vocabulary_bundle.py",
        "owners": "data",
        "tags": ["trio", "interop"],
        "next_dagrun": "2026-06-17T00:00:00Z",
    }
    api.assets.update({"orders": ORDERS_JSON, "daily-orders": DAILY_JSON})
    api.asset_aliases["daily"] = ["daily-orders"]
    created = {
        "run_id": "asset_triggered__1",
        "dag_id": "consumer",
        "logical_date": None,
        "start_date": "2026-06-15T10:00:00Z",
        "end_date": None,
        "state": "queued",
        "data_interval_start": None,
        "data_interval_end": None,
        "partition_key": None,
    }
    api.asset_events.extend(
        [
            asset_event(
                11, "2026-06-14T10:00:00Z", ORDERS_JSON, extra={"rows": 1}, created_dagruns=[created]
            ),
            asset_event(12, "2026-06-15T10:00:00Z", ORDERS_JSON, source_task_id="load", source_dag_id=DAG),
            asset_event(13, "2026-06-15T11:00:00Z", DAILY_JSON),
        ]
    )
    api.alias_asset_events["daily"] = [
        asset_event(20, "2026-06-15T09:00:00Z", DAILY_JSON),
        asset_event(21, "2026-06-15T13:00:00Z", DAILY_JSON),
    ]
    api.task_state_store[(OTHER_TI, "left_over")] = 1
    return api


def task_result(api: FakeExecutionAPI, task_id: str) -> Any:
    """The task's ``return_value`` XCom, as the supervisor POSTed it."""
    return api.xcoms[(DAG, RUN_ID, task_id, "return_value", -1)]


def calls_between(result: Result, task_id: str) -> list[ApiCall]:
    """The API calls after ``PATCH …/run`` and before the return-value push and the terminal state."""
    calls = result.calls_without_heartbeats
    assert calls[0] == start_call(result.ti)
    push = ApiCall("POST", f"xcoms/{DAG}/{RUN_ID}/{task_id}/return_value", {}, ANY)
    assert calls[-2] == push
    return calls[1:-2]


def test_every_request_type_through_the_real_supervisor() -> None:
    ti_id = uuid.uuid4()
    api = seeded_api()
    api.prev_successful_dag_runs[str(ti_id)] = {
        "data_interval_start": "2026-06-14T00:00:00Z",
        "data_interval_end": "2026-06-15T00:00:00Z",
        "start_date": "2026-06-15T00:00:05Z",
        "end_date": None,
    }
    api.inactive_assets[str(ti_id)] = [{"name": "retired", "uri": "s3://retired", "type": "Asset"}]

    result = run(DAG, "exercises_vocabulary", api=api, id=ti_id)

    assert (result.exit_code, result.final_state) == (0, "success"), result.describe_log()
    out = task_result(api, "exercises_vocabulary")
    assert out == {
        "variable_keys": [["etl_b"], 3],
        "xcom_count": 3,
        "xcom_item": "c",
        "xcom_slice": ["b", "c"],
        "dag_run": ["scheduled__2", "scheduled", "failed", "2026-06-15T00:00:00+00:00", {"retry": True}],
        "dag_run_state": "queued",
        "dag_run_count": 0,
        "previous_dag_run": None,
        "prev_successful": ["2026-06-14T00:00:00+00:00", None],
        "previous_ti": ["scheduled__1", 2, 61.5],
        "ti_count": 3,
        "task_states": {"scheduled__2": {"extract": "failed", "load_0": "success", "report": None}},
        "breadcrumbs": [
            {
                "task_id": "extract",
                "map_index": -1,
                "state": "failed",
                "operator": "TrioTask",
                "duration": 3.0,
            },
            {"task_id": "load", "map_index": 0, "state": "success", "operator": "TrioTask", "duration": None},
        ],
        "reschedule_start": "2026-06-16T05:00:00+00:00",
        "dag": [DAG, False, ["trio", "interop"], "2026-06-17T00:00:00+00:00"],
        "asset": ["s3://bucket/orders", "asset", {"team": "data"}, "orders"],
        "assets_by_alias": ["daily-orders"],
        "asset_events": [
            [12, "2026-06-15T10:00:00+00:00", {}, "load", []],
            [11, "2026-06-14T10:00:00+00:00", {"rows": 1}, None, ["asset_triggered__1"]],
        ],
        "alias_events": [21],
        "inactive": [["retired", "s3://retired", "Asset"]],
        "task_state": {"page": 7},
        "asset_state": "2026-06-15",
        "asset_state_after_delete": "gone",
        "asset_state_by_name": "cleared",
        "hitl": [True, ["approve", "reject"], ["approve"], False, [["u1", "Ada"]]],
    }

    ti = str(ti_id)
    orders_by_name = {"name": "orders"}
    orders_by_uri = {"uri": "s3://bucket/orders"}
    assert calls_between(result, "exercises_vocabulary") == [
        ApiCall("PUT", "variables/written", {}, {"val": "by trio", "description": "interop"}),
        ApiCall("DELETE", "variables/obsolete"),
        ApiCall("GET", "variables/keys", {"limit": "1", "offset": "1", "prefix": "etl_"}),
        ApiCall("HEAD", f"xcoms/{DAG}/{RUN_ID}/mapped/return_value"),
        ApiCall("GET", f"xcoms/{DAG}/{RUN_ID}/mapped/return_value/item/-1"),
        ApiCall("GET", f"xcoms/{DAG}/{RUN_ID}/mapped/return_value/slice", {"start": "1", "step": "1"}),
        ApiCall("PUT", f"task-instances/{ti}/rtif", {}, {"query": "select 1", "limits": [1, 2]}),
        ApiCall("PATCH", f"task-instances/{ti}/rendered-map-index", {}, "region=eu"),
        ApiCall("PATCH", f"task-instances/{ti}/skip-downstream", {}, {"tasks": ["cleanup", ["fan_out", 2]]}),
        ApiCall(
            "POST",
            "dag-runs/downstream/triggered__1",
            {},
            {"logical_date": "2026-06-16T00:00:00Z", "conf": {"source": "trio"}},
        ),
        ApiCall("POST", f"dag-runs/{DAG}/scheduled__1", {}, {"conf": {}, "reset_dag_run": True}),
        ApiCall("POST", f"dag-runs/{DAG}/scheduled__1/clear"),
        ApiCall("GET", f"dag-runs/{DAG}/scheduled__2"),
        ApiCall("GET", f"dag-runs/{DAG}/scheduled__1/state"),
        ApiCall("GET", "dag-runs/count", {"dag_id": DAG, "states": "success"}),
        ApiCall(
            "GET",
            "dag-runs/previous",
            {"dag_id": DAG, "logical_date": "2026-06-16T00:00:00+00:00", "state": "success"},
        ),
        ApiCall("GET", f"task-instances/{ti}/previous-successful-dagrun"),
        ApiCall("GET", f"task-instances/previous/{DAG}/extract", {"map_index": "-1", "state": "success"}),
        ApiCall("GET", "task-instances/count", {"dag_id": DAG, "run_ids": "scheduled__2"}),
        ApiCall("GET", "task-instances/states", {"dag_id": DAG, "run_ids": "scheduled__2"}),
        ApiCall("GET", "task-instances/breadcrumbs", {"dag_id": DAG, "run_id": "scheduled__2"}),
        ApiCall("GET", f"task-reschedules/{OTHER_TI}/start_date", {"try_number": "2"}),
        ApiCall("GET", f"dags/{DAG}"),
        ApiCall("GET", "assets/by-name", orders_by_name),
        ApiCall("GET", "assets/by-uri", orders_by_uri),
        ApiCall("GET", "assets/by-alias", {"alias_name": "daily"}),
        ApiCall(
            "GET", "asset-events/by-asset", {"name": "orders", "uri": "", "ascending": "false", "limit": "5"}
        ),
        ApiCall(
            "GET",
            "asset-events/by-asset-alias",
            {"name": "daily", "after": "2026-06-15T12:00:00+00:00", "ascending": "true"},
        ),
        ApiCall("GET", f"task-instances/{ti}/validate-inlets-and-outlets"),
        ApiCall(
            "PUT", f"store/ti/{ti}/cursor", {}, {"value": {"page": 7}, "expires_at": "2026-07-01T00:00:00Z"}
        ),
        ApiCall("GET", f"store/ti/{ti}/cursor"),
        ApiCall("DELETE", f"store/ti/{ti}/cursor"),
        ApiCall("DELETE", f"store/ti/{OTHER_TI}"),
        ApiCall(
            "PUT",
            "store/asset/by-name/value",
            {**orders_by_name, "key": "watermark"},
            {"value": "2026-06-15"},
        ),
        ApiCall("GET", "store/asset/by-uri/value", {**orders_by_uri, "key": "watermark"}),
        ApiCall("PUT", "store/asset/by-uri/value", {**orders_by_uri, "key": "extra"}, {"value": 1}),
        ApiCall("DELETE", "store/asset/by-name/value", {**orders_by_name, "key": "watermark"}),
        ApiCall("GET", "store/asset/by-uri/value", {**orders_by_uri, "key": "watermark"}),
        ApiCall("DELETE", "store/asset/by-name/clear", orders_by_name),
        ApiCall("DELETE", "store/asset/by-uri/clear", orders_by_uri),
        ApiCall("GET", "store/asset/by-name/value", {**orders_by_name, "key": "extra"}),
        ApiCall(
            "POST",
            f"hitlDetails/{ti}",
            {},
            {
                "ti_id": ti,
                "options": ["approve", "reject"],
                "subject": "Ship it?",
                "body": None,
                "defaults": ["approve"],
                "multiple": False,
                "params": None,
                "assigned_users": [{"id": "u1", "name": "Ada"}],
                "type": "CreateHITLDetailPayload",
            },
        ),
    ]
    assert result.calls_without_heartbeats[-1] == state_call(
        result.ti, "success", task_outlets=[], outlet_events=[]
    )
    # State the fake Execution API now holds, from the writes above.
    assert api.variables["written"] == "by trio"
    assert "obsolete" not in api.variables
    assert api.dag_runs[("downstream", "triggered__1")]["conf"] == {"source": "trio"}
    assert api.task_state_store == {}
    assert api.asset_state_store == {}
    # MaskSecret registered the token with the supervisor's masker; nothing showed it.
    assert SECRET not in result.log_text
    assert result.record(logger=f"task.{DAG}.exercises_vocabulary", event="the token is ***")


def test_error_replies_raise_their_own_classes() -> None:
    api = seeded_api()

    result = run(DAG, "hits_errors", api=api)

    assert (result.exit_code, result.final_state) == (0, "success"), result.describe_log()
    assert task_result(api, "hits_errors") == [
        [
            "XComNotFound",
            "XCOM_NOT_FOUND",
            {"dag_id": DAG, "run_id": RUN_ID, "task_id": "none", "key": "k", "offset": 3},
        ],
        ["DagRunAlreadyExists", "DAGRUN_ALREADY_EXISTS", None],
        ["AssetNotFound", "ASSET_NOT_FOUND", {"name": "missing"}],
        ["AssetNotFound", "ASSET_NOT_FOUND", {"uri": "s3://missing"}],
        ["TaskStoreNotFound", "TASK_STORE_NOT_FOUND", {"key": "absent"}],
        ["AssetStoreNotFound", "ASSET_STORE_NOT_FOUND", {"key": "absent"}],
        [
            "ApiServerError",
            "API_SERVER_ERROR",
            {
                "status_code": 404,
                "message": "Server returned error",
                "detail": {
                    "detail": {
                        "reason": "not_found",
                        "message": f"Dag run no_such_run of Dag {DAG} not found",
                    }
                },
            },
        ],
    ]
    ti = str(result.ti.id)
    assert calls_between(result, "hits_errors") == [
        ApiCall("GET", f"xcoms/{DAG}/{RUN_ID}/none/k/item/3"),
        ApiCall("POST", f"dag-runs/{DAG}/scheduled__1", {}, {"conf": {}}),
        ApiCall("GET", "assets/by-name", {"name": "missing"}),
        ApiCall("GET", "assets/by-uri", {"uri": "s3://missing"}),
        ApiCall("GET", f"store/ti/{ti}/absent"),
        ApiCall("GET", "store/asset/by-name/value", {"name": "orders", "key": "absent"}),
        ApiCall("GET", f"dag-runs/{DAG}/no_such_run"),
    ]


def test_reschedule_is_up_for_reschedule() -> None:
    result = run(DAG, "reschedules", api=FakeExecutionAPI())

    assert (result.exit_code, result.final_state) == (0, "up_for_reschedule"), result.describe_log()
    assert result.calls_without_heartbeats == [
        start_call(result.ti),
        ApiCall(
            "PATCH",
            f"task-instances/{result.ti.id}/state",
            {},
            {"state": "up_for_reschedule", "reschedule_date": "2026-06-17T06:30:00Z", "end_date": ANY},
        ),
    ]
    # ... which the API server's own model (airflow-core, installed with the task-sdk) accepts.
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import TIRescheduleStatePayload

    payload = TIRescheduleStatePayload.model_validate(result.calls_without_heartbeats[-1].body)
    assert payload.reschedule_date == RESCHEDULE_AT
    event = f"task {DAG}.reschedules asked to be rescheduled at {RESCHEDULE_AT.isoformat()}"
    assert result.record(logger="trio_coord.runner", event=event)["level"] == "info"


def test_defer_hands_the_task_to_a_trigger_airflow_can_build() -> None:
    result = run(DAG, "defers", api=FakeExecutionAPI())

    assert (result.exit_code, result.final_state) == (0, "deferred"), result.describe_log()
    *_, patch = result.calls_without_heartbeats
    assert (patch.method, patch.path) == ("PATCH", f"task-instances/{result.ti.id}/state")
    assert patch.body["state"] == "deferred"
    assert patch.body["classpath"] == TRIGGER
    assert patch.body["next_method"] == "after_trigger"
    assert patch.body["next_kwargs"] == {"page": 2}
    # The API server's own model accepts the body, and Airflow's serde rebuilds the trigger's arguments.
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import TIDeferredStatePayload
    from airflow.sdk.serde import deserialize

    payload = TIDeferredStatePayload.model_validate(patch.body)
    assert payload.trigger_timeout == dt.timedelta(minutes=5)
    kwargs = deserialize(payload.trigger_kwargs)
    assert kwargs["moment"] == TRIGGER_AT
    assert kwargs["end_from_trigger"] is False


def test_a_resumed_run_sees_next_method_and_the_trigger_event() -> None:
    from airflow.sdk.serde import serialize

    next_kwargs = serialize({"page": 2, "event": TRIGGER_AT})
    api = FakeExecutionAPI(run_context={"next_method": "after_trigger", "next_kwargs": next_kwargs})
    result = run(DAG, "defers", api=api)

    assert (result.exit_code, result.final_state) == (0, "success"), result.describe_log()
    (push,) = [call for call in result.calls_without_heartbeats if call.method == "POST"]
    assert push.body == {"method": "after_trigger", "page": 2, "event": TRIGGER_AT.isoformat()}


def test_await_input_parks_the_task() -> None:
    result = run(DAG, "awaits_input", api=FakeExecutionAPI())

    assert (result.exit_code, result.final_state) == (0, "awaiting_input"), result.describe_log()
    *_, patch = result.calls_without_heartbeats
    assert patch.body["state"] == "awaiting_input"
    assert patch.body["next_method"] == "answered"
    assert patch.body["next_kwargs"] == {"asked": True}
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import TIAwaitingInputStatePayload

    assert TIAwaitingInputStatePayload.model_validate(patch.body).timeout == dt.timedelta(hours=1)


def test_outlets_and_outlet_events_reach_the_execution_api() -> None:
    result = run(DAG, "produces_assets", api=FakeExecutionAPI())

    assert (result.exit_code, result.final_state) == (0, "success"), result.describe_log()
    orders = {"name": "orders", "uri": "s3://bucket/orders"}
    assert result.calls_without_heartbeats == [
        start_call(result.ti),
        state_call(
            result.ti,
            "success",
            task_outlets=[{**orders, "type": "Asset"}, {"name": "daily", "uri": None, "type": "AssetAlias"}],
            outlet_events=[
                {"dest_asset_key": orders, "extra": {"rows": 42}},
                {"dest_asset_key": orders, "extra": {"rows": 7}, "partition_key": "eu"},
                {
                    "source_alias_name": "daily",
                    "dest_asset_key": {"name": "daily-orders", "uri": "s3://bucket/daily"},
                    "dest_asset_extra": {},
                    "extra": {"day": "2026-06-16"},
                },
            ],
        ),
    ]
    # The API server's own model accepts the payload, and every event names an asset key it can build.
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import TISuccessStatePayload
    from airflow.serialization.definitions.assets import SerializedAssetUniqueKey

    payload = TISuccessStatePayload.model_validate(result.calls_without_heartbeats[-1].body)
    assert [profile.type for profile in payload.task_outlets] == ["Asset", "AssetAlias"]
    keys = {SerializedAssetUniqueKey(**event["dest_asset_key"]) for event in payload.outlet_events}
    assert keys == {
        SerializedAssetUniqueKey("orders", "s3://bucket/orders"),
        SerializedAssetUniqueKey("daily-orders", "s3://bucket/daily"),
    }
