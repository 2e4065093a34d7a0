"""Play the scenario files of ``tests/scenarios/`` under the embedded supervisor.

Two ways, both reduced to a :class:`~trio_coord.testing.ScenarioOutcome`:
in this process (fast; what ``test_scenarios.py`` uses) and as a child
process started exactly as the interop harness starts it under Airflow's
real supervisor (``python -m trio_coord serve BUNDLE``), which the agreement
test in ``tests/interop/test_scenarios.py`` compares with the real run.
Both log at INFO, the real supervisor's default.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Final

import trio

from trio_coord import load_bundle
from trio_coord.testing import EmbeddedSupervisor, Scenario, ScenarioOutcome, TaskRun, load_scenarios

SCENARIO_DIR: Final = Path(__file__).resolve().parent / "scenarios"
#: The bound on one scenario run, in seconds.
RUN_TIMEOUT: Final = 30.0


def all_scenarios() -> list[Scenario]:
    """Every scenario file, sorted by name."""
    return load_scenarios(SCENARIO_DIR)


def _seeded(scenario: Scenario) -> EmbeddedSupervisor:
    supervisor = EmbeddedSupervisor()
    scenario.seed.apply(supervisor.store)
    return supervisor


async def run_in_process(scenario: Scenario) -> tuple[ScenarioOutcome, TaskRun]:
    """Run ``scenario`` with the runtime in this process."""
    supervisor = _seeded(scenario)
    bundle = load_bundle(scenario.bundle)
    with trio.fail_after(RUN_TIMEOUT):
        run = await supervisor.run_in_process(
            bundle,
            scenario.dag_id,
            scenario.task_id,
            log_level=logging.INFO,
            **scenario.run.startup_options(),
        )
    return ScenarioOutcome.from_task_run(run), run


async def run_as_child(scenario: Scenario) -> tuple[ScenarioOutcome, TaskRun]:
    """Run ``scenario`` with the runtime as ``python -m trio_coord serve BUNDLE`` (a child process)."""
    supervisor = _seeded(scenario)
    command = [sys.executable, "-m", "trio_coord", "serve", scenario.bundle]
    with trio.fail_after(RUN_TIMEOUT):
        run = await supervisor.run_command(
            command,
            scenario.dag_id,
            scenario.task_id,
            env={"AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO", "AIRFLOW__LOGGING__NAMESPACE_LEVELS": ""},
            **scenario.run.startup_options(),
        )
    return ScenarioOutcome.from_task_run(run), run
