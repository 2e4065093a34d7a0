"""The wider supervisor vocabulary: typed requests and results beyond the runtime's core.

Everything a task can ask the 1.3.2 supervisor besides variables, connections
and XComs (:mod:`trio_coord._messages`): variable writes, XCom counts and
sequences, Dag runs, task instances, assets and asset events, the state
stores, human-in-the-loop requests. It is a module of its own because building
its ~70 record classes is work every task run would otherwise pay at
start-up: :mod:`trio_coord._client` loads it
on the first request that needs it.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import ClassVar, Final

from ._errors import LocalProtocolError
from ._messages import AssetProfile, DagRun, Request, SkipTarget
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
    "AssetEvent",
    "AssetEventsResult",
    "AssetResult",
    "AssetStateStoreResult",
    "AssetsByAliasResult",
    "ClearAssetStateStoreByName",
    "ClearAssetStateStoreByUri",
    "ClearTaskStateStore",
    "CreateHITLDetailPayload",
    "DRCount",
    "DagResult",
    "DagRunAssetReference",
    "DagRunStateResult",
    "DeleteAssetStateStoreByName",
    "DeleteAssetStateStoreByUri",
    "DeleteTaskStateStore",
    "DeleteVariable",
    "GetAssetByName",
    "GetAssetByUri",
    "GetAssetEventByAsset",
    "GetAssetEventByAssetAlias",
    "GetAssetStateStoreByName",
    "GetAssetStateStoreByUri",
    "GetAssetsByAlias",
    "GetDRCount",
    "GetDag",
    "GetDagRun",
    "GetDagRunState",
    "GetPrevSuccessfulDagRun",
    "GetPreviousDagRun",
    "GetPreviousTI",
    "GetTICount",
    "GetTaskBreadcrumbs",
    "GetTaskRescheduleStartDate",
    "GetTaskStateStore",
    "GetTaskStates",
    "GetVariableKeys",
    "GetXComCount",
    "GetXComSequenceItem",
    "GetXComSequenceSlice",
    "HITLDetailRequestResult",
    "HITLUser",
    "InactiveAssetsResult",
    "OKResponse",
    "PrevSuccessfulDagRunResult",
    "PreviousDagRunResult",
    "PreviousTIResult",
    "PreviousTaskInstance",
    "PutVariable",
    "SetAssetStateStoreByName",
    "SetAssetStateStoreByUri",
    "SetRenderedFields",
    "SetRenderedMapIndex",
    "SetTaskStateStore",
    "SkipDownstreamTasks",
    "TASK_INSTANCE_STATES",
    "TICount",
    "TaskBreadcrumbsResult",
    "TaskRescheduleStartDate",
    "TaskStateStoreResult",
    "TaskStatesResult",
    "TriggerDagRun",
    "ValidateInletsAndOutlets",
    "VariableKeysResult",
    "XComCountResponse",
    "XComSequenceIndexResult",
    "XComSequenceSliceResult",
]


# --------------------------------------------------------------------------
# The wider vocabulary: field checks shared by the requests below
# --------------------------------------------------------------------------

#: The task-instance states the Execution API knows (``TaskInstanceState``).
TASK_INSTANCE_STATES: Final = frozenset(
    {
        "removed",
        "scheduled",
        "queued",
        "running",
        "success",
        "restarting",
        "failed",
        "up_for_retry",
        "up_for_reschedule",
        "upstream_failed",
        "skipped",
        "deferred",
        "awaiting_input",
    }
)


def _check_str(value: object, what: str) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a str, got {type(value).__name__}")


def _check_opt_str(value: object, what: str) -> None:
    if value is not None and not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a str or None, got {type(value).__name__}")


def _check_int(value: object, what: str, *, minimum: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise LocalProtocolError(f"{what} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise LocalProtocolError(f"{what} must be >= {minimum}, got {value}")


def _check_opt_int(value: object, what: str, *, minimum: int | None = None) -> None:
    if value is not None:
        _check_int(value, what, minimum=minimum)


def _check_bool(value: object, what: str) -> None:
    if not isinstance(value, bool):
        raise LocalProtocolError(f"{what} must be a bool, got {type(value).__name__}")


def _check_opt_aware(value: object, what: str) -> None:
    if value is not None:
        check_aware(value, what)


def _uuid_text(value: object, what: str) -> str:
    """Return ``value`` (a UUID or its string form) as the canonical UUID string."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a UUID string, got {type(value).__name__}")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise LocalProtocolError(f"{what} must be a UUID, got {value!r}") from None


