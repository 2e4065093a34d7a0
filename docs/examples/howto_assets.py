"""How-to: assets and the other supervisor requests."""

from __future__ import annotations

import datetime as dt

from trio_coord import Asset, AssetAlias, Bundle, JsonValue, TaskContext

bundle = Bundle(name="howto-assets")
dag = bundle.dag("howto_assets")

orders = Asset("orders", "s3://warehouse/orders")
daily = AssetAlias("daily-exports")


@dag.task(outlets=[orders, daily])
async def export_orders(ctx: TaskContext) -> None:
    # One asset event per add(); sent with the task's success (nothing is sent if it fails).
    ctx.outlet_events.add(orders, {"rows": 42})
    ctx.outlet_events.add(orders, {"rows": 7}, partition_key="eu")  # an event for one partition
    day = ctx.logical_date.date() if ctx.logical_date else dt.date.today()
    export = Asset(f"orders-{day}", f"s3://warehouse/orders/{day}")
    ctx.outlet_events.add_via_alias(daily, export, {"rows": 42})


@dag.task
async def read_assets(ctx: TaskContext) -> dict[str, JsonValue]:
    asset = await ctx.client.get_asset_by_name("orders")
    events = await ctx.client.get_asset_events(name="orders", limit=10, ascending=False)
    for event in events:  # newest first
        ctx.log.info("event %d at %s: %s", event.id, event.timestamp, event.extra)
    return {"uri": asset.uri, "events": len(events)}


@dag.task
async def remember_progress(ctx: TaskContext) -> JsonValue:
    # The task instance's own state store survives retries and reschedules.
    cursor = await ctx.get_task_state("cursor", default=0)
    await ctx.set_task_state("cursor", (cursor if isinstance(cursor, int) else 0) + 100)
    # An asset's state store is shared by every task that names the asset.
    await ctx.client.set_asset_state("watermark", "2026-06-16", name="orders")
    return await ctx.client.get_asset_state("watermark", name="orders")


@dag.task
async def kick_off_reporting(ctx: TaskContext) -> str:
    await ctx.client.trigger_dag_run("reporting", f"triggered__{ctx.ti.run_id}", conf={"source": "orders"})
    return await ctx.client.get_dag_run_state("reporting", f"triggered__{ctx.ti.run_id}")


@dag.task
async def show_in_the_ui(ctx: TaskContext) -> None:
    # What the UI shows as the task's rendered fields; secrets are masked first.
    await ctx.client.set_rendered_fields({"query": "SELECT * FROM orders", "api_token": "s3cr3t-token"})
