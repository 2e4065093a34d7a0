# mypy: disable-error-code="untyped-decorator"
"""Dag ``example_mapped``: trio tasks mapped over a Python list, then over each other.

The Python file of the Dag whose trio half is ``trio_coord/example.py``, Dag
``example_mapped``. Both stubs are expanded, so Airflow creates one task
instance per item and gives each its ``map_index``; the trio task reads its
own item with ``await ctx.mapped_item()``.

* ``numbers`` (Python) returns 1..``count`` (the Dag param, 5 by default);
* ``square`` (trio, mapped over that list) returns each number squared;
* ``describe`` (trio, mapped over ``square``'s mapped results) turns each
  into a line of text;
* ``total`` (Python) pulls all of them, checks every item landed at its own
  map index, and returns a summary; it fails the run otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import dag, get_current_context, task


@task
def numbers() -> list[int]:
    count = int(get_current_context()["params"]["count"])
    return list(range(1, count + 1))


@task.stub(queue="trio")
def square(number: int) -> None: ...


@task.stub(queue="trio")
def describe(row: dict[str, object]) -> None: ...


@task
def total(
    numbers: list[int], squares: Sequence[dict[str, object]], lines: Sequence[str]
) -> dict[str, object]:
    squares, lines = list(squares), list(lines)
    expected = [{"map_index": i, "number": n, "square": n * n} for i, n in enumerate(numbers)]
    if squares != expected:
        raise ValueError(f"square returned {squares!r}; expected {expected!r}")
    described = [f"{n} squared is {n * n}" for n in numbers]
    if lines != described:
        raise ValueError(f"describe returned {lines!r}; expected {described!r}")
    print(f"{len(squares)} mapped squares check out")
    return {"count": len(squares), "sum_of_squares": sum(n * n for n in numbers), "last": lines[-1]}


@dag(dag_id="example_mapped", schedule=None, catchup=False, params={"count": 5}, tags=["trio_coord", "e2e"])
def example_mapped() -> None:
    listed = numbers()
    squares = square.expand(number=listed)
    lines = describe.expand(row=squares)
    total(listed, squares, lines)


example_mapped()
