"""Airflow's ``serde`` JSON encoding, for the values a trigger or Python code exchanges with us.

Airflow stores trigger arguments and the keyword arguments a deferred task
resumes with in its ``serde`` format: plain JSON values stay as they are, and
richer objects become ``{"__classname__": ..., "__version__": ..., "__data__": ...}``
(``airflow.sdk.serde``). trio_coord encodes and decodes the two kinds a trio task
needs to hand to Airflow's built-in triggers (aware datetimes and timedeltas),
and passes everything else through unchanged; an unknown class stays a map.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Final

from ._errors import LocalProtocolError
from ._wire import JsonValue, check_json_value

__all__ = ["serde_decode", "serde_encode"]

_CLASSNAME: Final = "__classname__"
_VERSION: Final = "__version__"
_DATA: Final = "__data__"
# What airflow.sdk.serde writes for UTC (pendulum's FixedTimezone, special-cased).
_UTC_TZ: Final[dict[str, JsonValue]] = {
    _CLASSNAME: "builtins.tuple",
    _VERSION: 1,
    _DATA: ["UTC", "pendulum.tz.timezone.FixedTimezone", 1, True],
}
_DATETIME_CLASSES: Final = frozenset({"datetime.datetime", "pendulum.datetime.DateTime"})


def serde_encode(value: object, what: str = "value") -> JsonValue:
    """Encode ``value`` as Airflow's serde does: JSON as is, datetimes and timedeltas wrapped.

    Aware datetimes are sent as UTC timestamps.

    Raises:
        LocalProtocolError: a naive datetime, or a value that is neither JSON
            nor a datetime/timedelta (the path is named).
    """
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise LocalProtocolError(f"{what}: a naive datetime cannot be sent (give it a timezone)")
        return {
            _CLASSNAME: "datetime.datetime",
            _VERSION: 2,
            _DATA: {"timestamp": value.timestamp(), "tz": dict(_UTC_TZ)},
        }
    if isinstance(value, _dt.timedelta):
        return {_CLASSNAME: "datetime.timedelta", _VERSION: 2, _DATA: value.total_seconds()}
    if isinstance(value, Mapping):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise LocalProtocolError(f"{what}: map key {key!r} is not a str")
            out[key] = serde_encode(item, f"{what}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [serde_encode(item, f"{what}[{index}]") for index, item in enumerate(value)]
    return check_json_value(value, what)


def serde_decode(value: JsonValue) -> object:
    """Decode serde-encoded datetimes and timedeltas inside ``value``; keep the rest.

    Datetimes come back aware (UTC). Maps of an unknown ``__classname__``
    are returned unchanged (with their contents decoded).
    """
    if isinstance(value, list):
        return [serde_decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    classname = value.get(_CLASSNAME)
    data = value.get(_DATA)
    if classname in _DATETIME_CLASSES:
        stamp = data.get("timestamp") if isinstance(data, dict) else data
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and math.isfinite(stamp):
            return _dt.datetime.fromtimestamp(float(stamp), tz=_dt.UTC)
    if classname == "datetime.timedelta" and isinstance(data, (int, float, str)):
        try:
            return _dt.timedelta(seconds=float(data))
        except (ValueError, OverflowError):
            pass
    if classname == "builtins.tuple" and isinstance(data, list):
        return [serde_decode(item) for item in data]
    return {key: serde_decode(item) for key, item in value.items()}
