"""serve + run_task end to end over loopback sockets, under the embedded supervisor."""

from __future__ import annotations

import logging
from typing import Unpack

import pytest
import trio

from trio_coord import (
    Bundle,
    Connection,
    ConnectionNotFound,
    FailTask,
    RequestTimeout,
    SkipTask,
    TaskContext,
    VariableNotFound,
)
from trio_coord.testing import EmbeddedSupervisor, StartupOptions, TaskRun, XComKey

bundle = Bundle("tests", "1.0")
dag = bundle.dag("d")


@dag.task
async def uses_everything(ctx: TaskContext) -> dict[str, object]:
    value = await ctx.client.get_variable("greeting")
    conn = await ctx.client.get_connection("db")
    upstream = await ctx.xcom_pull("upstream")
    missing = await ctx.xcom_pull("nobody")
    await ctx.xcom_push("extra_key", [1, 2, 3])
    ctx.log.info("got %s", value, extra={"host": conn.host, "upstream": upstream})
    return {"greeting": value, "upstream": upstream, "missing": missing, "login": conn.login}


@dag.task
async def handles_missing_variable(ctx: TaskContext) -> str:
    with pytest.raises(VariableNotFound) as info:
        await ctx.client.get_variable("absent")
    assert info.value.detail == {"key": "absent"}
    with pytest.raises(ConnectionNotFound):
        await ctx.client.get_connection("absent")
    return str(await ctx.client.get_variable("absent", default="fallback"))


@dag.task
async def fails(ctx: TaskContext) -> None:
    raise RuntimeError("boom")


@dag.task
async def fails_for_good(ctx: TaskContext) -> None:
    raise FailTask("no point retrying")


@dag.task
async def skips(ctx: TaskContext) -> None:
    raise SkipTask("nothing to do")


@dag.task
async def raises_group(ctx: TaskContext) -> None:
    async with trio.open_nursery() as nursery:

        async def bad(n: int) -> None:
            raise ValueError(f"bad {n}")

        nursery.start_soon(bad, 1)
        nursery.start_soon(bad, 2)


async def _raise_in_nursery(exc: BaseException) -> None:
    async def raiser() -> None:
        raise exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep_forever)  # gets cancelled: a Cancelled sibling
        nursery.start_soon(raiser)


@dag.task
async def skips_inside_a_nursery(ctx: TaskContext) -> None:
    await _raise_in_nursery(SkipTask("nothing to do"))


@dag.task
async def fails_for_good_inside_a_nursery(ctx: TaskContext) -> None:
    async with trio.open_nursery() as nursery:
        for exc in (FailTask("stop"), ValueError("also broken")):
            nursery.start_soon(_raise_in_nursery, exc)


@dag.task
async def skip_beside_a_real_error(ctx: TaskContext) -> None:
    async with trio.open_nursery() as nursery:
        for exc in (SkipTask("skip"), ValueError("broken")):
            nursery.start_soon(_raise_in_nursery, exc)


@dag.task
async def raises_base_exception(ctx: TaskContext) -> None:
    raise KeyboardInterrupt


@dag.task
async def returns_unencodable(ctx: TaskContext) -> object:
    return {"when": object()}


@dag.task(push_return_value=False)
async def returns_without_push(ctx: TaskContext) -> str:
    return "kept local"


@dag.task
async def many_concurrent_requests(ctx: TaskContext) -> int:
    results: list[str | None] = []

    async def fetch(n: int) -> None:
        results.append(await ctx.client.get_variable(f"v{n % 5}"))

    async with trio.open_nursery() as nursery:
        for n in range(200):
            nursery.start_soon(fetch, n)
    assert sorted(set(results)) == [f"value{i}" for i in range(5)]  # type: ignore[type-var]
    return len(results)


@dag.task
async def reads_context(ctx: TaskContext) -> dict[str, object]:
    return {
        "try": ctx.try_number,
        "conf": dict(ctx.conf),
        "logical": ctx.logical_date.isoformat() if ctx.logical_date else None,
        "start": ctx.data_interval_start == ctx.dag_run.data_interval_start,
        "end": ctx.data_interval_end is not None,
        "queue": ctx.ti.queue,
        "map_index": ctx.ti.map_index,
        "should_retry": ctx.ti_context.should_retry,
    }


@dag.task
async def logs_a_lot(ctx: TaskContext) -> None:
    for i in range(500):
        ctx.log.info("line %d", i, extra={"i": i})
    logging.getLogger("third.party").warning("from a library")


def supervisor() -> EmbeddedSupervisor:
    sup = EmbeddedSupervisor()
    sup.set_variable("greeting", "hello")
    for i in range(5):
        sup.set_variable(f"v{i}", f"value{i}")
    sup.set_connection(Connection("db", "postgres", host="db.local", login="", password="pw-is-secret"))
    return sup


async def run(
    task_id: str, sup: EmbeddedSupervisor | None = None, **startup: Unpack[StartupOptions]
) -> TaskRun:
    sup = sup or supervisor()
    with trio.fail_after(30):
        return await sup.run_in_process(bundle, "d", task_id, **startup)


