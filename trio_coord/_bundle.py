"""The task author API: bundles, Dags, tasks and the context a task receives."""

from __future__ import annotations

import datetime as _dt
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias, TypeVar, overload

from ._client import CoordinatorClient
from ._messages import DagRun, StartupDetails, TaskInstance, TIRunContext
from ._wire import JsonValue

__all__ = ["Bundle", "Dag", "FailTask", "SkipTask", "Task", "TaskContext", "TaskFunction"]

_KEY_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")


class SkipTask(Exception):
    """Raise from a task to end it as ``skipped``."""


class FailTask(Exception):
    """Raise from a task to end it as ``failed`` without retrying."""


class TaskContext:
    """What a running task knows about itself, and its way to the supervisor.

    Attributes:
        details: the full :class:`StartupDetails`.
        ti: the task instance.
        ti_context: the run context (``should_retry``, ``max_tries``, ...).
        dag_run: the Dag run (``logical_date``, data interval, ``conf``, ...).
        client: the :class:`CoordinatorClient` for variables, connections,
            XComs and the rest of the supervisor vocabulary.
        log: the task's :class:`logging.Logger` (``task.<dag_id>.<task_id>``).
        task: the registered :class:`Task`.
    """

    def __init__(self, details: StartupDetails, client: CoordinatorClient, task: Task) -> None:
        self.details = details
        self.ti: TaskInstance = details.ti
        self.ti_context: TIRunContext = details.ti_context
        self.dag_run: DagRun = details.ti_context.dag_run
        self.client = client
        self.task = task
        self.log = logging.getLogger(f"task.{details.ti.dag_id}.{details.ti.task_id}")

    @property
    def logical_date(self) -> _dt.datetime | None:
        """The Dag run's logical date (``None`` for runs without one)."""
        return self.dag_run.logical_date

    @property
    def data_interval_start(self) -> _dt.datetime | None:
        """Start of the Dag run's data interval."""
        return self.dag_run.data_interval_start

    @property
    def data_interval_end(self) -> _dt.datetime | None:
        """End of the Dag run's data interval."""
        return self.dag_run.data_interval_end

    @property
    def conf(self) -> Mapping[str, object]:
        """The Dag run's ``conf`` (empty when none was given)."""
        return self.dag_run.conf or {}

    @property
    def try_number(self) -> int:
        """Which try this is (1 for the first)."""
        return self.ti.try_number

    async def xcom_pull(
        self,
        task_id: str,
        key: str = "return_value",
        *,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
        include_prior_dates: bool = False,
    ) -> JsonValue:
        """Read an XCom pushed by ``task_id`` (this Dag run unless told otherwise).

        Returns ``None`` when there is no such XCom.
        """
        return await self.client.get_xcom(
            dag_id=dag_id or self.ti.dag_id,
            run_id=run_id or self.ti.run_id,
            task_id=task_id,
            key=key,
            map_index=map_index,
            include_prior_dates=include_prior_dates,
        )

    async def xcom_push(self, key: str, value: JsonValue) -> None:
        """Push an XCom from this task instance.

        Raises:
            LocalProtocolError: ``value`` is not JSON-serialisable.
        """
        await self.client.push_xcom(self.ti, key, value)


#: The signature of a task: an ``async def`` taking a :class:`TaskContext`.
TaskFunction: TypeAlias = Callable[[TaskContext], Awaitable[object]]
_F = TypeVar("_F", bound=TaskFunction)


@dataclass(frozen=True, slots=True)
class Task:
    """A registered task: its ids, its function and its options."""

    dag_id: str
    task_id: str
    function: TaskFunction
    push_return_value: bool = True


def _is_async_function(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn)


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _check_key(value: object, what: str) -> str:
    if not isinstance(value, str) or not _KEY_RE.match(value):
        raise ValueError(f"{what} {value!r} is invalid: use 1-250 letters, digits, '_', '.' or '-'")
    return value


class Dag:
    """A Dag of a bundle: a named set of tasks.

    Create it with :meth:`Bundle.dag`; register tasks with :meth:`task`.
    """

    def __init__(self, bundle: Bundle, dag_id: str) -> None:
        self.bundle = bundle
        self.dag_id = _check_key(dag_id, "dag_id")
        self._tasks: dict[str, Task] = {}

    @property
    def tasks(self) -> Mapping[str, Task]:
        """The registered tasks by task id, in registration order."""
        return dict(self._tasks)

    @overload
    def task(self, function: _F, /) -> _F: ...
    @overload
    def task(
        self, /, *, task_id: str | None = None, push_return_value: bool = True
    ) -> Callable[[_F], _F]: ...

    def task(
        self,
        function: _F | None = None,
        /,
        *,
        task_id: str | None = None,
        push_return_value: bool = True,
    ) -> _F | Callable[[_F], _F]:
        """Register an ``async def`` task; usable as ``@dag.task`` or ``@dag.task(...)``.

        Args:
            function: the task function (when used without parentheses).
            task_id: the task id (default: the function's name).
            push_return_value: push a non-``None`` return value as the
                ``return_value`` XCom (default ``True``).

        Raises:
            TypeError: the function is not an ``async def``.
            ValueError: the task id is invalid or already registered.
        """

        def register(fn: _F) -> _F:
            if not _is_async_function(fn):
                name = getattr(fn, "__name__", fn)
                raise TypeError(f"task {name!r} must be an 'async def' function taking a TaskContext")
            tid = _check_key(task_id if task_id is not None else fn.__name__, "task_id")
            if tid in self._tasks:
                raise ValueError(f"task {tid!r} is already registered in Dag {self.dag_id!r}")
            self._tasks[tid] = Task(self.dag_id, tid, fn, push_return_value)
            return fn

        if function is not None:
            return register(function)
        return register

    def __repr__(self) -> str:
        return f"<Dag {self.dag_id!r} tasks={list(self._tasks)}>"


class Bundle:
    """A set of Dags whose tasks one executable serves.

    Args:
        name: the bundle's name (shown in the manifest).
        version: the bundle's version.
    """

    def __init__(self, name: str, version: str = "0.0.0") -> None:
        self.name = _check_text(name, "the bundle name")
        self.version = _check_text(version, "the bundle version")
        self._dags: dict[str, Dag] = {}

    def dag(self, dag_id: str) -> Dag:
        """Return the Dag ``dag_id``, creating it on first use."""
        found = self._dags.get(dag_id)
        if found is None:
            found = self._dags[dag_id] = Dag(self, dag_id)
        return found

    @property
    def dags(self) -> Mapping[str, Dag]:
        """The Dags by id."""
        return dict(self._dags)

    def find_task(self, dag_id: str, task_id: str) -> Task | None:
        """Return the task registered as (``dag_id``, ``task_id``), if any."""
        dag = self._dags.get(dag_id)
        return None if dag is None else dag.tasks.get(task_id)

    def __iter__(self) -> Iterator[Task]:
        for dag in self._dags.values():
            yield from dag.tasks.values()

    def __repr__(self) -> str:
        return f"<Bundle {self.name!r} {self.version} dags={list(self._dags)}>"