def _str_list(value: object, what: str, *, min_items: int = 0) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise LocalProtocolError(f"{what} must be a list of str, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise LocalProtocolError(f"{what}[{index}] must be a str, got {type(item).__name__}")
    if len(value) < min_items:
        raise LocalProtocolError(f"{what} must have at least {min_items} item(s)")
    return list(value)


def _opt_str_list(value: object, what: str) -> list[str] | None:
    return None if value is None else _str_list(value, what)


def _opt_aware_list(value: object, what: str) -> list[_dt.datetime] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise LocalProtocolError(f"{what} must be a list of datetimes, got {type(value).__name__}")
    for index, item in enumerate(value):
        check_aware(item, f"{what}[{index}]")
    return list(value)


def _json_map(value: object, what: str) -> dict[str, JsonValue]:
    if not isinstance(value, dict):
        raise LocalProtocolError(f"{what} must be a map, got {type(value).__name__}")
    check_json_value(value, what)
    return value


def _opt_json_map(value: object, what: str) -> dict[str, JsonValue] | None:
    return None if value is None else _json_map(value, what)


def _check_ids(request: object, names: tuple[str, ...]) -> None:
    kind = type(request).__name__
    for name in names:
        check_non_empty(getattr(request, name), f"{kind}.{name}")


_XCOM_ID_FIELDS: Final = ("key", "dag_id", "run_id", "task_id")


# --------------------------------------------------------------------------
# Incoming: the wider vocabulary's results
# --------------------------------------------------------------------------


class OKResponse(Record):
    """The ``OKResponse`` several requests get (``ok`` is always true from 1.3.2)."""

    ok: bool

    @classmethod
    def from_wire(cls, data: object, where: str = "OKResponse") -> OKResponse:
        """Decode from a wire map."""
        return cls(ok=Reader(data, where).boolean("ok", False))


class VariableKeysResult(Record):
    """The reply to ``GetVariableKeys``: one page of keys and the total count."""

    keys: list[str]
    total_entries: int

    @classmethod
    def from_wire(cls, data: object, where: str = "VariableKeysResult") -> VariableKeysResult:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(keys=r.string_list("keys"), total_entries=r.integer("total_entries"))


class XComCountResponse(Record):
    """The reply to ``GetXComCount``: how many (mapped) values the XCom has."""

    len: int

    @classmethod
    def from_wire(cls, data: object, where: str = "XComCountResponse") -> XComCountResponse:
        """Decode from a wire map."""
        return cls(len=Reader(data, where).integer("len"))


class XComSequenceIndexResult(Record):
    """The reply to ``GetXComSequenceItem``: one item of a mapped XCom."""

    root: JsonValue

    @classmethod
    def from_wire(cls, data: object, where: str = "XComSequenceIndexResult") -> XComSequenceIndexResult:
        """Decode from a wire map."""
        return cls(root=Reader(data, where).json("root"))


class XComSequenceSliceResult(Record):
    """The reply to ``GetXComSequenceSlice``: a slice of a mapped XCom."""

    root: list[JsonValue]

    @classmethod
    def from_wire(cls, data: object, where: str = "XComSequenceSliceResult") -> XComSequenceSliceResult:
        """Decode from a wire map."""
        return cls(root=Reader(data, where).array("root"))  # type: ignore[arg-type]


class DagRunStateResult(Record):
    """The reply to ``GetDagRunState``."""

    state: str

    @classmethod
    def from_wire(cls, data: object, where: str = "DagRunStateResult") -> DagRunStateResult:
        """Decode from a wire map."""
        return cls(state=Reader(data, where).string("state"))


class DRCount(Record):
    """The reply to ``GetDRCount``."""

    count: int

    @classmethod
    def from_wire(cls, data: object, where: str = "DRCount") -> DRCount:
        """Decode from a wire map."""
        return cls(count=Reader(data, where).integer("count"))


class TICount(Record):
    """The reply to ``GetTICount``."""

    count: int

    @classmethod
    def from_wire(cls, data: object, where: str = "TICount") -> TICount:
        """Decode from a wire map."""
        return cls(count=Reader(data, where).integer("count"))


class PreviousDagRunResult(Record):
    """The reply to ``GetPreviousDagRun``; ``dag_run`` is ``None`` when there is none."""

    dag_run: DagRun | None

    @classmethod
    def from_wire(cls, data: object, where: str = "PreviousDagRunResult") -> PreviousDagRunResult:
        """Decode from a wire map."""
        r = Reader(data, where)
        sub = r.opt_sub("dag_run")
        return cls(dag_run=None if sub is None else DagRun.from_wire(sub.data, sub.where))


class PrevSuccessfulDagRunResult(Record):
    """The reply to ``GetPrevSuccessfulDagRun``: dates of the last successful run.

    Every field is ``None`` when there is no previous successful run (the
    supervisor then omits the keys).
    """

    data_interval_start: _dt.datetime | None = None
    data_interval_end: _dt.datetime | None = None
    start_date: _dt.datetime | None = None
    end_date: _dt.datetime | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "PrevSuccessfulDagRunResult") -> PrevSuccessfulDagRunResult:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(
            data_interval_start=r.opt_datetime("data_interval_start"),
            data_interval_end=r.opt_datetime("data_interval_end"),
            start_date=r.opt_datetime("start_date"),
            end_date=r.opt_datetime("end_date"),
        )


class PreviousTaskInstance(Record):
    """A previous task instance (``PreviousTIResponse``), as ``GetPreviousTI`` returns it."""

    task_id: str
    dag_id: str
    run_id: str
    try_number: int
    logical_date: _dt.datetime | None = None
    start_date: _dt.datetime | None = None
    end_date: _dt.datetime | None = None
    state: str | None = None
    map_index: int = -1
    duration: float | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "PreviousTIResponse") -> PreviousTaskInstance:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(
            task_id=r.string("task_id"),
            dag_id=r.string("dag_id"),
            run_id=r.string("run_id"),
            try_number=r.integer("try_number"),
            logical_date=r.opt_datetime("logical_date"),
            start_date=r.opt_datetime("start_date"),
            end_date=r.opt_datetime("end_date"),
            state=r.opt_string("state"),
            map_index=r.integer("map_index", -1),
            duration=r.opt_number("duration"),
        )


class PreviousTIResult(Record):
    """The reply to ``GetPreviousTI``; ``task_instance`` is ``None`` when there is none."""

    task_instance: PreviousTaskInstance | None

    @classmethod
    def from_wire(cls, data: object, where: str = "PreviousTIResult") -> PreviousTIResult:
        """Decode from a wire map."""
        sub = Reader(data, where).opt_sub("task_instance")
        return cls(task_instance=None if sub is None else PreviousTaskInstance.from_wire(sub.data, sub.where))


