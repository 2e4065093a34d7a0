"""The embedded supervisor's data: its in-memory store and what a run records."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from .._messages import AssetProfile, Connection, DagRun
from .._vocabulary import AssetEvent, AssetResult, DagResult
from .._wire import JsonValue

__all__ = ["StartupOptions", "SupervisorStore", "TaskInstanceRecord", "TaskRun", "XComKey"]


class StartupOptions(TypedDict, total=False):
    """What a run's ``StartupDetails`` may vary (see :meth:`EmbeddedSupervisor.startup_details`)."""

    run_id: str
    try_number: int
    max_tries: int
    map_index: int
    logical_date: _dt.datetime | None
    conf: Mapping[str, object] | None
    queue: str
    #: XCom keys the runtime deletes before the task runs; ``None`` (default):
    #: those the store holds for this task instance, as the API server computes them.
    xcom_keys_to_clear: list[str] | None
    #: resume a task that raised ``Defer``/``AwaitInput``: the method it named,
    #: and the keyword arguments (serde-encoded JSON, as Airflow stores them)
    next_method: str | None
    next_kwargs: Mapping[str, object] | None


@dataclass(frozen=True, slots=True, order=True)
class XComKey:
    """Where an XCom lives: Dag, run, task, key and map index (-1 = unmapped)."""

    dag_id: str
    run_id: str
    task_id: str
    key: str
    map_index: int = -1


@dataclass
class SupervisorStore:
    """The in-memory Execution API state: variables, connections, XComs, Dag runs, assets, ...

    Seed it directly (``store.dag_runs[("etl", "run1")] = DagRun(...)``);
    the handlers read and update it as the Execution API would.
    """

    variables: dict[str, str | None] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    xcoms: dict[XComKey, JsonValue] = field(default_factory=dict)
    #: variable descriptions (``PutVariable``), by key
    variable_descriptions: dict[str, str | None] = field(default_factory=dict)
    #: Dags (``GetDag``), by Dag id
    dags: dict[str, DagResult] = field(default_factory=dict)
    #: Dag runs (``GetDagRun``, ``TriggerDagRun``, counts, previous runs), by (dag_id, run_id)
    dag_runs: dict[tuple[str, str], DagRun] = field(default_factory=dict)
    #: task instances other than the running one (counts, states, previous TI, breadcrumbs)
    task_instances: list[TaskInstanceRecord] = field(default_factory=list)
    #: first reschedule start dates, by (ti_id, try_number)
    task_reschedule_start_dates: dict[tuple[str, int], _dt.datetime] = field(default_factory=dict)
    #: active assets, by name
    assets: dict[str, AssetResult] = field(default_factory=dict)
    #: asset aliases: the names of the assets each resolves to
    asset_aliases: dict[str, list[str]] = field(default_factory=dict)
    #: asset events (``GetAssetEventBy*``); by alias means "of an asset the alias resolves to"
    asset_events: list[AssetEvent] = field(default_factory=list)
    #: what ``ValidateInletsAndOutlets`` reports as inactive
    inactive_assets: list[AssetProfile] = field(default_factory=list)
    #: task state stores, by (ti_id, key)
    task_state_store: dict[tuple[str, str], JsonValue] = field(default_factory=dict)
    #: asset state stores, by (asset name, key)
    asset_state_store: dict[tuple[str, str], JsonValue] = field(default_factory=dict)
    #: Human-in-the-loop requests (``CreateHITLDetailPayload``) as stored, by ti_id
    hitl_details: dict[str, dict[str, object]] = field(default_factory=dict)


@dataclass
class TaskRun:
    """What happened during one supervised task run.

    Attributes:
        state: the final state the real supervisor would record
            (``success``, ``failed``, ``skipped``, ``removed``,
            ``up_for_retry``), or ``None`` when the runtime exited 0 without
            a terminal message (the real one then leaves the TI running).
        terminal: the terminal message body, if one arrived.
        exit_code: the runtime's exit code.
        requests: every request body, in arrival order (terminal included).
        logs: every log record read from the logs socket, parsed.
        xcoms_pushed: the XComs the task stored, by key.
        problems: protocol violations the real supervisor would drop or
            crash on.
        output: what a child runtime wrote to stdout/stderr (command mode).
        rendered_fields: what the task sent with ``SetRenderedFields``.
        rendered_map_index: what the task sent with ``SetRenderedMapIndex``.
        skipped_downstream: the tasks the task skipped (``SkipDownstreamTasks``).
    """

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    state: str | None = None
    terminal: dict[str, object] | None = None
    exit_code: int | None = None
    requests: list[dict[str, object]] = field(default_factory=list)
    logs: list[dict[str, object]] = field(default_factory=list)
    xcoms_pushed: dict[str, JsonValue] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    rendered_fields: dict[str, JsonValue] | None = None
    rendered_map_index: str | None = None
    skipped_downstream: list[str | tuple[str, int]] = field(default_factory=list)

    def xcom(self, key: str = "return_value") -> JsonValue:
        """The value the task pushed under ``key`` (``None`` if none)."""
        return self.xcoms_pushed.get(key)

    def requests_of(self, kind: str) -> list[dict[str, object]]:
        """The requests whose ``type`` is ``kind``."""
        return [body for body in self.requests if body.get("type") == kind]

    def log_events(self) -> list[str]:
        """The ``event`` of every log record, in order."""
        return [str(record.get("event", "")) for record in self.logs]


@dataclass
class TaskInstanceRecord:
    """A task instance the embedded Execution API knows (for counts, states and history).

    ``map_index`` -1 is unmapped; ``state`` ``None`` means "no state yet".
    """

    dag_id: str
    run_id: str
    task_id: str
    state: str | None = None
    map_index: int = -1
    try_number: int = 1
    logical_date: _dt.datetime | None = None
    start_date: _dt.datetime | None = None
    end_date: _dt.datetime | None = None
    duration: float | None = None
    operator: str | None = None
