"""Typed coordinator messages (sans-I/O): decoded from and encoded to wire maps.

Incoming messages (``StartupDetails`` and the request results) are immutable
records (``_record.Record``: frozen dataclasses to type checkers) built by
``from_wire(body)``. Decoding ignores unknown keys and accepts absent
optional keys, because the 1.3.2 supervisor omits keys whose value equals
the default in several replies, and the executor-side models may grow fields.

Outgoing requests are immutable records that validate their fields when they
are constructed (:class:`LocalProtocolError`) and render themselves with
``to_wire()``. The supervisor drops, without replying, any request it cannot
validate, so local validation is what keeps a task from hanging. The field
rules come from task-sdk 1.3.2's ``schema.json`` (see docs/protocol.md).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import ClassVar, Final, Literal

from ._errors import LocalProtocolError, RemoteProtocolError
from ._framing import utc_now
from ._record import Record, field
from ._wire import (
    JsonValue,
    Reader,
    check_aware,
    check_items,
    check_json_value,
    check_non_empty,
)

__all__ = [
    "SUPERVISOR_SCHEMA_VERSION",
    "AssetEventReference",
    "AssetProfile",
    "AwaitInputTask",
    "BundleInfo",
    "Connection",
    "DagRun",
    "DeferTask",
    "DeleteXCom",
    "ErrorResponse",
    "GetConnection",
    "GetVariable",
    "GetXCom",
    "MaskSecret",
    "Request",
    "RescheduleTask",
    "RetryTask",
    "SetXCom",
    "SkipTarget",
    "StartupDetails",
    "SucceedTask",
    "TIRunContext",
    "TaskInstance",
    "TaskState",
    "TerminalMessage",
    "VariableResult",
    "XComResult",
]

#: The dated supervisor wire-schema version trio_coord speaks. Reported in the
#: bundle manifest as ``sdk.supervisor_schema_version``; task-sdk 1.3.2 knows
#: only this one.
SUPERVISOR_SCHEMA_VERSION: Final = "2026-06-16"


# --------------------------------------------------------------------------
# Incoming: StartupDetails and its parts
# --------------------------------------------------------------------------


class TaskInstance(Record):
    """The task instance being run (``StartupDetails.ti``)."""

    id: str
    task_id: str
    dag_id: str
    run_id: str
    try_number: int
    dag_version_id: str
    map_index: int = -1
    hostname: str | None = None
    context_carrier: dict[str, object] | None = None
    queue: str = "default"

    @property
    def is_mapped(self) -> bool:
        """Whether this is one instance of a mapped task (``map_index >= 0``)."""
        return self.map_index >= 0

    @classmethod
    def from_wire(cls, data: object, where: str = "TaskInstance") -> TaskInstance:
        """Decode from a wire map.

        Raises:
            RemoteProtocolError: a required field is missing, mistyped or empty,
                or ``try_number`` is below 1.
        """
        r = Reader(data, where)
        ti = cls(
            id=r.string("id"),
            task_id=r.string("task_id"),
            dag_id=r.string("dag_id"),
            run_id=r.string("run_id"),
            try_number=r.integer("try_number"),
            dag_version_id=r.string("dag_version_id", ""),
            map_index=r.integer("map_index", -1),
            hostname=r.opt_string("hostname"),
            context_carrier=r.opt_map("context_carrier"),
            queue=r.string("queue", "default") if r.data.get("queue") is not None else "default",
        )
        for name in ("id", "task_id", "dag_id", "run_id"):
            if not getattr(ti, name):
                raise RemoteProtocolError(f"{where}.{name} must not be empty")
        if ti.try_number < 1:
            raise RemoteProtocolError(f"{where}.try_number must be >= 1, got {ti.try_number}")
        return ti


class BundleInfo(Record):
    """The Dag bundle the (Python) stub Dag came from."""

    name: str
    version: str | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "BundleInfo") -> BundleInfo:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(name=r.string("name"), version=r.opt_string("version"))


class AssetProfile(Record):
    """An asset reference: name and URI (plus ``extra`` and ``type`` where the wire has them).

    ``type`` is the profile kind the Execution API uses (``Asset``,
    ``AssetNameRef``, ``AssetUriRef``, ``AssetAlias``), e.g. in
    ``InactiveAssetsResult``; ``None`` where the wire has no ``type``.
    """

    name: str | None = None
    uri: str | None = None
    extra: dict[str, object] = field(default_factory=dict)
    type: str | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "Asset") -> AssetProfile:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(
            name=r.opt_string("name"),
            uri=r.opt_string("uri"),
            extra=r.opt_map("extra") or {},
            type=r.opt_string("type"),
        )


class AssetEventReference(Record):
    """An asset event that triggered the Dag run (``consumed_asset_events``)."""

    asset: AssetProfile
    extra: dict[str, object]
    source_task_id: str | None
    source_dag_id: str | None
    source_run_id: str | None
    source_map_index: int | None
    source_aliases: list[str]
    timestamp: _dt.datetime | None
    partition_key: str | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "AssetEvent") -> AssetEventReference:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(
            asset=AssetProfile.from_wire(r.data.get("asset") or {}, f"{where}.asset"),
            extra=r.opt_map("extra") or {},
            source_task_id=r.opt_string("source_task_id"),
            source_dag_id=r.opt_string("source_dag_id"),
            source_run_id=r.opt_string("source_run_id"),
            source_map_index=r.opt_integer("source_map_index"),
            source_aliases=[alias.string("name") for alias in r.maps("source_aliases")],
            timestamp=r.opt_datetime("timestamp"),
            partition_key=r.opt_string("partition_key"),
        )


class DagRun(Record):
    """The Dag run the task belongs to (``ti_context.dag_run``)."""

    dag_id: str
    run_id: str
    logical_date: _dt.datetime | None = None
    data_interval_start: _dt.datetime | None = None
    data_interval_end: _dt.datetime | None = None
    run_after: _dt.datetime | None = None
    start_date: _dt.datetime | None = None
    end_date: _dt.datetime | None = None
    clear_number: int = 0
    run_type: str = "manual"
    state: str = "running"
    conf: dict[str, object] | None = None
    triggering_user_name: str | None = None
    consumed_asset_events: list[AssetEventReference] = field(default_factory=list)
    partition_key: str | None = None
    partition_date: _dt.datetime | None = None
    note: str | None = None
    team_name: str | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "DagRun") -> DagRun:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(
            dag_id=r.string("dag_id"),
            run_id=r.string("run_id"),
            logical_date=r.opt_datetime("logical_date"),
            data_interval_start=r.opt_datetime("data_interval_start"),
            data_interval_end=r.opt_datetime("data_interval_end"),
            run_after=r.opt_datetime("run_after"),
            start_date=r.opt_datetime("start_date"),
            end_date=r.opt_datetime("end_date"),
            clear_number=r.integer("clear_number", 0),
            run_type=r.string("run_type", "manual"),
            state=r.string("state", "running"),
            conf=r.opt_map("conf"),
            triggering_user_name=r.opt_string("triggering_user_name"),
            consumed_asset_events=[
                AssetEventReference.from_wire(item.data, item.where)
                for item in r.maps("consumed_asset_events")
            ],
            partition_key=r.opt_string("partition_key"),
            partition_date=r.opt_datetime("partition_date"),
            note=r.opt_string("note"),
            team_name=r.opt_string("team_name"),
        )


class Connection(Record):
    """An Airflow connection, as ``GetConnection`` returns it.

    ``login`` and ``password`` keep ``None`` and ``""`` apart. ``extra`` is
    the raw JSON string; :attr:`extra_dejson` parses it. The ``repr`` never
    shows the password or the extra.
    """

    conn_id: str
    conn_type: str
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int | None = None
    extra: str | None = field(default=None, repr=False)

    @property
    def extra_dejson(self) -> dict[str, object]:
        """``extra`` parsed as a JSON object; ``{}`` when empty or not an object.

        Raises:
            ValueError: ``extra`` is set but is not valid JSON.
        """
        if not self.extra:
            return {}
        import json  # where it is used: a run that needs no JSON never imports the package

        try:
            value = json.loads(self.extra)
        except ValueError as exc:
            raise ValueError(f"connection {self.conn_id!r}: extra is not valid JSON ({exc})") from None
        return value if isinstance(value, dict) else {}

    @classmethod
    def from_wire(cls, data: object, where: str = "ConnectionResult") -> Connection:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(
            conn_id=r.string("conn_id"),
            conn_type=r.string("conn_type"),
            host=r.opt_string("host"),
            schema=r.opt_string("schema"),
            login=r.opt_string("login"),
            password=r.opt_string("password"),
            port=r.opt_integer("port"),
            extra=r.opt_string("extra"),
        )


#: Go name for :class:`Connection` (``execution.ConnectionResult``).
ConnectionResult = Connection


class VariableResult(Record):
    """The reply to ``GetVariable``."""

    key: str
    value: str | None

    @classmethod
    def from_wire(cls, data: object, where: str = "VariableResult") -> VariableResult:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(key=r.string("key"), value=r.opt_string("value"))


class XComResult(Record):
    """The reply to ``GetXCom``; ``value`` is ``None`` when no XCom exists."""

    key: str
    value: JsonValue

    @classmethod
    def from_wire(cls, data: object, where: str = "XComResult") -> XComResult:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(key=r.string("key", ""), value=r.json("value"))


class TIRunContext(Record):
    """The run context the Execution API returned when the task started."""

    dag_run: DagRun
    max_tries: int
    task_reschedule_count: int = 0
    variables: list[VariableResult] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    next_method: str | None = None
    next_kwargs: dict[str, object] | str | None = None
    xcom_keys_to_clear: list[str] = field(default_factory=list)
    should_retry: bool = False
    start_date: _dt.datetime | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "TIRunContext") -> TIRunContext:
        """Decode from a wire map."""
        r = Reader(data, where)
        next_kwargs = r.data.get("next_kwargs")
        if next_kwargs is not None and not isinstance(next_kwargs, (dict, str)):
            raise RemoteProtocolError(f"{where}.next_kwargs: expected map, str or nil")
        return cls(
            dag_run=DagRun.from_wire(r.data.get("dag_run"), f"{where}.dag_run"),
            max_tries=r.integer("max_tries", 0),
            task_reschedule_count=r.integer("task_reschedule_count", 0),
            variables=[VariableResult.from_wire(v.data, v.where) for v in r.maps("variables")],
            connections=[Connection.from_wire(c.data, c.where) for c in r.maps("connections")],
            next_method=r.opt_string("next_method"),
            next_kwargs=next_kwargs,
            xcom_keys_to_clear=r.string_list("xcom_keys_to_clear"),
            should_retry=r.boolean("should_retry", False),
            start_date=r.opt_datetime("start_date"),
        )


class StartupDetails(Record):
    """The first frame the supervisor sends: what to run, and in which context."""

    type_name: ClassVar[str] = "StartupDetails"

    ti: TaskInstance
    dag_rel_path: str
    bundle_info: BundleInfo
    start_date: _dt.datetime
    ti_context: TIRunContext
    sentry_integration: str = ""

    @classmethod
    def from_wire(cls, data: object, where: str = "StartupDetails") -> StartupDetails:
        """Decode from a wire map.

        Raises:
            RemoteProtocolError: the map is not a valid ``StartupDetails``,
                naming the first offending field.
        """
        r = Reader(data, where)
        kind = r.data.get("type")
        if kind is not None and kind != cls.type_name:
            raise RemoteProtocolError(f"{where}: expected type 'StartupDetails', got {kind!r}")
        return cls(
            ti=TaskInstance.from_wire(r.data.get("ti"), f"{where}.ti"),
            dag_rel_path=r.string("dag_rel_path", ""),
            bundle_info=BundleInfo.from_wire(
                r.data.get("bundle_info") or {"name": ""}, f"{where}.bundle_info"
            ),
            start_date=r.datetime("start_date") if r.data.get("start_date") is not None else utc_now(),
            ti_context=TIRunContext.from_wire(r.data.get("ti_context"), f"{where}.ti_context"),
            sentry_integration=r.string("sentry_integration", "") if r.data.get("sentry_integration") else "",
        )


class ErrorResponse(Record):
    """An error the supervisor reported, in the body or the error slot."""

    error: str
    detail: dict[str, object] | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "ErrorResponse") -> ErrorResponse:
        """Decode from a wire map; an off-schema ``detail`` is kept under ``"raw"``."""
        r = Reader(data, where)
        error = r.data.get("error", "GENERIC_ERROR")
        detail = r.data.get("detail")
        if detail is not None and not isinstance(detail, dict):
            detail = {"raw": detail}
        return cls(error=str(error), detail=detail)


# --------------------------------------------------------------------------
# Outgoing: requests
# --------------------------------------------------------------------------


class Request(Record):
    """Base of every runtime→supervisor message.

    Subclasses set ``type_name`` (the wire ``type``) and, for requests that
    get a body back, ``reply_types`` (the accepted reply ``type`` values; an
    empty tuple means the supervisor answers ``[id, nil, nil]``). Fields named
    in ``omit_if_none`` are left out of the wire map when they are ``None``
    (the rest are always sent: some supervisor models require keys even when
    nil).
    """

    type_name: ClassVar[str] = ""
    reply_types: ClassVar[tuple[str, ...]] = ()
    omit_if_none: ClassVar[frozenset[str]] = frozenset()
    terminal: ClassVar[bool] = False

    def to_wire(self) -> dict[str, object]:
        """Render as a wire map with its ``type``."""
        body: dict[str, object] = {}
        for name in self.__record_fields__:
            value = getattr(self, name)
            if value is None and name in self.omit_if_none:
                continue
            body[name] = value
        body["type"] = self.type_name
        return body

    def describe(self) -> str:
        """A short human description naming the request, for error messages."""
        parts = []
        for name in self.__record_fields__:
            value = getattr(self, name)
            if name == "value" or value is None:
                continue
            if isinstance(value, (str, int, bool)) and len(repr(value)) <= 80:
                parts.append(f"{name}={value!r}")
        return f"{self.type_name}({', '.join(parts)})"


class GetVariable(Request):
    """Ask for a variable. Reply: ``VariableResult`` or ``VARIABLE_NOT_FOUND``."""

    type_name: ClassVar[str] = "GetVariable"
    reply_types: ClassVar[tuple[str, ...]] = ("VariableResult",)

    key: str

    def __post_init__(self) -> None:
        check_non_empty(self.key, "GetVariable.key")


class GetConnection(Request):
    """Ask for a connection. Reply: ``ConnectionResult`` or ``CONNECTION_NOT_FOUND``."""

    type_name: ClassVar[str] = "GetConnection"
    reply_types: ClassVar[tuple[str, ...]] = ("ConnectionResult",)

    conn_id: str

    def __post_init__(self) -> None:
        check_non_empty(self.conn_id, "GetConnection.conn_id")


def _check_map_index(value: object, what: str) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise LocalProtocolError(f"{what} must be an int or None, got {type(value).__name__}")


class GetXCom(Request):
    """Ask for an XCom value. Reply: ``XComResult`` (``value`` nil when absent)."""

    type_name: ClassVar[str] = "GetXCom"
    reply_types: ClassVar[tuple[str, ...]] = ("XComResult",)
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"map_index"})

    key: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int | None = None
    include_prior_dates: bool = False

    def __post_init__(self) -> None:
        for name in ("key", "dag_id", "run_id", "task_id"):
            check_non_empty(getattr(self, name), f"GetXCom.{name}")
        _check_map_index(self.map_index, "GetXCom.map_index")
        if not isinstance(self.include_prior_dates, bool):
            raise LocalProtocolError("GetXCom.include_prior_dates must be a bool")


class SetXCom(Request):
    """Store an XCom value. Reply: nil."""

    type_name: ClassVar[str] = "SetXCom"
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"map_index", "mapped_length"})

    key: str
    value: JsonValue
    dag_id: str
    run_id: str
    task_id: str
    map_index: int | None = None
    mapped_length: int | None = None

    def __post_init__(self) -> None:
        for name in ("key", "dag_id", "run_id", "task_id"):
            check_non_empty(getattr(self, name), f"SetXCom.{name}")
        _check_map_index(self.map_index, "SetXCom.map_index")
        _check_map_index(self.mapped_length, "SetXCom.mapped_length")
        check_json_value(self.value, f"XCom {self.key!r} value")


class DeleteXCom(Request):
    """Delete an XCom. Reply: nil."""

    type_name: ClassVar[str] = "DeleteXCom"
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"map_index"})

    key: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int | None = None

    def __post_init__(self) -> None:
        for name in ("key", "dag_id", "run_id", "task_id"):
            check_non_empty(getattr(self, name), f"DeleteXCom.{name}")
        _check_map_index(self.map_index, "DeleteXCom.map_index")


class MaskSecret(Request):
    """Register a value with the supervisor's log masker. Reply: nil."""

    type_name: ClassVar[str] = "MaskSecret"

    value: JsonValue
    name: str | None = None

    def __post_init__(self) -> None:
        check_json_value(self.value, "MaskSecret.value")
        if self.name is not None and not isinstance(self.name, str):
            raise LocalProtocolError("MaskSecret.name must be a str or None")


