"""Typed messages: decoding what the supervisor sends, validating what we send."""

from __future__ import annotations

import copy
import datetime as dt
import json

import jsonschema
import msgpack
import pytest

from trio_coord import (
    SUPERVISOR_SCHEMA_VERSION,
    Connection,
    LocalProtocolError,
    RemoteProtocolError,
    RetryTask,
    StartupDetails,
    SucceedTask,
    TaskState,
)
from trio_coord._framing import decode_response, encode_request, encode_response
from trio_coord._messages import DeleteXCom, GetConnection, GetVariable, GetXCom, MaskSecret, SetXCom

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


def assert_valid(kind: str, body: dict[str, object]) -> None:
    schema = {"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{kind}"}
    jsonschema.validate(as_json(body), schema)


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
