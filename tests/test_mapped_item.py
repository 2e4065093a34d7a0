"""TaskContext.mapped_item: the item a mapped task instance was expanded over.

Run under the embedded supervisor (real sockets, the real runtime): the
supervisor's store holds the upstream XComs the way Airflow stores them, an
unmapped upstream's list as one XCom at map_index -1 and a mapped upstream's
results as one XCom per map index.
"""

from __future__ import annotations

import pytest

from trio_coord import Bundle, JsonValue, TaskContext, example
from trio_coord.testing import TaskRunner

DAG = "example_mapped"

bundle = Bundle("mapped-item-tests", "1.0")
dag = bundle.dag("mapped")


@dag.task
async def names_no_upstream(ctx: TaskContext) -> JsonValue:
    return await ctx.mapped_item()


@dag.task
async def names_it_in_the_call(ctx: TaskContext) -> JsonValue:
    return await ctx.mapped_item("producer", key="items")


@dag.task(mapped_over="producer")
async def reads_twice(ctx: TaskContext) -> JsonValue:
    first = await ctx.mapped_item()
    second = await ctx.mapped_item()
    return [first, second]


@pytest.fixture
def trio_coord_bundle() -> Bundle:
    return example.bundle


async def test_an_item_of_an_unmapped_upstreams_list(trio_coord_runner: TaskRunner) -> None:
    trio_coord_runner.set_xcom(DAG, "numbers", [4, 5, 6])

    run = await trio_coord_runner.run(DAG, "square", map_index=1)

    assert run.state == "success"
    assert run.xcom() == {"map_index": 1, "number": 5, "square": 25}
    assert "map_index 1 squared 5" in run.log_events()
    # The list is the upstream's one XCom, at map_index -1: nothing else to ask for.
    assert [(r["task_id"], r.get("map_index")) for r in run.requests_of("GetXCom")] == [("numbers", None)]
    assert run.requests_of("GetXComSequenceItem") == []


async def test_an_item_of_a_mapped_upstream_is_fetched_alone(trio_coord_runner: TaskRunner) -> None:
    for index, number in enumerate([4, 5, 6]):
        row: JsonValue = {"map_index": index, "number": number, "square": number * number}
        trio_coord_runner.set_xcom(DAG, "square", row, map_index=index)

    run = await trio_coord_runner.run(DAG, "describe", map_index=2)

    assert (run.state, run.xcom()) == ("success", "6 squared is 36")
    items = run.requests_of("GetXComSequenceItem")
    assert [(r["task_id"], r["key"], r["offset"]) for r in items] == [("square", "return_value", 2)]
    assert run.requests_of("GetXComSequenceSlice") == []


async def test_square_then_describe_share_the_store(trio_coord_runner: TaskRunner) -> None:
    trio_coord_runner.set_xcom(DAG, "numbers", [7, 8])
    for index in range(2):
        await trio_coord_runner.run(DAG, "square", map_index=index)

    described = [await trio_coord_runner.run(DAG, "describe", map_index=index) for index in range(2)]

    assert [run.xcom() for run in described] == ["7 squared is 49", "8 squared is 64"]


async def test_an_unmapped_instance_is_told_it_is_not_mapped(trio_coord_runner: TaskRunner) -> None:
    trio_coord_runner.set_xcom(DAG, "numbers", [1])

    run = await trio_coord_runner.run(DAG, "square")

    assert run.state == "failed"
    assert any("is not mapped (map_index -1)" in event for event in run.log_events()), run.log_events()
    assert run.requests_of("GetXCom") == []


async def test_a_task_that_names_no_upstream_is_told_how_to(trio_coord_runner: TaskRunner) -> None:
    run = await trio_coord_runner.run("mapped", "names_no_upstream", bundle=bundle, map_index=0)

    assert run.state == "failed"
    assert any("does not know which upstream" in event for event in run.log_events()), run.log_events()
    assert any("mapped_over='upstream'" in event for event in run.log_events())


async def test_the_upstream_and_key_can_be_named_in_the_call(trio_coord_runner: TaskRunner) -> None:
    trio_coord_runner.set_xcom("mapped", "producer", ["a", "b", "c"], key="items")

    run = await trio_coord_runner.run("mapped", "names_it_in_the_call", bundle=bundle, map_index=2)

    assert (run.state, run.xcom()) == ("success", "c")


async def test_a_dict_gives_its_key_value_pair_in_order(trio_coord_runner: TaskRunner) -> None:
    trio_coord_runner.set_xcom("mapped", "producer", {"x": 1, "y": 2})

    run = await trio_coord_runner.run("mapped", "reads_twice", bundle=bundle, map_index=1)

    assert (run.state, run.xcom()) == ("success", [["y", 2], ["y", 2]])
    # The second call is answered from the cache.
    assert len(run.requests_of("GetXCom")) == 1


@pytest.mark.parametrize(
    ("seed", "map_index", "message"),
    [
        (None, 0, "there is no XCom 'return_value' of task 'producer'"),
        ([1, 2], 2, "map_index 2 is beyond the 2 items of the XCom 'return_value' of task 'producer'"),
        ({"only": 1}, 1, "map_index 1 is beyond the 1 entries"),
        ("not a list", 0, "is a str, not a list or dict Airflow could expand over"),
    ],
)
async def test_a_missing_or_unusable_upstream_xcom_is_named(
    trio_coord_runner: TaskRunner, seed: JsonValue, map_index: int, message: str
) -> None:
    if seed is not None:
        trio_coord_runner.set_xcom("mapped", "producer", seed)

    run = await trio_coord_runner.run("mapped", "reads_twice", bundle=bundle, map_index=map_index)

    assert run.state == "failed"
    assert any(message in event for event in run.log_events()), run.log_events()


def test_mapped_over_must_be_a_task_id() -> None:
    with pytest.raises(ValueError, match="mapped_over 'not a task id!' is invalid"):
        bundle.dag("other").task(mapped_over="not a task id!")
