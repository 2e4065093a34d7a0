"""How-to: large XComs."""

from __future__ import annotations

from trio_coord import Bundle, JsonValue, TaskContext

bundle = Bundle(name="howto-large-xcoms")
dag = bundle.dag("howto_large_xcoms")

#: 200 000 rows of about 60 bytes: roughly 12 MB as JSON.
ROWS = 200_000


@dag.task
async def push_big(ctx: TaskContext) -> None:
    rows: list[JsonValue] = [{"id": i, "sku": f"SKU-{i:08d}", "amount": i % 1000 / 10} for i in range(ROWS)]
    await ctx.xcom_push("rows", rows)  # one frame, however large (up to 4 GiB)


@dag.task
async def pull_big(ctx: TaskContext) -> int:
    rows = await ctx.xcom_pull("push_big", key="rows")
    return len(rows) if isinstance(rows, list) else 0


@dag.task
async def push_reference(ctx: TaskContext) -> dict[str, JsonValue]:
    # Often better: write the data where it belongs and pass a small reference.
    location = f"s3://warehouse/exports/{ctx.ti.run_id}/orders.parquet"
    # ... upload the file here (in a thread or with an async client) ...
    return {"uri": location, "rows": ROWS}
