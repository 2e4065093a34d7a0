"""Play a scenario file under Airflow's real task supervisor (see ``harness.py``).

The scenario's seed becomes the state of the :class:`FakeExecutionAPI`
(variables, connections, XComs) and the ``/run`` reply's run context
(``max_tries``, the Dag run's ``conf`` and dates, and ``xcom_keys_to_clear``
computed as the API server computes it); its try number, run id and map
index go into the task instance. What the real run did is reduced to a
:class:`~trio_coord.testing.ScenarioOutcome`: the final state from the
coordinator, XCom effects from the ``POST``/``DELETE xcoms/...`` API calls,
log events from the task log file.

Import this module only where ``harness`` may be imported (before airflow).
"""

from __future__ import annotations

import datetime as _dt

from trio_coord._record import record_items
from trio_coord.testing import (
    EmbeddedSupervisor,
    LogEvent,
    Scenario,
    ScenarioOutcome,
    SupervisorStore,
    XComEffect,
)

from .harness import _XCOM_ROUTE, FakeExecutionAPI, Result, run


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.UTC).isoformat().replace("+00:00", "Z")


def fake_api_for(scenario: Scenario) -> FakeExecutionAPI:
    """A fake Execution API holding the scenario's seed and answering ``/run`` with its run context."""
    seed, settings = scenario.seed, scenario.run
    connections = {conn_id: dict(record_items(conn)) for conn_id, conn in seed.connections.items()}
    xcoms = {(k.dag_id, k.run_id, k.task_id, k.key, k.map_index): value for k, value in seed.xcoms.items()}
    # The API server clears every XCom the task instance has; the embedded supervisor has the rule.
    store = SupervisorStore()
    seed.apply(store)
    to_clear = EmbeddedSupervisor(store).xcom_keys_of(
        scenario.dag_id, settings.run_id, scenario.task_id, settings.map_index
    )
    logical = _iso(settings.logical_date)
    run_context = {
        "max_tries": settings.max_tries,
        "xcom_keys_to_clear": to_clear,
        # The embedded supervisor's Dag run: every date the logical date.
        "dag_run": {
            "conf": settings.conf,
            "logical_date": logical,
            "data_interval_start": logical,
            "data_interval_end": logical,
            "run_after": logical,
        },
    }
    return FakeExecutionAPI(
        variables=seed.variables, connections=connections, xcoms=xcoms, run_context=run_context
    )


def outcome_of(result: Result) -> ScenarioOutcome:
    """Reduce a real run to the outcome the embedded supervisor reports."""
    effects = []
    for call in result.api_calls:
        match = _XCOM_ROUTE.fullmatch(call.path)
        if match is None or call.method not in ("POST", "DELETE"):
            continue
        map_index = int(call.query.get("map_index", -1))
        effects.append(
            XComEffect(
                "set" if call.method == "POST" else "delete",
                match["dag"],
                match["run"],
                match["task"],
                match["key"],
                map_index if map_index >= 0 else -1,
                call.body if call.method == "POST" else None,
            )
        )
    return ScenarioOutcome(
        result.final_state,
        tuple(effects),
        tuple(LogEvent.from_record(record) for record in result.log_records),
    )


def run_real(scenario: Scenario) -> tuple[ScenarioOutcome, Result]:
    """Run ``scenario`` under the real ``supervise_task``."""
    settings = scenario.run
    result = run(
        scenario.dag_id,
        scenario.task_id,
        api=fake_api_for(scenario),
        bundle=scenario.bundle,
        run_id=settings.run_id,
        try_number=settings.try_number,
        map_index=settings.map_index,
    )
    return outcome_of(result), result
