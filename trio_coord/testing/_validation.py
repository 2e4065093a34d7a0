"""What the 1.3.2 supervisor accepts: request bodies and log lines.

The embedded supervisor uses these checks to answer (with an error naming the
problem) the requests the real supervisor would drop without a reply, and to
flag log lines that would crash it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from .._vocabulary import TASK_INSTANCE_STATES

__all__ = ["REQUEST_SPECS", "TERMINAL_TYPES", "validate_log_line", "validate_request"]


_Check = Callable[[object], bool]


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_aware(value: object) -> bool:
    if isinstance(value, _dt.datetime):
        return value.tzinfo is not None
    if isinstance(value, str):
        try:
            return _dt.datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            return False
    return False


def _is_json(value: object, depth: int = 0) -> bool:
    if depth > 500:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _optional(check: _Check) -> _Check:
    return lambda value: value is None or check(value)


def _list_of_maps(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _const(expected: str) -> _Check:
    return lambda value: value == expected


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _list_of(check: _Check, *, min_items: int = 0) -> _Check:
    return lambda value: isinstance(value, list) and len(value) >= min_items and all(check(v) for v in value)


def _is_duration(value: object) -> bool:
    """A timedelta as Pydantic accepts it: seconds, or an ISO 8601 duration string."""
    return _is_number(value) or (isinstance(value, str) and value.startswith(("P", "-P")))


def _is_json_map(value: object) -> bool:
    return isinstance(value, dict) and _is_json(value)


def _is_map(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) for k in value)


def _is_asset_profile(value: object) -> bool:
    """An ``AssetProfile`` map: ``type`` required, ``name``/``uri`` optional, nothing else."""
    if not isinstance(value, dict) or not set(value) <= {"name", "uri", "type"}:
        return False
    return (
        _is_str(value.get("type"))
        and _optional(_is_str)(value.get("name"))
        and _optional(_is_str)(value.get("uri"))
    )


def _is_skip_target(value: object) -> bool:
    """A task id, or a ``[task_id, map_index]`` pair."""
    if isinstance(value, str):
        return True
    return isinstance(value, list) and len(value) == 2 and _is_str(value[0]) and _is_int(value[1])


def _is_hitl_user(value: object) -> bool:
    return isinstance(value, dict) and _is_str(value.get("id")) and _is_str(value.get("name"))


def _is_ti_state(value: object) -> bool:
    return isinstance(value, str) and value in TASK_INSTANCE_STATES


@dataclass(frozen=True)
class _Spec:
    required: Mapping[str, _Check]
    optional: Mapping[str, _Check] = field(default_factory=dict)
    forbid_extra: bool = False


_XCOM_IDS: Final = {"key": _is_str, "dag_id": _is_str, "run_id": _is_str, "task_id": _is_str}

REQUEST_SPECS: Final[Mapping[str, _Spec]] = {
    "GetVariable": _Spec({"key": _is_str}),
    "GetConnection": _Spec({"conn_id": _is_str}),
    "GetXCom": _Spec(_XCOM_IDS, {"map_index": _optional(_is_int), "include_prior_dates": _is_bool}),
    "SetXCom": _Spec(
        {**_XCOM_IDS, "value": _is_json},
        {"map_index": _optional(_is_int), "dag_result": _is_bool, "mapped_length": _optional(_is_int)},
    ),
    "DeleteXCom": _Spec(_XCOM_IDS, {"map_index": _optional(_is_int)}),
    "MaskSecret": _Spec({"value": _is_json}, {"name": _optional(_is_str)}),
    "SucceedTask": _Spec(
        {"end_date": _is_aware},
        {
            "task_outlets": _optional(_list_of(_is_asset_profile)),
            "outlet_events": _optional(_list_of_maps),
            "rendered_map_index": _optional(_is_str),
            "state": _const("success"),
        },
        forbid_extra=True,
    ),
    "TaskState": _Spec(
        {"state": lambda v: v in ("failed", "skipped", "removed")},
        {"end_date": _optional(_is_aware), "rendered_map_index": _optional(_is_str)},
    ),
    "RetryTask": _Spec(
        {"end_date": _is_aware},
        {
            "rendered_map_index": _optional(_is_str),
            "retry_delay_seconds": _optional(_is_number),
            "retry_reason": _optional(_is_str),
            "state": _const("up_for_retry"),
        },
        forbid_extra=True,
    ),
    "RescheduleTask": _Spec(
        {"reschedule_date": _is_aware, "end_date": _is_aware},
        {"state": _const("up_for_reschedule")},
        forbid_extra=True,
    ),
    "DeferTask": _Spec(
        {"classpath": _is_str, "next_method": _is_str},
        {
            "trigger_kwargs": lambda v: v is None or isinstance(v, str) or _is_json_map(v),
            "trigger_timeout": _optional(_is_duration),
            "queue": _optional(_is_str),
            "next_kwargs": _optional(_is_json_map),
            "rendered_map_index": _optional(_is_str),
            "state": _const("deferred"),
        },
        forbid_extra=True,
    ),
    "AwaitInputTask": _Spec(
        {"next_method": _is_str},
        {
            "timeout": _optional(_is_duration),
            "next_kwargs": _optional(_is_json_map),
            "rendered_map_index": _optional(_is_str),
            "state": _const("awaiting_input"),
        },
        forbid_extra=True,
    ),
    # ---------------------------------------------------------------- the wider vocabulary
    "GetVariableKeys": _Spec({}, {"prefix": _optional(_is_str), "limit": _is_int, "offset": _is_int}),
    "PutVariable": _Spec({"key": _is_str, "value": _optional(_is_str), "description": _optional(_is_str)}),
    "DeleteVariable": _Spec({"key": _is_str}),
    "GetXComCount": _Spec(_XCOM_IDS),
    "GetXComSequenceItem": _Spec({**_XCOM_IDS, "offset": _is_int}),
    "GetXComSequenceSlice": _Spec(
        {
            **_XCOM_IDS,
            "start": _optional(_is_int),
            "stop": _optional(_is_int),
            "step": _optional(_is_int),
        },
        {"include_prior_dates": _is_bool},
    ),
    "SetRenderedFields": _Spec({"rendered_fields": _is_json_map}),
    "SetRenderedMapIndex": _Spec({"rendered_map_index": _is_str}),
    "SkipDownstreamTasks": _Spec({"tasks": _list_of(_is_skip_target)}, forbid_extra=True),
    "TriggerDagRun": _Spec(
        {"dag_id": _is_str, "run_id": _is_str},
        {
            "logical_date": _optional(_is_aware),
            "run_after": _optional(_is_aware),
            "conf": _optional(_is_map),
            "reset_dag_run": _optional(_is_bool),
            "partition_key": _optional(_is_str),
            "note": _optional(_is_str),
        },
        forbid_extra=True,
    ),
    "GetDagRun": _Spec({"dag_id": _is_str, "run_id": _is_str}),
    "GetDagRunState": _Spec({"dag_id": _is_str, "run_id": _is_str}),
    "GetDRCount": _Spec(
        {"dag_id": _is_str},
        {
            "logical_dates": _optional(_list_of(_is_aware)),
            "run_ids": _optional(_list_of(_is_str)),
            "states": _optional(_list_of(_is_str)),
        },
    ),
    "GetPreviousDagRun": _Spec({"dag_id": _is_str, "logical_date": _is_aware}, {"state": _optional(_is_str)}),
    "GetPrevSuccessfulDagRun": _Spec({"ti_id": _is_uuid}),
    "GetPreviousTI": _Spec(
        {"dag_id": _is_str, "task_id": _is_str},
        {"logical_date": _optional(_is_aware), "map_index": _is_int, "state": _optional(_is_ti_state)},
    ),
    "GetTICount": _Spec(
        {"dag_id": _is_str},
        {
            "map_index": _optional(_is_int),
            "task_ids": _optional(_list_of(_is_str)),
            "task_group_id": _optional(_is_str),
            "logical_dates": _optional(_list_of(_is_aware)),
            "run_ids": _optional(_list_of(_is_str)),
            "states": _optional(_list_of(_is_str)),
        },
    ),
    "GetTaskStates": _Spec(
        {"dag_id": _is_str},
        {
            "map_index": _optional(_is_int),
            "task_ids": _optional(_list_of(_is_str)),
            "task_group_id": _optional(_is_str),
            "logical_dates": _optional(_list_of(_is_aware)),
            "run_ids": _optional(_list_of(_is_str)),
        },
    ),
    "GetTaskBreadcrumbs": _Spec({"dag_id": _is_str, "run_id": _is_str}),
    "GetTaskRescheduleStartDate": _Spec({"ti_id": _is_uuid}, {"try_number": _is_int}),
    "GetDag": _Spec({"dag_id": _is_str}),
    "GetAssetByName": _Spec({"name": _is_str}),
    "GetAssetByUri": _Spec({"uri": _is_str}),
    "GetAssetsByAlias": _Spec({"alias_name": _is_str}),
    "GetAssetEventByAsset": _Spec(
        {"name": _optional(_is_str), "uri": _optional(_is_str)},
        {
            "after": _optional(_is_aware),
            "before": _optional(_is_aware),
            "limit": _optional(_is_int),
            "ascending": _is_bool,
        },
    ),
    "GetAssetEventByAssetAlias": _Spec(
        {"alias_name": _is_str},
        {
            "after": _optional(_is_aware),
            "before": _optional(_is_aware),
            "limit": _optional(_is_int),
            "ascending": _is_bool,
        },
    ),
    "ValidateInletsAndOutlets": _Spec({"ti_id": _is_uuid}),
    "GetTaskStateStore": _Spec({"ti_id": _is_uuid, "key": _is_str}),
    "SetTaskStateStore": _Spec(
        {"ti_id": _is_uuid, "key": _is_str, "value": _is_json, "expires_at": _optional(_is_aware)}
    ),
    "DeleteTaskStateStore": _Spec({"ti_id": _is_uuid, "key": _is_str}),
    "ClearTaskStateStore": _Spec({"ti_id": _is_uuid}),
    "GetAssetStateStoreByName": _Spec({"name": _is_str, "key": _is_str}),
    "GetAssetStateStoreByUri": _Spec({"uri": _is_str, "key": _is_str}),
    "SetAssetStateStoreByName": _Spec({"name": _is_str, "key": _is_str, "value": _is_json}),
    "SetAssetStateStoreByUri": _Spec({"uri": _is_str, "key": _is_str, "value": _is_json}),
    "DeleteAssetStateStoreByName": _Spec({"name": _is_str, "key": _is_str}),
    "DeleteAssetStateStoreByUri": _Spec({"uri": _is_str, "key": _is_str}),
    "ClearAssetStateStoreByName": _Spec({"name": _is_str}),
    "ClearAssetStateStoreByUri": _Spec({"uri": _is_str}),
    "CreateHITLDetailPayload": _Spec(
        {"ti_id": _is_uuid, "options": _list_of(_is_str, min_items=1), "subject": _is_str},
        {
            "body": _optional(_is_str),
            "defaults": _optional(_list_of(_is_str)),
            "multiple": _optional(_is_bool),
            "params": _optional(_is_map),
            "assigned_users": _optional(_list_of(_is_hitl_user)),
        },
    ),
}
#: The terminal request types, with the state each records (TaskState carries its own).
TERMINAL_TYPES: Final = {
    "SucceedTask": "success",
    "RetryTask": "up_for_retry",
    "TaskState": None,
    "RescheduleTask": "up_for_reschedule",
    "DeferTask": "deferred",
    "AwaitInputTask": "awaiting_input",
}


def validate_request(body: Mapping[str, object]) -> str | None:
    """Return why the supervisor would reject ``body``, or ``None`` if it is valid."""
    kind = body.get("type")
    if not isinstance(kind, str):
        return "request body has no string 'type'"
    spec = REQUEST_SPECS.get(kind)
    if spec is None:
        return f"{kind}: not a request type the embedded supervisor handles"
    for name, check in spec.required.items():
        if name not in body:
            return f"{kind}: required field {name!r} is missing"
        if not check(body[name]):
            return f"{kind}: field {name!r} has an invalid value {body[name]!r}"
    for name, value in body.items():
        if name == "type" or name in spec.required:
            continue
        optional_check = spec.optional.get(name)
        if optional_check is None:
            if spec.forbid_extra:
                return f"{kind}: unknown field {name!r} (this model forbids extra fields)"
            continue
        if not optional_check(value):
            return f"{kind}: field {name!r} has an invalid value {value!r}"
    return None


#: Field names the 1.3.2 supervisor passes on as keyword arguments that collide
#: with its own (``_log_to_target(target, level, msg, ...)``, structlog's
#: ``log(self, ...)`` and ``_proxy_to_logger(method_name, ...)``) or that
#: structlog interprets (``positional_args``): each raises out of its loop.
_CRASHING_FIELDS: Final = frozenset({"target", "self", "method_name", "positional_args", "msg"})


def validate_log_line(line: bytes) -> tuple[dict[str, object] | None, str | None]:
    """Parse one log line as the 1.3.2 supervisor does.

    Returns:
        The record (or ``None``) and, if the real supervisor would drop or
        crash on it, why.
    """
    text = line.strip()
    if not text:
        return None, "empty log line (the supervisor logs it as malformed)"
    try:
        record = json.loads(text)
    except ValueError:
        return None, f"log line is not JSON: {text[:80]!r}"
    if not isinstance(record, dict):
        return None, f"log line is a JSON {type(record).__name__}, not an object (crashes the supervisor)"
    if "level" not in record:
        return record, "log line has no 'level' (crashes the supervisor)"
    level = record.get("level")
    if level not in ("critical", "exception", "error", "warn", "warning", "info", "debug"):
        return record, f"log level {level!r} is silently dropped by the supervisor"
    crashing = sorted(key for key in record if key in _CRASHING_FIELDS)
    if crashing:
        return record, f"log field {crashing[0]!r} collides with the supervisor's own arguments (crashes it)"
    timestamp = record.get("timestamp")
    if timestamp:
        if not isinstance(timestamp, str):
            return record, "log timestamp is not a string (crashes the supervisor)"
        try:
            _dt.datetime.fromisoformat(timestamp)
        except ValueError:
            return record, f"log timestamp {timestamp!r} is not RFC 3339 (crashes the supervisor)"
    return record, None
