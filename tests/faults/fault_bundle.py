"""Tasks that misbehave, for the fault-injection suite (tests/faults)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time

import trio

from trio_coord import Bundle, RequestTimeout, TaskContext

bundle = Bundle("faults", "1.0")
dag = bundle.dag("faults")
LINES = 20_000


@dag.task
async def ok(ctx: TaskContext) -> str:
    ctx.log.info("ok ran")
    return "done"


@dag.task
async def request_then_sleep(ctx: TaskContext) -> None:
    ctx.log.info("asking")
    await ctx.client.get_variable("a", default=None)
    ctx.log.info("sleeping")
    await trio.sleep(60)


@dag.task
async def sleeps(ctx: TaskContext) -> None:
    ctx.log.info("sleeping")
    await trio.sleep(60)


@dag.task
async def shielded(ctx: TaskContext) -> None:
    ctx.log.info("sleeping")
    with trio.CancelScope(shield=True):
        await trio.sleep(60)


@dag.task
async def blocks_the_loop(ctx: TaskContext) -> None:
    print("blocking the event loop now", flush=True)  # a synchronous write: it leaves even so
    time.sleep(60)  # noqa: ASYNC251 - the point: blocking sync code in a task


@dag.task
async def slow_to_stop(ctx: TaskContext) -> None:
    ctx.log.info("sleeping")
    try:
        await trio.sleep(60)
    finally:
        with trio.move_on_after(1, shield=True):
            ctx.log.info("cleaning up")
            await trio.sleep(0.5)


@dag.task
async def catches_timeout(ctx: TaskContext) -> str:
    try:
        await ctx.client.get_variable("never")
    except RequestTimeout as exc:
        ctx.log.warning("gave up: %s", exc)
        return "timed out"
    return "answered"


@dag.task
async def lets_timeout_fail(ctx: TaskContext) -> None:
    await ctx.client.get_variable("never")


@dag.task
async def logs_many(ctx: TaskContext) -> int:
    for i in range(LINES):
        ctx.log.info("line %d", i, extra={"i": i, "pad": "x" * 200})
        if i % 1000 == 0:
            await ctx.client.get_variable("a", default=None)  # requests must not block on logs
    ctx.log.info("all logged")
    return LINES


@dag.task
async def logs_strange_things(ctx: TaskContext) -> None:
    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

        def __str__(self) -> str:
            raise RuntimeError("no str")

    ctx.log.info("weird", extra={"obj": Weird(), "nan": float("inf"), "data": b"\xff", "set": {1}})
    ctx.log.info("%s and %d", "too few")

    def spam(n: int) -> None:
        for i in range(200):
            logging.getLogger(f"thread{n}").info("t%d-%d", n, i)

    threads = [threading.Thread(target=spam, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()

    def join_all() -> None:
        for thread in threads:
            thread.join()

    await trio.to_thread.run_sync(join_all)
    ctx.log.info("threads done")


@dag.task
async def raises_group(ctx: TaskContext) -> None:
    raise ExceptionGroup("many", [ValueError("one"), KeyError("two")])


@dag.task
async def raises_keyboard_interrupt(ctx: TaskContext) -> None:
    raise KeyboardInterrupt


@dag.task
async def raises_system_exit(ctx: TaskContext) -> None:
    sys.exit(0)


class CustomBase(BaseException):
    pass


@dag.task
async def raises_base_exception(ctx: TaskContext) -> None:
    raise CustomBase("custom base")


@dag.task
async def returns_unencodable(ctx: TaskContext) -> object:
    return {"x": {1, 2}}


@dag.task
async def logs_secrets(ctx: TaskContext) -> None:
    await ctx.client.mask_secret("s3cr3t-value-123")
    api_key = await ctx.client.get_variable("service_api_key")
    conn = await ctx.client.get_connection("db")
    ctx.log.info(
        "secret %s key %s pw %s", "s3cr3t-value-123", api_key, conn.password, extra={"conn": repr(conn)}
    )
    raise RuntimeError(f"failed with s3cr3t-value-123 and {conn.password}")


@dag.task
async def spawns_a_child(ctx: TaskContext) -> dict[str, object]:
    fds = [int(name) for name in os.listdir("/proc/self/fd")]
    sockets = [fd for fd in fds if _is_socket(fd)]
    code = "\n".join(
        [
            "import json, os, sys",
            "def is_open(fd):",
            "    try:",
            "        os.fstat(fd)",
            "    except OSError:",
            "        return False",
            "    return True",
            "print(json.dumps([fd for fd in map(int, sys.argv[1:]) if is_open(fd)]))",
        ]
    )
    result = subprocess.run(  # noqa: ASYNC221 - a short child, in a test bundle
        [sys.executable, "-c", code, *map(str, sockets)], close_fds=False, capture_output=True, check=True
    )
    inherited = json.loads(result.stdout)
    return {"sockets": sockets, "inherited": inherited}


def _is_socket(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    except OSError:
        return False


# ----------------------------------------------------------------- cancellation and terminal frames


@dag.task
async def nursery_sleepers(ctx: TaskContext) -> None:
    async with trio.open_nursery() as nursery:
        for _ in range(2):
            nursery.start_soon(trio.sleep, 60)
        ctx.log.info("sleeping")


@dag.task
async def nested_nurseries(ctx: TaskContext) -> None:
    async def inner() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep, 60)
            nursery.start_soon(trio.sleep, 60)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(inner)
        nursery.start_soon(inner)
        nursery.start_soon(trio.sleep, 60)
        ctx.log.info("sleeping")


@dag.task
async def error_among_cancellations(ctx: TaskContext) -> None:
    async def fails_when_cancelled() -> None:
        try:
            await trio.sleep(60)
        finally:
            raise RuntimeError("cleanup failed")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep, 60)
        nursery.start_soon(fails_when_cancelled)
        nursery.start_soon(trio.sleep, 60)
        ctx.log.info("sleeping")


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@dag.task
async def raises_unprintable(ctx: TaskContext) -> None:
    raise Unprintable


HUGE = 5_000_000


@dag.task
async def raises_huge_message(ctx: TaskContext) -> None:
    raise ValueError("x" * HUGE)


@dag.task
async def succeeds_quietly(ctx: TaskContext) -> None:
    ctx.log.info("done")


@dag.task
async def scripted(ctx: TaskContext) -> None:
    """What the randomized invariant test asks for, in TRIO_COORD_FAULT_SCRIPT.

    The task prints what it did (``OUTCOME <what>``) to standard output, a
    synchronous write that leaves even when the event loop is blocked.
    """
    script = os.environ["TRIO_COORD_FAULT_SCRIPT"]

    def outcome(what: str) -> None:
        print(f"OUTCOME {what}", flush=True)

    print("task started", flush=True)
    ctx.log.info("task started")
    try:
        if script == "succeed":
            await trio.sleep(0.3)
        elif script == "fail":
            await trio.sleep(0.3)
            outcome("raised")
            raise ValueError("scripted failure")
        elif script == "nursery":
            async with trio.open_nursery() as nursery:
                for _ in range(3):
                    nursery.start_soon(trio.sleep, 0.4)
        elif script == "shielded":
            with trio.CancelScope(shield=True):
                await trio.sleep(2.5)  # longer than the test's grace period
        elif script == "blocks":
            print("blocking the event loop now", flush=True)
            time.sleep(3.5)  # noqa: ASYNC251 - the point: longer than grace + 1 s
        else:
            raise AssertionError(f"unknown script {script!r}")
    except trio.Cancelled:
        outcome("cancelled")
        raise
    except BaseExceptionGroup as group:
        if group.split(trio.Cancelled)[1] is None:  # nothing but cancellations
            outcome("cancelled")
        raise
    outcome("succeeded")


@dag.task
async def logs_sensitive_extra(ctx: TaskContext) -> None:
    ctx.log.info(
        "connecting",
        extra={
            "password": "hunter2-password",
            "db": {"host": "db.local", "api_key": "k3y-value"},
            "retries": 3,
        },
    )