# --------------------------------------------------------------------------
# Outgoing: terminal messages
# --------------------------------------------------------------------------


#: The keys an ``AssetProfile`` map may have (the model forbids any other).
_ASSET_PROFILE_KEYS: Final = frozenset({"name", "uri", "type"})


def _check_asset_profile(profile: object, what: str) -> None:
    """Check one ``task_outlets`` entry against the ``AssetProfile`` model (extra keys forbidden)."""
    if not isinstance(profile, dict):
        raise LocalProtocolError(f"{what} must be a map, got {type(profile).__name__}")
    unknown = set(profile) - _ASSET_PROFILE_KEYS
    if unknown:
        raise LocalProtocolError(
            f"{what} has unknown keys {sorted(map(str, unknown))} (allowed: name, uri, type)"
        )
    kind = profile.get("type")
    if not isinstance(kind, str) or not kind:
        raise LocalProtocolError(f"{what}.type must be a non-empty str")
    for key in ("name", "uri"):
        value = profile.get(key)
        if value is not None and not isinstance(value, str):
            raise LocalProtocolError(f"{what}.{key} must be a str or None")


class SucceedTask(Request):
    """Terminal: the task succeeded. ``task_outlets``/``outlet_events`` are lists, never nil."""

    type_name: ClassVar[str] = "SucceedTask"
    terminal: ClassVar[bool] = True

    end_date: _dt.datetime = field(default_factory=utc_now)
    task_outlets: list[dict[str, object]] = field(default_factory=list)
    outlet_events: list[dict[str, object]] = field(default_factory=list)
    rendered_map_index: str | None = None
    state: Literal["success"] = "success"

    def __post_init__(self) -> None:
        check_aware(self.end_date, "SucceedTask.end_date")
        object.__setattr__(self, "task_outlets", check_items(self.task_outlets, "SucceedTask.task_outlets"))
        object.__setattr__(
            self, "outlet_events", check_items(self.outlet_events, "SucceedTask.outlet_events")
        )
        for index, profile in enumerate(self.task_outlets):
            _check_asset_profile(profile, f"SucceedTask.task_outlets[{index}]")
        for index, event in enumerate(self.outlet_events):
            if not isinstance(event, dict):
                raise LocalProtocolError(
                    f"SucceedTask.outlet_events[{index}] must be a map, got {type(event).__name__}"
                )
            check_json_value(event, f"outlet_events[{index}]")


