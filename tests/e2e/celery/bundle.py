"""The trio half of the CeleryExecutor end-to-end Dags (packed, one copy per worker).

Dag ``celery_fanout`` (dags/celery_fanout.py): :data:`FANOUT_WIDTH` trio
tasks ``work_00``, ``work_01``, ... each pull the Python task ``start``'s
XCom, log a line and return their own value; a Python task collects them.

Dag ``celery_worker_loss`` (dags/celery_worker_loss.py): :data:`LOSS_WIDTH`
trio tasks ``hold_00``, ... whose first try waits (bounded) for the Airflow
variable :data:`RELEASE_VARIABLE`, so they are all running when the test
kills one Celery worker with ``kill -9``; the test then sets the variable.
A second try returns at once. Each returns its task id and try number.

The mapped Dag is the example bundle's ``example_mapped`` (packed beside this one).
"""

from __future__ import annotations

import trio

from trio_coord import Bundle, FailTask, JsonValue, TaskContext, VariableNotFound

#: How many trio tasks each fan-out Dag has (the Dag files import these numbers).
FANOUT_WIDTH = 40
LOSS_WIDTH = 16
#: The variable that lets the first tries of celery_worker_loss finish.
RELEASE_VARIABLE = "celery_worker_loss_release"
#: How long a first try waits for it before failing (seconds); the test sets it well before.
RELEASE_WAIT = 240.0

bundle = Bundle(name="trio_coord-celery-e2e", version="1.0.0")
fanout = bundle.dag("celery_fanout")
loss = bundle.dag("celery_worker_loss")


def task_number(ctx: TaskContext) -> int:
    """The number at the end of the task id (``work_07`` -> 7)."""
    return int(ctx.ti.task_id.rsplit("_", 1)[1])


async def work(ctx: TaskContext) -> dict[str, JsonValue]:
    """Add this task's number to the base the Python task ``start`` returned."""
    started = await ctx.xcom_pull("start")
    base = started.get("base") if isinstance(started, dict) else None
    if not isinstance(base, int):
        raise ValueError(f"task start must return {{'base': int}}, got {started!r}")
    number = task_number(ctx)
    value = base + number
    ctx.log.info("fan-out task %s computed %d", ctx.ti.task_id, value, extra={"number": number})
    return {"task_id": ctx.ti.task_id, "value": value}


async def hold(ctx: TaskContext) -> dict[str, JsonValue]:
    """On the first try, wait until the test releases the run; then return."""
    if ctx.try_number == 1:
        with trio.move_on_after(RELEASE_WAIT) as waited:
            while True:
                try:
                    await ctx.client.get_variable(RELEASE_VARIABLE)
                    break
                except VariableNotFound:
                    await trio.sleep(0.5)
        if waited.cancelled_caught:
            raise FailTask(f"variable {RELEASE_VARIABLE} was not set within {RELEASE_WAIT:.0f} s")
    ctx.log.info("task %s finishing try %d", ctx.ti.task_id, ctx.try_number)
    return {"task_id": ctx.ti.task_id, "try_number": ctx.try_number}


for _number in range(FANOUT_WIDTH):
    fanout.task(task_id=f"work_{_number:02d}")(work)
for _number in range(LOSS_WIDTH):
    loss.task(task_id=f"hold_{_number:02d}")(hold)
