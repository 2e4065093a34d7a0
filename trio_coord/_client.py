"""CoordinatorClient: typed requests to the supervisor over a CoordinatorComm.

Every request is validated locally when its message is built (the 1.3.2
supervisor silently drops what it cannot validate) and every wait for a reply
is bounded by :attr:`CoordinatorClient.request_timeout`, so a dropped request
surfaces as :class:`RequestTimeout` naming it, never as a hang.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, TypeVar, overload

import trio

from ._comm import CoordinatorComm
from ._connection_uri import connection_from_env
from ._errors import (
    AssetStoreNotFound,
    RemoteProtocolError,
    RequestTimeout,
    TaskStoreNotFound,
    VariableNotFound,
)
from ._framing import WireMap
from ._lazy import lazy_module
from ._messages import (
    AssetProfile,
    Connection,
    DagRun,
    DeleteXCom,
    GetConnection,
    GetVariable,
    GetXCom,
    MaskSecret,
    Request,
    SetXCom,
    SkipTarget,
    TaskInstance,
    VariableResult,
    XComResult,
)
from ._redact import REPLACEMENT, is_sensitive_key, redact, register_secret
from ._wire import JsonValue

if TYPE_CHECKING:
    from . import _vocabulary as v
else:
    v = lazy_module("trio_coord._vocabulary")

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "CoordinatorClient"]

#: Default bound, in seconds, on the wait for any one reply. Override per
#: client or with the ``TRIO_COORD_REQUEST_TIMEOUT`` environment variable.
DEFAULT_REQUEST_TIMEOUT: Final = 120.0

_T = TypeVar("_T")


class _NoDefault:
    def __repr__(self) -> str:
        return "<no default>"


_NO_DEFAULT: Final = _NoDefault()


def seconds_from_env(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    """A positive number of seconds from the environment variable ``name``, else ``default``.

    Raises:
        ValueError: naming the variable, when its value is not a positive
            number of seconds (less than a day).
    """
    raw = (os.environ if env is None else env).get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value < 86400:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _mask_json(value: JsonValue, key: str | None) -> JsonValue:
    """``value`` with secrets masked as Airflow masks rendered fields."""
    if isinstance(value, str):
        return REPLACEMENT if key is not None and is_sensitive_key(key) else redact(value)
    if isinstance(value, list):
        return [_mask_json(item, key) for item in value]
    if isinstance(value, dict):
        return {k: _mask_json(v, k) for k, v in value.items()}
    return value


def _opt_list(values: Sequence[_T] | None) -> list[_T] | None:
    """``values`` as a list, keeping ``None`` (an absent filter) apart from an empty list."""
    return None if values is None else list(values)


class CoordinatorClient:
    """The task's view of the supervisor: variables, connections, XComs, and more.

    Args:
        comm: the comm channel to the supervisor.
        request_timeout: seconds to wait for any one reply (default
            :data:`DEFAULT_REQUEST_TIMEOUT`, or ``TRIO_COORD_REQUEST_TIMEOUT``).
        use_env: look up ``AIRFLOW_VAR_<KEY>`` / ``AIRFLOW_CONN_<ID>``
            environment variables before asking the supervisor, as Airflow's
            environment secrets backend (and the Go SDK) do.

    All methods are safe to call concurrently from many tasks. Each raises
    :class:`~trio_coord.RequestTimeout` when no reply arrives in time,
    :class:`~trio_coord.DispatcherClosed` when the supervisor went away, and a
    specific :class:`~trio_coord.ApiError` subclass for an error reply.
    """

    def __init__(
        self,
        comm: CoordinatorComm,
        *,
        request_timeout: float | None = None,
        use_env: bool = True,
    ) -> None:
        self.comm = comm
        self.request_timeout = (
            request_timeout
            if request_timeout is not None
            else seconds_from_env("TRIO_COORD_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT)
        )
        self.use_env = use_env

    # ------------------------------------------------------------------ core

    async def request(self, message: Request) -> WireMap | None:
        """Send one request and return the reply body (``None`` for a nil reply).

        Waits at most :attr:`request_timeout` seconds.

        Raises:
            RequestTimeout: no reply in time (the request is named).
            RemoteProtocolError: the reply has an unexpected ``type``.
            ApiError: the supervisor answered with an error.
            DispatcherClosed: the connection is gone.
        """
        body = message.to_wire()
        try:
            reply = await self.comm.communicate(body, timeout=self.request_timeout)
        except trio.TooSlowError:
            raise RequestTimeout(message.describe(), self.request_timeout) from None
        self._check_reply_type(message, reply)
        return reply

    @staticmethod
    def _check_reply_type(message: Request, reply: WireMap | None) -> None:
        """Check that ``reply`` is of a type ``message`` expects.

        Raises:
            RemoteProtocolError: naming the request, the expected and the received type.
        """
        if message.reply_types:
            kind = reply.get("type") if reply is not None else None
            if kind not in message.reply_types:
                expected = " or ".join(message.reply_types)
                raise RemoteProtocolError(f"{message.describe()}: expected a {expected} reply, got {kind!r}")

    # ------------------------------------------------------------------ variables

    @overload
    async def get_variable(self, key: str) -> str | None: ...
    @overload
    async def get_variable(self, key: str, default: _T) -> str | _T | None: ...

    async def get_variable(self, key: str, default: object = _NO_DEFAULT) -> object:
        """Return a variable's value (``None`` if it is stored as null).

        Args:
            key: the variable key.
            default: returned when the variable does not exist; without it,
                a missing variable raises :class:`~trio_coord.VariableNotFound`.

        Raises:
            LocalProtocolError: ``key`` is not a non-empty str (nothing sent).
        """
        if type(key) is not str or not key:  # invalid (raises), or a str subclass
            return await self._get_variable_general(key, default)
        if self.use_env and (env_value := os.environ.get(f"AIRFLOW_VAR_{key.upper()}")) is not None:
            return await self._variable_from_env(key, env_value)
        # The fast path (docs/design.md, "Client"): the body GetVariable(key).to_wire() renders,
        # built directly, and the common reply read without building a VariableResult. Anything
        # else goes through the general path below, which the tests hold this one to.
        timeout = self.request_timeout
        try:
            reply = await self.comm.communicate({"key": key, "type": "GetVariable"}, timeout=timeout)
        except trio.TooSlowError:
            raise RequestTimeout(GetVariable(key).describe(), timeout) from None
        except VariableNotFound:
            if default is _NO_DEFAULT:
                raise
            return default
        if type(reply) is dict and reply.get("type") == "VariableResult" and type(reply.get("key")) is str:
            value = reply.get("value")
            if value is None:
                return None
            if type(value) is str:
                if value and is_sensitive_key(key):
                    register_secret(value)
                return value
        return self._variable_value(GetVariable(key), reply)

    async def _get_variable_general(self, key: str, default: object) -> object:
        """``get_variable`` through the typed messages: what its fast path must match."""
        message = GetVariable(key)
        if self.use_env and (env_value := os.environ.get(f"AIRFLOW_VAR_{key.upper()}")) is not None:
            return await self._variable_from_env(key, env_value)
        try:
            reply = await self.request(message)
        except VariableNotFound:
            if default is _NO_DEFAULT:
                raise
            return default
        return self._variable_value(message, reply)

    @staticmethod
    async def _variable_from_env(key: str, value: str) -> str:
        """Return ``AIRFLOW_VAR_<KEY>``'s ``value``, registered as a secret if ``key`` is sensitive."""
        await trio.lowlevel.checkpoint()
        if is_sensitive_key(key):
            register_secret(value)
        return value

    def _variable_value(self, message: GetVariable, reply: WireMap | None) -> str | None:
        """The value of a ``VariableResult`` reply, registered as a secret if the key is sensitive.

        Raises:
            RemoteProtocolError: the reply is not a well-formed ``VariableResult``.
        """
        self._check_reply_type(message, reply)
        value = VariableResult.from_wire(reply).value
        if value and is_sensitive_key(message.key):
            register_secret(value)
        return value

    @overload
    async def get_json_variable(self, key: str) -> JsonValue: ...
    @overload
    async def get_json_variable(self, key: str, default: _T) -> JsonValue | _T: ...

    async def get_json_variable(self, key: str, default: object = _NO_DEFAULT) -> object:
        """Return a variable's value parsed as JSON.

        Raises:
            VariableNotFound: the variable is missing and no default was given.
            ValueError: the value is not valid JSON (the key is named).
        """
        value = await self.get_variable(key, default)
        if value is default:
            return default
        if value is None:
            return None
        import json  # where it is used: a run that needs no JSON never imports the package

        try:
            return json.loads(str(value))
        except ValueError as exc:
            raise ValueError(f"variable {key!r} is not valid JSON: {exc}") from None

    # ------------------------------------------------------------------ connections

    async def get_connection(self, conn_id: str) -> Connection:
        """Return a connection.

        Raises:
            ConnectionNotFound: no such connection.
        """
        message = GetConnection(conn_id)
        found = connection_from_env(conn_id) if self.use_env else None
        from_env = found is not None
        if found is not None:
            await trio.lowlevel.checkpoint()
            connection = found
        else:
            connection = Connection.from_wire(await self.request(message))
        secrets = [secret for secret in (connection.password, connection.extra) if secret]
        for secret in secrets:
            register_secret(secret)
        with contextlib.suppress(ValueError):
            register_secret(connection.extra_dejson)  # sensitive keys inside extra, as Airflow does
        if from_env:
            # The supervisor never saw this connection: have it mask the secrets too.
            for secret in secrets:
                await self.request(MaskSecret(value=secret))
        return connection

    # ------------------------------------------------------------------ xcoms

    async def get_xcom(
        self,
        *,
        dag_id: str,
        run_id: str,
        task_id: str,
        key: str,
        map_index: int | None = None,
        include_prior_dates: bool = False,
    ) -> JsonValue:
        """Return an XCom value, or ``None`` when there is none.

        ``map_index`` ``None`` (or negative) reads the unmapped value.
        """
        message = GetXCom(
            key=key,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=map_index if map_index is not None and map_index >= 0 else None,
            include_prior_dates=include_prior_dates,
        )
        return XComResult.from_wire(await self.request(message)).value

    async def push_xcom(self, ti: TaskInstance, key: str, value: JsonValue) -> None:
        """Store an XCom for task instance ``ti`` (``map_index`` omitted when unmapped).

        Raises:
            LocalProtocolError: ``value`` is not a JSON value (nothing sent).
        """
        message = SetXCom(
            key=key,
            value=value,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index if ti.map_index >= 0 else None,
        )
        await self.request(message)

    async def delete_xcom(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None = None
    ) -> None:
        """Delete an XCom."""
        message = DeleteXCom(
            key=key,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=map_index if map_index is not None and map_index >= 0 else None,
        )
        await self.request(message)

    # ------------------------------------------------------------------ secrets

    async def mask_secret(self, value: JsonValue, name: str | None = None) -> None:
        """Mask ``value`` in every later log line, here and in the supervisor."""
        message = MaskSecret(value=value, name=name)
        register_secret(value)
        await self.request(message)

    # ------------------------------------------------------------------ the wider vocabulary
    #
    # One method per request type the 1.3.2 supervisor handles (see
    # docs/supervisor-requests.md). Each validates its request before sending
    # (LocalProtocolError, nothing sent), waits at most request_timeout, and
    # raises the ApiError subclass for an error reply.

    async def _ok(self, message: Request) -> None:
        """Send a request answered by ``OKResponse`` and check that it is ok."""
        reply = v.OKResponse.from_wire(await self.request(message))
        if not reply.ok:
            raise RemoteProtocolError(f"{message.describe()}: the supervisor answered OKResponse(ok=false)")

    # variables

    async def get_variable_keys(
        self, prefix: str | None = None, *, limit: int = 1000, offset: int = 0
    ) -> v.VariableKeysResult:
        """Return one page of variable keys (``limit`` from ``offset``) and the total count.

        Args:
            prefix: only keys starting with it (all keys when ``None``).
            limit: the most keys returned (at least 1).
            offset: how many matching keys to skip.
        """
        message = v.GetVariableKeys(prefix=prefix, limit=limit, offset=offset)
        return v.VariableKeysResult.from_wire(await self.request(message))

    async def set_variable(self, key: str, value: str | None, description: str | None = None) -> None:
        """Create or replace a variable (Go: ``SetVariable``)."""
        await self.request(v.PutVariable(key=key, value=value, description=description))

    async def delete_variable(self, key: str) -> None:
        """Delete a variable (deleting a missing one is not an error)."""
        await self._ok(v.DeleteVariable(key))

    # xcoms

    async def get_xcom_count(self, *, dag_id: str, run_id: str, task_id: str, key: str) -> int:
        """Return how many values a (mapped) XCom has."""
        message = v.GetXComCount(key=key, dag_id=dag_id, run_id=run_id, task_id=task_id)
        return v.XComCountResponse.from_wire(await self.request(message)).len

    async def get_xcom_sequence_item(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, offset: int
    ) -> JsonValue:
        """Return item ``offset`` of a mapped XCom (negative counts from the end).

        Raises:
            XComNotFound: there is no such item.
        """
        message = v.GetXComSequenceItem(key=key, dag_id=dag_id, run_id=run_id, task_id=task_id, offset=offset)
        return v.XComSequenceIndexResult.from_wire(await self.request(message)).root

    async def get_xcom_sequence_slice(
        self,
        *,
        dag_id: str,
        run_id: str,
        task_id: str,
        key: str,
        start: int | None = None,
        stop: int | None = None,
        step: int | None = None,
        include_prior_dates: bool = False,
    ) -> list[JsonValue]:
        """Return ``values[start:stop:step]`` of a mapped XCom."""
        message = v.GetXComSequenceSlice(
            key=key,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            start=start,
            stop=stop,
            step=step,
            include_prior_dates=include_prior_dates,
        )
        return v.XComSequenceSliceResult.from_wire(await self.request(message)).root

    # rendering

    async def set_rendered_fields(self, rendered_fields: Mapping[str, JsonValue]) -> None:
        """Store the running task instance's rendered template fields (shown in the UI).

        Like the Python task runner, secrets are masked before sending: every
        registered secret inside a string, and any string under a sensitive
        key (``password``, ``token``, ...), becomes ``***``.
        """
        message = v.SetRenderedFields(dict(rendered_fields))  # validates first
        await self.request(v.SetRenderedFields(_mask_json(message.rendered_fields, None)))  # type: ignore[arg-type]

    async def set_rendered_map_index(self, rendered_map_index: str) -> None:
        """Set the running task instance's rendered map index (its display name in the UI)."""
        await self.request(v.SetRenderedMapIndex(rendered_map_index))

    # task instances and Dag runs

    async def skip_downstream_tasks(self, tasks: Sequence[SkipTarget]) -> None:
        """Mark tasks of the running Dag run as skipped; the calling task carries on.

        Args:
            tasks: task ids, or ``(task_id, map_index)`` pairs for mapped instances.
        """
        await self.request(v.SkipDownstreamTasks(list(tasks)))

    async def trigger_dag_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        conf: Mapping[str, JsonValue] | None = None,
        logical_date: _dt.datetime | None = None,
        run_after: _dt.datetime | None = None,
        reset_dag_run: bool = False,
        partition_key: str | None = None,
        note: str | None = None,
    ) -> None:
        """Trigger a run of Dag ``dag_id`` with id ``run_id``.

        Args:
            reset_dag_run: clear an existing run with the same id instead of failing.
            partition_key: accepted, but task-sdk 1.3.2 does not forward it.

        Raises:
            DagRunAlreadyExists: the run exists and ``reset_dag_run`` is false.
        """
        message = v.TriggerDagRun(
            dag_id=dag_id,
            run_id=run_id,
            logical_date=logical_date,
            run_after=run_after,
            conf=dict(conf) if conf is not None else None,
            reset_dag_run=reset_dag_run,
            partition_key=partition_key,
            note=note,
        )
        await self._ok(message)

    async def get_dag_run(self, dag_id: str, run_id: str) -> DagRun:
        """Return a Dag run."""
        return DagRun.from_wire(await self.request(v.GetDagRun(dag_id=dag_id, run_id=run_id)), "DagRunResult")

    async def get_dag_run_state(self, dag_id: str, run_id: str) -> str:
        """Return a Dag run's state (``queued``, ``running``, ``success`` or ``failed``)."""
        reply = await self.request(v.GetDagRunState(dag_id=dag_id, run_id=run_id))
        return v.DagRunStateResult.from_wire(reply).state

    async def get_dag_run_count(
        self,
        dag_id: str,
        *,
        logical_dates: Sequence[_dt.datetime] | None = None,
        run_ids: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
    ) -> int:
        """Count the runs of ``dag_id`` matching every filter given (``GetDRCount``)."""
        message = v.GetDRCount(
            dag_id=dag_id,
            logical_dates=_opt_list(logical_dates),
            run_ids=_opt_list(run_ids),
            states=_opt_list(states),
        )
        return v.DRCount.from_wire(await self.request(message)).count

    async def get_previous_dag_run(
        self, dag_id: str, logical_date: _dt.datetime, *, state: str | None = None
    ) -> DagRun | None:
        """Return the last run of ``dag_id`` before ``logical_date`` (in ``state``), if any."""
        message = v.GetPreviousDagRun(dag_id=dag_id, logical_date=logical_date, state=state)
        return v.PreviousDagRunResult.from_wire(await self.request(message)).dag_run

    async def get_prev_successful_dag_run(self, ti_id: str) -> v.PrevSuccessfulDagRunResult:
        """Return the dates of the previous successful run of the running task's Dag.

        ``ti_id`` must be a UUID; the 1.3.2 supervisor ignores it and answers
        for the task instance it runs. All dates are ``None`` when there is
        no such run.
        """
        return v.PrevSuccessfulDagRunResult.from_wire(await self.request(v.GetPrevSuccessfulDagRun(ti_id)))

    async def get_previous_ti(
        self,
        dag_id: str,
        task_id: str,
        *,
        logical_date: _dt.datetime | None = None,
        map_index: int = -1,
        state: str | None = None,
    ) -> v.PreviousTaskInstance | None:
        """Return the previous instance of a task (before ``logical_date``, in ``state``), if any."""
        message = v.GetPreviousTI(
            dag_id=dag_id, task_id=task_id, logical_date=logical_date, map_index=map_index, state=state
        )
        return v.PreviousTIResult.from_wire(await self.request(message)).task_instance

    async def get_ti_count(
        self,
        dag_id: str,
        *,
        map_index: int | None = None,
        task_ids: Sequence[str] | None = None,
        task_group_id: str | None = None,
        logical_dates: Sequence[_dt.datetime] | None = None,
        run_ids: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
    ) -> int:
        """Count the task instances of ``dag_id`` matching every filter given."""
        message = v.GetTICount(
            dag_id=dag_id,
            map_index=map_index,
            task_ids=_opt_list(task_ids),
            task_group_id=task_group_id,
            logical_dates=_opt_list(logical_dates),
            run_ids=_opt_list(run_ids),
            states=_opt_list(states),
        )
        return v.TICount.from_wire(await self.request(message)).count

    async def get_task_states(
        self,
        dag_id: str,
        *,
        map_index: int | None = None,
        task_ids: Sequence[str] | None = None,
        task_group_id: str | None = None,
        logical_dates: Sequence[_dt.datetime] | None = None,
        run_ids: Sequence[str] | None = None,
    ) -> dict[str, dict[str, str | None]]:
        """Return ``{run_id: {task_id: state}}`` for the matching task instances.

        A mapped instance appears as ``"<task_id>_<map_index>"``.
        """
        message = v.GetTaskStates(
            dag_id=dag_id,
            map_index=map_index,
            task_ids=_opt_list(task_ids),
            task_group_id=task_group_id,
            logical_dates=_opt_list(logical_dates),
            run_ids=_opt_list(run_ids),
        )
        return v.TaskStatesResult.from_wire(await self.request(message)).task_states

    async def get_task_breadcrumbs(self, dag_id: str, run_id: str) -> list[dict[str, object]]:
        """Return a summary (task_id, map_index, state, operator, duration) of each finished instance."""
        reply = await self.request(v.GetTaskBreadcrumbs(dag_id=dag_id, run_id=run_id))
        return v.TaskBreadcrumbsResult.from_wire(reply).breadcrumbs

    async def get_task_reschedule_start_date(self, ti_id: str, try_number: int = 1) -> _dt.datetime | None:
        """Return when the first reschedule of try ``try_number`` of ``ti_id`` started, if any."""
        reply = await self.request(v.GetTaskRescheduleStartDate(ti_id=ti_id, try_number=try_number))
        return v.TaskRescheduleStartDate.from_wire(reply).start_date

    async def get_dag(self, dag_id: str) -> v.DagResult:
        """Return what the Execution API knows about Dag ``dag_id`` (``is_paused``, tags, ...)."""
        return v.DagResult.from_wire(await self.request(v.GetDag(dag_id)))

    # assets

    async def get_asset_by_name(self, name: str) -> v.AssetResult:
        """Return the active asset named ``name``.

        Raises:
            AssetNotFound: no active asset has that name.
        """
        return v.AssetResult.from_wire(await self.request(v.GetAssetByName(name)))

    async def get_asset_by_uri(self, uri: str) -> v.AssetResult:
        """Return the active asset with URI ``uri``.

        Raises:
            AssetNotFound: no active asset has that URI.
        """
        return v.AssetResult.from_wire(await self.request(v.GetAssetByUri(uri)))

    async def get_assets_by_alias(self, alias_name: str) -> list[v.AssetResult]:
        """Return the assets the asset alias ``alias_name`` resolves to."""
        return v.AssetsByAliasResult.from_wire(await self.request(v.GetAssetsByAlias(alias_name))).assets

    async def get_asset_events(
        self,
        *,
        name: str | None = None,
        uri: str | None = None,
        after: _dt.datetime | None = None,
        before: _dt.datetime | None = None,
        limit: int | None = None,
        ascending: bool = True,
    ) -> list[v.AssetEvent]:
        """Return the events of the asset with ``name`` and/or ``uri`` (at least one is needed)."""
        message = v.GetAssetEventByAsset(
            name=name, uri=uri, after=after, before=before, limit=limit, ascending=ascending
        )
        return v.AssetEventsResult.from_wire(await self.request(message)).asset_events

    async def get_asset_events_by_alias(
        self,
        alias_name: str,
        *,
        after: _dt.datetime | None = None,
        before: _dt.datetime | None = None,
        limit: int | None = None,
        ascending: bool = True,
    ) -> list[v.AssetEvent]:
        """Return the asset events emitted through the asset alias ``alias_name``."""
        message = v.GetAssetEventByAssetAlias(
            alias_name=alias_name, after=after, before=before, limit=limit, ascending=ascending
        )
        return v.AssetEventsResult.from_wire(await self.request(message)).asset_events

    async def validate_inlets_and_outlets(self, ti_id: str) -> list[AssetProfile]:
        """Return the inlets and outlets of task instance ``ti_id`` that are not active assets."""
        reply = await self.request(v.ValidateInletsAndOutlets(ti_id))
        return v.InactiveAssetsResult.from_wire(reply).inactive_assets

    # task state store

    @overload
    async def get_task_state(self, ti_id: str, key: str) -> JsonValue: ...
    @overload
    async def get_task_state(self, ti_id: str, key: str, default: _T) -> JsonValue | _T: ...

    async def get_task_state(self, ti_id: str, key: str, default: object = _NO_DEFAULT) -> object:
        """Return the value stored under ``key`` in task instance ``ti_id``'s state store.

        Args:
            default: returned when the key is not stored; without it a missing
                key raises :class:`~trio_coord.TaskStoreNotFound`.
        """
        try:
            reply = await self.request(v.GetTaskStateStore(ti_id=ti_id, key=key))
        except TaskStoreNotFound:
            if default is _NO_DEFAULT:
                raise
            return default
        return v.TaskStateStoreResult.from_wire(reply).value

    async def set_task_state(
        self, ti_id: str, key: str, value: JsonValue, *, expires_at: _dt.datetime | None = None
    ) -> None:
        """Store ``value`` under ``key`` in task instance ``ti_id``'s state store (until ``expires_at``)."""
        await self._ok(v.SetTaskStateStore(ti_id=ti_id, key=key, value=value, expires_at=expires_at))

    async def delete_task_state(self, ti_id: str, key: str) -> None:
        """Delete ``key`` from task instance ``ti_id``'s state store."""
        await self._ok(v.DeleteTaskStateStore(ti_id=ti_id, key=key))

    async def clear_task_state(self, ti_id: str) -> None:
        """Delete every key of task instance ``ti_id``'s state store."""
        await self._ok(v.ClearTaskStateStore(ti_id=ti_id))

    # asset state store

    @staticmethod
    def _asset_ref(name: str | None, uri: str | None) -> tuple[str, str]:
        if name is not None and uri is None:
            return "name", name
        if uri is not None and name is None:
            return "uri", uri
        raise ValueError("give exactly one of name= or uri= to address the asset")

    @overload
    async def get_asset_state(
        self, key: str, *, name: str | None = ..., uri: str | None = ...
    ) -> JsonValue: ...
    @overload
    async def get_asset_state(
        self, key: str, default: _T, *, name: str | None = ..., uri: str | None = ...
    ) -> JsonValue | _T: ...

    async def get_asset_state(
        self, key: str, default: object = _NO_DEFAULT, *, name: str | None = None, uri: str | None = None
    ) -> object:
        """Return the value stored under ``key`` in an asset's state store.

        Address the asset by exactly one of ``name`` or ``uri``.

        Args:
            default: returned when the key is not stored; without it a missing
                key raises :class:`~trio_coord.AssetStoreNotFound`.

        Raises:
            ValueError: neither or both of ``name`` and ``uri`` were given.
        """
        by, ref = self._asset_ref(name, uri)
        message: Request = (
            v.GetAssetStateStoreByName(name=ref, key=key)
            if by == "name"
            else v.GetAssetStateStoreByUri(uri=ref, key=key)
        )
        try:
            reply = await self.request(message)
        except AssetStoreNotFound:
            if default is _NO_DEFAULT:
                raise
            return default
        return v.AssetStateStoreResult.from_wire(reply).value

    async def set_asset_state(
        self, key: str, value: JsonValue, *, name: str | None = None, uri: str | None = None
    ) -> None:
        """Store ``value`` under ``key`` in the state store of the asset with ``name`` or ``uri``."""
        by, ref = self._asset_ref(name, uri)
        await self._ok(
            v.SetAssetStateStoreByName(name=ref, key=key, value=value)
            if by == "name"
            else v.SetAssetStateStoreByUri(uri=ref, key=key, value=value)
        )

    async def delete_asset_state(self, key: str, *, name: str | None = None, uri: str | None = None) -> None:
        """Delete ``key`` from the state store of the asset with ``name`` or ``uri``."""
        by, ref = self._asset_ref(name, uri)
        await self._ok(
            v.DeleteAssetStateStoreByName(name=ref, key=key)
            if by == "name"
            else v.DeleteAssetStateStoreByUri(uri=ref, key=key)
        )

    async def clear_asset_state(self, *, name: str | None = None, uri: str | None = None) -> None:
        """Delete every key of the state store of the asset with ``name`` or ``uri``."""
        by, ref = self._asset_ref(name, uri)
        await self._ok(
            v.ClearAssetStateStoreByName(ref) if by == "name" else v.ClearAssetStateStoreByUri(ref)
        )

    # human in the loop

    async def create_hitl_detail(
        self,
        ti_id: str,
        *,
        options: Sequence[str],
        subject: str,
        body: str | None = None,
        defaults: Sequence[str] | None = None,
        multiple: bool = False,
        params: Mapping[str, JsonValue] | None = None,
        assigned_users: Sequence[v.HITLUser] | None = None,
    ) -> v.HITLDetailRequestResult:
        """Create the request part of a Human-in-the-loop interaction for task instance ``ti_id``.

        Returns the request as the Execution API stored it.
        """
        message = v.CreateHITLDetailPayload(
            ti_id=ti_id,
            options=list(options),
            subject=subject,
            body=body,
            defaults=_opt_list(defaults),
            multiple=multiple,
            params=dict(params) if params is not None else None,
            assigned_users=_opt_list(assigned_users),
        )
        return v.HITLDetailRequestResult.from_wire(await self.request(message))
