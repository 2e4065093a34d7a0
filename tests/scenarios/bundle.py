"""The tasks the scenario files run (Dag ``scenarios``), under both supervisors.

Each task exercises one path through the protocol; the ``*.yaml``/``*.json``
files next to this one seed and check them. The runtime loads this file as
``python -m trio_coord serve tests/scenarios/bundle.py`` (child process) or
through ``load_bundle`` (in process).
"""

from __future__ import annotations

from trio_coord import Bundle, FailTask, JsonValue, SkipTask, TaskContext, VariableNotFound

bundle = Bundle(name="trio_coord-scenarios", version="1.0.0")
dag = bundle.dag("scenarios")


@dag.task
async def returns_value(ctx: TaskContext) -> dict[str, JsonValue]:
    """Return a value: pushed as return_value."""
    ctx.log.info("computing the answer")
    return {"answer": 42, "items": [1, 2.5, "three", None, True]}


@dag.task
async def reads_variables(ctx: TaskContext) -> dict[str, JsonValue]:
    """Read a plain and a JSON variable."""
    greeting = await ctx.client.get_variable("greeting")
    limits = await ctx.client.get_json_variable("limits")
    ctx.log.info("greeting is %s", greeting, extra={"limits": limits})
    return {"greeting": greeting, "limits": limits}


@dag.task
async def reads_connection(ctx: TaskContext) -> dict[str, JsonValue]:
    """Read a connection; log it (the password must come out masked)."""
    conn = await ctx.client.get_connection("warehouse")
    ctx.log.info(
        "connected to %s as %s with password %s",
        conn.host,
        conn.login,
        conn.password,
        extra={"conn_type": conn.conn_type, "port": conn.port, "password": conn.password},
    )
    return {
        "conn_type": conn.conn_type,
        "host": conn.host,
        "port": conn.port,
        "schema": conn.schema,
        "login": conn.login,
        "extra": conn.extra_dejson,  # type: ignore[dict-item]
    }


@dag.task
async def tolerates_missing_variable(ctx: TaskContext) -> str:
    """Catch VariableNotFound, then fall back to a default."""
    try:
        await ctx.client.get_variable("not_there")
    except VariableNotFound as exc:
        ctx.log.warning("variable not_there is missing", extra={"error": type(exc).__name__})
    value = await ctx.client.get_variable("also_not_there", default="fallback")
    return str(value)


@dag.task
async def requires_variable(ctx: TaskContext) -> str | None:
    """Read a variable that is not there, without a default: the task fails."""
    return await ctx.client.get_variable("required_setting")


@dag.task
async def pulls_and_pushes(ctx: TaskContext) -> int:
    """Pull two XComs of ``upstream`` (one missing), push a summary, return a total."""
    rows = await ctx.xcom_pull("upstream")
    label = await ctx.xcom_pull("upstream", key="label")
    missing = await ctx.xcom_pull("never_ran")
    assert isinstance(rows, list), rows
    total = sum(row for row in rows if isinstance(row, int))
    ctx.log.info("pulled %d rows", len(rows), extra={"label": label, "missing": missing})
    await ctx.xcom_push("summary", {"rows": len(rows), "label": label})
    return total


@dag.task
async def pushes_again(ctx: TaskContext) -> str:
    """Push on a re-run: the XComs of the previous run are cleared first."""
    await ctx.xcom_push("fresh", "new value")
    return "second run"


@dag.task
async def fails(ctx: TaskContext) -> None:
    """Raise an ordinary exception: failed, or up_for_retry when the run may retry."""
    ctx.log.info("about to fail", extra={"try_number": ctx.try_number})
    raise ValueError("bad input")


@dag.task
async def fails_for_good(ctx: TaskContext) -> None:
    """Raise FailTask: failed even when the run may retry."""
    raise FailTask("permanent problem")


@dag.task
async def skips(ctx: TaskContext) -> None:
    """Raise SkipTask: skipped."""
    raise SkipTask("nothing to do")


@dag.task
async def reads_context(ctx: TaskContext) -> dict[str, JsonValue]:
    """Return what the task knows about its run."""
    return {
        "run_id": ctx.ti.run_id,
        "try_number": ctx.try_number,
        "map_index": ctx.ti.map_index,
        "should_retry": ctx.ti_context.should_retry,
        "max_tries": ctx.ti_context.max_tries,
        "conf": dict(ctx.conf),  # type: ignore[arg-type]
        "logical_date": ctx.logical_date.isoformat() if ctx.logical_date else None,
    }
