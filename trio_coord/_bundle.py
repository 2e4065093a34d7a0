"""The task author API: bundles, Dags, tasks and the context a task receives."""

from __future__ import annotations

import datetime as _dt
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Final, TypeAlias, TypeVar, overload

from ._client import CoordinatorClient
from ._errors import XComNotFound
from ._messages import DagRun, SkipTarget, StartupDetails, TaskInstance, TIRunContext
from ._record import Record
from ._serde import serde_decode, serde_encode
from ._wire import JsonValue, check_json_value

__all__ = [
    "Asset",
    "AssetAlias",
    "AwaitInput",
    "Bundle",
    "Dag",
    "Defer",
    "FailTask",
    "Outlet",
    "OutletEvents",
    "Reschedule",
    "SkipTask",
    "Task",
    "TaskContext",
    "TaskFunction",
]

_KEY_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
_T = TypeVar("_T")
_NO_DEFAULT: Final = object()


class SkipTask(Exception):
    """Raise from a task to end it as ``skipped``."""


class FailTask(Exception):
    """Raise from a task to end it as ``failed`` without retrying."""


class Reschedule(Exception):
    """Raise from a task to end this try as ``up_for_reschedule`` and run it again later.

    The task is sent the ``RescheduleTask`` terminal message (the wire
    message :class:`trio_coord.RescheduleTask`; this exception has a
    different name so the two never get confused). The scheduler runs the
    task again at :attr:`reschedule_date` without using up a try, which is
    how a sensor in "reschedule" mode waits between pokes.

    Args:
        reschedule_date: when to run again: a timezone-aware datetime, or a
            non-negative :class:`~datetime.timedelta` from now.

    Raises:
        ValueError: a naive datetime or a negative timedelta.
        TypeError: anything else.
    """

    def __init__(self, reschedule_date: _dt.datetime | _dt.timedelta) -> None:
        if isinstance(reschedule_date, _dt.timedelta):
            if reschedule_date < _dt.timedelta(0):
                raise ValueError(f"Reschedule needs a non-negative delay, got {reschedule_date}")
            when = _dt.datetime.now(_dt.UTC) + reschedule_date
        elif isinstance(reschedule_date, _dt.datetime):
            if reschedule_date.tzinfo is None or reschedule_date.utcoffset() is None:
                raise ValueError(
                    "Reschedule needs a timezone-aware datetime (the supervisor rejects naive ones)"
                )
            when = reschedule_date
        else:
            raise TypeError(
                f"Reschedule takes a datetime or a timedelta, got {type(reschedule_date).__name__}"
            )
        self.reschedule_date: _dt.datetime = when
        super().__init__(f"reschedule at {when.isoformat()}")


def _check_method(method: object, what: str) -> str:
    if not isinstance(method, str) or not method.isidentifier():
        raise ValueError(f"{what}: the resume method must be a name like 'resume', got {method!r}")
    return method


def _check_timeout(timeout: object, what: str) -> _dt.timedelta | None:
    if timeout is None:
        return None
    if not isinstance(timeout, _dt.timedelta):
        raise TypeError(f"{what}: timeout must be a timedelta or None, got {type(timeout).__name__}")
    if timeout <= _dt.timedelta(0):
        raise ValueError(f"{what}: timeout must be positive, got {timeout}")
    return timeout


class Defer(Exception):
    """Raise from a task to hand it to an Airflow trigger; the task runs again when it fires.

    The task ends this run as ``deferred`` (the ``DeferTask`` terminal
    message). Airflow's triggerer runs the trigger (a Python class, e.g.
    ``airflow.providers.standard.triggers.temporal.DateTimeTrigger``); when it
    fires, the scheduler runs the task again, and the new run's
    :attr:`TaskContext.next_method` is ``method`` and
    :attr:`TaskContext.next_kwargs` carries ``kwargs`` plus the trigger's
    ``event``. The same task function runs; it tells the two runs apart by
    ``ctx.next_method``.

    Args:
        trigger: the trigger's import path.
        trigger_kwargs: the trigger's constructor arguments: JSON values,
            aware datetimes and timedeltas (sent in Airflow's serde encoding).
        method: the name the resumed run sees in ``ctx.next_method``.
        kwargs: JSON values the resumed run gets in ``ctx.next_kwargs``.
        timeout: fail the task if the trigger has not fired by then.
        queue: the triggerer queue (only with ``[triggerer] queues_enabled``).

    Raises:
        ValueError, TypeError, LocalProtocolError: an argument Airflow would
            not accept (named in the message).
    """

    def __init__(
        self,
        trigger: str,
        trigger_kwargs: Mapping[str, object] | None = None,
        *,
        method: str = "resume",
        kwargs: Mapping[str, object] | None = None,
        timeout: _dt.timedelta | None = None,
        queue: str | None = None,
    ) -> None:
        if "." not in _check_text(trigger, "Defer trigger"):
            raise ValueError(f"Defer needs the trigger's import path (module.Class), got {trigger!r}")
        self.trigger = trigger
        self.trigger_kwargs = serde_encode(dict(trigger_kwargs or {}), "Defer.trigger_kwargs")
        self.method = _check_method(method, "Defer")
        self.kwargs = serde_encode(dict(kwargs or {}), "Defer.kwargs")
        self.timeout = _check_timeout(timeout, "Defer")
        if queue is not None and not isinstance(queue, str):
            raise TypeError(f"Defer: queue must be a str or None, got {type(queue).__name__}")
        self.queue = queue
        super().__init__(f"defer to {trigger}, then resume in {method!r}")


