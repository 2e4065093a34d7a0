"""Testing kit for trio task authors: an embedded supervisor with an in-memory store.

* :class:`EmbeddedSupervisor`: the supervisor side of the protocol over loopback sockets.
* :class:`TaskRunner`: seed and run tasks in a few lines (the ``trio_coord_runner`` pytest fixture).
* :class:`Seed` / :class:`StateFile`: variables, connections and XComs from a document or file.
* :class:`Scenario` / :func:`load_scenario`: a task run described in a file, for any supervisor.

See docs/testing.md.
"""

from __future__ import annotations

from ._handlers import RequestHandlers as RequestHandlers
from ._scenario import (
    DEFAULT_LOGICAL_DATE as DEFAULT_LOGICAL_DATE,
    Expectation as Expectation,
    LogEvent as LogEvent,
    LogExpectation as LogExpectation,
    RunSettings as RunSettings,
    Scenario as Scenario,
    ScenarioError as ScenarioError,
    ScenarioOutcome as ScenarioOutcome,
    XComEffect as XComEffect,
    load_scenario as load_scenario,
    load_scenarios as load_scenarios,
)
from ._state import (
    DEFAULT_RUN_ID as DEFAULT_RUN_ID,
    Seed as Seed,
    SeedError as SeedError,
    StateFile as StateFile,
    parse_xcom_target as parse_xcom_target,
)
from ._store import (
    StartupOptions as StartupOptions,
    SupervisorStore as SupervisorStore,
    TaskRun as TaskRun,
    XComKey as XComKey,
)
from ._supervisor import EmbeddedSupervisor as EmbeddedSupervisor
from ._task_runner import TaskRunner as TaskRunner, airflow_environment_hidden as airflow_environment_hidden
from ._validation import validate_log_line as validate_log_line, validate_request as validate_request

__all__ = [
    "EmbeddedSupervisor",
    "RequestHandlers",
    "StartupOptions",
    "SupervisorStore",
    "TaskRun",
    "XComKey",
    "validate_log_line",
    "validate_request",
    # the testing kit: seeds, state files, scenarios, the runner behind the pytest fixtures
    "DEFAULT_LOGICAL_DATE",
    "DEFAULT_RUN_ID",
    "Expectation",
    "LogEvent",
    "LogExpectation",
    "RunSettings",
    "Scenario",
    "ScenarioError",
    "ScenarioOutcome",
    "Seed",
    "SeedError",
    "StateFile",
    "TaskRunner",
    "XComEffect",
    "airflow_environment_hidden",
    "load_scenario",
    "load_scenarios",
    "parse_xcom_target",
]
