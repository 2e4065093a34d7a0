"""Answers to the non-terminal requests, from a :class:`SupervisorStore`.

Replies are shaped as the 1.3.2 supervisor sends them: result bodies with
their ``type``, domain errors (not found) as a body-slot ``ErrorResponse``.
One method per request type, named ``_handle_<Type>``.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._wire import JsonValue
from ._store import SupervisorStore, TaskRun, XComKey

__all__ = ["RequestHandlers"]


class RequestHandlers:
    """Answer requests from ``store``; ``run`` records what the task pushed."""

    def __init__(self, store: SupervisorStore) -> None:
        self.store = store

    def handles(self, kind: str) -> bool:
        """Whether there is a handler for request type ``kind``."""
        return hasattr(self, f"_handle_{kind}")

    def answer(self, body: Mapping[str, object], run: TaskRun) -> dict[str, object] | None:
        """Return the reply body for a validated request (``None`` for a nil reply)."""
        handler = getattr(self, f"_handle_{body['type']}")
        result: dict[str, object] | None = handler(body, run)
        return result

    def _handle_GetVariable(self, body: Mapping[str, object], run: TaskRun) -> dict[str, object]:  # noqa: N802
        key = str(body["key"])
        if key not in self.store.variables:
            return {"error": "VARIABLE_NOT_FOUND", "detail": {"key": key}, "type": "ErrorResponse"}
        return {"key": key, "value": self.store.variables[key], "type": "VariableResult"}

    def _handle_GetConnection(self, body: Mapping[str, object], run: TaskRun) -> dict[str, object]:  # noqa: N802
        conn_id = str(body["conn_id"])
        conn = self.store.connections.get(conn_id)
        if conn is None:
            return {"error": "CONNECTION_NOT_FOUND", "detail": {"conn_id": conn_id}, "type": "ErrorResponse"}
        return {
            "conn_id": conn.conn_id,
            "conn_type": conn.conn_type,
            "host": conn.host,
            "schema": conn.schema,
            "login": conn.login,
            "password": conn.password,
            "port": conn.port,
            "extra": conn.extra,
            "type": "ConnectionResult",
        }

    @staticmethod
    def _xcom_key(body: Mapping[str, object]) -> XComKey:
        map_index = body.get("map_index")
        return XComKey(
            str(body["dag_id"]),
            str(body["run_id"]),
            str(body["task_id"]),
            str(body["key"]),
            map_index if isinstance(map_index, int) and map_index >= 0 else -1,
        )

    def _handle_GetXCom(self, body: Mapping[str, object], run: TaskRun) -> dict[str, object]:  # noqa: N802
        key = self._xcom_key(body)
        return {"key": key.key, "value": self.store.xcoms.get(key), "type": "XComResult"}

    def _handle_SetXCom(self, body: Mapping[str, object], run: TaskRun) -> None:  # noqa: N802
        key = self._xcom_key(body)
        value: JsonValue = body["value"]  # type: ignore[assignment]
        self.store.xcoms[key] = value
        if (key.dag_id, key.run_id, key.task_id) == (run.dag_id, run.run_id, run.task_id):
            run.xcoms_pushed[key.key] = value

    def _handle_DeleteXCom(self, body: Mapping[str, object], run: TaskRun) -> None:  # noqa: N802
        self.store.xcoms.pop(self._xcom_key(body), None)

    def _handle_MaskSecret(self, body: Mapping[str, object], run: TaskRun) -> None:  # noqa: N802
        return None