class AwaitInput(Exception):
    """Raise from a task to park it until a human answers (``awaiting_input``).

    Create the request first (``ctx.client.create_hitl_detail_payload``);
    when the answer arrives (or ``timeout`` passes), the scheduler runs the
    task again with :attr:`TaskContext.next_method` set to ``method``.

    Args:
        method: the name the resumed run sees in ``ctx.next_method``.
        kwargs: JSON values the resumed run gets in ``ctx.next_kwargs``.
        timeout: how long to wait for the answer.
    """

    def __init__(
        self,
        *,
        method: str = "resume",
        kwargs: Mapping[str, object] | None = None,
        timeout: _dt.timedelta | None = None,
    ) -> None:
        self.method = _check_method(method, "AwaitInput")
        self.kwargs = serde_encode(dict(kwargs or {}), "AwaitInput.kwargs")
        self.timeout = _check_timeout(timeout, "AwaitInput")
        super().__init__(f"await input, then resume in {method!r}")


#: Airflow's limit on asset names, URIs and alias names.
_ASSET_TEXT_LIMIT: Final = 1500
#: Airflow's limit on a partition key (``ID_LEN``).
_PARTITION_KEY_LIMIT: Final = 250


def _check_asset_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{what} must not be empty")
    if len(value) > _ASSET_TEXT_LIMIT:
        raise ValueError(f"{what} is longer than {_ASSET_TEXT_LIMIT} characters")
    return value


class Asset(Record):
    """An asset a task produces (declare it with ``@dag.task(outlets=[...])``).

    As in Airflow, a missing ``name`` defaults to the ``uri`` and a missing
    ``uri`` to the ``name``; assets are identified by both.

    Raises:
        ValueError: neither is given, or one is empty or too long.
    """

    name: str = ""
    uri: str = ""

    def __post_init__(self) -> None:
        if not self.name and not self.uri:
            raise ValueError("an Asset needs a name or a uri")
        name = self.name or self.uri
        uri = self.uri or self.name
        object.__setattr__(self, "name", _check_asset_text(name, "Asset.name"))
        object.__setattr__(self, "uri", _check_asset_text(uri, "Asset.uri"))

    def to_profile(self) -> dict[str, object]:
        """The ``AssetProfile`` map ``SucceedTask.task_outlets`` carries."""
        return {"name": self.name, "uri": self.uri, "type": "Asset"}

    def key(self) -> dict[str, str]:
        """The asset key an outlet event names (``dest_asset_key``)."""
        return {"name": self.name, "uri": self.uri}


class AssetAlias(Record):
    """An asset alias a task emits events through (declare it with ``@dag.task(outlets=[...])``).

    The assets behind an alias are decided at run time: each event added
    with :meth:`OutletEvents.add_via_alias` names one.
    """

    name: str

    def __post_init__(self) -> None:
        _check_asset_text(self.name, "AssetAlias.name")

    def to_profile(self) -> dict[str, object]:
        """The ``AssetProfile`` map ``SucceedTask.task_outlets`` carries."""
        return {"name": self.name, "type": "AssetAlias"}


#: What a task may declare in ``outlets``.
Outlet: TypeAlias = Asset | AssetAlias


def _check_extra(extra: Mapping[str, JsonValue] | None, what: str) -> dict[str, JsonValue]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise TypeError(f"{what} must be a mapping, got {type(extra).__name__}")
    value = dict(extra)
    check_json_value(value, what)
    return value