class TaskState(Request):
    """Terminal: the task ended ``failed``, ``skipped`` or ``removed``."""

    type_name: ClassVar[str] = "TaskState"
    terminal: ClassVar[bool] = True
    STATES: ClassVar[frozenset[str]] = frozenset({"failed", "skipped", "removed"})

    state: Literal["failed", "skipped", "removed"]
    end_date: _dt.datetime | None = field(default_factory=utc_now)
    rendered_map_index: str | None = None

    def __post_init__(self) -> None:
        if self.state not in self.STATES:
            raise LocalProtocolError(
                f"TaskState.state must be one of failed, skipped, removed; got {self.state!r}"
            )
        if self.end_date is not None:
            check_aware(self.end_date, "TaskState.end_date")


#: The most characters of a retry reason sent (the Python task runner's limit).
RETRY_REASON_LIMIT: Final = 500


class RetryTask(Request):
    """Terminal: the task failed and should be retried."""

    type_name: ClassVar[str] = "RetryTask"
    terminal: ClassVar[bool] = True

    end_date: _dt.datetime = field(default_factory=utc_now)
    retry_reason: str | None = None
    retry_delay_seconds: float | None = None
    rendered_map_index: str | None = None
    state: Literal["up_for_retry"] = "up_for_retry"

    def __post_init__(self) -> None:
        check_aware(self.end_date, "RetryTask.end_date")
        if self.retry_reason is not None:
            if not isinstance(self.retry_reason, str):
                raise LocalProtocolError("RetryTask.retry_reason must be a str or None")
            if len(self.retry_reason) > RETRY_REASON_LIMIT:
                object.__setattr__(self, "retry_reason", self.retry_reason[: RETRY_REASON_LIMIT - 1] + "…")


