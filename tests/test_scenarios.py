"""Every scenario file under the embedded supervisor (the interop suite plays them under Airflow's)."""

from __future__ import annotations

import pytest

from trio_coord.testing import Scenario

from .scenario_runner import all_scenarios, run_as_child, run_in_process

SCENARIOS = all_scenarios()
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_scenario_in_process(scenario: Scenario) -> None:
    outcome, run = await run_in_process(scenario)
    assert run.problems == []
    assert run.exit_code == 0
    assert scenario.check(outcome) == []


@pytest.mark.parametrize("name", ["reads_connection", "rerun_clears_xcoms", "example_extract"])
async def test_scenario_as_a_child_process(name: str) -> None:
    scenario = BY_NAME[name]
    outcome, run = await run_as_child(scenario)
    assert run.problems == []
    assert scenario.check(outcome) == []
    in_process, _ = await run_in_process(scenario)
    assert outcome.differences(in_process, names=("child", "in-process")) == []


def test_the_set_covers_every_final_state() -> None:
    states = {scenario.expect.state for scenario in SCENARIOS}
    assert states == {"success", "failed", "skipped", "removed", "up_for_retry"}
