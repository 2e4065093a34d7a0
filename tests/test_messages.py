"""Typed messages: decoding what the supervisor sends, validating what we send."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import uuid

import jsonschema
import msgpack
import pytest

from trio_coord import (
    SUPERVISOR_SCHEMA_VERSION,
    Connection,
    DagRun,
    LocalProtocolError,
    RemoteProtocolError,
    RetryTask,
    StartupDetails,
    SucceedTask,
    TaskState,
    _messages as m,
    _vocabulary as v,
)
from trio_coord._framing import decode_response, encode_request, encode_response
from trio_coord._messages import DeleteXCom, GetConnection, GetVariable, GetXCom, MaskSecret, SetXCom
from trio_coord._serde import serde_encode
from trio_coord.testing._validation import REQUEST_SPECS, validate_request

from .conftest import DATA
from .helpers import startup_body

SCHEMA = json.loads((DATA / "task_sdk_1.3.2_schema.json").read_text())


def as_json(value: object) -> object:
    """What JSON Schema sees: datetimes become RFC 3339 strings."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value


@functools.cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    schema = {"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{kind}"}
    return jsonschema.validators.validator_for(schema)(schema)


def test_the_schema_copy_is_a_valid_json_schema() -> None:
    # Checked once here (it takes most of a second); assert_valid's validators skip it.
    jsonschema.validators.validator_for(SCHEMA).check_schema(SCHEMA)


def assert_valid(kind: str, body: dict[str, object]) -> None:
    """Validate ``body`` against the 1.3.2 schema's ``kind`` (a validator per kind, built once)."""
    error = jsonschema.exceptions.best_match(_validator(kind).iter_errors(as_json(body)))  # type: ignore[arg-type]
    if error is not None:
        raise error


def test_schema_version() -> None:
    assert SUPERVISOR_SCHEMA_VERSION == "2026-06-16" == SCHEMA["api_version"]


def test_startup_details_round_trip_through_the_wire() -> None:
    body = startup_body("etl", "extract", try_number=2, max_tries=3, conf={"x": 1})
    payload = encode_response(0, body)
    assert payload.startswith(b"\x93\x00\x87\xa2ti\x8a\xa2id\xd9\x24")  # as captured from 1.3.2
    frame = decode_response(payload)
    details = StartupDetails.from_wire(frame.body)
    assert details.ti.dag_id == "etl"
    assert details.ti.task_id == "extract"
    assert details.ti.try_number == 2
    assert details.ti.map_index == -1
    assert not details.ti.is_mapped
    assert details.ti_context.should_retry is True
    assert details.ti_context.max_tries == 3
    assert details.ti_context.dag_run.conf == {"x": 1}
    assert details.ti_context.dag_run.run_type == "manual"
    assert details.start_date.tzinfo is not None
    assert details.ti_context.dag_run.logical_date == body["ti_context"]["dag_run"]["logical_date"]
    assert_valid("StartupDetails", body)


def test_startup_details_accept_rfc3339_strings_and_ignore_unknown_keys() -> None:
    body = as_json(startup_body())
    assert isinstance(body, dict)
    body["future_field"] = {"anything": 1}
    body["ti"]["pool_slots"] = 1
    body["ti_context"]["dag_run"]["logical_date"] = "2026-01-02T03:04:05Z"
    details = StartupDetails.from_wire(body)
    assert details.ti_context.dag_run.logical_date == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_optional_keys_may_be_absent() -> None:
    body = startup_body()
    for key in ("map_index", "hostname", "context_carrier", "queue"):
        del body["ti"][key]
    for key in ("variables", "connections", "next_method", "next_kwargs", "xcom_keys_to_clear", "start_date"):
        del body["ti_context"][key]
    for key in ("conf", "note", "team_name", "partition_date", "triggering_user_name"):
        del body["ti_context"]["dag_run"][key]
    details = StartupDetails.from_wire(body)
    assert details.ti.queue == "default"
    assert details.ti_context.variables == []
    assert details.ti_context.xcom_keys_to_clear == []


