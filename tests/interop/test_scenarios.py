"""The scenario set under Airflow's real supervisor and under the embedded one: they must agree.

For every file in ``tests/scenarios/``: the real 1.3.2 supervisor's run
meets the scenario's expectations; the embedded supervisor, launching the
runtime the same way (``python -m trio_coord serve BUNDLE``), meets them
too; and the two runs have the same final state, the same XCom effects in
the same order, and the same log events (level, logger, message, fields,
exceptions), timestamps aside.
"""

from __future__ import annotations

import importlib.util

import pytest
import trio

if importlib.util.find_spec("airflow") is None:
    pytest.skip("needs apache-airflow-task-sdk==1.3.2 (nox -s interop)", allow_module_level=True)

from trio_coord.testing import Scenario

from ..scenario_runner import all_scenarios, run_as_child
from .scenario_runner import run_real

SCENARIOS = all_scenarios()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_real_and_embedded_supervisors_agree(scenario: Scenario) -> None:
    real, result = run_real(scenario)
    assert scenario.check(real) == [], f"under the real supervisor; task log:\n{result.describe_log()}"

    embedded, embedded_run = trio.run(run_as_child, scenario)
    assert embedded_run.problems == []
    assert embedded_run.exit_code == result.exit_code == 0
    assert scenario.check(embedded) == [], "under the embedded supervisor"

    assert embedded.differences(real, names=("embedded", "real")) == []