class TaskStatesResult(Record):
    """The reply to ``GetTaskStates``: ``{run_id: {task_id: state}}``.

    Mapped instances appear as ``"<task_id>_<map_index>"``; a state is
    ``None`` for an instance that has none yet.
    """

    task_states: dict[str, dict[str, str | None]]

    @classmethod
    def from_wire(cls, data: object, where: str = "TaskStatesResult") -> TaskStatesResult:
        """Decode from a wire map."""
        r = Reader(data, where)
        states: dict[str, dict[str, str | None]] = {}
        for run_id, tasks in (r.opt_map("task_states") or {}).items():
            tr = Reader(tasks, f"{where}.task_states[{run_id!r}]")
            states[run_id] = {task: tr.opt_string(task) for task in tr.data}
        return cls(task_states=states)


class TaskBreadcrumbsResult(Record):
    """The reply to ``GetTaskBreadcrumbs``: one map per finished task instance of the run.

    Each map has ``task_id``, ``map_index``, ``state``, ``operator`` and
    ``duration`` (as the Execution API returns them).
    """

    breadcrumbs: list[dict[str, object]]

    @classmethod
    def from_wire(cls, data: object, where: str = "TaskBreadcrumbsResult") -> TaskBreadcrumbsResult:
        """Decode from a wire map."""
        return cls(breadcrumbs=[dict(item.data) for item in Reader(data, where).maps("breadcrumbs")])


class TaskRescheduleStartDate(Record):
    """The reply to ``GetTaskRescheduleStartDate``: when the first reschedule of the try started."""

    start_date: _dt.datetime | None

    @classmethod
    def from_wire(cls, data: object, where: str = "TaskRescheduleStartDate") -> TaskRescheduleStartDate:
        """Decode from a wire map."""
        return cls(start_date=Reader(data, where).opt_datetime("start_date"))


class DagResult(Record):
    """The reply to ``GetDag``: what the Execution API knows about a Dag."""

    dag_id: str
    is_paused: bool
    bundle_name: str | None = None
    bundle_version: str | None = None
    relative_fileloc: str | None = None
    owners: str | None = None
    tags: list[str] = field(default_factory=list)
    next_dagrun: _dt.datetime | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "DagResult") -> DagResult:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(
            dag_id=r.string("dag_id"),
            is_paused=r.boolean("is_paused", False),
            bundle_name=r.opt_string("bundle_name"),
            bundle_version=r.opt_string("bundle_version"),
            relative_fileloc=r.opt_string("relative_fileloc"),
            owners=r.opt_string("owners"),
            tags=r.string_list("tags"),
            next_dagrun=r.opt_datetime("next_dagrun"),
        )


class AssetResult(Record):
    """An asset as the Execution API knows it (``GetAssetByName``/``ByUri``/``ByAlias``)."""

    name: str
    uri: str
    group: str = "asset"
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, data: object, where: str = "AssetResult") -> AssetResult:
        """Decode from a wire map (``extra`` is omitted by the supervisor when empty)."""
        r = Reader(data, where)
        return cls(
            name=r.string("name"),
            uri=r.string("uri"),
            group=r.string("group", "asset"),
            extra=r.opt_map("extra") or {},
        )


class AssetsByAliasResult(Record):
    """The reply to ``GetAssetsByAlias``: the assets an alias resolves to."""

    assets: list[AssetResult]

    @classmethod
    def from_wire(cls, data: object, where: str = "AssetsByAliasResult") -> AssetsByAliasResult:
        """Decode from a wire map."""
        return cls(
            assets=[AssetResult.from_wire(a.data, a.where) for a in Reader(data, where).maps("assets")]
        )


class DagRunAssetReference(Record):
    """A Dag run an asset event created (``AssetEvent.created_dagruns``)."""

    run_id: str
    dag_id: str
    state: str
    start_date: _dt.datetime | None = None
    logical_date: _dt.datetime | None = None
    end_date: _dt.datetime | None = None
    data_interval_start: _dt.datetime | None = None
    data_interval_end: _dt.datetime | None = None
    partition_key: str | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "DagRunAssetReference") -> DagRunAssetReference:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(
            run_id=r.string("run_id"),
            dag_id=r.string("dag_id"),
            state=r.string("state"),
            start_date=r.opt_datetime("start_date"),
            logical_date=r.opt_datetime("logical_date"),
            end_date=r.opt_datetime("end_date"),
            data_interval_start=r.opt_datetime("data_interval_start"),
            data_interval_end=r.opt_datetime("data_interval_end"),
            partition_key=r.opt_string("partition_key"),
        )


class AssetEvent(Record):
    """One asset event (``AssetEventResponse``), as ``GetAssetEventBy*`` return them.

    The supervisor omits every key whose value is the default, so all but
    ``id``, ``timestamp`` and ``asset`` may be missing on the wire.
    """

    id: int
    timestamp: _dt.datetime
    asset: AssetResult
    extra: dict[str, object] = field(default_factory=dict)
    created_dagruns: list[DagRunAssetReference] = field(default_factory=list)
    source_task_id: str | None = None
    source_dag_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int | None = None
    partition_key: str | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "AssetEvent") -> AssetEvent:
        """Decode from a wire map."""
        r = Reader(data, where)
        asset = r.sub("asset")
        return cls(
            id=r.integer("id"),
            timestamp=r.datetime("timestamp"),
            asset=AssetResult.from_wire(asset.data, asset.where),
            extra=r.opt_map("extra") or {},
            created_dagruns=[
                DagRunAssetReference.from_wire(d.data, d.where) for d in r.maps("created_dagruns")
            ],
            source_task_id=r.opt_string("source_task_id"),
            source_dag_id=r.opt_string("source_dag_id"),
            source_run_id=r.opt_string("source_run_id"),
            source_map_index=r.opt_integer("source_map_index"),
            partition_key=r.opt_string("partition_key"),
        )


