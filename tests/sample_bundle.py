"""A bundle for tests that run ``python -m trio_coord serve`` as a child process."""

from __future__ import annotations

import logging

import trio

from trio_coord import Bundle, TaskContext

log = logging.getLogger("sample.import")
log.info("imported before the logs socket was connected")

bundle = Bundle("sample", "2.0")
dag = bundle.dag("sample")


@dag.task
async def hello(ctx: TaskContext) -> str:
    ctx.log.info("hello from the child", extra={"pid_marker": "child"})
    return "hi"


@dag.task
async def sleeps(ctx: TaskContext) -> None:
    ctx.log.info("sleeping")
    await trio.sleep(60)


@dag.task
async def ignores_cancellation(ctx: TaskContext) -> None:
    ctx.log.info("sleeping, shielded")
    with trio.CancelScope(shield=True):
        await trio.sleep(60)


@dag.task(task_id="123")
async def numeric_id(ctx: TaskContext) -> None:
    return None
