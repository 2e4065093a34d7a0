"""The tutorial's last steps, under Airflow's real supervisor and ``ExecutableCoordinator``.

docs/tutorial.md packs ``docs/examples/tutorial/orders.py`` and lets Airflow run the Dag
``orders``. Here the same file is packed the same way and each of its tasks is run by the
unmodified task-sdk 1.3.2 supervisor through the coordinator (``harness.run_executable``),
against a faked Execution API: what "watch it run" shows, short of a scheduler and a UI.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

if importlib.util.find_spec("airflow") is None:
    pytest.skip("needs apache-airflow-task-sdk==1.3.2 (nox -s interop)", allow_module_level=True)

from .harness import RUN_ID, ApiCall, FakeExecutionAPI, run_executable, state_call

# isort: split
from trio_coord._pack import Dependencies, PackResult, pack

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "examples" / "tutorial" / "orders.py"
BATCH = [{"id": 1, "amount": 9.5}, {"id": 2, "amount": 30}]


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> PackResult:
    """``python -m trio_coord pack orders.py --output bundles/orders``, as in the tutorial.

    Self-contained, as by default; pip takes the wheels from the session's wheelhouse.
    """
    offline = Dependencies(find_links=(str(wheelhouse),), no_index=True)
    return pack(str(TUTORIAL), tmp_path_factory.mktemp("executable-bundles") / "orders", dependencies=offline)


def test_fetch_orders_then_summarize_under_the_real_supervisor(packed: PackResult) -> None:
    folder = [packed.path.parent]
    api = FakeExecutionAPI(variables={"orders_batch": json.dumps(BATCH)})
    xcoms = f"xcoms/orders/{RUN_ID}"

    fetched = run_executable("orders", "fetch_orders", executables_root=folder, api=api)

    assert (fetched.exit_code, fetched.final_state) == (0, "success"), fetched.describe_log()
    assert fetched.record(logger="task.orders.fetch_orders", event="fetched 2 orders")["orders"] == 2
    assert (
        ApiCall("POST", f"{xcoms}/fetch_orders/return_value", {}, BATCH) in fetched.calls_without_heartbeats
    )

    summarized = run_executable("orders", "summarize", executables_root=folder, api=api)

    assert (summarized.exit_code, summarized.final_state) == (0, "success"), summarized.describe_log()
    assert summarized.record(event="2 orders worth 39.50")["total"] == 39.5
    calls = summarized.calls_without_heartbeats
    assert ApiCall("GET", f"{xcoms}/fetch_orders/return_value") in calls
    assert ApiCall("POST", f"{xcoms}/summarize/order_count", {}, 2) in calls
    assert ApiCall("POST", f"{xcoms}/summarize/return_value", {}, {"orders": 2, "total": 39.5}) in calls
    assert calls[-1] == state_call(summarized.ti, "success", task_outlets=[], outlet_events=[])


def test_summarize_without_orders_is_skipped_under_the_real_supervisor(packed: PackResult) -> None:
    result = run_executable("orders", "summarize", executables_root=[packed.path.parent])

    assert (result.exit_code, result.final_state) == (0, "skipped"), result.describe_log()


def test_a_dag_no_bundle_serves_fails_as_the_tutorial_says(packed: PackResult) -> None:
    with pytest.raises(FileNotFoundError, match="cannot find executable bundle containing dag_id='reports'"):
        run_executable("reports", "fetch_orders", executables_root=[packed.path.parent])