class AssetEventsResult(Record):
    """The reply to ``GetAssetEventByAsset`` / ``GetAssetEventByAssetAlias``."""

    asset_events: list[AssetEvent]

    @classmethod
    def from_wire(cls, data: object, where: str = "AssetEventsResult") -> AssetEventsResult:
        """Decode from a wire map."""
        return cls(
            asset_events=[
                AssetEvent.from_wire(e.data, e.where) for e in Reader(data, where).maps("asset_events")
            ]
        )


class InactiveAssetsResult(Record):
    """The reply to ``ValidateInletsAndOutlets``: the task's inlets/outlets that are not active."""

    inactive_assets: list[AssetProfile]

    @classmethod
    def from_wire(cls, data: object, where: str = "InactiveAssetsResult") -> InactiveAssetsResult:
        """Decode from a wire map (``inactive_assets`` may be missing: none)."""
        return cls(
            inactive_assets=[
                AssetProfile.from_wire(a.data, a.where) for a in Reader(data, where).maps("inactive_assets")
            ]
        )


class TaskStateStoreResult(Record):
    """The reply to ``GetTaskStateStore``."""

    value: JsonValue

    @classmethod
    def from_wire(cls, data: object, where: str = "TaskStateStoreResult") -> TaskStateStoreResult:
        """Decode from a wire map."""
        return cls(value=Reader(data, where).json("value"))


class AssetStateStoreResult(Record):
    """The reply to ``GetAssetStateStoreByName`` / ``ByUri``."""

    value: JsonValue

    @classmethod
    def from_wire(cls, data: object, where: str = "AssetStateStoreResult") -> AssetStateStoreResult:
        """Decode from a wire map."""
        return cls(value=Reader(data, where).json("value"))


class HITLUser(Record):
    """A user a Human-in-the-loop request is assigned to."""

    id: str
    name: str

    def __post_init__(self) -> None:
        _check_str(self.id, "HITLUser.id")
        _check_str(self.name, "HITLUser.name")

    @classmethod
    def from_wire(cls, data: object, where: str = "HITLUser") -> HITLUser:
        """Decode from a wire map."""
        r = Reader(data, where)
        return cls(id=r.string("id"), name=r.string("name"))

    def to_wire(self) -> dict[str, object]:
        """Render as a wire map."""
        return {"id": self.id, "name": self.name}


class HITLDetailRequestResult(Record):
    """The reply to ``CreateHITLDetailPayload``: the Human-in-the-loop request as stored."""

    ti_id: str
    options: list[str]
    subject: str
    body: str | None = None
    defaults: list[str] | None = None
    multiple: bool = False
    params: dict[str, object] | None = None
    assigned_users: list[HITLUser] | None = None

    @classmethod
    def from_wire(cls, data: object, where: str = "HITLDetailRequestResult") -> HITLDetailRequestResult:
        """Decode from a wire map (optional keys may be missing)."""
        r = Reader(data, where)
        defaults = r.data.get("defaults")
        users = r.data.get("assigned_users")
        return cls(
            ti_id=r.string("ti_id"),
            options=r.string_list("options"),
            subject=r.string("subject"),
            body=r.opt_string("body"),
            defaults=None if defaults is None else r.string_list("defaults"),
            multiple=r.boolean("multiple", False),
            params=r.opt_map("params"),
            assigned_users=None
            if users is None
            else [HITLUser.from_wire(u.data, u.where) for u in r.maps("assigned_users")],
        )


# --------------------------------------------------------------------------
# Outgoing: the wider vocabulary's requests
# --------------------------------------------------------------------------


class GetVariableKeys(Request):
    """List variable keys, optionally by prefix. Reply: ``VariableKeysResult``."""

    type_name: ClassVar[str] = "GetVariableKeys"
    reply_types: ClassVar[tuple[str, ...]] = ("VariableKeysResult",)
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"prefix"})

    prefix: str | None = None
    limit: int = 1000
    offset: int = 0

    def __post_init__(self) -> None:
        _check_opt_str(self.prefix, "GetVariableKeys.prefix")
        _check_int(self.limit, "GetVariableKeys.limit", minimum=1)
        _check_int(self.offset, "GetVariableKeys.offset", minimum=0)


class PutVariable(Request):
    """Create or replace a variable. Reply: nil.

    ``value`` and ``description`` are always sent, ``None`` included: the
    1.3.2 model requires both keys, and drops the request without either.
    """

    type_name: ClassVar[str] = "PutVariable"

    key: str
    value: str | None
    description: str | None = None

    def __post_init__(self) -> None:
        check_non_empty(self.key, "PutVariable.key")
        _check_opt_str(self.value, "PutVariable.value")
        _check_opt_str(self.description, "PutVariable.description")


class DeleteVariable(Request):
    """Delete a variable. Reply: ``OKResponse``."""

    type_name: ClassVar[str] = "DeleteVariable"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)

    key: str

    def __post_init__(self) -> None:
        check_non_empty(self.key, "DeleteVariable.key")


class GetXComCount(Request):
    """Count the values of a (mapped) XCom. Reply: ``XComCountResponse``."""

    type_name: ClassVar[str] = "GetXComCount"
    reply_types: ClassVar[tuple[str, ...]] = ("XComCountResponse",)

    key: str
    dag_id: str
    run_id: str
    task_id: str

    def __post_init__(self) -> None:
        _check_ids(self, _XCOM_ID_FIELDS)


