"""Deferral and awaiting input: the exceptions, the wire messages, resumption, serde."""

from __future__ import annotations

import datetime as dt

import pytest

from trio_coord import (
    AwaitInput,
    Bundle,
    Defer,
    JsonValue,
    LocalProtocolError,
    TaskContext,
    serde_decode,
    serde_encode,
)
from trio_coord.testing import EmbeddedSupervisor, TaskRun

WHEN = dt.datetime(2026, 6, 17, 7, 0, 30, 250000, tzinfo=dt.UTC)
TRIGGER = "airflow.providers.standard.triggers.temporal.DateTimeTrigger"

bundle = Bundle("defer-tests")
dag = bundle.dag("d")


@dag.task
async def waits_for_a_moment(ctx: TaskContext) -> object:
    if ctx.next_method is None:
        raise Defer(TRIGGER, {"moment": WHEN}, method="done_waiting", kwargs={"n": 1})
    return {"method": ctx.next_method, "kwargs": repr(ctx.next_kwargs)}


@dag.task
async def asks_a_human(ctx: TaskContext) -> None:
    raise AwaitInput(timeout=dt.timedelta(minutes=30))


async def run(task_id: str, **startup: object) -> TaskRun:
    return await EmbeddedSupervisor().run_in_process(bundle, "d", task_id, **startup)  # type: ignore[arg-type]


def test_serde_encoding_matches_airflow_for_datetimes_and_timedeltas() -> None:
    encoded = serde_encode({"moment": WHEN, "delay": dt.timedelta(seconds=90), "plain": [1, "x", None]})
    assert encoded == {
        "moment": {
            "__classname__": "datetime.datetime",
            "__version__": 2,
            "__data__": {
                "timestamp": WHEN.timestamp(),
                "tz": {
                    "__classname__": "builtins.tuple",
                    "__version__": 1,
                    "__data__": ["UTC", "pendulum.tz.timezone.FixedTimezone", 1, True],
                },
            },
        },
        "delay": {"__classname__": "datetime.timedelta", "__version__": 2, "__data__": 90.0},
        "plain": [1, "x", None],
    }
    assert serde_decode(encoded) == {
        "moment": WHEN,
        "delay": dt.timedelta(seconds=90),
        "plain": [1, "x", None],
    }


def test_serde_decode_keeps_what_it_does_not_know() -> None:
    odd: JsonValue = {"__classname__": "decimal.Decimal", "__version__": 1, "__data__": "1.5"}
    assert serde_decode({"x": odd}) == {"x": odd}
    garbage: JsonValue = {"__classname__": "datetime.datetime", "__data__": "garbage"}
    assert serde_decode(garbage) == garbage  # kept, not crashed


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: Defer("NoModulePath"), ValueError, "import path"),
        (lambda: Defer(TRIGGER, {"moment": dt.datetime(2026, 1, 1)}), LocalProtocolError, "naive datetime"),
        (lambda: Defer(TRIGGER, {"obj": object()}), LocalProtocolError, "object is not JSON"),
        (lambda: Defer(TRIGGER, method="not a name"), ValueError, "resume method"),
        (lambda: Defer(TRIGGER, timeout=dt.timedelta(0)), ValueError, "positive"),
        (lambda: AwaitInput(timeout=5), TypeError, "timedelta"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_are_refused_when_raised(build: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build()  # type: ignore[operator]


async def test_defer_sends_defer_task_and_ends_deferred() -> None:
    result = await run("waits_for_a_moment")
    assert result.problems == []
    assert result.state == "deferred"
    terminal = result.terminal
    assert terminal is not None
    assert terminal["type"] == "DeferTask"
    assert terminal["classpath"] == TRIGGER
    assert terminal["next_method"] == "done_waiting"
    assert terminal["next_kwargs"] == {"n": 1}
    assert serde_decode(terminal["trigger_kwargs"]) == {"moment": WHEN}  # type: ignore[arg-type]


async def test_a_resumed_run_gets_its_method_and_decoded_kwargs() -> None:
    result = await run(
        "waits_for_a_moment",
        next_method="done_waiting",
        next_kwargs=serde_encode({"n": 1, "event": WHEN}),
    )
    assert result.state == "success"
    assert result.xcom() == {"method": "done_waiting", "kwargs": repr({"n": 1, "event": WHEN})}


async def test_await_input_ends_awaiting_input() -> None:
    result = await run("asks_a_human")
    assert result.state == "awaiting_input"
    assert result.terminal is not None
    assert result.terminal["timeout"] == "PT1800S"
    assert result.terminal["next_method"] == "resume"