class RescheduleTask(Request):
    """Terminal: run the task again at ``reschedule_date`` (final state ``up_for_reschedule``).

    The wire message; a task asks for it by raising :class:`trio_coord.Reschedule`.
    """

    type_name: ClassVar[str] = "RescheduleTask"
    terminal: ClassVar[bool] = True

    reschedule_date: _dt.datetime
    end_date: _dt.datetime = field(default_factory=utc_now)
    state: Literal["up_for_reschedule"] = "up_for_reschedule"

    def __post_init__(self) -> None:
        check_aware(self.reschedule_date, "RescheduleTask.reschedule_date")
        check_aware(self.end_date, "RescheduleTask.end_date")
        if self.state != "up_for_reschedule":
            raise LocalProtocolError(f"RescheduleTask.state must be 'up_for_reschedule', got {self.state!r}")


def iso_duration(value: _dt.timedelta | None) -> str | None:
    """``timedelta`` as an ISO 8601 duration (``PT90S``, ``PT0.5S``), the schema's ``duration`` format."""
    if value is None:
        return None
    seconds = f"{value.total_seconds():.6f}".rstrip("0").rstrip(".")
    return f"PT{seconds}S"


def _check_next(method: object, kwargs: object, what: str) -> None:
    check_non_empty(method, f"{what}.next_method")
    if kwargs is not None:
        if not isinstance(kwargs, Mapping):
            raise LocalProtocolError(f"{what}.next_kwargs must be a map or None")
        check_json_value(dict(kwargs), f"{what}.next_kwargs")


