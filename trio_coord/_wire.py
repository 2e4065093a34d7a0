"""Typed reading and writing of message fields (sans-I/O helpers).

Decoding is lenient in what it ignores and strict in what it uses: unknown
keys are ignored, optional keys may be absent or nil, and a key we need with
the wrong type raises :class:`RemoteProtocolError` naming the field's path
(``StartupDetails.ti.try_number: expected int, got str``).

Encoding validates before anything is sent, because the 1.3.2 supervisor
drops a request it cannot validate without replying. :func:`check_json_value`
enforces Airflow's ``JsonValue``: nil, bool, int, float, str, lists and maps
with string keys; nothing else (no bytes, no datetimes, no NaN).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import TypeAlias, TypeVar

from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "JsonValue",
    "Reader",
    "check_aware",
    "check_json_value",
    "check_non_empty",
    "parse_datetime",
]

#: A JSON value as Airflow's ``JsonValue`` accepts it.
JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"

_T = TypeVar("_T")
_MISSING = object()
_MSGPACK_INT_MIN = -(2**63)
_MSGPACK_INT_MAX = 2**64 - 1


def parse_datetime(value: object, where: str) -> _dt.datetime:
    """Read a datetime from the wire: a msgpack timestamp or an RFC 3339 string.

    Naive values are taken as UTC; results are aware.

    Raises:
        RemoteProtocolError: neither a datetime nor a parseable string.
    """
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value)
        except ValueError:
            raise RemoteProtocolError(f"{where}: {value!r} is not an RFC 3339 datetime") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)
    raise RemoteProtocolError(f"{where}: expected a datetime, got {type(value).__name__}")


class Reader:
    """Typed access to the fields of one decoded map, with path-naming errors.

    Args:
        data: the decoded map.
        where: the path used in error messages, e.g. ``"StartupDetails.ti"``.
    """

    __slots__ = ("data", "where")

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise RemoteProtocolError(f"{where}: expected a map, got {type(data).__name__}")
        self.data: Mapping[str, object] = data
        self.where = where

    def _get(self, key: str, default: object) -> object:
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise RemoteProtocolError(f"{self.where}: required key {key!r} is missing")
            return default
        return value

    def _wrong(self, key: str, expected: str, value: object) -> RemoteProtocolError:
        return RemoteProtocolError(f"{self.where}.{key}: expected {expected}, got {type(value).__name__}")

    def string(self, key: str, default: object = _MISSING) -> str:
        """A required string (or ``default`` when absent)."""
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._wrong(key, "str", value)
        return value

    def opt_string(self, key: str) -> str | None:
        """A string that may be nil or absent."""
        value = self._get(key, None)
        if value is not None and not isinstance(value, str):
            raise self._wrong(key, "str or nil", value)
        return value

    def integer(self, key: str, default: object = _MISSING) -> int:
        """A required integer (or ``default`` when absent or nil, if given)."""
        value = self._get(key, default)
        if value is None and default is not _MISSING:
            value = default
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._wrong(key, "int", value)
        return value

    def opt_integer(self, key: str) -> int | None:
        """An integer that may be nil or absent."""
        value = self._get(key, None)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise self._wrong(key, "int or nil", value)
        return value

    def opt_number(self, key: str) -> float | None:
        """A number that may be nil or absent."""
        value = self._get(key, None)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._wrong(key, "number or nil", value)
        return float(value)

    def boolean(self, key: str, default: bool = False) -> bool:
        """A boolean; ``default`` when absent or nil."""
        value = self._get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong(key, "bool", value)
        return value

    def opt_boolean(self, key: str) -> bool | None:
        """A boolean that may be nil or absent."""
        value = self._get(key, None)
        if value is not None and not isinstance(value, bool):
            raise self._wrong(key, "bool or nil", value)
        return value

    def datetime(self, key: str) -> _dt.datetime:
        """A required datetime."""
        return parse_datetime(self._get(key, _MISSING), f"{self.where}.{key}")

    def opt_datetime(self, key: str) -> _dt.datetime | None:
        """A datetime that may be nil or absent."""
        value = self._get(key, None)
        if value is None:
            return None
        return parse_datetime(value, f"{self.where}.{key}")

    def opt_map(self, key: str) -> dict[str, object] | None:
        """A map that may be nil or absent."""
        value = self._get(key, None)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._wrong(key, "map or nil", value)
        return value

    def sub(self, key: str) -> Reader:
        """A required nested map, as a :class:`Reader`."""
        return Reader(self._get(key, _MISSING), f"{self.where}.{key}")

    def opt_sub(self, key: str) -> Reader | None:
        """A nested map that may be nil or absent."""
        value = self._get(key, None)
        return None if value is None else Reader(value, f"{self.where}.{key}")

    def array(self, key: str) -> list[object]:
        """A list; empty when nil or absent."""
        value = self._get(key, None)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "list or nil", value)
        return value

    def string_list(self, key: str) -> list[str]:
        """A list of strings; empty when nil or absent."""
        items = self.array(key)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise RemoteProtocolError(
                    f"{self.where}.{key}[{index}]: expected str, got {type(item).__name__}"
                )
        return [str(item) for item in items]

    def json(self, key: str) -> JsonValue:
        """A JSON value (nil when absent)."""
        return self._get(key, None)  # type: ignore[return-value]

    def maps(self, key: str) -> list[Reader]:
        """A list of maps, each as a :class:`Reader`; empty when nil or absent."""
        return [Reader(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(self.array(key))]


# --------------------------------------------------------------------------
# Local validation before sending
# --------------------------------------------------------------------------


def check_non_empty(value: object, what: str) -> str:
    """Return ``value`` if it is a non-empty string, else raise LocalProtocolError."""
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a str, got {type(value).__name__}")
    if not value:
        raise LocalProtocolError(f"{what} must not be empty")
    return value


def check_aware(value: object, what: str) -> _dt.datetime:
    """Return ``value`` if it is a timezone-aware datetime, else raise LocalProtocolError."""
    if not isinstance(value, _dt.datetime):
        raise LocalProtocolError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise LocalProtocolError(f"{what} must be timezone-aware (the supervisor rejects naive datetimes)")
    return value


def check_json_value(value: object, what: str) -> JsonValue:
    """Check that ``value`` is a JSON value Airflow's ``JsonValue`` accepts.

    Tuples are accepted as lists. Returns the value unchanged.

    Raises:
        LocalProtocolError: naming the path of the first offending element.
    """
    _check_json(value, what, 0)
    return value  # type: ignore[return-value]


def _check_json(value: object, path: str, depth: int) -> None:
    if depth > 500:
        raise LocalProtocolError(f"{path}: nested more than 500 levels deep")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not _MSGPACK_INT_MIN <= value <= _MSGPACK_INT_MAX:
            raise LocalProtocolError(f"{path}: integer {value} does not fit in 64 bits")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LocalProtocolError(f"{path}: {value!r} is not a JSON number")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise LocalProtocolError(f"{path}: map key {key!r} is not a str")
            _check_json(item, f"{path}[{key!r}]", depth + 1)
        return
    raise LocalProtocolError(
        f"{path}: {type(value).__name__} is not JSON-serialisable "
        "(allowed: None, bool, int, float, str, list, dict with str keys)"
    )


def check_items(values: Sequence[_T] | None, what: str) -> list[_T]:
    """Return ``values`` as a list (``[]`` for None), rejecting a bare str."""
    if values is None:
        return []
    if isinstance(values, (str, bytes)):
        raise LocalProtocolError(f"{what} must be a list, not a {type(values).__name__}")
    return list(values)