async def test_success_with_variable_connection_and_xcoms() -> None:
    sup = supervisor()
    sup.set_xcom(XComKey("d", "manual__trio_coord", "upstream", "return_value"), {"rows": 3})
    result = await run("uses_everything", sup)
    assert result.problems == []
    assert result.state == "success"
    assert result.exit_code == 0
    assert result.xcom() == {"greeting": "hello", "upstream": {"rows": 3}, "missing": None, "login": ""}
    assert result.xcom("extra_key") == [1, 2, 3]
    kinds = [body["type"] for body in result.requests]
    assert kinds == [
        "GetVariable",
        "GetConnection",
        "GetXCom",
        "GetXCom",
        "SetXCom",
        "SetXCom",
        "SucceedTask",
    ]
    assert "map_index" not in result.requests_of("SetXCom")[0]
    (line,) = [r for r in result.logs if r.get("event") == "got hello"]
    assert line["logger"] == "task.d.uses_everything"
    assert line["host"] == "db.local"
    assert line["upstream.rows"] == 3
    assert result.terminal is not None
    assert result.terminal["task_outlets"] == []
    assert result.terminal["outlet_events"] == []


async def test_missing_variable_and_connection_are_specific_errors() -> None:
    result = await run("handles_missing_variable")
    assert result.state == "success"
    assert result.xcom() == "fallback"


async def test_failure_without_retries() -> None:
    result = await run("fails")
    assert result.state == "failed"
    assert result.terminal is not None
    assert result.terminal["type"] == "TaskState"
    (failure,) = [r for r in result.logs if r["level"] == "error"]
    exception = failure["exception"]
    assert isinstance(exception, list)
    assert exception[0]["exc_value"] == "boom"


async def test_failure_with_retries_sends_retry_task() -> None:
    result = await run("fails", max_tries=2)
    assert result.state == "up_for_retry"
    assert result.terminal is not None
    assert result.terminal["type"] == "RetryTask"
    assert result.terminal["retry_reason"] == "RuntimeError: boom"


async def test_fail_task_never_retries() -> None:
    result = await run("fails_for_good", max_tries=5)
    assert result.state == "failed"


async def test_skip() -> None:
    result = await run("skips")
    assert result.state == "skipped"


async def test_unknown_task_is_removed() -> None:
    result = await run("no_such_task")
    assert result.state == "removed"
    assert any("is not registered" in event for event in result.log_events())


async def test_exception_group_fails_the_task() -> None:
    result = await run("raises_group", max_tries=1)
    assert result.state == "up_for_retry"
    assert result.terminal is not None
    assert "ExceptionGroup" in str(result.terminal["retry_reason"])


async def test_control_exceptions_inside_nurseries_keep_their_meaning() -> None:
    assert (await run("skips_inside_a_nursery", max_tries=2)).state == "skipped"
    assert (await run("fails_for_good_inside_a_nursery", max_tries=2)).state == "failed"
    mixed = await run("skip_beside_a_real_error", max_tries=2)
    assert mixed.state == "up_for_retry"  # a real error in the group makes it a failure


async def test_base_exception_from_the_task_is_a_failure_not_a_crash() -> None:
    result = await run("raises_base_exception")
    assert result.state == "failed"
    assert result.exit_code == 0


async def test_return_value_that_is_not_json_fails_the_task() -> None:
    result = await run("returns_unencodable")
    assert result.state == "failed"
    assert any("not JSON-serialisable" in str(r.get("event")) for r in result.logs)
    assert result.requests_of("SetXCom") == []  # nothing half-sent


async def test_return_value_push_can_be_turned_off() -> None:
    result = await run("returns_without_push")
    assert result.state == "success"
    assert result.requests_of("SetXCom") == []


async def test_many_concurrent_requests() -> None:
    result = await run("many_concurrent_requests")
    assert result.state == "success"
    assert result.xcom() == 200


async def test_context_exposes_the_run() -> None:
    result = await run("reads_context", try_number=2, max_tries=3, conf={"a": 1}, queue="trio")
    value = result.xcom()
    assert isinstance(value, dict)
    assert value["try"] == 2
    assert value["conf"] == {"a": 1}
    assert value["start"] is True
    assert value["queue"] == "trio"
    assert value["map_index"] == -1
    assert value["should_retry"] is True


async def test_every_log_line_arrives_in_order() -> None:
    result = await run("logs_a_lot")
    assert result.problems == []
    lines = [r for r in result.logs if r["logger"] == "task.d.logs_a_lot"]
    assert [r["i"] for r in lines] == list(range(500))
    assert any(r["logger"] == "third.party" for r in result.logs)


async def test_connection_password_is_masked_in_logs() -> None:
    sup = supervisor()
    sup.set_xcom(XComKey("d", "manual__trio_coord", "upstream", "return_value"), "pw-is-secret")
    result = await run("uses_everything", sup)
    assert result.state == "success"
    (line,) = [r for r in result.logs if r.get("event") == "got hello"]
    assert line["upstream"] == "***"


async def test_request_timeout_names_the_request(autojump_clock: trio.testing.MockClock) -> None:
    from trio_coord import CoordinatorClient, open_coordinator_comm

    client_stream, _server = trio.testing.memory_stream_pair()
    async with open_coordinator_comm(client_stream) as comm:
        client = CoordinatorClient(comm, request_timeout=7)
        with pytest.raises(RequestTimeout, match=r"GetVariable\(key='k'\): no reply .* within 7 s") as info:
            await client.get_variable("k")
        assert isinstance(info.value, TimeoutError)
        assert comm.statistics().pending == 0
