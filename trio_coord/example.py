"""The example bundle shipped with trio_coord.

Run it locally right after installing::

    python -m trio_coord run trio_coord.example example_etl extract --var example_rows='[1, 2, 3]'

Dag ``example_etl``:

* ``extract`` reads the JSON variable ``example_rows`` (a default when it is
  missing) and returns the rows (pushed as the ``return_value`` XCom);
* ``transform`` pulls them, sums them in concurrent trio tasks and returns the
  total (and pushes ``row_count``);
* ``load`` needs the connection ``example_warehouse``; without it the task is
  skipped.

Dag ``example_retry`` has ``flaky``, which fails on its first try and succeeds
on the next one.

Dag ``example_mixed`` is the trio half of a Dag that mixes Python and trio
tasks (``tests/e2e/dags/example_mixed.py`` is its Python Dag file, the one a
real Airflow deployment parses; docs/deployment.md walks through it):

* ``enrich`` pulls the XCom the upstream Python task ``produce`` returned (a
  JSON object with a ``rows`` list of numbers), reads the variable
  ``example_greeting`` and the connection ``example_warehouse`` (it fails
  without either), pushes ``row_count`` and returns a summary that a
  downstream Python task can pull.

Dag ``example_mapped`` maps trio tasks over a list a Python task returned
(``tests/e2e/dags/example_mapped.py`` is its Python Dag file):

* ``square`` is expanded over the list ``numbers`` returned (one task
  instance per number); each instance reads its own number with
  ``ctx.mapped_item()`` and returns it squared;
* ``describe`` is expanded over ``square`` (a mapped task): each instance
  reads the one ``square`` result at its ``map_index`` (fetched alone, with
  ``GetXComSequenceItem``) and returns a line of text.
"""

from __future__ import annotations

import trio
import trio.lowlevel

from trio_coord import Bundle, ConnectionNotFound, JsonValue, SkipTask, TaskContext

bundle = Bundle(name="trio_coord-example", version="1.0.0")
etl = bundle.dag("example_etl")


@etl.task
async def extract(ctx: TaskContext) -> list[JsonValue]:
    """Read the rows to process from a variable."""
    rows = await ctx.client.get_json_variable("example_rows", default=None)
    if rows is None:
        rows = [1, 2, 3, 4]
    if not isinstance(rows, list):
        raise ValueError(f"variable example_rows must be a JSON list, got {type(rows).__name__}")
    ctx.log.info("extracted %d rows", len(rows), extra={"rows": len(rows)})
    return rows


@etl.task
async def transform(ctx: TaskContext) -> dict[str, object]:
    """Sum the extracted rows, one trio task per row."""
    rows = await ctx.xcom_pull("extract")
    if not isinstance(rows, list):
        rows = []
    results: list[float] = []

    async def weigh(row: object) -> None:
        await trio.lowlevel.checkpoint()
        results.append(float(row) if isinstance(row, (int, float)) else 0.0)

    async with trio.open_nursery() as nursery:
        for row in rows:
            nursery.start_soon(weigh, row)
    await ctx.xcom_push("row_count", len(rows))
    total = sum(results)
    ctx.log.info("transformed %d rows", len(rows), extra={"total": total})
    return {"total": total, "rows": len(rows)}


@etl.task(task_id="load")
async def load_rows(ctx: TaskContext) -> None:
    """Write the summary to the warehouse connection (skipped without one)."""
    try:
        conn = await ctx.client.get_connection("example_warehouse")
    except ConnectionNotFound:
        raise SkipTask("no example_warehouse connection configured") from None
    summary = await ctx.xcom_pull("transform")
    ctx.log.info(
        "loading summary into %s", conn.host, extra={"conn_type": conn.conn_type, "summary": summary}
    )


retry = bundle.dag("example_retry")


@retry.task
async def flaky(ctx: TaskContext) -> str:
    """Fail on the first try; succeed on any later one."""
    await ctx.xcom_push("attempt", ctx.try_number)
    if ctx.try_number < 2:
        raise RuntimeError("transient failure on the first try")
    ctx.log.info("succeeded on try %d", ctx.try_number)
    return f"ok on try {ctx.try_number}"


mixed = bundle.dag("example_mixed")


@mixed.task
async def enrich(ctx: TaskContext) -> dict[str, JsonValue]:
    """Sum the rows a Python task produced and tag them with a variable and a connection."""
    produced = await ctx.xcom_pull("produce")
    rows = produced.get("rows") if isinstance(produced, dict) else None
    if not isinstance(produced, dict) or not isinstance(rows, list):
        raise ValueError(f"the XCom of task produce must be a JSON object with a rows list, got {produced!r}")
    numbers: list[int | float] = []
    for row in rows:
        if isinstance(row, bool) or not isinstance(row, (int, float)):
            raise ValueError(f"the rows of task produce must be numbers, got {row!r}")
        numbers.append(row)
    greeting = await ctx.client.get_variable("example_greeting")
    warehouse = await ctx.client.get_connection("example_warehouse")
    total = sum(numbers)
    await ctx.xcom_push("row_count", len(numbers))
    # The uri field holds the connection's password on purpose: trio_coord masks connection
    # secrets in every log line, so the task log shows "***" in its place.
    uri = f"{warehouse.conn_type}://{warehouse.login}:{warehouse.password}@{warehouse.host}"
    ctx.log.info(
        "enriched %d rows from %s for %s",
        len(numbers),
        produced.get("source"),
        warehouse.host,
        extra={"rows": len(numbers), "total": total, "warehouse": warehouse.host, "uri": uri},
    )
    return {
        "greeting": greeting,
        "total": total,
        "rows": len(numbers),
        "warehouse": f"{warehouse.conn_type}://{warehouse.host}",
    }


mapped = bundle.dag("example_mapped")


@mapped.task(mapped_over="numbers")
async def square(ctx: TaskContext) -> dict[str, JsonValue]:
    """Square the number this instance was expanded over (``square.expand(number=numbers())``)."""
    number = await ctx.mapped_item()
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise ValueError(f"task numbers must return a list of numbers, got {number!r}")
    ctx.log.info(
        "map_index %d squared %s", ctx.ti.map_index, number, extra={"number": number, "square": number**2}
    )
    return {"map_index": ctx.ti.map_index, "number": number, "square": number**2}


@mapped.task(mapped_over="square")
async def describe(ctx: TaskContext) -> str:
    """Describe the ``square`` result at this map index (``describe.expand(row=square)``)."""
    row = await ctx.mapped_item()
    if not isinstance(row, dict):
        raise ValueError(f"task square must return a JSON object, got {row!r}")
    return f"{row['number']} squared is {row['square']}"
