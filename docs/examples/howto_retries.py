"""How-to: retries, skipping and failing."""

from __future__ import annotations

import datetime as dt
import logging

import trio

from trio_coord import Bundle, FailTask, JsonValue, Reschedule, SkipTask, TaskContext

bundle = Bundle(name="howto-retries")
dag = bundle.dag("howto_retries")


@dag.task
async def flaky(ctx: TaskContext) -> str:
    if ctx.try_number < 3:
        # Any other exception fails this try: up_for_retry while retries remain.
        raise ConnectionError(f"upstream unavailable on try {ctx.try_number}")
    return f"succeeded on try {ctx.try_number}"


@dag.task
async def nothing_to_do(ctx: TaskContext) -> None:
    files: JsonValue = await ctx.client.get_json_variable("incoming_files", default=[])
    if not files:
        raise SkipTask("no incoming files")  # final state: skipped


@dag.task
async def bad_input(ctx: TaskContext) -> None:
    conf = ctx.conf
    if "region" not in conf:
        # Retrying cannot help: fail now, whatever retries remain.
        raise FailTask("the Dag run conf needs a 'region'")


@dag.task
async def wait_for_partner(ctx: TaskContext) -> None:
    ready = await ctx.client.get_variable("partner_ready", default="no")
    if ready != "yes":
        # Give the worker slot back and run again in 10 minutes, without using up a try.
        raise Reschedule(dt.timedelta(minutes=10))


@dag.task
async def fail_inside_a_nursery(ctx: TaskContext) -> None:
    async def check(name: str) -> None:
        await trio.lowlevel.checkpoint()
        if name == "b":
            raise FailTask(f"{name} is invalid")

    # FailTask keeps its meaning when a nursery wraps it in an exception group.
    async with trio.open_nursery() as nursery:
        for name in ("a", "b", "c"):
            nursery.start_soon(check, name)


@dag.task
async def skip_some_downstream(ctx: TaskContext) -> None:
    await ctx.skip_downstream("notify_eu", ("notify_region", 3))  # this task itself succeeds


class Session:
    """Stands for a connection or client that must be closed."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log

    async def aclose(self) -> None:
        await trio.sleep(0.01)  # closing takes a round trip
        self.log.info("session closed")


@dag.task
async def clean_up_when_cancelled(ctx: TaskContext) -> None:
    session = Session(ctx.log)
    try:
        with trio.fail_after(0.1):  # stands for the runtime cancelling the task
            await trio.sleep_forever()
    finally:
        # Cleanup that awaits must be shielded, or the cancellation stops it at once; bound it.
        with trio.move_on_after(2, shield=True):
            await session.aclose()
