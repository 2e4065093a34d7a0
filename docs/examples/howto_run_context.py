"""How-to: reading the run context."""

from __future__ import annotations

from trio_coord import Bundle, JsonValue, TaskContext

bundle = Bundle(name="howto-run-context")
dag = bundle.dag("howto_run_context")


@dag.task
async def where_am_i(ctx: TaskContext) -> dict[str, JsonValue]:
    ti = ctx.ti  # the task instance
    run = ctx.dag_run  # the Dag run
    logical_date = ctx.logical_date
    return {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "map_index": ti.map_index,  # -1 unless the task is mapped
        "try_number": ctx.try_number,
        "max_tries": ctx.ti_context.max_tries,
        "may_retry": ctx.ti_context.should_retry,  # would a failure now be retried?
        "logical_date": logical_date.isoformat() if logical_date else None,
        "run_type": run.run_type,
        "region": str(ctx.conf.get("region", "eu")),  # the Dag run's conf ({} when none was given)
        "dag_bundle": ctx.details.bundle_info.name,  # Airflow's Dag bundle holding the stub Dag
    }
