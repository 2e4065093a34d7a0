"""The tasks the interop tests run under Airflow's real supervisor.

``harness.py`` passes this file's path to ``python -m trio_coord serve``,
which loads it in the runtime process (the tests import only
:data:`WAITING_MARKER` from it). One Dag (``interop``), one task per
scenario. The names of variables, connections and XComs used here are
mirrored by the tests that seed the fake Execution API.
"""

from __future__ import annotations

import os

import trio

import trio_coord
from trio_coord import (
    Bundle,
    ConnectionNotFound,
    FailTask,
    SkipTask,
    TaskContext,
    VariableNotFound,
)

bundle = Bundle(name="trio_coord-interop", version="0.0.1")
dag = bundle.dag("interop")

#: What ``waits_for_cancellation`` logs right before it blocks; the SIGTERM
#: test sends the signal once this line reaches the task log.
WAITING_MARKER = "waiting for cancellation"


@dag.task
async def reads_everything(ctx: TaskContext) -> dict[str, object]:
    """Read a variable and a connection, pull and push XComs, log with extra fields."""
    greeting = await ctx.client.get_variable("greeting")
    conn = await ctx.client.get_connection("warehouse")
    rows = await ctx.xcom_pull("upstream")
    assert isinstance(rows, list), rows
    total = sum(row for row in rows if isinstance(row, int))
    ctx.log.info(
        "connected to %s as %s with password %s",
        conn.host,
        conn.login,
        conn.password,
        extra={
            "greeting": greeting,
            "conn": {"host": conn.host, "port": conn.port, "password": conn.password},
            "row_count": len(rows),
        },
    )
    await ctx.xcom_push("summary", {"total": total, "rows": len(rows)})
    return {"greeting": greeting, "total": total}


@dag.task
async def handles_missing_variable(ctx: TaskContext) -> dict[str, object]:
    """Catch VariableNotFound, fall back to defaults, catch ConnectionNotFound."""
    try:
        await ctx.client.get_variable("does_not_exist")
    except VariableNotFound as exc:
        ctx.log.warning("variable is missing, carrying on", extra={"error": type(exc).__name__})
    else:
        raise AssertionError("get_variable('does_not_exist') did not raise VariableNotFound")
    fallback = await ctx.client.get_variable("also_missing", default="the-default")
    json_fallback = await ctx.client.get_json_variable("missing_json", default={"n": 1})
    try:
        await ctx.client.get_connection("no_such_conn")
    except ConnectionNotFound:
        ctx.log.warning("connection is missing, carrying on")
    else:
        raise AssertionError("get_connection('no_such_conn') did not raise ConnectionNotFound")
    ctx.log.info("defaults used", extra={"fallback": fallback, "json_fallback": json_fallback})
    return {"fallback": fallback, "json_fallback": json_fallback}


@dag.task
async def logs_awkward_fields(ctx: TaskContext) -> None:
    """Log fields whose names collide with the supervisor's own keyword arguments."""
    ctx.log.info(
        "awkward fields",
        extra={"target": "t", "self": "s", "method_name": "m", "positional_args": ["p"], "target_": "mine"},
    )


@dag.task
async def fails(ctx: TaskContext) -> None:
    """Raise an ordinary exception: failed, or up_for_retry when the run may retry."""
    ctx.log.info("about to fail")
    raise ValueError("boom: the input is bad")


@dag.task
async def fails_without_retry(ctx: TaskContext) -> None:
    """Raise FailTask: failed even when the run may retry."""
    raise FailTask("permanent problem, do not retry")


@dag.task
async def skips(ctx: TaskContext) -> None:
    """Raise SkipTask: skipped."""
    raise SkipTask("nothing to do today")


@dag.task
async def waits_for_cancellation(ctx: TaskContext) -> str:
    """Block far longer than any test allows; only a cancellation ends it early."""
    ctx.log.info(WAITING_MARKER)
    await trio.sleep(60)
    return "slept the full minute"


#: What ``succeeds`` logs; the test of a late acknowledgement looks for it.
SUCCEEDING_MARKER = "nothing to do but succeed"


@dag.task
async def succeeds(ctx: TaskContext) -> None:
    """Succeed at once, pushing nothing: the run's only terminal frame is ``SucceedTask``."""
    ctx.log.info(SUCCEEDING_MARKER)


#: What ``reports_where_it_runs`` logs.
WHERE_MARKER = "where the runtime runs"


@dag.task
async def reports_where_it_runs(ctx: TaskContext) -> None:
    """Log the runtime's working directory and where its ``trio_coord`` was imported from."""
    ctx.log.info(WHERE_MARKER, extra={"cwd": os.getcwd(), "trio_coord_file": trio_coord.__file__})