class GetXComSequenceItem(Request):
    """Read item ``offset`` of a mapped XCom (negative counts from the end).

    Reply: ``XComSequenceIndexResult`` or ``XCOM_NOT_FOUND``.
    """

    type_name: ClassVar[str] = "GetXComSequenceItem"
    reply_types: ClassVar[tuple[str, ...]] = ("XComSequenceIndexResult",)

    key: str
    dag_id: str
    run_id: str
    task_id: str
    offset: int

    def __post_init__(self) -> None:
        _check_ids(self, _XCOM_ID_FIELDS)
        _check_int(self.offset, "GetXComSequenceItem.offset")


class GetXComSequenceSlice(Request):
    """Read a slice of a mapped XCom. Reply: ``XComSequenceSliceResult``.

    ``start``, ``stop`` and ``step`` are always sent (the model requires the
    keys); ``None`` means "open", as in a Python slice.
    """

    type_name: ClassVar[str] = "GetXComSequenceSlice"
    reply_types: ClassVar[tuple[str, ...]] = ("XComSequenceSliceResult",)

    key: str
    dag_id: str
    run_id: str
    task_id: str
    start: int | None = None
    stop: int | None = None
    step: int | None = None
    include_prior_dates: bool = False

    def __post_init__(self) -> None:
        _check_ids(self, _XCOM_ID_FIELDS)
        _check_opt_int(self.start, "GetXComSequenceSlice.start")
        _check_opt_int(self.stop, "GetXComSequenceSlice.stop")
        _check_opt_int(self.step, "GetXComSequenceSlice.step")
        if self.step == 0:
            raise LocalProtocolError("GetXComSequenceSlice.step must not be zero")
        _check_bool(self.include_prior_dates, "GetXComSequenceSlice.include_prior_dates")


class SetRenderedFields(Request):
    """Store this task instance's rendered template fields. Reply: nil."""

    type_name: ClassVar[str] = "SetRenderedFields"

    rendered_fields: dict[str, JsonValue]

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "rendered_fields",
            dict(_json_map(self.rendered_fields, "SetRenderedFields.rendered_fields")),
        )


class SetRenderedMapIndex(Request):
    """Set this task instance's rendered map index (its display name). Reply: nil."""

    type_name: ClassVar[str] = "SetRenderedMapIndex"

    rendered_map_index: str

    def __post_init__(self) -> None:
        _check_str(self.rendered_map_index, "SetRenderedMapIndex.rendered_map_index")


class SkipDownstreamTasks(Request):
    """Mark tasks of this Dag run as skipped (the task itself goes on). Reply: nil."""

    type_name: ClassVar[str] = "SkipDownstreamTasks"

    tasks: list[SkipTarget]

    def __post_init__(self) -> None:
        tasks: list[object] = check_items(self.tasks, "SkipDownstreamTasks.tasks")
        for index, item in enumerate(tasks):
            what = f"SkipDownstreamTasks.tasks[{index}]"
            if isinstance(item, str):
                check_non_empty(item, what)
                continue
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise LocalProtocolError(f"{what} must be a task id or a (task_id, map_index) pair")
            check_non_empty(item[0], f"{what}[0]")
            _check_int(item[1], f"{what}[1]")
            tasks[index] = (item[0], item[1])
        object.__setattr__(self, "tasks", tasks)

    def to_wire(self) -> dict[str, object]:
        """Render as a wire map; pairs go out as 2-element arrays."""
        return {
            "tasks": [task if isinstance(task, str) else list(task) for task in self.tasks],
            "type": self.type_name,
        }


class TriggerDagRun(Request):
    """Trigger a Dag run. Reply: ``OKResponse`` or ``DAGRUN_ALREADY_EXISTS``.

    With ``reset_dag_run`` an existing run is cleared instead (``OKResponse``).
    ``partition_key`` is accepted by 1.3.2 but not forwarded to the API.
    """

    type_name: ClassVar[str] = "TriggerDagRun"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)
    omit_if_none: ClassVar[frozenset[str]] = frozenset(
        {"logical_date", "run_after", "conf", "partition_key", "note"}
    )

    dag_id: str
    run_id: str
    logical_date: _dt.datetime | None = None
    run_after: _dt.datetime | None = None
    conf: dict[str, JsonValue] | None = None
    reset_dag_run: bool = False
    partition_key: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        _check_ids(self, ("dag_id", "run_id"))
        _check_opt_aware(self.logical_date, "TriggerDagRun.logical_date")
        _check_opt_aware(self.run_after, "TriggerDagRun.run_after")
        _opt_json_map(self.conf, "TriggerDagRun.conf")
        _check_bool(self.reset_dag_run, "TriggerDagRun.reset_dag_run")
        _check_opt_str(self.partition_key, "TriggerDagRun.partition_key")
        _check_opt_str(self.note, "TriggerDagRun.note")


class GetDagRun(Request):
    """Read a Dag run. Reply: ``DagRunResult``."""

    type_name: ClassVar[str] = "GetDagRun"
    reply_types: ClassVar[tuple[str, ...]] = ("DagRunResult",)

    dag_id: str
    run_id: str

    def __post_init__(self) -> None:
        _check_ids(self, ("dag_id", "run_id"))


class GetDagRunState(Request):
    """Read a Dag run's state. Reply: ``DagRunStateResult``."""

    type_name: ClassVar[str] = "GetDagRunState"
    reply_types: ClassVar[tuple[str, ...]] = ("DagRunStateResult",)

    dag_id: str
    run_id: str

    def __post_init__(self) -> None:
        _check_ids(self, ("dag_id", "run_id"))


