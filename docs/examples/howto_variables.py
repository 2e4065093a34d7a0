"""How-to: variables and connections."""

from __future__ import annotations

from trio_coord import Bundle, ConnectionNotFound, JsonValue, SkipTask, TaskContext, VariableNotFound

bundle = Bundle(name="howto-variables")
dag = bundle.dag("howto_variables")


@dag.task
async def read_variables(ctx: TaskContext) -> dict[str, JsonValue]:
    # A plain variable is a string; a missing one raises VariableNotFound ...
    try:
        region = await ctx.client.get_variable("region")
    except VariableNotFound:
        region = "eu"
    # ... unless you give a default.
    batch_size = await ctx.client.get_variable("batch_size", default="100")
    # A JSON variable comes back parsed.
    limits: JsonValue = await ctx.client.get_json_variable("limits", default={"max_rows": 1000})
    return {"region": region, "batch_size": batch_size, "limits": limits}


@dag.task
async def write_variables(ctx: TaskContext) -> None:
    await ctx.client.set_variable("last_run", ctx.ti.run_id, description="set by write_variables")
    await ctx.client.delete_variable("stale_marker")  # deleting a missing variable is not an error


@dag.task
async def use_connection(ctx: TaskContext) -> dict[str, JsonValue]:
    try:
        conn = await ctx.client.get_connection("warehouse")
    except ConnectionNotFound:
        raise SkipTask("no warehouse connection configured") from None
    # The password is registered for masking: it never appears in a log line.
    ctx.log.info("connecting to %s as %s with %s", conn.host, conn.login, conn.password)
    return {
        "conn_type": conn.conn_type,
        "host": conn.host,
        "port": conn.port,
        "schema": conn.schema,
        "sslmode": str(conn.extra_dejson.get("sslmode", "prefer")),
    }
