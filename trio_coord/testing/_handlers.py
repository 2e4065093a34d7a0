"""Answers to the non-terminal requests, from a :class:`SupervisorStore`.

Replies are shaped as the 1.3.2 supervisor sends them: result bodies with
their ``type``, domain errors (not found) as a body-slot ``ErrorResponse``.
One method per request type, named ``_handle_<Type>``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Final

from .._messages import DagRun
from .._record import replace as record_replace
from .._vocabulary import AssetEvent, AssetResult
from .._wire import JsonValue, parse_datetime
from ._store import SupervisorStore, TaskInstanceRecord, TaskRun, XComKey

__all__ = ["RequestHandlers"]

_Body = Mapping[str, object]
_Reply = dict[str, object]


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

    # ------------------------------------------------------------------ the wider vocabulary
    #
    # Where the real supervisor turns an Execution API HTTP error (a 404 for
    # an unknown Dag run, say) into an API_SERVER_ERROR, these return that
    # ErrorResponse; the supervisor puts it in the error slot, as 1.3.2 does.

    def _handle_GetVariableKeys(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        prefix = body.get("prefix")
        keys = sorted(k for k in self.store.variables if not isinstance(prefix, str) or k.startswith(prefix))
        offset = _int(body.get("offset"), 0)
        limit = _int(body.get("limit"), 1000)
        return {
            "keys": keys[offset : offset + limit],
            "total_entries": len(keys),
            "type": "VariableKeysResult",
        }

    def _handle_PutVariable(self, body: _Body, run: TaskRun) -> None:  # noqa: N802
        key = str(body["key"])
        value = body["value"]
        description = body["description"]
        self.store.variables[key] = value if isinstance(value, str) else None
        self.store.variable_descriptions[key] = description if isinstance(description, str) else None

    def _handle_DeleteVariable(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        key = str(body["key"])
        self.store.variables.pop(key, None)
        self.store.variable_descriptions.pop(key, None)
        return _OK

    def _mapped_values(self, body: Mapping[str, object]) -> list[JsonValue]:
        where = (str(body["dag_id"]), str(body["run_id"]), str(body["task_id"]), str(body["key"]))
        found = sorted(
            (key.map_index, value)
            for key, value in self.store.xcoms.items()
            if (key.dag_id, key.run_id, key.task_id, key.key) == where
        )
        return [value for _, value in found]

    def _handle_GetXComCount(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        return {"len": len(self._mapped_values(body)), "type": "XComCountResponse"}

    def _handle_GetXComSequenceItem(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        values = self._mapped_values(body)
        offset = _int(body.get("offset"), 0)
        if not -len(values) <= offset < len(values):
            detail = {name: body[name] for name in ("dag_id", "run_id", "task_id", "key", "offset")}
            return _error("XCOM_NOT_FOUND", detail)
        return {"root": values[offset], "type": "XComSequenceIndexResult"}

    def _handle_GetXComSequenceSlice(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        window = slice(_opt_int(body.get("start")), _opt_int(body.get("stop")), _opt_int(body.get("step")))
        return {"root": self._mapped_values(body)[window], "type": "XComSequenceSliceResult"}

    def _handle_SetRenderedFields(self, body: _Body, run: TaskRun) -> None:  # noqa: N802
        run.rendered_fields = dict(body["rendered_fields"])  # type: ignore[call-overload]

    def _handle_SetRenderedMapIndex(self, body: _Body, run: TaskRun) -> None:  # noqa: N802
        run.rendered_map_index = str(body["rendered_map_index"])

    def _handle_SkipDownstreamTasks(self, body: _Body, run: TaskRun) -> None:  # noqa: N802
        tasks = body["tasks"]
        assert isinstance(tasks, list)
        for item in tasks:
            target: str | tuple[str, int] = item if isinstance(item, str) else (str(item[0]), int(item[1]))
            run.skipped_downstream.append(target)
            for ti in self.store.task_instances:
                if (ti.dag_id, ti.run_id) != (run.dag_id, run.run_id):
                    continue
                if ti.task_id == target if isinstance(target, str) else (ti.task_id, ti.map_index) == target:
                    ti.state = "skipped"

    def _handle_TriggerDagRun(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        dag_id, run_id = str(body["dag_id"]), str(body["run_id"])
        existing = self.store.dag_runs.get((dag_id, run_id))
        if existing is not None:
            if not body.get("reset_dag_run"):
                return _error("DAGRUN_ALREADY_EXISTS", None)
            self.store.dag_runs[(dag_id, run_id)] = record_replace(
                existing,
                state="queued",
                clear_number=existing.clear_number + 1,
                start_date=None,
                end_date=None,
            )
            return _OK
        conf = body.get("conf")
        logical_date = _opt_datetime(body.get("logical_date"))
        run_after = _opt_datetime(body.get("run_after")) or logical_date or _now()
        note = body.get("note")
        self.store.dag_runs[(dag_id, run_id)] = DagRun(
            dag_id=dag_id,
            run_id=run_id,
            logical_date=logical_date,
            data_interval_start=logical_date,
            data_interval_end=logical_date,
            run_after=run_after,
            run_type="operator_triggered",
            state="queued",
            conf=dict(conf) if isinstance(conf, dict) else {},
            note=note if isinstance(note, str) else None,
        )
        return _OK

    def _dag_run(self, body: Mapping[str, object]) -> DagRun | dict[str, object]:
        key = (str(body["dag_id"]), str(body["run_id"]))
        found = self.store.dag_runs.get(key)
        if found is None:
            return _http_error(404, f"Dag run {key[1]!r} of Dag {key[0]!r} not found")
        return found

    def _handle_GetDagRun(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        found = self._dag_run(body)
        return found if isinstance(found, dict) else {**dag_run_wire(found), "type": "DagRunResult"}

    def _handle_GetDagRunState(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        found = self._dag_run(body)
        return found if isinstance(found, dict) else {"state": found.state, "type": "DagRunStateResult"}

    def _handle_GetDRCount(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        dag_id = str(body["dag_id"])
        logical_dates = _datetimes(body.get("logical_dates"))
        run_ids, states = body.get("run_ids"), body.get("states")
        count = sum(
            1
            for dr in self.store.dag_runs.values()
            if dr.dag_id == dag_id
            and (logical_dates is None or dr.logical_date in logical_dates)
            and (not isinstance(run_ids, list) or dr.run_id in run_ids)
            and (not isinstance(states, list) or dr.state in states)
        )
        return {"count": count, "type": "DRCount"}

    def _handle_GetPreviousDagRun(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        dag_id = str(body["dag_id"])
        before = _opt_datetime(body["logical_date"])
        state = body.get("state")
        candidates = [
            dr
            for dr in self.store.dag_runs.values()
            if dr.dag_id == dag_id
            and dr.logical_date is not None
            and before is not None
            and dr.logical_date < before
            and (state is None or dr.state == state)
        ]
        latest = max(candidates, key=lambda dr: dr.logical_date or _EPOCH, default=None)
        return {"dag_run": None if latest is None else dag_run_wire(latest), "type": "PreviousDagRunResult"}

    def _handle_GetPrevSuccessfulDagRun(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        # Like the real supervisor, this ignores ti_id and answers for the running task.
        current = self.store.dag_runs.get((run.dag_id, run.run_id))
        cutoff = current.logical_date if current is not None else None
        candidates = [
            dr
            for dr in self.store.dag_runs.values()
            if dr.dag_id == run.dag_id
            and dr.run_id != run.run_id
            and dr.state == "success"
            and (cutoff is None or (dr.logical_date is not None and dr.logical_date < cutoff))
        ]
        latest = max(candidates, key=lambda dr: dr.logical_date or _EPOCH, default=None)
        reply: dict[str, object] = {}
        if latest is not None:
            for name in ("data_interval_start", "data_interval_end", "start_date", "end_date"):
                value = getattr(latest, name)
                if value is not None:  # the supervisor omits unset (nil) keys
                    reply[name] = value
        reply["type"] = "PrevSuccessfulDagRunResult"
        return reply

    def _handle_GetPreviousTI(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        before = _opt_datetime(body.get("logical_date"))
        state = body.get("state")
        map_index = _int(body.get("map_index"), -1)
        candidates = [
            ti
            for ti in self.store.task_instances
            if (ti.dag_id, ti.task_id, ti.map_index) == (body["dag_id"], body["task_id"], map_index)
            and (before is None or (ti.logical_date is not None and ti.logical_date < before))
            and (state is None or ti.state == state)
        ]
        latest = max(candidates, key=lambda ti: ti.logical_date or _EPOCH, default=None)
        return {
            "task_instance": None if latest is None else previous_ti_wire(latest),
            "type": "PreviousTIResult",
        }

    def _matching_tis(self, body: Mapping[str, object]) -> list[TaskInstanceRecord]:
        dag_id = str(body["dag_id"])
        map_index = body.get("map_index")
        task_ids = body.get("task_ids")
        group = body.get("task_group_id")
        logical_dates = _datetimes(body.get("logical_dates"))
        run_ids, states = body.get("run_ids"), body.get("states")
        return [
            ti
            for ti in self.store.task_instances
            if ti.dag_id == dag_id
            and (not isinstance(map_index, int) or map_index < 0 or ti.map_index == map_index)
            and (
                (not isinstance(task_ids, list) and not isinstance(group, str))
                or (isinstance(task_ids, list) and ti.task_id in task_ids)
                # A task in a group has the id "<group>.<task>": the group's tasks by prefix.
                or (isinstance(group, str) and ti.task_id.startswith(f"{group}."))
            )
            and (logical_dates is None or ti.logical_date in logical_dates)
            and (not isinstance(run_ids, list) or ti.run_id in run_ids)
            and (not isinstance(states, list) or ti.state in states)
        ]

    def _handle_GetTICount(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        return {"count": len(self._matching_tis(body)), "type": "TICount"}

    def _handle_GetTaskStates(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        states: dict[str, dict[str, str | None]] = {}
        for ti in self._matching_tis(body):
            name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}_{ti.map_index}"
            states.setdefault(ti.run_id, {})[name] = ti.state
        return {"task_states": states, "type": "TaskStatesResult"}

    def _handle_GetTaskBreadcrumbs(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        finished = sorted(
            (
                ti
                for ti in self.store.task_instances
                if (ti.dag_id, ti.run_id) == (body["dag_id"], body["run_id"])
                and ti.state in _TERMINAL_TI_STATES
            ),
            key=lambda ti: (ti.task_id, ti.map_index),
        )
        crumbs = [
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": ti.state,
                "operator": ti.operator,
                "duration": ti.duration,
            }
            for ti in finished
        ]
        return {"breadcrumbs": crumbs, "type": "TaskBreadcrumbsResult"}

    def _handle_GetTaskRescheduleStartDate(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        key = (str(body["ti_id"]), _int(body.get("try_number"), 1))
        return {
            "start_date": self.store.task_reschedule_start_dates.get(key),
            "type": "TaskRescheduleStartDate",
        }

    def _handle_GetDag(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        dag = self.store.dags.get(str(body["dag_id"]))
        if dag is None:
            return _http_error(404, f"Dag with dag_id: '{body['dag_id']}' not found")
        return {
            "dag_id": dag.dag_id,
            "is_paused": dag.is_paused,
            "bundle_name": dag.bundle_name,
            "bundle_version": dag.bundle_version,
            "relative_fileloc": dag.relative_fileloc,
            "owners": dag.owners,
            "tags": list(dag.tags),
            "next_dagrun": dag.next_dagrun,
            "type": "DagResult",
        }

    def _handle_GetAssetByName(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        found = self.store.assets.get(str(body["name"]))
        if found is None:
            return _error("ASSET_NOT_FOUND", {"name": body["name"]})
        return {**asset_wire(found), "type": "AssetResult"}

    def _handle_GetAssetByUri(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        found = self._asset_by_uri(str(body["uri"]))
        if found is None:
            return _error("ASSET_NOT_FOUND", {"uri": body["uri"]})
        return {**asset_wire(found), "type": "AssetResult"}

    def _asset_by_uri(self, uri: str) -> AssetResult | None:
        return next((a for a in self.store.assets.values() if a.uri == uri), None)

    def _alias_assets(self, alias: str) -> list[AssetResult]:
        names = self.store.asset_aliases.get(alias, [])
        return [self.store.assets[name] for name in names if name in self.store.assets]

    def _handle_GetAssetsByAlias(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        assets = self._alias_assets(str(body["alias_name"]))
        return {
            "assets": [{**asset_wire(a), "type": "AssetResult"} for a in assets],
            "type": "AssetsByAliasResult",
        }

    def _events(self, body: Mapping[str, object], match: Callable[[AssetEvent], bool]) -> dict[str, object]:
        after, before = _opt_datetime(body.get("after")), _opt_datetime(body.get("before"))
        events = [
            e
            for e in self.store.asset_events
            if match(e)
            and (after is None or e.timestamp >= after)
            and (before is None or e.timestamp <= before)
        ]
        events.sort(key=lambda e: (e.timestamp, e.id), reverse=body.get("ascending") is False)
        limit = body.get("limit")
        if isinstance(limit, int) and limit > 0:
            events = events[:limit]
        return {"asset_events": [asset_event_wire(e) for e in events], "type": "AssetEventsResult"}

    def _handle_GetAssetEventByAsset(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        name, uri = body.get("name"), body.get("uri")
        if not name and not uri:
            return _http_error(400, "name and uri cannot both be None")
        return self._events(
            body, lambda e: (not name or e.asset.name == name) and (not uri or e.asset.uri == uri)
        )

    def _handle_GetAssetEventByAssetAlias(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        names = {a.name for a in self._alias_assets(str(body["alias_name"]))}
        return self._events(body, lambda e: e.asset.name in names)

    def _handle_ValidateInletsAndOutlets(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        profiles = [
            {"name": p.name, "uri": p.uri, "type": p.type or "Asset"} for p in self.store.inactive_assets
        ]
        return {"inactive_assets": profiles, "type": "InactiveAssetsResult"}

    def _handle_GetTaskStateStore(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        key = (str(body["ti_id"]), str(body["key"]))
        if key not in self.store.task_state_store:
            return _error("TASK_STORE_NOT_FOUND", {"key": key[1]})
        return {"value": self.store.task_state_store[key], "type": "TaskStateStoreResult"}

    def _handle_SetTaskStateStore(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        value: JsonValue = body["value"]  # type: ignore[assignment]
        self.store.task_state_store[(str(body["ti_id"]), str(body["key"]))] = value
        return _OK

    def _handle_DeleteTaskStateStore(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        self.store.task_state_store.pop((str(body["ti_id"]), str(body["key"])), None)
        return _OK

    def _handle_ClearTaskStateStore(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        ti_id = str(body["ti_id"])
        for key in [k for k in self.store.task_state_store if k[0] == ti_id]:
            del self.store.task_state_store[key]
        return _OK

    def _asset_name(self, body: Mapping[str, object]) -> str | None:
        """The name of the asset a state-store request addresses (by name or URI), if it exists."""
        if "name" in body:
            return str(body["name"]) if str(body["name"]) in self.store.assets else None
        found = self._asset_by_uri(str(body["uri"]))
        return None if found is None else found.name

    def _asset_store_get(self, body: Mapping[str, object]) -> dict[str, object]:
        name = self._asset_name(body)
        key = str(body["key"])
        if name is None or (name, key) not in self.store.asset_state_store:
            return _error("ASSET_STORE_NOT_FOUND", {"key": key})
        return {"value": self.store.asset_state_store[(name, key)], "type": "AssetStateStoreResult"}

    def _asset_store_write(self, body: Mapping[str, object], op: str) -> dict[str, object]:
        name = self._asset_name(body)
        if name is None:
            ref = body.get("name", body.get("uri"))
            return _http_error(404, f"Asset {ref!r} not found")
        if op == "set":
            value: JsonValue = body["value"]  # type: ignore[assignment]
            self.store.asset_state_store[(name, str(body["key"]))] = value
        elif op == "delete":
            self.store.asset_state_store.pop((name, str(body["key"])), None)
        else:
            for key in [k for k in self.store.asset_state_store if k[0] == name]:
                del self.store.asset_state_store[key]
        return _OK

    def _handle_GetAssetStateStoreByName(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        return self._asset_store_get(body)

    def _handle_GetAssetStateStoreByUri(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        return self._asset_store_get(body)

    def _handle_SetAssetStateStoreByName(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        return self._asset_store_write(body, "set")

    def _handle_SetAssetStateStoreByUri(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        return self._asset_store_write(body, "set")

    def _handle_DeleteAssetStateStoreByName(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        return self._asset_store_write(body, "delete")

    def _handle_DeleteAssetStateStoreByUri(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        return self._asset_store_write(body, "delete")

    def _handle_ClearAssetStateStoreByName(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        return self._asset_store_write(body, "clear")

    def _handle_ClearAssetStateStoreByUri(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        return self._asset_store_write(body, "clear")

    def _handle_CreateHITLDetailPayload(self, body: _Body, run: TaskRun) -> _Reply:  # noqa: N802
        stored = {
            name: body[name]
            for name in (
                "ti_id",
                "options",
                "subject",
                "body",
                "defaults",
                "multiple",
                "params",
                "assigned_users",
            )
            if name in body
        }
        self.store.hitl_details[str(body["ti_id"])] = stored
        # The supervisor sends the stored request with unset and default keys left out.
        defaults: dict[str, object] = {"body": None, "defaults": None, "multiple": False, "params": None}
        defaults["assigned_users"] = None
        reply = {k: v for k, v in stored.items() if k not in defaults or defaults[k] != v}
        return {**reply, "type": "HITLDetailRequestResult"}


# ---------------------------------------------------------------------- wire shapes

_OK: Final[dict[str, object]] = {"ok": True, "type": "OKResponse"}
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_TERMINAL_TI_STATES: Final = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _error(error: str, detail: Mapping[str, object] | None) -> dict[str, object]:
    return {"error": error, "detail": dict(detail) if detail is not None else None, "type": "ErrorResponse"}


def _http_error(status_code: int, message: str) -> dict[str, object]:
    """What the supervisor reports when the Execution API answers with an HTTP error."""
    detail = {"status_code": status_code, "message": "Server returned error", "detail": {"message": message}}
    return _error("API_SERVER_ERROR", detail)


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_datetime(value: object) -> _dt.datetime | None:
    if value is None:
        return None
    return parse_datetime(value, "datetime")


def _datetimes(value: object) -> list[_dt.datetime] | None:
    if not isinstance(value, list):
        return None
    return [parse_datetime(item, "datetime") for item in value]


def dag_run_wire(dr: DagRun) -> dict[str, object]:
    """A :class:`DagRun` as the supervisor sends it (``DagRun`` model, every key present)."""
    return {
        "dag_id": dr.dag_id,
        "run_id": dr.run_id,
        "logical_date": dr.logical_date,
        "data_interval_start": dr.data_interval_start,
        "data_interval_end": dr.data_interval_end,
        "run_after": dr.run_after,
        "start_date": dr.start_date,
        "end_date": dr.end_date,
        "clear_number": dr.clear_number,
        "run_type": dr.run_type,
        "state": dr.state,
        "conf": dr.conf,
        "triggering_user_name": dr.triggering_user_name,
        "consumed_asset_events": [
            {
                "asset": {"name": e.asset.name, "uri": e.asset.uri, "extra": e.asset.extra},
                "extra": e.extra,
                "source_task_id": e.source_task_id,
                "source_dag_id": e.source_dag_id,
                "source_run_id": e.source_run_id,
                "source_map_index": e.source_map_index,
                "source_aliases": [{"name": alias} for alias in e.source_aliases],
                "timestamp": e.timestamp,
                "partition_key": e.partition_key,
            }
            for e in dr.consumed_asset_events
        ],
        "partition_key": dr.partition_key,
        "partition_date": dr.partition_date,
        "note": dr.note,
        "team_name": dr.team_name,
    }


def previous_ti_wire(ti: TaskInstanceRecord) -> dict[str, object]:
    """A task instance as ``PreviousTIResponse``."""
    return {
        "task_id": ti.task_id,
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "logical_date": ti.logical_date,
        "start_date": ti.start_date,
        "end_date": ti.end_date,
        "state": ti.state,
        "try_number": ti.try_number,
        "map_index": ti.map_index,
        "duration": ti.duration,
    }


def asset_wire(asset: AssetResult) -> dict[str, object]:
    """An asset as ``AssetResult`` (``extra`` left out when empty, as the supervisor does)."""
    wire: dict[str, object] = {"name": asset.name, "uri": asset.uri, "group": asset.group}
    if asset.extra:
        wire["extra"] = asset.extra
    return wire


def asset_event_wire(event: AssetEvent) -> dict[str, object]:
    """An asset event as the supervisor sends it: keys equal to their default are left out."""
    wire: dict[str, object] = {
        "id": event.id,
        "timestamp": event.timestamp,
        "asset": asset_wire(event.asset),
        "created_dagruns": [
            {
                "run_id": d.run_id,
                "dag_id": d.dag_id,
                "logical_date": d.logical_date,
                "start_date": d.start_date,
                "end_date": d.end_date,
                "state": d.state,
                "data_interval_start": d.data_interval_start,
                "data_interval_end": d.data_interval_end,
                "partition_key": d.partition_key,
            }
            for d in event.created_dagruns
        ],
    }
    if event.extra:
        wire["extra"] = event.extra
    for name in ("source_task_id", "source_dag_id", "source_run_id", "source_map_index", "partition_key"):
        value = getattr(event, name)
        if value is not None:
            wire[name] = value
    return wire
