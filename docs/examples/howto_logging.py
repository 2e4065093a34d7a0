"""How-to: logging."""

from __future__ import annotations

import logging

from trio_coord import Bundle, TaskContext

bundle = Bundle(name="howto-logging")
dag = bundle.dag("howto_logging")

# Any stdlib logger reaches the task log; its name is the record's ``logger``.
library_log = logging.getLogger("my_company.http")


@dag.task
async def log_things(ctx: TaskContext) -> None:
    # ctx.log is the logger ``task.<dag_id>.<task_id>``.
    ctx.log.info("loading %d rows into %s", 42, "orders")
    # ``extra`` becomes fields of the JSON line; nested maps become dotted keys.
    ctx.log.info("batch done", extra={"rows": 42, "db": {"host": "wh.internal", "schema": "sales"}})
    ctx.log.debug("only when the level is DEBUG")
    library_log.debug("GET /orders -> 200")  # filtered by its own namespace level
    library_log.warning("retrying GET /orders")
    try:
        int("forty-two")
    except ValueError:
        ctx.log.exception("parsing failed")  # the exception and its traceback become fields


@dag.task
async def mask_things(ctx: TaskContext) -> None:
    session_key = "sk-3f9a1c77"  # e.g. obtained from an API at run time
    await ctx.client.mask_secret(session_key)  # masked here and by the supervisor from now on
    ctx.log.info("calling the API with %s", session_key)  # logged as "calling the API with ***"
    conn = await ctx.client.get_connection("warehouse")  # connection passwords are masked for you
    ctx.log.info("password is %s", conn.password)
