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

Exception groups (a task's nursery wraps what its children raise):

* a ``Cancelled``, or a group of any nesting holding nothing but
  ``Cancelled``, is a cancellation when the caller's ``cancel_scope`` was
  cancelled (reported exactly like a plain cancelled task, reason
  ``cancelled``), and propagates unchanged otherwise: a cancellation that is
  not ours is never swallowed;
* a group holding real errors is reported by them: the ``Cancelled`` leaves
  of the siblings they took down are ignored, the first real error is the
  reason, and the log line carries the whole group; ``KeyboardInterrupt``,
  ``SystemExit`` and other ``BaseException`` leaves are real errors here,
  named as they would be if raised alone;
* ``SkipTask``/``FailTask``/``Reschedule``/``Defer``/``AwaitInput`` inside a
  group keep their meaning (see :func:`_control_exception`).

Every description of user objects is guarded: ``str()``/``repr()`` that raise
give a placeholder, and a reason is at most :data:`MAX_REASON_LENGTH`
characters.

The task runs inside a :class:`trio.CancelScope` the caller may pass in and
cancel (``serve`` does so on SIGTERM and when the supervisor goes away). The
task's outcome is captured with :mod:`outcome`, so whatever it raises
(including ``BaseException`` subclasses and exception groups) becomes a
terminal message; only a cancellation from *outside* that scope propagates.
"""

from __future__ import annotations

import logging
from typing import Final

import outcome
import trio

from ._bundle import AwaitInput, Bundle, Defer, FailTask, Reschedule, SkipTask, TaskContext
from ._client import CoordinatorClient
from ._messages import (
    AwaitInputTask,
    DeferTask,
    RescheduleTask,
    RetryTask,
    StartupDetails,
    SucceedTask,
    TaskState,
    TerminalMessage,
)
from ._redact import redact

__all__ = ["MAX_REASON_LENGTH", "describe_exception", "failure_terminal", "run_task"]

logger = logging.getLogger("trio_coord.runner")


#: The longest failure reason sent to Airflow (characters); the rest is cut.
MAX_REASON_LENGTH: Final = 4096


def _safe_text(exc: BaseException) -> str:
    """``str(exc)``, else ``repr(exc)``, else a placeholder: user code can make both raise."""
    for render in (str, repr):
        try:
            text = render(exc)
        except Exception:  # noqa: BLE001, S112 - a broken __str__/__repr__ must not lose the report
            continue
        if isinstance(text, str):
            return text if render is str else f"(str() failed) {text}"
    return f"<unprintable {type(exc).__name__}>"


def describe_exception(exc: BaseException) -> str:
    """A short, safe, masked description of ``exc`` for a failure reason. Never raises.

    ``str()`` and ``repr()`` of the exception are guarded (either may raise),
    secrets are masked, and the result is at most :data:`MAX_REASON_LENGTH`
    characters.
    """
    if isinstance(exc, trio.Cancelled):
        return "cancelled"
    name = type(exc).__name__
    text = redact(_safe_text(exc))  # the reason is stored by Airflow: mask secrets here too
    return _bounded(f"{name}: {text}" if text else name)


def _bounded(reason: str) -> str:
    if len(reason) <= MAX_REASON_LENGTH:
        return reason
    return f"{reason[:MAX_REASON_LENGTH]}... ({len(reason) - MAX_REASON_LENGTH} more characters)"


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _control_exception(exc: BaseException) -> BaseException:
    """What a task's exception group means, if it carries SkipTask/FailTask/Reschedule.

    A control exception raised inside a nursery reaches us wrapped in an
    exception group, often beside the ``Cancelled`` of its siblings. Policy: a
    :class:`FailTask` anywhere wins (its author ruled out a retry); a group
    whose other leaves are all ``Cancelled`` and whose control leaves are all
    :class:`SkipTask` (or all :class:`Reschedule`) means that; anything else
    in the group makes it an ordinary failure.
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, FailTask):
            return leaf
    meaningful = [leaf for leaf in leaves if not isinstance(leaf, trio.Cancelled)]
    if meaningful and all(isinstance(leaf, SkipTask) for leaf in meaningful):
        return meaningful[0]
    reschedules = [leaf for leaf in meaningful if isinstance(leaf, Reschedule)]
    if meaningful and len(reschedules) == len(meaningful):
        return min(reschedules, key=lambda leaf: leaf.reschedule_date)
    if len(meaningful) == 1 and isinstance(meaningful[0], (Defer, AwaitInput)):
        return meaningful[0]
    return exc


def failure_terminal(details: StartupDetails, reason: str) -> TerminalMessage:
    """``RetryTask(reason)`` when the run may retry, else ``TaskState(failed)``."""
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

    Cancellation: a cancellation of ``cancel_scope`` (plain, or a group of
    ``Cancelled`` from the task's nurseries) becomes a failure with reason
    ``cancelled``; one from an enclosing scope propagates.
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

    error = result.error
    real_errors = [leaf for leaf in _leaves(error) if not isinstance(leaf, trio.Cancelled)]
    if not real_errors:  # a Cancelled, or a group (any nesting) of nothing but Cancelled
        if not scope.cancel_called:
            result.unwrap()  # a cancellation that is not ours: let it propagate
        logger.error("task %s.%s was cancelled before it finished", ti.dag_id, ti.task_id)
        return failure_terminal(details, "cancelled")
    exc = _control_exception(error)
    if isinstance(exc, Reschedule):
        logger.info(
            "task %s.%s asked to be rescheduled at %s",
            ti.dag_id,
            ti.task_id,
            exc.reschedule_date.isoformat(),
        )
        return RescheduleTask(reschedule_date=exc.reschedule_date)
    if isinstance(exc, Defer):
        logger.info("task %s.%s deferred to %s", ti.dag_id, ti.task_id, exc.trigger)
        return DeferTask(
            classpath=exc.trigger,
            next_method=exc.method,
            trigger_kwargs=exc.trigger_kwargs,  # type: ignore[arg-type]
            trigger_timeout=exc.timeout,
            queue=exc.queue,
            next_kwargs=exc.kwargs,  # type: ignore[arg-type]
        )
    if isinstance(exc, AwaitInput):
        logger.info("task %s.%s awaits input", ti.dag_id, ti.task_id)
        return AwaitInputTask(next_method=exc.method, timeout=exc.timeout, next_kwargs=exc.kwargs)  # type: ignore[arg-type]
    if isinstance(exc, SkipTask):
        logger.info("task %s.%s skipped: %s", ti.dag_id, ti.task_id, _bounded(_safe_text(exc)))
        return TaskState("skipped")
    if isinstance(exc, FailTask):
        logger.error(
            "task %s.%s failed (no retry): %s",
            ti.dag_id,
            ti.task_id,
            _bounded(_safe_text(exc)),
            exc_info=error,
        )
        return TaskState("failed")
    # An ordinary failure: a group is reported by its real errors (the
    # cancellations of the siblings they took down say nothing), the first
    # as the reason; the log line carries the whole group.
    reason = describe_exception(real_errors[0])
    if len(real_errors) > 1:
        more = len(real_errors) - 1
        reason = _bounded(f"{reason} (and {more} more in {describe_exception(error)})")
    logger.error("task %s.%s failed: %s", ti.dag_id, ti.task_id, reason, exc_info=error)
    return failure_terminal(details, reason)