class GetDRCount(Request):
    """Count a Dag's runs, optionally filtered. Reply: ``DRCount``."""

    type_name: ClassVar[str] = "GetDRCount"
    reply_types: ClassVar[tuple[str, ...]] = ("DRCount",)
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"logical_dates", "run_ids", "states"})

    dag_id: str
    logical_dates: list[_dt.datetime] | None = None
    run_ids: list[str] | None = None
    states: list[str] | None = None

    def __post_init__(self) -> None:
        check_non_empty(self.dag_id, "GetDRCount.dag_id")
        object.__setattr__(
            self, "logical_dates", _opt_aware_list(self.logical_dates, "GetDRCount.logical_dates")
        )
        object.__setattr__(self, "run_ids", _opt_str_list(self.run_ids, "GetDRCount.run_ids"))
        object.__setattr__(self, "states", _opt_str_list(self.states, "GetDRCount.states"))


class GetPreviousDagRun(Request):
    """Find the Dag run before ``logical_date`` (optionally in ``state``). Reply: ``PreviousDagRunResult``."""

    type_name: ClassVar[str] = "GetPreviousDagRun"
    reply_types: ClassVar[tuple[str, ...]] = ("PreviousDagRunResult",)
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"state"})

    dag_id: str
    logical_date: _dt.datetime
    state: str | None = None

    def __post_init__(self) -> None:
        check_non_empty(self.dag_id, "GetPreviousDagRun.dag_id")
        check_aware(self.logical_date, "GetPreviousDagRun.logical_date")
        _check_opt_str(self.state, "GetPreviousDagRun.state")


class GetPrevSuccessfulDagRun(Request):
    """Dates of the previous successful run. Reply: ``PrevSuccessfulDagRunResult``.

    The 1.3.2 supervisor ignores ``ti_id`` and always answers for the task
    instance it is running.
    """

    type_name: ClassVar[str] = "GetPrevSuccessfulDagRun"
    reply_types: ClassVar[tuple[str, ...]] = ("PrevSuccessfulDagRunResult",)

    ti_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "ti_id", _uuid_text(self.ti_id, "GetPrevSuccessfulDagRun.ti_id"))


class GetPreviousTI(Request):
    """Find a task's previous instance. Reply: ``PreviousTIResult``."""

    type_name: ClassVar[str] = "GetPreviousTI"
    reply_types: ClassVar[tuple[str, ...]] = ("PreviousTIResult",)
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"logical_date", "state"})

    dag_id: str
    task_id: str
    logical_date: _dt.datetime | None = None
    map_index: int = -1
    state: str | None = None

    def __post_init__(self) -> None:
        _check_ids(self, ("dag_id", "task_id"))
        _check_opt_aware(self.logical_date, "GetPreviousTI.logical_date")
        _check_int(self.map_index, "GetPreviousTI.map_index")
        if self.state is not None and self.state not in TASK_INSTANCE_STATES:
            raise LocalProtocolError(
                f"GetPreviousTI.state must be a task-instance state "
                f"({', '.join(sorted(TASK_INSTANCE_STATES))}); got {self.state!r}"
            )


def _check_ti_filters(request: GetTICount | GetTaskStates) -> None:
    kind = request.type_name
    check_non_empty(request.dag_id, f"{kind}.dag_id")
    _check_opt_int(request.map_index, f"{kind}.map_index")
    object.__setattr__(request, "task_ids", _opt_str_list(request.task_ids, f"{kind}.task_ids"))
    _check_opt_str(request.task_group_id, f"{kind}.task_group_id")
    object.__setattr__(
        request, "logical_dates", _opt_aware_list(request.logical_dates, f"{kind}.logical_dates")
    )
    object.__setattr__(request, "run_ids", _opt_str_list(request.run_ids, f"{kind}.run_ids"))


_TI_FILTERS: Final = frozenset({"map_index", "task_ids", "task_group_id", "logical_dates", "run_ids"})


class GetTICount(Request):
    """Count task instances of a Dag, optionally filtered. Reply: ``TICount``."""

    type_name: ClassVar[str] = "GetTICount"
    reply_types: ClassVar[tuple[str, ...]] = ("TICount",)
    omit_if_none: ClassVar[frozenset[str]] = _TI_FILTERS | {"states"}

    dag_id: str
    map_index: int | None = None
    task_ids: list[str] | None = None
    task_group_id: str | None = None
    logical_dates: list[_dt.datetime] | None = None
    run_ids: list[str] | None = None
    states: list[str] | None = None

    def __post_init__(self) -> None:
        _check_ti_filters(self)
        object.__setattr__(self, "states", _opt_str_list(self.states, "GetTICount.states"))


class GetTaskStates(Request):
    """Read the states of a Dag's task instances. Reply: ``TaskStatesResult``."""

    type_name: ClassVar[str] = "GetTaskStates"
    reply_types: ClassVar[tuple[str, ...]] = ("TaskStatesResult",)
    omit_if_none: ClassVar[frozenset[str]] = _TI_FILTERS

    dag_id: str
    map_index: int | None = None
    task_ids: list[str] | None = None
    task_group_id: str | None = None
    logical_dates: list[_dt.datetime] | None = None
    run_ids: list[str] | None = None

    def __post_init__(self) -> None:
        _check_ti_filters(self)


class GetTaskBreadcrumbs(Request):
    """Summaries of a Dag run's finished task instances. Reply: ``TaskBreadcrumbsResult``."""

    type_name: ClassVar[str] = "GetTaskBreadcrumbs"
    reply_types: ClassVar[tuple[str, ...]] = ("TaskBreadcrumbsResult",)

    dag_id: str
    run_id: str

    def __post_init__(self) -> None:
        _check_ids(self, ("dag_id", "run_id"))