class DeferTask(Request):
    """Terminal: hand the task to a trigger (final state ``deferred``).

    The wire message; a task asks for it by raising :class:`trio_coord.Defer`.
    ``trigger_timeout`` goes on the wire as an ISO 8601 duration.
    """

    type_name: ClassVar[str] = "DeferTask"
    terminal: ClassVar[bool] = True

    classpath: str
    next_method: str
    trigger_kwargs: dict[str, JsonValue] | None = None
    trigger_timeout: _dt.timedelta | None = None
    queue: str | None = None
    next_kwargs: dict[str, JsonValue] | None = None
    rendered_map_index: str | None = None
    state: Literal["deferred"] = "deferred"

    def __post_init__(self) -> None:
        check_non_empty(self.classpath, "DeferTask.classpath")
        _check_next(self.next_method, self.next_kwargs, "DeferTask")
        if self.trigger_kwargs is not None:
            check_json_value(self.trigger_kwargs, "DeferTask.trigger_kwargs")
        if self.trigger_timeout is not None and not isinstance(self.trigger_timeout, _dt.timedelta):
            raise LocalProtocolError("DeferTask.trigger_timeout must be a timedelta or None")
        if self.queue is not None:
            check_non_empty(self.queue, "DeferTask.queue")
        if self.state != "deferred":
            raise LocalProtocolError(f"DeferTask.state must be 'deferred', got {self.state!r}")

    def to_wire(self) -> dict[str, object]:
        """Render as a wire map (the timeout as an ISO 8601 duration)."""
        body = Request.to_wire(self)
        body["trigger_timeout"] = iso_duration(self.trigger_timeout)
        return body


