"""TaskRunner and EmbeddedSupervisor.run_tries: seeding, retries, XCom clearing, isolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from trio_coord import Bundle, Connection, TaskContext
from trio_coord.testing import EmbeddedSupervisor, SeedError, TaskRun, TaskRunner, XComKey

bundle = Bundle("runner-tests", "1.0")
dag = bundle.dag("d")
RUN = "manual__trio_coord"


@dag.task
async def echo(ctx: TaskContext) -> dict[str, object]:
    conn = await ctx.client.get_connection("db")
    return {
        "var": await ctx.client.get_variable("v", default=None),
        "json": await ctx.client.get_json_variable("j", default=None),
        "up": await ctx.xcom_pull("up"),
        "up_key": await ctx.xcom_pull("up", key="k"),
        "conn": [conn.conn_type, conn.host, conn.port, conn.extra_dejson],
    }


@dag.task
async def reads_env_variable(ctx: TaskContext) -> object:
    return await ctx.client.get_variable("from_env", default="not visible")


@dag.task
async def pushes_then_fails_until_try_3(ctx: TaskContext) -> int:
    await ctx.xcom_push(f"try_{ctx.try_number}", ctx.try_number)
    if ctx.try_number < 3:
        raise RuntimeError(f"try {ctx.try_number} fails")
    return ctx.try_number


@dag.task
async def sleeps(ctx: TaskContext) -> None:
    await trio.sleep(60)


async def test_seeding_in_every_form(tmp_path: Path) -> None:
    runner = TaskRunner(bundle)
    runner.set_variable("v", "plain")
    runner.set_json_variable("j", {"a": [1]})
    runner.set_connection("db", {"conn_type": "http", "host": "h", "port": 80, "extra": {"x": 1}})
    runner.set_xcom("d", "up", "upstream value")
    run = await runner.run("d", "echo", xcoms={"up.k": 5})
    assert run.state == "success"
    assert run.xcom() == {
        "var": "plain",
        "json": {"a": [1]},
        "up": "upstream value",
        "up_key": 5,
        "conn": ["http", "h", 80, {"x": 1}],
    }
    runner.set_connection(Connection("db", "postgres", host="p"))
    state = tmp_path / "state.json"
    state.write_text('{"variables": {"v": "from file"}, "xcoms": {"up": 1}}')
    runner.load_state(state, dag_id="d")
    second = await runner.run("d", "echo")
    assert second.xcom() == {
        "var": "from file",
        "json": {"a": [1]},
        "up": 1,
        "up_key": 5,
        "conn": ["postgres", "p", None, {}],
    }
    assert runner.runs == [run, second]


def test_seeding_mistakes_are_clear() -> None:
    runner = TaskRunner(bundle)
    with pytest.raises(TypeError, match="use set_json_variable for a list"):
        runner.set_variable("v", [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"set_connection\('db'\) needs a URI"):
        runner.set_connection("db")
    with pytest.raises(TypeError, match="not both"):
        runner.set_connection(Connection("db", "http"), "http://h")
    with pytest.raises(ValueError, match="not a connection URI"):
        runner.set_connection("db", "nonsense")
    with pytest.raises(SeedError, match="no such state file"):
        runner.load_state("does/not/exist.json", dag_id="d")
    with pytest.raises(SeedError, match=r"xcoms\.a: nan is not a JSON number"):
        runner.load_state({"xcoms": {"a": float("nan")}}, dag_id="d")


async def test_without_a_bundle_the_error_says_how_to_give_one() -> None:
    with pytest.raises(TypeError, match=r"no bundle: pass bundle=\.\.\."):
        await TaskRunner().run("d", "echo")


async def test_a_bundle_spec_is_loaded_once() -> None:
    runner = TaskRunner("trio_coord.example")
    first = await runner.run("example_etl", "extract")
    assert first.xcom() == [1, 2, 3, 4]
    await runner.run("example_etl", "extract")
    assert list(runner._loaded) == ["trio_coord.example"]


async def test_environment_variables_are_hidden_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_FROM_ENV", "visible")
    hidden = await TaskRunner(bundle).run("d", "reads_env_variable")
    assert hidden.xcom() == "not visible"
    assert os.environ["AIRFLOW_VAR_FROM_ENV"] == "visible"  # restored after the run
    seen = await TaskRunner(bundle, use_env=True).run("d", "reads_env_variable")
    assert seen.xcom() == "visible"


async def test_retries_run_like_airflow_and_clear_the_previous_tries_xcoms() -> None:
    runner = TaskRunner(bundle)
    run = await runner.run("d", "pushes_then_fails_until_try_3", retries=3)
    assert [(r.try_number, r.state) for r in runner.runs] == [
        (1, "up_for_retry"),
        (2, "up_for_retry"),
        (3, "success"),
    ]
    # try 2 started by deleting what try 1 pushed; try 3 what try 2 pushed
    assert [b["key"] for b in runner.runs[1].requests_of("DeleteXCom")] == ["try_1"]
    assert [b["key"] for b in runner.runs[2].requests_of("DeleteXCom")] == ["try_2"]
    assert run.xcoms_pushed == {"try_3": 3, "return_value": 3}
    assert runner.store.xcoms == {
        XComKey("d", RUN, "pushes_then_fails_until_try_3", "try_3"): 3,
        XComKey("d", RUN, "pushes_then_fails_until_try_3", "return_value"): 3,
    }


async def test_the_last_try_fails_for_good() -> None:
    supervisor = EmbeddedSupervisor()
    started: list[tuple[int, int]] = []
    ended: list[TaskRun] = []
    tries = await supervisor.run_tries(
        bundle,
        "d",
        "pushes_then_fails_until_try_3",
        retries=1,
        on_try_start=lambda n, total: started.append((n, total)),
        on_try_end=ended.append,
    )
    assert started == [(1, 2), (2, 2)]
    assert ended == tries
    assert [r.state for r in tries] == ["up_for_retry", "failed"]


async def test_run_tries_checks_its_arguments() -> None:
    supervisor = EmbeddedSupervisor()
    with pytest.raises(ValueError, match="retries must be 0 or more"):
        await supervisor.run_tries(bundle, "d", "echo", retries=-1)
    with pytest.raises(ValueError, match="sets try_number itself"):
        await supervisor.run_tries(bundle, "d", "echo", retries=1, try_number=2)


def test_xcom_keys_to_clear_follow_the_api_server() -> None:
    supervisor = EmbeddedSupervisor()
    for key in (
        XComKey("d", "r", "t", "b"),
        XComKey("d", "r", "t", "a", 0),
        XComKey("d", "r", "t", "c", 1),
        XComKey("d", "r", "other", "x"),
        XComKey("d", "other_run", "t", "y"),
    ):
        supervisor.set_xcom(key, 1)
    details = supervisor.startup_details("d", "t", run_id="r")
    assert details["ti_context"]["xcom_keys_to_clear"] == ["a", "b", "c"]  # type: ignore[index]
    mapped = supervisor.startup_details("d", "t", run_id="r", map_index=1)
    assert mapped["ti_context"]["xcom_keys_to_clear"] == ["c"]  # type: ignore[index]
    given = supervisor.startup_details("d", "t", run_id="r", xcom_keys_to_clear=[])
    assert given["ti_context"]["xcom_keys_to_clear"] == []  # type: ignore[index]


async def test_a_run_is_bounded_by_the_timeout() -> None:
    runner = TaskRunner(bundle, timeout=0.5)
    with pytest.raises(trio.TooSlowError):
        await runner.run("d", "sleeps")


async def test_protocol_problems_fail_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = TaskRunner(bundle)

    async def broken_run(*args: object, **kwargs: object) -> TaskRun:
        await trio.lowlevel.checkpoint()
        return TaskRun("d", "echo", RUN, 1, state="success", problems=["log line has no 'level'"])

    monkeypatch.setattr(runner.supervisor, "run_in_process", broken_run)
    with pytest.raises(
        AssertionError, match=r"d.echo broke the coordinator protocol:\n  try 1: log line has no 'level'"
    ):
        await runner.run("d", "echo")
    lenient = TaskRunner(bundle, supervisor=runner.supervisor, check_protocol=False)
    assert (await lenient.run("d", "echo")).problems == ["log line has no 'level'"]