class OutletEvents:
    """The asset events a running task attaches to its declared outlets.

    Each :meth:`add` / :meth:`add_via_alias` is one asset event, sent with
    the task's ``SucceedTask`` (events are dropped if the task does not
    succeed). A declared :class:`Asset` with no event added still gets one
    event (without ``extra``) from the Execution API, as in Airflow.

    Only declared outlets are accepted: the Execution API silently ignores
    events for anything else, so they are refused here instead.
    """

    def __init__(self, outlets: Iterable[Outlet]) -> None:
        self._outlets = tuple(outlets)
        self._events: list[dict[str, object]] = []

    def _require(self, outlet: Outlet) -> None:
        if outlet not in self._outlets:
            declared = ", ".join(repr(o) for o in self._outlets) or "none"
            raise ValueError(
                f"{outlet!r} is not an outlet of this task (declared: {declared}); "
                "declare it with @dag.task(outlets=[...])"
            )

    def add(
        self,
        asset: Asset,
        extra: Mapping[str, JsonValue] | None = None,
        *,
        partition_key: str | None = None,
    ) -> None:
        """Record an event for the declared outlet ``asset``.

        Args:
            asset: a declared :class:`Asset`.
            extra: JSON-serialisable details stored with the event.
            partition_key: the partition the event is for (default: the Dag
                run's partition key).

        Raises:
            ValueError: ``asset`` is not declared, ``extra`` is not JSON, or
                ``partition_key`` is empty or longer than 250 characters.
        """
        if not isinstance(asset, Asset):
            raise TypeError(
                f"add() takes an Asset, got {type(asset).__name__} (use add_via_alias for aliases)"
            )
        self._require(asset)
        event: dict[str, object] = {"dest_asset_key": asset.key(), "extra": _check_extra(extra, "extra")}
        if partition_key is not None:
            key: object = partition_key
            if not isinstance(key, str) or not key.strip():
                raise ValueError("partition_key must be a non-empty string")
            if len(partition_key) > _PARTITION_KEY_LIMIT:
                raise ValueError(f"partition_key is longer than {_PARTITION_KEY_LIMIT} characters")
            event["partition_key"] = partition_key
        self._events.append(event)

    def add_via_alias(
        self,
        alias: AssetAlias,
        asset: Asset,
        extra: Mapping[str, JsonValue] | None = None,
        *,
        asset_extra: Mapping[str, JsonValue] | None = None,
    ) -> None:
        """Record an event for ``asset`` emitted through the declared outlet ``alias``.

        Args:
            alias: a declared :class:`AssetAlias`.
            asset: the asset the event is for (it need not be declared).
            extra: JSON-serialisable details stored with the event.
            asset_extra: the asset's own ``extra``, used if the event creates it.

        Raises:
            ValueError: ``alias`` is not declared, or an extra is not JSON.
        """
        given: tuple[object, object] = (alias, asset)
        if not isinstance(given[0], AssetAlias) or not isinstance(given[1], Asset):
            raise TypeError("add_via_alias() takes an AssetAlias and an Asset")
        self._require(alias)
        self._events.append(
            {
                "source_alias_name": alias.name,
                "dest_asset_key": asset.key(),
                "dest_asset_extra": _check_extra(asset_extra, "asset_extra"),
                "extra": _check_extra(extra, "extra"),
            }
        )

    def to_wire(self) -> list[dict[str, object]]:
        """The ``SucceedTask.outlet_events`` list (copies)."""
        return [dict(event) for event in self._events]

    def __len__(self) -> int:
        return len(self._events)

    def __repr__(self) -> str:
        return f"<OutletEvents {len(self._events)} event(s) for {len(self._outlets)} outlet(s)>"


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
        outlet_events: the asset events to attach to the task's declared
            outlets (sent when the task succeeds).
    """

    def __init__(self, details: StartupDetails, client: CoordinatorClient, task: Task) -> None:
        self.details = details
        self.ti: TaskInstance = details.ti
        self.ti_context: TIRunContext = details.ti_context
        self.dag_run: DagRun = details.ti_context.dag_run
        self.client = client
        self.task = task
        self.log = logging.getLogger(f"task.{details.ti.dag_id}.{details.ti.task_id}")
        self.outlet_events = OutletEvents(task.outlets)
        self._mapped_items: dict[tuple[str, str], JsonValue] = {}

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

    @property
    def next_method(self) -> str | None:
        """Set when this run resumes a task that raised :class:`Defer` or :class:`AwaitInput`.

        The ``method`` it named then; ``None`` on a first run.
        """
        return self.ti_context.next_method

    @property
    def next_kwargs(self) -> object:
        """The keyword arguments the resumed run gets, decoded (datetimes and timedeltas restored).

        For a trigger, Airflow adds the trigger's payload as ``"event"``.
        ``None`` on a first run.
        """
        raw = self.ti_context.next_kwargs
        if raw is None or isinstance(raw, str):
            return raw
        return serde_decode(raw)  # type: ignore[arg-type]

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

    async def mapped_item(self, upstream: str | None = None, *, key: str = "return_value") -> JsonValue:
        """Return the item this mapped task instance was expanded over.

        For a stub mapped as ``work.expand(item=upstream())`` Airflow creates
        one task instance per element of ``upstream``'s XCom, numbered by
        ``ctx.ti.map_index``; Airflow 3.3's ``StartupDetails`` carries the
        number but not the element, so this method reads it from the XCom:

        * an **unmapped** upstream stored its whole list (or dict) as one
          XCom: the element at ``map_index`` is taken from it (a dict gives
          its ``[key, value]`` pair, in the dict's order, as Airflow does);
        * a **mapped** upstream (``work.expand(item=other_mapped_task)``)
          stored one XCom per instance: the one at ``map_index`` is fetched
          alone with ``GetXComSequenceItem`` (Airflow's own lazy sequence
          request), not the whole set.

        The result is cached: a second call costs nothing. Only an argument
        expanded over one upstream XCom can be recovered; a literal list
        (``.expand(item=[1, 2])``), several expanded arguments (their
        cross product), ``expand_kwargs`` or ``.map()`` are not in the XCom
        this reads.

        Blocks (cancellably) for one or two supervisor round trips, each
        bounded by the client's request timeout.

        Args:
            upstream: the task id whose XCom this task is expanded over
                (default: the ``mapped_over`` the task was registered with).
            key: the XCom key (default ``return_value``).

        Raises:
            ValueError: this task instance is not mapped (``map_index`` -1),
                no upstream was named here or at registration, or the
                upstream's XCom is neither a list nor a dict.
            LookupError: the upstream has no such XCom, or none at this
                ``map_index`` (the message names the task, key and index).
        """
        where = f"{self.ti.dag_id}.{self.ti.task_id}"
        index = self.ti.map_index
        if index < 0:
            raise ValueError(
                f"task {where} is not mapped (map_index {index}): mapped_item() is for task "
                "instances Airflow expanded with .expand(); read an unmapped upstream with xcom_pull()"
            )
        task_id = upstream if upstream is not None else self.task.mapped_over
        if task_id is None:
            raise ValueError(
                f"mapped_item() of task {where} does not know which upstream it is expanded over: "
                "pass its task id (ctx.mapped_item('upstream')) or register the task with "
                "@dag.task(mapped_over='upstream')"
            )
        _check_text(task_id, "mapped_item's upstream task id")
        cache_key = (task_id, key)
        if cache_key in self._mapped_items:
            return self._mapped_items[cache_key]
        dag_id, run_id = self.ti.dag_id, self.ti.run_id
        xcom = f"XCom {key!r} of task {task_id!r} (run {self.ti.run_id!r})"
        # An unmapped upstream's value is the one at map_index -1; a mapped upstream has none there.
        whole = await self.client.get_xcom(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key)
        if whole is not None:
            item = _element(whole, index, xcom)
        else:
            try:
                item = await self.client.get_xcom_sequence_item(
                    dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, offset=index
                )
            except XComNotFound:
                raise LookupError(
                    f"mapped_item(): there is no {xcom} for map_index {index}; is {task_id!r} the task "
                    f"{where} is expanded over, and did it push {key!r}?"
                ) from None
        self._mapped_items[cache_key] = item
        return item

    async def xcom_push(self, key: str, value: JsonValue) -> None:
        """Push an XCom from this task instance.

        Raises:
            LocalProtocolError: ``value`` is not JSON-serialisable.
        """
        await self.client.push_xcom(self.ti, key, value)

    @property
    def outlets(self) -> tuple[Outlet, ...]:
        """The assets and aliases the task declared it produces."""
        return self.task.outlets

    async def skip_downstream(self, *tasks: SkipTarget) -> None:
        """Mark tasks of this Dag run as skipped (ids, or ``(task_id, map_index)`` pairs)."""
        await self.client.skip_downstream_tasks(list(tasks))

    @overload
    async def get_task_state(self, key: str) -> JsonValue: ...
    @overload
    async def get_task_state(self, key: str, default: _T) -> JsonValue | _T: ...

    async def get_task_state(self, key: str, default: object = _NO_DEFAULT) -> object:
        """Read ``key`` from this task instance's state store.

        Raises:
            TaskStoreNotFound: the key is not stored and no default was given.
        """
        if default is _NO_DEFAULT:
            return await self.client.get_task_state(self.ti.id, key)
        return await self.client.get_task_state(self.ti.id, key, default)

    async def set_task_state(
        self, key: str, value: JsonValue, *, expires_at: _dt.datetime | None = None
    ) -> None:
        """Store ``value`` under ``key`` in this task instance's state store."""
        await self.client.set_task_state(self.ti.id, key, value, expires_at=expires_at)

    async def delete_task_state(self, key: str) -> None:
        """Delete ``key`` from this task instance's state store."""
        await self.client.delete_task_state(self.ti.id, key)

    async def clear_task_state(self) -> None:
        """Delete every key of this task instance's state store."""
        await self.client.clear_task_state(self.ti.id)


def _element(value: JsonValue, index: int, xcom: str) -> JsonValue:
    """Element ``index`` of an expanded XCom value, as Airflow picks it (dicts give pairs)."""
    if isinstance(value, list):
        if index >= len(value):
            raise LookupError(
                f"mapped_item(): map_index {index} is beyond the {len(value)} items of the {xcom}"
            )
        return value[index]
    if isinstance(value, dict):
        if index >= len(value):
            raise LookupError(
                f"mapped_item(): map_index {index} is beyond the {len(value)} entries of the {xcom}"
            )
        name, item = list(value.items())[index]
        return [name, item]
    raise ValueError(
        f"mapped_item(): the {xcom} is a {type(value).__name__}, not a list or dict Airflow could expand over"
    )


#: The signature of a task: an ``async def`` taking a :class:`TaskContext`.
TaskFunction: TypeAlias = Callable[[TaskContext], Awaitable[object]]
_F = TypeVar("_F", bound=TaskFunction)


class Task(Record):
    """A registered task: its ids, its function and its options."""

    dag_id: str
    task_id: str
    function: TaskFunction
    push_return_value: bool = True
    outlets: tuple[Outlet, ...] = ()
    mapped_over: str | None = None


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
        self,
        /,
        *,
        task_id: str | None = None,
        push_return_value: bool = True,
        outlets: Iterable[Outlet] = (),
        mapped_over: str | None = None,
    ) -> Callable[[_F], _F]: ...

    def task(
        self,
        function: _F | None = None,
        /,
        *,
        task_id: str | None = None,
        push_return_value: bool = True,
        outlets: Iterable[Outlet] = (),
        mapped_over: str | None = None,
    ) -> _F | Callable[[_F], _F]:
        """Register an ``async def`` task; usable as ``@dag.task`` or ``@dag.task(...)``.

        Args:
            function: the task function (when used without parentheses).
            task_id: the task id (default: the function's name).
            push_return_value: push a non-``None`` return value as the
                ``return_value`` XCom (default ``True``).
            outlets: the assets (:class:`Asset`) and asset aliases
                (:class:`AssetAlias`) the task produces; sent as
                ``task_outlets`` when it succeeds, so the Execution API
                records an asset event for each asset.
            mapped_over: for a task the Dag maps with ``.expand()``, the id
                of the upstream task whose XCom it is expanded over; then
                :meth:`TaskContext.mapped_item` needs no argument.

        Raises:
            TypeError: the function is not an ``async def``, or an outlet is
                not an Asset or AssetAlias.
            ValueError: the task id or ``mapped_over`` is invalid, or the
                task id is already registered.
        """
        declared = tuple(outlets)
        for outlet in declared:
            if not isinstance(outlet, (Asset, AssetAlias)):
                raise TypeError(f"outlets must be Asset or AssetAlias objects, got {outlet!r}")
        if mapped_over is not None:
            _check_key(mapped_over, "mapped_over")

        def register(fn: _F) -> _F:
            if not _is_async_function(fn):
                name = getattr(fn, "__name__", fn)
                raise TypeError(f"task {name!r} must be an 'async def' function taking a TaskContext")
            tid = _check_key(task_id if task_id is not None else fn.__name__, "task_id")
            if tid in self._tasks:
                raise ValueError(f"task {tid!r} is already registered in Dag {self.dag_id!r}")
            self._tasks[tid] = Task(
                self.dag_id, tid, fn, push_return_value, tuple(dict.fromkeys(declared)), mapped_over
            )
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
