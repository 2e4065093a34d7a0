"""How-to: concurrency inside a task."""

from __future__ import annotations

import hashlib

import trio

from trio_coord import Bundle, JsonValue, TaskContext

bundle = Bundle(name="howto-concurrency")
dag = bundle.dag("howto_concurrency")


@dag.task
async def many_requests(ctx: TaskContext) -> dict[str, JsonValue]:
    """Read 50 variables at once: the requests share one connection, replies are matched by id."""
    keys = [f"shard_{i}" for i in range(50)]
    found: dict[str, JsonValue] = {}

    async def read(key: str) -> None:
        found[key] = await ctx.client.get_variable(key, default=None)

    async with trio.open_nursery() as nursery:
        for key in keys:
            nursery.start_soon(read, key)
    return {"read": len(found), "present": sum(value is not None for value in found.values())}


@dag.task
async def bounded_fan_out(ctx: TaskContext) -> int:
    """Process 100 items, at most 8 at a time, collecting results through a channel."""
    limiter = trio.CapacityLimiter(8)
    send, receive = trio.open_memory_channel[int](0)

    async def work(item: int, out: trio.MemorySendChannel[int]) -> None:
        async with out, limiter:
            await trio.sleep(0.001)  # stands for an HTTP call or a query
            await out.send(item * item)

    total = 0
    async with trio.open_nursery() as nursery:
        async with send:
            for item in range(100):
                nursery.start_soon(work, item, send.clone())
        async with receive:
            async for value in receive:
                total += value
    return total


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dag.task
async def blocking_code(ctx: TaskContext) -> str:
    """Run CPU-bound or blocking calls in a thread so the event loop keeps serving."""
    data = bytes(range(256)) * 4096
    return await trio.to_thread.run_sync(_digest, data)


@dag.task
async def with_deadline(ctx: TaskContext) -> str:
    """Bound a slow step yourself; the runtime bounds each request (``request_timeout``)."""
    with trio.move_on_after(0.2) as scope:
        await trio.sleep_forever()  # stands for a call that never answers
    if scope.cancelled_caught:
        ctx.log.warning("gave up waiting after 0.2 s")
        return "timed out"
    return "finished"
