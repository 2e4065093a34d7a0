"""The embedded supervisor's data: its in-memory store and what a run records."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from .._messages import Connection
from .._wire import JsonValue

__all__ = ["StartupOptions", "SupervisorStore", "TaskRun", "XComKey"]


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
    """The in-memory Execution API state: variables, connections, XComs."""

    variables: dict[str, str | None] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    xcoms: dict[XComKey, JsonValue] = field(default_factory=dict)


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

    def xcom(self, key: str = "return_value") -> JsonValue:
        """The value the task pushed under ``key`` (``None`` if none)."""
        return self.xcoms_pushed.get(key)

    def requests_of(self, kind: str) -> list[dict[str, object]]:
        """The requests whose ``type`` is ``kind``."""
        return [body for body in self.requests if body.get("type") == kind]

    def log_events(self) -> list[str]:
        """The ``event`` of every log record, in order."""
        return [str(record.get("event", "")) for record in self.logs]
