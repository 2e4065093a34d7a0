"""The bundle the start-up figure (T5) serves: ``python -m trio_coord serve startup_bundle.py:bundle``.

One task that logs a line and returns: the figure measures the runtime, not a task.
"""

from __future__ import annotations

from trio_coord import Bundle, TaskContext

bundle = Bundle("bench", "1.0")
dag = bundle.dag("bench")


@dag.task
async def bench_task(ctx: TaskContext) -> None:
    ctx.log.info("bench task ran")
