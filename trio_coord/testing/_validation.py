"""What the 1.3.2 supervisor accepts: request bodies and log lines.

The embedded supervisor uses these checks to answer (with an error naming the
problem) the requests the real supervisor would drop without a reply, and to
flag log lines that would crash it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

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
            "task_outlets": _optional(_list_of_maps),
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
}
#: The terminal request types, with the state each records (TaskState carries its own).
TERMINAL_TYPES: Final = {"SucceedTask": "success", "RetryTask": "up_for_retry", "TaskState": None}


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
    timestamp = record.get("timestamp")
    if timestamp:
        if not isinstance(timestamp, str):
            return record, "log timestamp is not a string (crashes the supervisor)"
        try:
            _dt.datetime.fromisoformat(timestamp)
        except ValueError:
            return record, f"log timestamp {timestamp!r} is not RFC 3339 (crashes the supervisor)"
    return record, None