def test_consumed_asset_events_are_typed() -> None:
    body = startup_body()
    when = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    body["ti_context"]["dag_run"]["consumed_asset_events"] = [
        {
            "asset": {"name": "a", "uri": "s3://a", "extra": {}},
            "extra": {"rows": 3},
            "source_task_id": "t",
            "source_dag_id": "d",
            "source_run_id": "r",
            "source_map_index": -1,
            "source_aliases": [{"name": "alias"}],
            "timestamp": when,
            "partition_key": None,
        }
    ]
    (event,) = StartupDetails.from_wire(body).ti_context.dag_run.consumed_asset_events
    assert event.asset.uri == "s3://a"
    assert event.source_aliases == ["alias"]
    assert event.timestamp == when


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("ti"), r"StartupDetails.ti: expected a map, got NoneType"),
        (lambda b: b["ti"].pop("dag_id"), r"StartupDetails.ti: required key 'dag_id' is missing"),
        (lambda b: b["ti"].update(try_number="1"), r"StartupDetails.ti.try_number: expected int, got str"),
        (lambda b: b["ti"].update(try_number=0), r"try_number must be >= 1"),
        (lambda b: b["ti"].update(run_id=""), r"StartupDetails.ti.run_id must not be empty"),
        (lambda b: b["ti_context"].pop("dag_run"), r"ti_context.dag_run: expected a map"),
        (lambda b: b["ti_context"]["dag_run"].update(logical_date="yesterday"), r"not an RFC 3339"),
        (lambda b: b.update(type="DagFileParseRequest"), r"expected type 'StartupDetails'"),
    ],
)
def test_invalid_startup_details_name_the_field(mutate: object, message: str) -> None:
    body = copy.deepcopy(startup_body())
    mutate(body)  # type: ignore[operator]
    with pytest.raises(RemoteProtocolError, match=message):
        StartupDetails.from_wire(body)


def test_connection_keeps_none_and_empty_apart_and_hides_secrets() -> None:
    wire = {
        "conn_id": "db",
        "conn_type": "postgres",
        "host": "h",
        "schema": "s",
        "login": "",
        "password": None,
        "port": 5432,
        "extra": '{"sslmode": "require", "token": "t0ps3cret"}',
        "type": "ConnectionResult",
    }
    conn = Connection.from_wire(wire)
    assert conn.login == ""
    assert conn.password is None
    assert conn.extra_dejson == {"sslmode": "require", "token": "t0ps3cret"}
    secret = Connection("c", "http", password="hunter2hunter2", extra='{"a": "b"}')
    assert "hunter2" not in repr(secret)
    assert "extra" not in repr(secret)
    with pytest.raises(ValueError, match="not valid JSON"):
        _ = Connection("c", "http", extra="{").extra_dejson


def test_requests_render_valid_wire_bodies() -> None:
    samples = [
        GetVariable("k"),
        GetConnection("c"),
        GetXCom(key="k", dag_id="d", run_id="r", task_id="t"),
        GetXCom(key="k", dag_id="d", run_id="r", task_id="t", map_index=0, include_prior_dates=True),
        SetXCom(key="k", value={"a": [1, 2.5, None, True]}, dag_id="d", run_id="r", task_id="t"),
        DeleteXCom(key="k", dag_id="d", run_id="r", task_id="t", map_index=3),
        MaskSecret(value="s3cr3t", name="password"),
        SucceedTask(),
        TaskState("failed"),
        TaskState("skipped"),
        TaskState("removed"),
        RetryTask(retry_reason="boom"),
    ]
    for request in samples:
        body = request.to_wire()
        assert body["type"] == request.type_name
        assert_valid(request.type_name, body)
        payload = encode_request(1, body)
        assert msgpack.unpackb(payload, timestamp=3)[1]["type"] == request.type_name


def test_map_index_is_omitted_when_unmapped_and_kept_when_zero() -> None:
    unmapped = GetXCom(key="k", dag_id="d", run_id="r", task_id="t").to_wire()
    assert "map_index" not in unmapped
    zero = GetXCom(key="k", dag_id="d", run_id="r", task_id="t", map_index=0).to_wire()
    assert zero["map_index"] == 0
    set_body = SetXCom(key="k", value=1, dag_id="d", run_id="r", task_id="t").to_wire()
    assert "map_index" not in set_body
    assert "mapped_length" not in set_body