class GetTaskRescheduleStartDate(Request):
    """When the first reschedule of a try started. Reply: ``TaskRescheduleStartDate``."""

    type_name: ClassVar[str] = "GetTaskRescheduleStartDate"
    reply_types: ClassVar[tuple[str, ...]] = ("TaskRescheduleStartDate",)

    ti_id: str
    try_number: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "ti_id", _uuid_text(self.ti_id, "GetTaskRescheduleStartDate.ti_id"))
        _check_int(self.try_number, "GetTaskRescheduleStartDate.try_number", minimum=1)


class GetDag(Request):
    """Read a Dag's details. Reply: ``DagResult``."""

    type_name: ClassVar[str] = "GetDag"
    reply_types: ClassVar[tuple[str, ...]] = ("DagResult",)

    dag_id: str

    def __post_init__(self) -> None:
        check_non_empty(self.dag_id, "GetDag.dag_id")


class GetAssetByName(Request):
    """Read an active asset by name. Reply: ``AssetResult`` or ``ASSET_NOT_FOUND``."""

    type_name: ClassVar[str] = "GetAssetByName"
    reply_types: ClassVar[tuple[str, ...]] = ("AssetResult",)

    name: str

    def __post_init__(self) -> None:
        check_non_empty(self.name, "GetAssetByName.name")


class GetAssetByUri(Request):
    """Read an active asset by URI. Reply: ``AssetResult`` or ``ASSET_NOT_FOUND``."""

    type_name: ClassVar[str] = "GetAssetByUri"
    reply_types: ClassVar[tuple[str, ...]] = ("AssetResult",)

    uri: str

    def __post_init__(self) -> None:
        check_non_empty(self.uri, "GetAssetByUri.uri")


class GetAssetsByAlias(Request):
    """The assets an asset alias resolves to. Reply: ``AssetsByAliasResult``."""

    type_name: ClassVar[str] = "GetAssetsByAlias"
    reply_types: ClassVar[tuple[str, ...]] = ("AssetsByAliasResult",)

    alias_name: str

    def __post_init__(self) -> None:
        check_non_empty(self.alias_name, "GetAssetsByAlias.alias_name")


def _check_event_filters(request: GetAssetEventByAsset | GetAssetEventByAssetAlias) -> None:
    kind = request.type_name
    _check_opt_aware(request.after, f"{kind}.after")
    _check_opt_aware(request.before, f"{kind}.before")
    _check_opt_int(request.limit, f"{kind}.limit", minimum=1)
    _check_bool(request.ascending, f"{kind}.ascending")


class GetAssetEventByAsset(Request):
    """Read the events of an asset (by name, URI or both). Reply: ``AssetEventsResult``.

    ``name`` and ``uri`` are always sent (the model requires both keys); at
    least one must be set.
    """

    type_name: ClassVar[str] = "GetAssetEventByAsset"
    reply_types: ClassVar[tuple[str, ...]] = ("AssetEventsResult",)
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"after", "before", "limit"})

    name: str | None = None
    uri: str | None = None
    after: _dt.datetime | None = None
    before: _dt.datetime | None = None
    limit: int | None = None
    ascending: bool = True

    def __post_init__(self) -> None:
        _check_opt_str(self.name, "GetAssetEventByAsset.name")
        _check_opt_str(self.uri, "GetAssetEventByAsset.uri")
        if not self.name and not self.uri:
            raise LocalProtocolError("GetAssetEventByAsset needs a name or a uri")
        _check_event_filters(self)


class GetAssetEventByAssetAlias(Request):
    """Read the asset events emitted through an alias. Reply: ``AssetEventsResult``."""

    type_name: ClassVar[str] = "GetAssetEventByAssetAlias"
    reply_types: ClassVar[tuple[str, ...]] = ("AssetEventsResult",)
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"after", "before", "limit"})

    alias_name: str
    after: _dt.datetime | None = None
    before: _dt.datetime | None = None
    limit: int | None = None
    ascending: bool = True

    def __post_init__(self) -> None:
        check_non_empty(self.alias_name, "GetAssetEventByAssetAlias.alias_name")
        _check_event_filters(self)


class ValidateInletsAndOutlets(Request):
    """Which of a task instance's inlets/outlets are inactive. Reply: ``InactiveAssetsResult``."""

    type_name: ClassVar[str] = "ValidateInletsAndOutlets"
    reply_types: ClassVar[tuple[str, ...]] = ("InactiveAssetsResult",)

    ti_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "ti_id", _uuid_text(self.ti_id, "ValidateInletsAndOutlets.ti_id"))


class GetTaskStateStore(Request):
    """Read a key of a task instance's state store.

    Reply: ``TaskStateStoreResult`` or ``TASK_STORE_NOT_FOUND``.
    """

    type_name: ClassVar[str] = "GetTaskStateStore"
    reply_types: ClassVar[tuple[str, ...]] = ("TaskStateStoreResult",)

    ti_id: str
    key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "ti_id", _uuid_text(self.ti_id, "GetTaskStateStore.ti_id"))
        check_non_empty(self.key, "GetTaskStateStore.key")


class SetTaskStateStore(Request):
    """Store a value in a task instance's state store. Reply: ``OKResponse``.

    ``expires_at`` is always sent (the model requires the key, ``None`` for
    no expiry).
    """

    type_name: ClassVar[str] = "SetTaskStateStore"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)

    ti_id: str
    key: str
    value: JsonValue
    expires_at: _dt.datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ti_id", _uuid_text(self.ti_id, "SetTaskStateStore.ti_id"))
        check_non_empty(self.key, "SetTaskStateStore.key")
        check_json_value(self.value, f"task state {self.key!r} value")
        _check_opt_aware(self.expires_at, "SetTaskStateStore.expires_at")


