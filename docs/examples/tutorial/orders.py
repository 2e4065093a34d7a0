"""The tutorial's bundle: one Dag, ``orders``, with two trio tasks."""

from __future__ import annotations

from trio_coord import Bundle, JsonValue, SkipTask, TaskContext

bundle = Bundle(name="orders", version="1.0.0")
orders = bundle.dag("orders")


@orders.task
async def fetch_orders(ctx: TaskContext) -> list[JsonValue]:
    """Read today's orders from the ``orders_batch`` variable (a JSON list)."""
    batch: JsonValue = await ctx.client.get_json_variable("orders_batch", default=[])
    if not isinstance(batch, list):
        raise ValueError(f"orders_batch must be a JSON list, got {type(batch).__name__}")
    ctx.log.info("fetched %d orders", len(batch), extra={"orders": len(batch)})
    return batch  # pushed as the ``return_value`` XCom


@orders.task
async def summarize(ctx: TaskContext) -> dict[str, JsonValue]:
    """Add up what ``fetch_orders`` returned; skip when there was nothing."""
    batch = await ctx.xcom_pull("fetch_orders")
    if not isinstance(batch, list) or not batch:
        raise SkipTask("no orders to summarize")
    total = 0.0
    for order in batch:
        amount = order.get("amount") if isinstance(order, dict) else None
        if not isinstance(amount, (int, float)):
            raise ValueError(f"not an order: {order!r}")
        total += amount
    await ctx.xcom_push("order_count", len(batch))
    ctx.log.info("%d orders worth %.2f", len(batch), total, extra={"total": total})
    return {"orders": len(batch), "total": total}
