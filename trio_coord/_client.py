"""CoordinatorClient: typed requests to the supervisor over a CoordinatorComm.

Every request is validated locally when its message is built (the 1.3.2
supervisor silently drops what it cannot validate) and every wait for a reply
is bounded by :attr:`CoordinatorClient.request_timeout`, so a dropped request
surfaces as :class:`RequestTimeout` naming it, never as a hang.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Final, TypeVar, overload

import trio

from ._comm import CoordinatorComm
from ._connection_uri import connection_from_env
from ._errors import RemoteProtocolError, RequestTimeout, VariableNotFound
from ._framing import WireMap
from ._messages import (
    Connection,
    DeleteXCom,
    GetConnection,
    GetVariable,
    GetXCom,
    MaskSecret,
    Request,
    SetXCom,
    TaskInstance,
    VariableResult,
    XComResult,
)
from ._redact import is_sensitive_key, register_secret
from ._wire import JsonValue

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "CoordinatorClient"]

#: Default bound, in seconds, on the wait for any one reply. Override per
#: client or with the ``TRIO_COORD_REQUEST_TIMEOUT`` environment variable.
DEFAULT_REQUEST_TIMEOUT: Final = 120.0

_T = TypeVar("_T")


class _NoDefault:
    def __repr__(self) -> str:
        return "<no default>"


_NO_DEFAULT: Final = _NoDefault()


def _timeout_from_env() -> float:
    raw = os.environ.get("TRIO_COORD_REQUEST_TIMEOUT", "")
    if not raw:
        return DEFAULT_REQUEST_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"TRIO_COORD_REQUEST_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"TRIO_COORD_REQUEST_TIMEOUT must be positive, got {raw!r}")
    return value


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
        self.request_timeout = request_timeout if request_timeout is not None else _timeout_from_env()
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
        with trio.move_on_after(self.request_timeout) as scope:
            reply = await self.comm.communicate(body)
        if scope.cancelled_caught:
            raise RequestTimeout(message.describe(), self.request_timeout)
        if message.reply_types:
            kind = reply.get("type") if reply is not None else None
            if kind not in message.reply_types:
                expected = " or ".join(message.reply_types)
                raise RemoteProtocolError(f"{message.describe()}: expected a {expected} reply, got {kind!r}")
        return reply

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
        """
        message = GetVariable(key)
        if self.use_env and (env_value := os.environ.get(f"AIRFLOW_VAR_{key.upper()}")) is not None:
            await trio.lowlevel.checkpoint()
            if is_sensitive_key(key):
                register_secret(env_value)
            return env_value
        try:
            reply = await self.request(message)
        except VariableNotFound:
            if default is _NO_DEFAULT:
                raise
            return default
        value = VariableResult.from_wire(reply).value
        if value and is_sensitive_key(key):
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
