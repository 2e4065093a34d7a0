"""run_task: run one task and decide its terminal message.

The decision table (the same as Airflow's Python task runner and the Go SDK):

=====================================  ====================================
what happened                          terminal message
=====================================  ====================================
no task registered under the ids      ``TaskState(removed)``
returned (value pushed unless None)    ``SucceedTask`` with the declared
                                       outlets and the events the task added
raised :class:`Reschedule`             ``RescheduleTask(reschedule_date)``
raised :class:`SkipTask`               ``TaskState(skipped)``
raised :class:`FailTask`               ``TaskState(failed)``
raised anything else, or cancelled     ``RetryTask`` if ``should_retry``,
                                       else ``TaskState(failed)``
=====================================  ====================================

The task runs inside a :class:`trio.CancelScope` the caller may pass in and
cancel (``serve`` does so on SIGTERM and when the supervisor goes away). The
task's outcome is captured with :mod:`outcome`, so whatever it raises
(including ``BaseException`` subclasses and exception groups) becomes a
terminal message; only a cancellation from *outside* that scope propagates.
"""

from __future__ import annotations

import logging

import outcome
import trio

from ._bundle import Bundle, FailTask, Reschedule, SkipTask, TaskContext
from ._client import CoordinatorClient
from ._messages import (
    RescheduleTask,
    RetryTask,
    StartupDetails,
    SucceedTask,
    TaskState,
    TerminalMessage,
)
from ._redact import redact

__all__ = ["run_task"]

logger = logging.getLogger("trio_coord.runner")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, trio.Cancelled):
        return "cancelled"
    text = redact(str(exc))  # the reason is stored by Airflow: mask secrets here too
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failure(details: StartupDetails, reason: str) -> TerminalMessage:
    if details.ti_context.should_retry:
        return RetryTask(retry_reason=reason)
    return TaskState("failed")


async def run_task(
    bundle: Bundle,
    details: StartupDetails,
    client: CoordinatorClient,
    *,
    cancel_scope: trio.CancelScope | None = None,
) -> TerminalMessage:
    """Run the task ``details`` names and return the terminal message to send.

    Blocks until the task finishes. Does not send the terminal message.

    Args:
        bundle: where to look the task up.
        details: the supervisor's ``StartupDetails``.
        client: the client the task uses.
        cancel_scope: a scope (not yet entered) to run the task in; cancel it
            to stop the task cooperatively. A task stopped this way fails (or
            is retried).

    Cancellation: a cancellation of ``cancel_scope`` becomes a failure; one
    from an enclosing scope propagates.
    """
    ti = details.ti
    task = bundle.find_task(ti.dag_id, ti.task_id)
    if task is None:
        logger.error(
            "task %r of Dag %r is not registered in bundle %r",
            ti.task_id,
            ti.dag_id,
            bundle.name,
            extra={"dag_id": ti.dag_id, "task_id": ti.task_id},
        )
        await trio.lowlevel.checkpoint()
        return TaskState("removed")

    ctx = TaskContext(details, client, task)
    scope = cancel_scope if cancel_scope is not None else trio.CancelScope()

    async def body() -> object:
        for key in details.ti_context.xcom_keys_to_clear:
            await client.delete_xcom(
                dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, key=key, map_index=ti.map_index
            )
        logger.info("running task %s.%s (try %d)", ti.dag_id, ti.task_id, ti.try_number)
        value = await task.function(ctx)
        if value is not None and task.push_return_value:
            await ctx.xcom_push("return_value", value)  # type: ignore[arg-type]
        return value

    with scope:
        result = await outcome.acapture(body)

    if isinstance(result, outcome.Value):
        logger.info("task %s.%s succeeded", ti.dag_id, ti.task_id)
        return SucceedTask(
            task_outlets=[outlet.to_profile() for outlet in task.outlets],
            outlet_events=ctx.outlet_events.to_wire(),
        )

    exc = result.error
    if isinstance(exc, trio.Cancelled) and not scope.cancel_called:
        result.unwrap()  # cancelled from outside: let it propagate
    if isinstance(exc, Reschedule):
        logger.info(
            "task %s.%s asked to be rescheduled at %s",
            ti.dag_id,
            ti.task_id,
            exc.reschedule_date.isoformat(),
        )
        return RescheduleTask(reschedule_date=exc.reschedule_date)
    if isinstance(exc, SkipTask):
        logger.info("task %s.%s skipped: %s", ti.dag_id, ti.task_id, exc)
        return TaskState("skipped")
    if isinstance(exc, FailTask):
        logger.error("task %s.%s failed (no retry): %s", ti.dag_id, ti.task_id, exc, exc_info=exc)
        return TaskState("failed")
    reason = _describe(exc)
    if isinstance(exc, trio.Cancelled):
        logger.error("task %s.%s was cancelled before it finished", ti.dag_id, ti.task_id)
    else:
        logger.error("task %s.%s failed: %s", ti.dag_id, ti.task_id, reason, exc_info=exc)
    return _failure(details, reason)