def test_succeed_task_always_carries_empty_outlet_lists() -> None:
    body = SucceedTask().to_wire()
    assert body["task_outlets"] == []
    assert body["outlet_events"] == []
    assert body["end_date"].tzinfo is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: GetVariable(""), "GetVariable.key must not be empty"),
        (lambda: GetVariable(3), "GetVariable.key must be a str"),  # type: ignore[arg-type]
        (lambda: GetXCom(key="k", dag_id="", run_id="r", task_id="t"), "GetXCom.dag_id"),
        (lambda: GetXCom(key="k", dag_id="d", run_id="r", task_id="t", map_index="0"), "map_index"),  # type: ignore[arg-type]
        (lambda: SetXCom(key="k", value=b"raw", dag_id="d", run_id="r", task_id="t"), "bytes is not JSON"),  # type: ignore[arg-type]
        (
            lambda: SetXCom(key="k", value={"a": [float("nan")]}, dag_id="d", run_id="r", task_id="t"),
            r"\['a'\]\[0\]: nan is not a JSON number",
        ),
        (lambda: SetXCom(key="k", value={1: 2}, dag_id="d", run_id="r", task_id="t"), "map key 1"),  # type: ignore[dict-item]
        (lambda: SetXCom(key="k", value=2**64, dag_id="d", run_id="r", task_id="t"), "64 bits"),
        (lambda: TaskState("success"), "must be one of failed, skipped, removed"),  # type: ignore[arg-type]
        (lambda: SucceedTask(end_date=dt.datetime(2026, 1, 1)), "timezone-aware"),
        (lambda: SucceedTask(task_outlets="x"), "must be a list"),  # type: ignore[arg-type]
    ],
)
def test_invalid_requests_are_refused_locally(build: object, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        build()  # type: ignore[operator]


def test_retry_reason_is_truncated_like_the_python_runner() -> None:
    retry = RetryTask(retry_reason="x" * 2000)
    assert retry.retry_reason is not None
    assert len(retry.retry_reason) == 500


def test_describe_names_the_request_without_its_value() -> None:
    text = SetXCom(key="k", value="secret-ish", dag_id="d", run_id="r", task_id="t").describe()
    assert text.startswith("SetXCom(key='k'")
    assert "secret-ish" not in text


# ---------------------------------------------------------------------- the whole vocabulary

TI_ID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
WHEN = dt.datetime(2026, 6, 16, 12, 30, tzinfo=dt.UTC)


def vocabulary_samples() -> list[m.Request]:
    """At least one request of every type the 1.3.2 supervisor handles, with optional fields varied."""
    return [
        GetVariable("k"),
        GetConnection("c"),
        GetXCom(key="k", dag_id="d", run_id="r", task_id="t"),
        SetXCom(key="k", value=[1, "a"], dag_id="d", run_id="r", task_id="t", map_index=2, mapped_length=3),
        DeleteXCom(key="k", dag_id="d", run_id="r", task_id="t"),
        MaskSecret(value={"token": "abc123"}),
        SucceedTask(
            task_outlets=[
                {"name": "a", "uri": "s3://a", "type": "Asset"},
                {"name": "al", "type": "AssetAlias"},
            ],
            outlet_events=[{"dest_asset_key": {"name": "a", "uri": "s3://a"}, "extra": {"rows": 1}}],
            rendered_map_index="first",
        ),
        TaskState("skipped", rendered_map_index="x"),
        RetryTask(retry_reason="boom", retry_delay_seconds=2.5),
        m.RescheduleTask(reschedule_date=WHEN),
        v.GetVariableKeys(),
        v.GetVariableKeys(prefix="etl_", limit=10, offset=20),
        v.PutVariable("k", None),
        v.PutVariable("k", "v", "a description"),
        v.DeleteVariable("k"),
        v.GetXComCount(key="k", dag_id="d", run_id="r", task_id="t"),
        v.GetXComSequenceItem(key="k", dag_id="d", run_id="r", task_id="t", offset=-1),
        v.GetXComSequenceSlice(key="k", dag_id="d", run_id="r", task_id="t"),
        v.GetXComSequenceSlice(
            key="k", dag_id="d", run_id="r", task_id="t", start=1, stop=9, step=2, include_prior_dates=True
        ),
        v.SetRenderedFields({"sql": "select 1", "params": {"a": [1, None]}}),
        v.SetRenderedMapIndex("customer=42"),
        v.SkipDownstreamTasks(["a", ("b", 3)]),
        v.TriggerDagRun(dag_id="other", run_id="r2"),
        v.TriggerDagRun(
            dag_id="other",
            run_id="r3",
            logical_date=WHEN,
            run_after=WHEN,
            conf={"x": 1},
            reset_dag_run=True,
            partition_key="p",
            note="from trio",
        ),
        v.GetDagRun(dag_id="d", run_id="r"),
        v.GetDagRunState(dag_id="d", run_id="r"),
        v.GetDRCount(dag_id="d"),
        v.GetDRCount(dag_id="d", logical_dates=[WHEN], run_ids=["r"], states=["success"]),
        v.GetPreviousDagRun(dag_id="d", logical_date=WHEN),
        v.GetPreviousDagRun(dag_id="d", logical_date=WHEN, state="success"),
        v.GetPrevSuccessfulDagRun(TI_ID),
        v.GetPreviousTI(dag_id="d", task_id="t"),
        v.GetPreviousTI(dag_id="d", task_id="t", logical_date=WHEN, map_index=0, state="success"),
        v.GetTICount(dag_id="d"),
        v.GetTICount(
            dag_id="d",
            map_index=1,
            task_ids=["t"],
            task_group_id="g",
            logical_dates=[WHEN],
            run_ids=["r"],
            states=["failed"],
        ),
        v.GetTaskStates(dag_id="d"),
        v.GetTaskStates(
            dag_id="d", map_index=0, task_ids=["t"], task_group_id="g", logical_dates=[WHEN], run_ids=["r"]
        ),
        v.GetTaskBreadcrumbs(dag_id="d", run_id="r"),
        v.GetTaskRescheduleStartDate(TI_ID),
        v.GetTaskRescheduleStartDate(TI_ID, try_number=3),
        v.GetDag("d"),
        v.GetAssetByName("a"),
        v.GetAssetByUri("s3://a"),
        v.GetAssetsByAlias("al"),
        v.GetAssetEventByAsset(name="a"),
        v.GetAssetEventByAsset(uri="s3://a", after=WHEN, before=WHEN, limit=5, ascending=False),
        v.GetAssetEventByAssetAlias("al"),
        v.GetAssetEventByAssetAlias("al", after=WHEN, limit=1, ascending=False),
        v.ValidateInletsAndOutlets(TI_ID),
        v.GetTaskStateStore(ti_id=TI_ID, key="cursor"),
        v.SetTaskStateStore(ti_id=TI_ID, key="cursor", value={"page": 3}),
        v.SetTaskStateStore(ti_id=TI_ID, key="cursor", value=None, expires_at=WHEN),
        v.DeleteTaskStateStore(ti_id=TI_ID, key="cursor"),
        v.ClearTaskStateStore(TI_ID),
        v.GetAssetStateStoreByName(name="a", key="k"),
        v.GetAssetStateStoreByUri(uri="s3://a", key="k"),
        v.SetAssetStateStoreByName(name="a", key="k", value=[1]),
        v.SetAssetStateStoreByUri(uri="s3://a", key="k", value="v"),
        v.DeleteAssetStateStoreByName(name="a", key="k"),
        v.DeleteAssetStateStoreByUri(uri="s3://a", key="k"),
        v.ClearAssetStateStoreByName("a"),
        v.ClearAssetStateStoreByUri("s3://a"),
        v.CreateHITLDetailPayload(ti_id=TI_ID, options=["yes", "no"], subject="Go?"),
        v.CreateHITLDetailPayload(
            ti_id=TI_ID,
            options=["a", "b"],
            subject="Pick",
            body="Which one?",
            defaults=["a"],
            multiple=True,
            params={"why": {"value": "", "schema": {"type": "string"}}},
            assigned_users=[v.HITLUser(id="u1", name="Ada")],
        ),
        m.DeferTask(
            classpath="airflow.providers.standard.triggers.temporal.TimeDeltaTrigger", next_method="resume"
        ),
        m.DeferTask(
            classpath="airflow.providers.standard.triggers.temporal.DateTimeTrigger",
            next_method="resume",
            trigger_kwargs={"moment": serde_encode(WHEN), "end_from_trigger": False},
            trigger_timeout=dt.timedelta(minutes=5),
            queue="triggers",
            next_kwargs={"page": 2},
        ),
        m.AwaitInputTask(next_method="resume"),
        m.AwaitInputTask(next_method="answered", timeout=dt.timedelta(hours=1), next_kwargs={"asked": True}),
    ]


def test_every_request_type_the_supervisor_handles_has_a_message_class() -> None:
    handled = set(REQUEST_SPECS)
    sampled = {request.type_name for request in vocabulary_samples()}
    assert sampled == handled
    union = SCHEMA["$defs"]
    # The schema's request types minus what 1.3.2 leaves unhandled (or cannot do over TCP).
    not_ours = {"UpdateHITLDetail", "GetHITLDetailResponse", "ResendLoggingFD"}
    requests_in_schema = {
        name
        for name, definition in union.items()
        if definition.get("properties", {}).get("type", {}).get("const") == name
        and (
            name.startswith(("Get", "Set", "Put", "Delete", "Clear", "Create", "Update", "Resend"))
            or name
            in {
                "MaskSecret",
                "SucceedTask",
                "TaskState",
                "RetryTask",
                "RescheduleTask",
                "DeferTask",
                "AwaitInputTask",
                "SkipDownstreamTasks",
                "TriggerDagRun",
                "ValidateInletsAndOutlets",
            }
        )
    }
    assert requests_in_schema - not_ours == handled


@pytest.mark.parametrize("request_", vocabulary_samples(), ids=lambda r: r.describe()[:60])
def test_vocabulary_requests_render_schema_valid_bodies(request_: m.Request) -> None:
    body = request_.to_wire()
    assert body["type"] == request_.type_name
    assert_valid(request_.type_name, body)
    # nothing the model does not know: several 1.3.2 models forbid extra keys
    assert set(body) <= set(SCHEMA["$defs"][request_.type_name]["properties"])
    # the embedded supervisor mirrors the 1.3.2 checks and accepts it too
    assert validate_request(body) is None
    payload = encode_request(1, body)
    assert msgpack.unpackb(payload, timestamp=3)[1] == body


@pytest.mark.parametrize(
    ("request_", "keys"),
    [
        (v.PutVariable("k", None), {"value": None, "description": None}),
        (
            v.GetXComSequenceSlice(key="k", dag_id="d", run_id="r", task_id="t"),
            {"start": None, "stop": None, "step": None},
        ),
        (v.SetTaskStateStore(ti_id=TI_ID, key="k", value=1), {"expires_at": None}),
        (v.GetAssetEventByAsset(name="a"), {"name": "a", "uri": None}),
    ],
)
def test_keys_the_models_require_are_sent_even_when_nil(request_: m.Request, keys: dict[str, object]) -> None:
    body = request_.to_wire()
    for key, value in keys.items():
        assert key in body
        assert body[key] == value
        stripped = {k: v for k, v in body.items() if k != key}
        assert validate_request(stripped) == f"{request_.type_name}: required field {key!r} is missing"


def test_forbid_extra_models_are_refused_with_an_unknown_key_by_the_embedded_checks() -> None:
    for request_ in (
        m.RescheduleTask(reschedule_date=WHEN),
        v.SkipDownstreamTasks(["a"]),
        v.TriggerDagRun("d", "r"),
    ):
        body = {**request_.to_wire(), "surprise": 1}
        assert "forbids extra fields" in str(validate_request(body))
    outlet = {"name": "a", "uri": "s3://a", "type": "Asset", "extra": {}}
    body = SucceedTask().to_wire() | {"task_outlets": [outlet]}
    assert validate_request(body) is not None


def test_uuid_fields_accept_uuid_objects_and_are_sent_as_strings() -> None:
    ti_id = uuid.UUID(TI_ID)
    assert v.GetTaskStateStore(ti_id=ti_id, key="k").to_wire()["ti_id"] == TI_ID  # type: ignore[arg-type]
    assert v.ValidateInletsAndOutlets(TI_ID.upper()).ti_id == TI_ID


def test_skip_targets_go_out_as_strings_and_pairs() -> None:
    assert v.SkipDownstreamTasks(["a", ("b", 0), ["c", 1]]).to_wire() == {  # type: ignore[list-item]
        "tasks": ["a", ["b", 0], ["c", 1]],
        "type": "SkipDownstreamTasks",
    }


def test_hitl_users_go_out_as_maps_and_unset_options_are_omitted() -> None:
    body = v.CreateHITLDetailPayload(
        ti_id=TI_ID, options=["ok"], subject="s", assigned_users=[v.HITLUser("u", "U")]
    ).to_wire()
    assert body == {
        "ti_id": TI_ID,
        "options": ["ok"],
        "subject": "s",
        "multiple": False,
        "assigned_users": [{"id": "u", "name": "U"}],
        "type": "CreateHITLDetailPayload",
    }


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: v.GetVariableKeys(limit=0), "GetVariableKeys.limit must be >= 1"),
        (lambda: v.GetVariableKeys(offset=-1), "GetVariableKeys.offset must be >= 0"),
        (lambda: v.GetVariableKeys(prefix=1), "GetVariableKeys.prefix must be a str or None"),  # type: ignore[arg-type]
        (lambda: v.PutVariable("", "v"), "PutVariable.key must not be empty"),
        (lambda: v.PutVariable("k", 3), "PutVariable.value must be a str or None"),  # type: ignore[arg-type]
        (lambda: v.DeleteVariable(""), "DeleteVariable.key must not be empty"),
        (lambda: v.GetXComCount(key="k", dag_id="d", run_id="", task_id="t"), "GetXComCount.run_id"),
        (
            lambda: v.GetXComSequenceItem(key="k", dag_id="d", run_id="r", task_id="t", offset="1"),  # type: ignore[arg-type]
            "GetXComSequenceItem.offset must be an int",
        ),
        (
            lambda: v.GetXComSequenceSlice(key="k", dag_id="d", run_id="r", task_id="t", step=0),
            "step must not be zero",
        ),
        (lambda: v.SetRenderedFields({"a": object()}), "rendered_fields\\['a'\\]: object is not JSON"),  # type: ignore[dict-item]
        (lambda: v.SetRenderedFields(["a"]), "rendered_fields must be a map"),  # type: ignore[arg-type]
        (lambda: v.SetRenderedMapIndex(None), "rendered_map_index must be a str"),  # type: ignore[arg-type]
        (lambda: v.SkipDownstreamTasks("abc"), "must be a list, not a str"),  # type: ignore[arg-type]
        (lambda: v.SkipDownstreamTasks([("a", "1")]), r"tasks\[0\]\[1\] must be an int"),  # type: ignore[list-item]
        (lambda: v.SkipDownstreamTasks([("a", 1, 2)]), r"tasks\[0\] must be a task id or a"),  # type: ignore[list-item]
        (lambda: v.SkipDownstreamTasks([""]), r"tasks\[0\] must not be empty"),
        (lambda: v.TriggerDagRun(dag_id="d", run_id=""), "TriggerDagRun.run_id must not be empty"),
        (
            lambda: v.TriggerDagRun(dag_id="d", run_id="r", logical_date=dt.datetime(2026, 1, 1)),
            "TriggerDagRun.logical_date must be timezone-aware",
        ),
        (lambda: v.TriggerDagRun(dag_id="d", run_id="r", conf={"a": {1, 2}}), "set is not JSON"),  # type: ignore[dict-item]
        (lambda: v.TriggerDagRun(dag_id="d", run_id="r", reset_dag_run=1), "reset_dag_run must be a bool"),  # type: ignore[arg-type]
        (lambda: v.GetDagRun(dag_id="", run_id="r"), "GetDagRun.dag_id must not be empty"),
        (lambda: v.GetDRCount(dag_id="d", run_ids="r"), "GetDRCount.run_ids must be a list of str"),  # type: ignore[arg-type]
        (
            lambda: v.GetDRCount(dag_id="d", logical_dates=[dt.datetime(2026, 1, 1)]),
            r"GetDRCount.logical_dates\[0\] must be timezone-aware",
        ),
        (lambda: v.GetPreviousDagRun(dag_id="d", logical_date=None), "logical_date must be a datetime"),  # type: ignore[arg-type]
        (lambda: v.GetPrevSuccessfulDagRun("not-a-uuid"), "GetPrevSuccessfulDagRun.ti_id must be a UUID"),
        (lambda: v.GetPreviousTI(dag_id="d", task_id="t", state="done"), "must be a task-instance state"),
        (lambda: v.GetTICount(dag_id="d", map_index="0"), "GetTICount.map_index must be an int"),  # type: ignore[arg-type]
        (lambda: v.GetTaskStates(dag_id="d", task_ids=[1]), r"GetTaskStates.task_ids\[0\] must be a str"),  # type: ignore[list-item]
        (lambda: v.GetTaskRescheduleStartDate(TI_ID, try_number=0), "try_number must be >= 1"),
        (lambda: v.GetDag(""), "GetDag.dag_id must not be empty"),
        (lambda: v.GetAssetByName(""), "GetAssetByName.name must not be empty"),
        (lambda: v.GetAssetByUri(None), "GetAssetByUri.uri must be a str"),  # type: ignore[arg-type]
        (lambda: v.GetAssetsByAlias(""), "GetAssetsByAlias.alias_name must not be empty"),
        (lambda: v.GetAssetEventByAsset(), "needs a name or a uri"),
        (lambda: v.GetAssetEventByAsset(name="a", limit=0), "GetAssetEventByAsset.limit must be >= 1"),
        (
            lambda: v.GetAssetEventByAssetAlias("al", before=dt.datetime(2026, 1, 1)),
            "before must be timezone",
        ),
        (lambda: v.ValidateInletsAndOutlets(42), "ti_id must be a UUID string"),  # type: ignore[arg-type]
        (lambda: v.GetTaskStateStore(ti_id=TI_ID, key=""), "GetTaskStateStore.key must not be empty"),
        (lambda: v.SetTaskStateStore(ti_id=TI_ID, key="k", value=b"x"), "bytes is not JSON"),  # type: ignore[arg-type]
        (
            lambda: v.SetTaskStateStore(ti_id=TI_ID, key="k", value=1, expires_at=dt.datetime(2026, 1, 1)),
            "expires_at must be timezone-aware",
        ),
        (
            lambda: v.SetAssetStateStoreByName(name="a", key="k", value=float("inf")),
            "inf is not a JSON number",
        ),
        (lambda: v.ClearAssetStateStoreByUri(""), "ClearAssetStateStoreByUri.uri must not be empty"),
        (lambda: v.CreateHITLDetailPayload(ti_id=TI_ID, options=[], subject="s"), "at least 1 item"),
        (
            lambda: v.CreateHITLDetailPayload(
                ti_id=TI_ID,
                options=["a"],
                subject="s",
                assigned_users=[{"id": 1}],  # type: ignore[list-item]
            ),
            r"assigned_users\[0\] must be a HITLUser",
        ),
        (
            lambda: m.RescheduleTask(reschedule_date=dt.datetime(2026, 1, 1)),
            "reschedule_date must be timezone",
        ),
        (lambda: SucceedTask(task_outlets=[{"name": "a", "extra": {}}]), r"unknown keys \['extra'\]"),
        (
            lambda: SucceedTask(task_outlets=[{"name": "a"}]),
            r"task_outlets\[0\].type must be a non-empty str",
        ),
        (lambda: SucceedTask(outlet_events=["x"]), r"outlet_events\[0\] must be a map"),  # type: ignore[list-item]
    ],
)
def test_invalid_vocabulary_requests_are_refused_locally(build: object, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        build()  # type: ignore[operator]


# -------------------------------------------------------------- results, shaped as 1.3.2 sends them

DAG_RUN_WIRE = {
    "dag_id": "d",
    "run_id": "r",
    "logical_date": WHEN,
    "data_interval_start": WHEN,
    "data_interval_end": WHEN,
    "run_after": WHEN,
    "start_date": WHEN,
    "end_date": None,
    "clear_number": 1,
    "run_type": "scheduled",
    "state": "success",
    "conf": {"x": 1},
    "triggering_user_name": None,
    "consumed_asset_events": [],
    "partition_key": None,
    "partition_date": None,
    "note": "n",
    "team_name": None,
}


def result(kind: str, body: dict[str, object]) -> dict[str, object]:
    """A reply body: checked against the 1.3.2 schema, so these fixtures are faithful."""
    body = {**body, "type": kind}
    assert_valid(kind, body)
    return body


def test_simple_results_decode() -> None:
    keys = v.VariableKeysResult.from_wire(
        result("VariableKeysResult", {"keys": ["a", "b"], "total_entries": 7})
    )
    assert (keys.keys, keys.total_entries) == (["a", "b"], 7)
    assert v.XComCountResponse.from_wire(result("XComCountResponse", {"len": 3})).len == 3
    assert v.XComSequenceIndexResult.from_wire(
        result("XComSequenceIndexResult", {"root": {"a": 1}})
    ).root == {"a": 1}
    sliced = v.XComSequenceSliceResult.from_wire(result("XComSequenceSliceResult", {"root": [1, None, "x"]}))
    assert sliced.root == [1, None, "x"]
    assert v.DagRunStateResult.from_wire(result("DagRunStateResult", {"state": "running"})).state == "running"
    assert v.DRCount.from_wire(result("DRCount", {"count": 2})).count == 2
    assert v.TICount.from_wire(result("TICount", {"count": 0})).count == 0
    assert v.OKResponse.from_wire(result("OKResponse", {"ok": True})).ok is True
    assert v.TaskStateStoreResult.from_wire(result("TaskStateStoreResult", {"value": [1]})).value == [1]
    assert v.AssetStateStoreResult.from_wire(result("AssetStateStoreResult", {"value": None})).value is None
    start = v.TaskRescheduleStartDate.from_wire(result("TaskRescheduleStartDate", {"start_date": WHEN}))
    assert start.start_date == WHEN
    assert v.TaskRescheduleStartDate.from_wire({"start_date": None}).start_date is None


def test_dag_run_results_decode() -> None:
    run = DagRun.from_wire(result("DagRunResult", DAG_RUN_WIRE))
    assert (run.run_type, run.state, run.clear_number, run.note) == ("scheduled", "success", 1, "n")
    previous = v.PreviousDagRunResult.from_wire(result("PreviousDagRunResult", {"dag_run": DAG_RUN_WIRE}))
    assert previous.dag_run is not None
    assert previous.dag_run.logical_date == WHEN
    assert v.PreviousDagRunResult.from_wire(result("PreviousDagRunResult", {"dag_run": None})).dag_run is None
    # exclude_unset: a run without a previous success sends only the type
    empty = v.PrevSuccessfulDagRunResult.from_wire(result("PrevSuccessfulDagRunResult", {}))
    assert empty == v.PrevSuccessfulDagRunResult()
    dates = v.PrevSuccessfulDagRunResult.from_wire(
        result("PrevSuccessfulDagRunResult", {"data_interval_start": WHEN, "end_date": WHEN})
    )
    assert (dates.data_interval_start, dates.data_interval_end, dates.end_date) == (WHEN, None, WHEN)


def test_task_instance_results_decode() -> None:
    wire = {
        "task_id": "t",
        "dag_id": "d",
        "run_id": "r",
        "logical_date": WHEN,
        "start_date": WHEN,
        "end_date": None,
        "state": "success",
        "try_number": 2,
        "map_index": -1,
        "duration": 1.5,
    }
    previous = v.PreviousTIResult.from_wire(result("PreviousTIResult", {"task_instance": wire}))
    assert previous.task_instance == v.PreviousTaskInstance(
        task_id="t",
        dag_id="d",
        run_id="r",
        try_number=2,
        logical_date=WHEN,
        start_date=WHEN,
        state="success",
        duration=1.5,
    )
    assert (
        v.PreviousTIResult.from_wire(result("PreviousTIResult", {"task_instance": None})).task_instance
        is None
    )
    states = v.TaskStatesResult.from_wire(
        result("TaskStatesResult", {"task_states": {"r": {"t": "success", "m_0": None}}})
    )
    assert states.task_states == {"r": {"t": "success", "m_0": None}}
    crumbs = v.TaskBreadcrumbsResult.from_wire(
        result(
            "TaskBreadcrumbsResult",
            {
                "breadcrumbs": [
                    {"task_id": "t", "map_index": -1, "state": "success", "operator": "X", "duration": 1}
                ]
            },
        )
    )
    assert crumbs.breadcrumbs[0]["operator"] == "X"
    with pytest.raises(RemoteProtocolError, match=r"task_states\['r'\].t: expected str or nil, got int"):
        v.TaskStatesResult.from_wire({"task_states": {"r": {"t": 1}}})


def test_dag_and_asset_results_decode_with_omitted_defaults() -> None:
    dag = v.DagResult.from_wire(
        result(
            "DagResult",
            {
                "dag_id": "d",
                "is_paused": True,
                "bundle_name": "b",
                "bundle_version": None,
                "relative_fileloc": "d.py",
                "owners": "ops",
                "tags": ["x"],
                "next_dagrun": WHEN,
            },
        )
    )
    assert (dag.is_paused, dag.tags, dag.next_dagrun) == (True, ["x"], WHEN)
    # extra is omitted when nil (exclude_unset)
    asset = v.AssetResult.from_wire(result("AssetResult", {"name": "a", "uri": "s3://a", "group": "asset"}))
    assert asset == v.AssetResult("a", "s3://a", "asset", {})
    by_alias = v.AssetsByAliasResult.from_wire(
        result(
            "AssetsByAliasResult",
            {"assets": [{"name": "a", "uri": "s3://a", "group": "g", "extra": {"k": 1}}]},
        )
    )
    assert by_alias.assets[0].extra == {"k": 1}
    # an asset event with every defaulted key left out, and one with all of them
    minimal = {
        "id": 1,
        "timestamp": WHEN,
        "asset": {"name": "a", "uri": "s3://a", "group": "asset"},
        "created_dagruns": [],
    }
    full = {
        **minimal,
        "id": 2,
        "extra": {"rows": 3},
        "created_dagruns": [
            {
                "run_id": "r",
                "dag_id": "d",
                "logical_date": None,
                "start_date": WHEN,
                "end_date": None,
                "state": "queued",
                "data_interval_start": None,
                "data_interval_end": None,
                "partition_key": None,
            }
        ],
        "source_task_id": "t",
        "source_dag_id": "d",
        "source_run_id": "r",
        "source_map_index": -1,
        "partition_key": "p",
    }
    events = v.AssetEventsResult.from_wire(
        result("AssetEventsResult", {"asset_events": [minimal, full]})
    ).asset_events
    assert events[0] == v.AssetEvent(id=1, timestamp=WHEN, asset=v.AssetResult("a", "s3://a"))
    assert events[1].created_dagruns[0].state == "queued"
    assert (events[1].source_map_index, events[1].partition_key, events[1].extra) == (-1, "p", {"rows": 3})
    inactive = v.InactiveAssetsResult.from_wire(
        result("InactiveAssetsResult", {"inactive_assets": [{"name": "a", "uri": "s3://a", "type": "Asset"}]})
    )
    assert inactive.inactive_assets == [m.AssetProfile(name="a", uri="s3://a", type="Asset")]
    assert v.InactiveAssetsResult.from_wire(result("InactiveAssetsResult", {})).inactive_assets == []


def test_hitl_result_decodes_with_omitted_defaults() -> None:
    minimal = v.HITLDetailRequestResult.from_wire(
        result("HITLDetailRequestResult", {"ti_id": TI_ID, "options": ["y"], "subject": "s"})
    )
    assert (minimal.multiple, minimal.defaults, minimal.assigned_users) == (False, None, None)
    full = v.HITLDetailRequestResult.from_wire(
        result(
            "HITLDetailRequestResult",
            {
                "ti_id": TI_ID,
                "options": ["y", "n"],
                "subject": "s",
                "body": "b",
                "defaults": ["y"],
                "multiple": True,
                "params": {"p": {}},
                "assigned_users": [{"id": "u", "name": "U"}],
            },
        )
    )
    assert full.assigned_users == [v.HITLUser("u", "U")]
    assert full.params == {"p": {}}


@pytest.mark.parametrize(
    ("decode", "body", "message"),
    [
        (v.VariableKeysResult.from_wire, {"keys": "a", "total_entries": 1}, "keys: expected list or nil"),
        (v.XComCountResponse.from_wire, {}, "required key 'len' is missing"),
        (v.DagRunStateResult.from_wire, {"state": 1}, "state: expected str, got int"),
        (v.AssetResult.from_wire, {"name": "a"}, "required key 'uri' is missing"),
        (v.AssetEvent.from_wire, {"id": 1, "timestamp": "soon", "asset": {}}, "not an RFC 3339"),
        (v.PreviousTIResult.from_wire, {"task_instance": []}, "expected a map, got list"),
        (v.DagResult.from_wire, {"dag_id": "d", "is_paused": "no"}, "is_paused: expected bool"),
    ],
)
def test_malformed_results_name_the_field(decode: object, body: dict[str, object], message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        decode(body)  # type: ignore[operator]