class AwaitInputTask(Request):
    """Terminal: park the task until a human answers (final state ``awaiting_input``).

    The wire message; a task asks for it by raising :class:`trio_coord.AwaitInput`.
    """

    type_name: ClassVar[str] = "AwaitInputTask"
    terminal: ClassVar[bool] = True

    next_method: str
    timeout: _dt.timedelta | None = None
    next_kwargs: dict[str, JsonValue] | None = None
    rendered_map_index: str | None = None
    state: Literal["awaiting_input"] = "awaiting_input"

    def __post_init__(self) -> None:
        _check_next(self.next_method, self.next_kwargs, "AwaitInputTask")
        if self.timeout is not None and not isinstance(self.timeout, _dt.timedelta):
            raise LocalProtocolError("AwaitInputTask.timeout must be a timedelta or None")
        if self.state != "awaiting_input":
            raise LocalProtocolError(f"AwaitInputTask.state must be 'awaiting_input', got {self.state!r}")

    def to_wire(self) -> dict[str, object]:
        """Render as a wire map (the timeout as an ISO 8601 duration)."""
        body = Request.to_wire(self)
        body["timeout"] = iso_duration(self.timeout)
        return body


#: A message that ends the task: exactly one is sent per run.
TerminalMessage = SucceedTask | TaskState | RetryTask | RescheduleTask | DeferTask | AwaitInputTask


#: A downstream task to skip: a task id, or ``(task_id, map_index)``.
SkipTarget = str | tuple[str, int]