class DeleteTaskStateStore(Request):
    """Delete a key of a task instance's state store. Reply: ``OKResponse``."""

    type_name: ClassVar[str] = "DeleteTaskStateStore"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)

    ti_id: str
    key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "ti_id", _uuid_text(self.ti_id, "DeleteTaskStateStore.ti_id"))
        check_non_empty(self.key, "DeleteTaskStateStore.key")


class ClearTaskStateStore(Request):
    """Delete every key of a task instance's state store. Reply: ``OKResponse``."""

    type_name: ClassVar[str] = "ClearTaskStateStore"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)

    ti_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "ti_id", _uuid_text(self.ti_id, "ClearTaskStateStore.ti_id"))


class GetAssetStateStoreByName(Request):
    """Read a key of an asset's state store.

    Reply: ``AssetStateStoreResult`` or ``ASSET_STORE_NOT_FOUND``.
    """

    type_name: ClassVar[str] = "GetAssetStateStoreByName"
    reply_types: ClassVar[tuple[str, ...]] = ("AssetStateStoreResult",)

    name: str
    key: str

    def __post_init__(self) -> None:
        _check_ids(self, ("name", "key"))


class GetAssetStateStoreByUri(Request):
    """Read a key of an asset's state store.

    Reply: ``AssetStateStoreResult`` or ``ASSET_STORE_NOT_FOUND``.
    """

    type_name: ClassVar[str] = "GetAssetStateStoreByUri"
    reply_types: ClassVar[tuple[str, ...]] = ("AssetStateStoreResult",)

    uri: str
    key: str

    def __post_init__(self) -> None:
        _check_ids(self, ("uri", "key"))


class SetAssetStateStoreByName(Request):
    """Store a value in an asset's state store. Reply: ``OKResponse``."""

    type_name: ClassVar[str] = "SetAssetStateStoreByName"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)

    name: str
    key: str
    value: JsonValue

    def __post_init__(self) -> None:
        _check_ids(self, ("name", "key"))
        check_json_value(self.value, f"asset state {self.key!r} value")


class SetAssetStateStoreByUri(Request):
    """Store a value in an asset's state store. Reply: ``OKResponse``."""

    type_name: ClassVar[str] = "SetAssetStateStoreByUri"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)

    uri: str
    key: str
    value: JsonValue

    def __post_init__(self) -> None:
        _check_ids(self, ("uri", "key"))
        check_json_value(self.value, f"asset state {self.key!r} value")


class DeleteAssetStateStoreByName(Request):
    """Delete a key of an asset's state store. Reply: ``OKResponse``."""

    type_name: ClassVar[str] = "DeleteAssetStateStoreByName"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)

    name: str
    key: str

    def __post_init__(self) -> None:
        _check_ids(self, ("name", "key"))


class DeleteAssetStateStoreByUri(Request):
    """Delete a key of an asset's state store. Reply: ``OKResponse``."""

    type_name: ClassVar[str] = "DeleteAssetStateStoreByUri"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)

    uri: str
    key: str

    def __post_init__(self) -> None:
        _check_ids(self, ("uri", "key"))


class ClearAssetStateStoreByName(Request):
    """Delete every key of an asset's state store. Reply: ``OKResponse``."""

    type_name: ClassVar[str] = "ClearAssetStateStoreByName"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)

    name: str

    def __post_init__(self) -> None:
        check_non_empty(self.name, "ClearAssetStateStoreByName.name")


class ClearAssetStateStoreByUri(Request):
    """Delete every key of an asset's state store. Reply: ``OKResponse``."""

    type_name: ClassVar[str] = "ClearAssetStateStoreByUri"
    reply_types: ClassVar[tuple[str, ...]] = ("OKResponse",)

    uri: str

    def __post_init__(self) -> None:
        check_non_empty(self.uri, "ClearAssetStateStoreByUri.uri")


class CreateHITLDetailPayload(Request):
    """Create the request part of a Human-in-the-loop interaction. Reply: ``HITLDetailRequestResult``."""

    type_name: ClassVar[str] = "CreateHITLDetailPayload"
    reply_types: ClassVar[tuple[str, ...]] = ("HITLDetailRequestResult",)
    omit_if_none: ClassVar[frozenset[str]] = frozenset({"body", "defaults", "params", "assigned_users"})

    ti_id: str
    options: list[str]
    subject: str
    body: str | None = None
    defaults: list[str] | None = None
    multiple: bool = False
    params: dict[str, JsonValue] | None = None
    assigned_users: list[HITLUser] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ti_id", _uuid_text(self.ti_id, "CreateHITLDetailPayload.ti_id"))
        object.__setattr__(
            self, "options", _str_list(self.options, "CreateHITLDetailPayload.options", min_items=1)
        )
        _check_str(self.subject, "CreateHITLDetailPayload.subject")
        _check_opt_str(self.body, "CreateHITLDetailPayload.body")
        object.__setattr__(self, "defaults", _opt_str_list(self.defaults, "CreateHITLDetailPayload.defaults"))
        _check_bool(self.multiple, "CreateHITLDetailPayload.multiple")
        _opt_json_map(self.params, "CreateHITLDetailPayload.params")
        if self.assigned_users is not None:
            users = check_items(self.assigned_users, "CreateHITLDetailPayload.assigned_users")
            for index, user in enumerate(users):
                if not isinstance(user, HITLUser):
                    raise LocalProtocolError(
                        f"CreateHITLDetailPayload.assigned_users[{index}] must be a HITLUser, "
                        f"got {type(user).__name__}"
                    )
            object.__setattr__(self, "assigned_users", users)

    def to_wire(self) -> dict[str, object]:
        """Render as a wire map; users go out as ``{id, name}`` maps."""
        body = Request.to_wire(self)
        if self.assigned_users is not None:
            body["assigned_users"] = [user.to_wire() for user in self.assigned_users]
        return body
