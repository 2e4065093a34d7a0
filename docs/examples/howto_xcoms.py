"""How-to: XComs."""

from __future__ import annotations

from trio_coord import Bundle, JsonValue, TaskContext

bundle = Bundle(name="howto-xcoms")
dag = bundle.dag("howto_xcoms")


@dag.task
async def produce(ctx: TaskContext) -> list[int]:
    await ctx.xcom_push("row_count", 3)  # an XCom under a key of your choice
    return [1, 2, 3]  # the return value is pushed as the ``return_value`` XCom


@dag.task
async def consume(ctx: TaskContext) -> int:
    rows = await ctx.xcom_pull("produce")  # ``return_value`` of ``produce`` in this Dag run
    count = await ctx.xcom_pull("produce", key="row_count")
    missing = await ctx.xcom_pull("never_ran")  # None when there is no such XCom
    ctx.log.info("got %s rows (count %s), missing=%s", rows, count, missing)
    if not isinstance(rows, list):
        raise ValueError(f"produce pushed {rows!r}, not a list")
    return sum(row for row in rows if isinstance(row, int))


@dag.task(push_return_value=False)
async def side_effect_only(ctx: TaskContext) -> str:
    return "returned, but not pushed"


@dag.task
async def read_elsewhere(ctx: TaskContext) -> JsonValue:
    # Another Dag run (or Dag) by naming it; a mapped task instance by map_index.
    return await ctx.xcom_pull("produce", run_id="scheduled__2026-06-15T00:00:00+00:00")


@dag.task
async def read_mapped(ctx: TaskContext) -> dict[str, JsonValue]:
    # The values a mapped task ``mapped`` pushed, one per map index, without pulling them all.
    dag_id, run_id = ctx.ti.dag_id, ctx.ti.run_id
    client = ctx.client
    count = await client.get_xcom_count(dag_id=dag_id, run_id=run_id, task_id="mapped", key="return_value")
    first = await client.get_xcom_sequence_item(
        dag_id=dag_id, run_id=run_id, task_id="mapped", key="return_value", offset=0
    )
    last_two = await client.get_xcom_sequence_slice(
        dag_id=dag_id, run_id=run_id, task_id="mapped", key="return_value", start=-2
    )
    return {"count": count, "first": first, "last_two": last_two}


@dag.task
async def clean_up(ctx: TaskContext) -> None:
    await ctx.client.delete_xcom(
        dag_id=ctx.ti.dag_id, run_id=ctx.ti.run_id, task_id="produce", key="row_count"
    )
