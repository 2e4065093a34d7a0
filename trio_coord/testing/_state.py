"""Seeds for the embedded supervisor's store, and the state file of ``run --state``.

A *seed* is what a test, a scenario or a state file puts into the store
before a task runs: variables, connections and XComs. Its document form
(JSON, or YAML when PyYAML is installed) is::

    variables:                      # key -> string (or null)
      greeting: hello
    connections:                    # conn id -> Airflow URI or JSON object
      warehouse: postgresql://etl:secret@db.internal:5432/analytics
      api: {conn_type: http, host: api.internal, extra: {timeout: 5}}
    xcoms:                          # "TASK_ID[.KEY]" -> value, in the run's Dag run ...
      upstream: [1, 2, 3]
      upstream.rows: 3
    # ... or a list of entries naming everything:
    # xcoms:
    #   - {dag_id: etl, run_id: manual__trio_coord, task_id: upstream, key: rows, map_index: -1, value: 3}

A state file (:class:`StateFile`) is such a document on disk; after a run
the run's effects (XComs pushed or deleted, variables set or deleted) are
merged in and the file is replaced atomically, so runs can be chained.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from .._connection_uri import connection_from_json, connection_from_uri
from .._messages import Connection
from .._wire import JsonValue
from ._store import SupervisorStore, XComKey

__all__ = [
    "DEFAULT_RUN_ID",
    "Seed",
    "SeedError",
    "StateFile",
    "parse_xcom_target",
    "read_document",
]

#: The run id of local runs (the embedded supervisor's default).
DEFAULT_RUN_ID: Final = "manual__trio_coord"

DocumentFormat = Literal["json", "yaml"]

_SEED_KEYS: Final = ("variables", "connections", "xcoms")
_XCOM_ENTRY_KEYS: Final = frozenset({"dag_id", "run_id", "task_id", "key", "map_index", "value"})
_YAML_HINT: Final = "reading and writing YAML needs PyYAML: pip install 'trio_coord[yaml]'"


class SeedError(ValueError):
    """A seed, state file or scenario is invalid; the message names the file and the field."""


# ---------------------------------------------------------------------- documents


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def document_format(path: Path) -> DocumentFormat:
    """The format a file's extension names: ``.yaml``/``.yml`` is YAML, anything else JSON."""
    return "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"


def parse_document(text: str, fmt: DocumentFormat, where: str) -> object:
    """Parse JSON or YAML text.

    Raises:
        SeedError: the text does not parse, or YAML was asked for without PyYAML.
    """
    if fmt == "json":
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:
            raise SeedError(f"{where}: not valid JSON: {exc}") from None
    try:
        import yaml  # optional: only YAML files need it
    except ImportError:
        raise SeedError(f"{where}: {_YAML_HINT}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SeedError(f"{where}: not valid YAML: {exc}") from None


def read_document(path: Path) -> tuple[dict[str, object], DocumentFormat]:
    """Read a JSON or YAML file holding a mapping (an empty file is an empty mapping).

    Raises:
        SeedError: unreadable, unparsable, or not a mapping.
    """
    fmt = document_format(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SeedError(f"{path}: not UTF-8 text: {exc}") from None
    data = parse_document(text, fmt, str(path)) if text.strip() else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SeedError(f"{path}: must hold a mapping at the top level, not a {_kind(data)}")
    return data, fmt


def dump_document(data: Mapping[str, object], fmt: DocumentFormat) -> str:
    """Render a mapping as JSON (2-space indent) or YAML (block style, key order kept)."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        import yaml  # optional: only YAML files need it
    except ImportError:
        raise SeedError(_YAML_HINT) from None
    text: str = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, default_flow_style=False)
    return text


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "mapping", list: "list", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


# ---------------------------------------------------------------------- checks


def check_json(value: object, where: str, depth: int = 0) -> JsonValue:
    """Return ``value`` if it is a JSON value (finite numbers, string keys), else raise.

    Raises:
        SeedError: naming ``where`` and the offending part.
    """
    if depth > 200:
        raise SeedError(f"{where}: nested too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SeedError(f"{where}: {value!r} is not a JSON number")
        return value
    if isinstance(value, list):
        return [check_json(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SeedError(f"{where}: key {key!r} is not a string")
            out[key] = check_json(item, f"{where}.{key}", depth + 1)
        return out
    raise SeedError(f"{where}: a {_kind(value)} is not a JSON value")


def check_mapping(value: object, where: str) -> dict[str, object]:
    """Return ``value`` if it is a mapping with string keys (``None`` counts as empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SeedError(f"{where}: must be a mapping, not a {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise SeedError(f"{where}: key {key!r} is not a string")
    return value


def check_keys(data: Mapping[str, object], allowed: tuple[str, ...] | frozenset[str], where: str) -> None:
    """Raise naming the first key of ``data`` not in ``allowed``."""
    for key in data:
        if key not in allowed:
            raise SeedError(f"{where}: unknown field {key!r} (expected one of: {', '.join(sorted(allowed))})")


def check_str(value: object, where: str, *, empty: bool = False) -> str:
    """Return ``value`` if it is a string (non-empty unless ``empty``)."""
    if not isinstance(value, str) or (not empty and not value):
        raise SeedError(f"{where}: must be a {'' if empty else 'non-empty '}string, not {value!r}")
    return value


def check_int(value: object, where: str, *, minimum: int | None = None) -> int:
    """Return ``value`` if it is an integer (not a boolean) of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise SeedError(f"{where}: must be an integer, not {value!r}")
    if minimum is not None and value < minimum:
        raise SeedError(f"{where}: must be at least {minimum}, got {value}")
    return value


# ---------------------------------------------------------------------- seeds


def parse_xcom_target(text: str) -> tuple[str, str]:
    """Split ``TASK_ID[.KEY]`` into ``(task_id, key)``; the key defaults to ``return_value``.

    The key is what follows the *last* dot, so a task id with dots (a task
    in a task group) names its key explicitly: ``group.extract.return_value``.

    Raises:
        ValueError: an empty task id or key.
    """
    task_id, dot, key = text.rpartition(".")
    if not dot:
        task_id, key = text, "return_value"
    if not task_id or not key:
        raise ValueError(f"{text!r} is not TASK_ID or TASK_ID.KEY")
    return task_id, key


def parse_connection_value(conn_id: str, value: object, where: str) -> Connection:
    """A connection from an Airflow URI string or a JSON object of its fields.

    Raises:
        SeedError: not a string or object, or the URI/fields are invalid.
    """
    try:
        if isinstance(value, str):
            if value.lstrip().startswith("{"):
                return connection_from_json(conn_id, value)
            return connection_from_uri(conn_id, value)
        if isinstance(value, dict):
            return connection_from_json(conn_id, json.dumps(check_json(value, where)))
    except ValueError as exc:
        if isinstance(exc, SeedError):
            raise
        raise SeedError(f"{where}: {exc}") from None
    raise SeedError(f"{where}: must be a connection URI or an object of fields, not a {_kind(value)}")


@dataclass
class Seed:
    """Variables, connections and XComs to put into a :class:`SupervisorStore`.

    Build one with :meth:`from_document` (or directly) and :meth:`apply` it.
    """

    variables: dict[str, str | None] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    xcoms: dict[XComKey, JsonValue] = field(default_factory=dict)

    @classmethod
    def from_document(
        cls,
        data: Mapping[str, object],
        *,
        dag_id: str,
        run_id: str = DEFAULT_RUN_ID,
        where: str = "seed",
        extra_keys: tuple[str, ...] = (),
    ) -> Seed:
        """Parse the ``variables`` / ``connections`` / ``xcoms`` of a seed document.

        Args:
            data: the document (a mapping).
            dag_id: the Dag that XComs given as ``TASK_ID[.KEY]`` (or without
                a ``dag_id``) belong to.
            run_id: their run id likewise.
            where: how to name the document in errors (a file name).
            extra_keys: further top-level keys the caller handles itself.

        Raises:
            SeedError: naming the field that is wrong.
        """
        check_keys(data, (*_SEED_KEYS, *extra_keys), where)
        seed = cls()
        for key, value in check_mapping(data.get("variables"), f"{where}: variables").items():
            if value is not None and not isinstance(value, str):
                hint = ""
                if _is_plain_json(value):
                    hint = f"; write a JSON variable as a string, e.g. {json.dumps(json.dumps(value))}"
                raise SeedError(
                    f"{where}: variables.{key}: must be a string (or null), not a {_kind(value)}{hint}"
                )
            seed.variables[key] = value
        for conn_id, value in check_mapping(data.get("connections"), f"{where}: connections").items():
            seed.connections[conn_id] = parse_connection_value(
                conn_id, value, f"{where}: connections.{conn_id}"
            )
        seed.xcoms.update(_parse_xcoms(data.get("xcoms"), dag_id, run_id, where))
        return seed

    def apply(self, store: SupervisorStore) -> None:
        """Put everything into ``store`` (replacing entries with the same key)."""
        store.variables.update(self.variables)
        store.connections.update(self.connections)
        store.xcoms.update(self.xcoms)


def _is_plain_json(value: object) -> bool:
    try:
        check_json(value, "")
    except SeedError:
        return False
    return True


def _parse_xcoms(raw: object, dag_id: str, run_id: str, where: str) -> dict[XComKey, JsonValue]:
    out: dict[XComKey, JsonValue] = {}
    if raw is None:
        return out
    if isinstance(raw, dict):
        for target, value in check_mapping(raw, f"{where}: xcoms").items():
            try:
                task_id, key = parse_xcom_target(target)
            except ValueError as exc:
                raise SeedError(f"{where}: xcoms: {exc}") from None
            out[XComKey(dag_id, run_id, task_id, key)] = check_json(value, f"{where}: xcoms.{target}")
        return out
    if not isinstance(raw, list):
        raise SeedError(f"{where}: xcoms must be a mapping of TASK_ID[.KEY] to values, or a list of entries")
    for i, entry in enumerate(raw):
        at = f"{where}: xcoms[{i}]"
        entry = check_mapping(entry, at)
        check_keys(entry, _XCOM_ENTRY_KEYS, at)
        if "task_id" not in entry:
            raise SeedError(f"{at}: 'task_id' is required")
        if "value" not in entry:
            raise SeedError(f"{at}: 'value' is required")
        xkey = XComKey(
            check_str(entry.get("dag_id", dag_id), f"{at}.dag_id"),
            check_str(entry.get("run_id", run_id), f"{at}.run_id"),
            check_str(entry["task_id"], f"{at}.task_id"),
            check_str(entry.get("key", "return_value"), f"{at}.key"),
            check_int(entry.get("map_index", -1), f"{at}.map_index", minimum=-1),
        )
        out[xkey] = check_json(entry["value"], f"{at}.value")
    return out


def xcoms_to_document(xcoms: Mapping[XComKey, JsonValue]) -> list[dict[str, JsonValue]]:
    """XComs as the list form of a seed document, sorted by where they live."""
    entries: list[dict[str, JsonValue]] = []
    for key in sorted(xcoms):
        entry: dict[str, JsonValue] = {
            "dag_id": key.dag_id,
            "run_id": key.run_id,
            "task_id": key.task_id,
            "key": key.key,
        }
        if key.map_index != -1:
            entry["map_index"] = key.map_index
        entry["value"] = xcoms[key]
        entries.append(entry)
    return entries


# ---------------------------------------------------------------------- state files


@dataclass(frozen=True)
class StoreSnapshot:
    """A copy of a store's variables and XComs, to find what a run changed."""

    variables: dict[str, str | None]
    xcoms: dict[XComKey, JsonValue]

    @classmethod
    def of(cls, store: SupervisorStore) -> StoreSnapshot:
        """Copy ``store`` now (values are immutable once stored, so a shallow copy does)."""
        return cls(dict(store.variables), dict(store.xcoms))


def _same(a: JsonValue, b: JsonValue) -> bool:
    """Equal as JSON (``1``, ``1.0`` and ``true`` differ, unlike with ``==``)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


class StateFile:
    """A JSON or YAML seed document on disk that a local run reads and updates.

    A missing file is an empty state (it is created on :meth:`save`).
    Connections and variables are kept as written; XComs are rewritten in
    the list form. The format follows the extension (``.yaml``/``.yml`` is
    YAML and needs PyYAML; anything else is JSON).

    Args:
        path: the file.

    Raises:
        SeedError: the file exists but cannot be read or parsed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.format: DocumentFormat = document_format(path)
        self.document: dict[str, object] = {}
        self.exists = path.exists()
        if self.format == "yaml":
            # Fail before the run, not when saving after it.
            dump_document({}, "yaml")
        if self.exists:
            self.document, self.format = read_document(path)

    def seed(self, dag_id: str, run_id: str = DEFAULT_RUN_ID) -> Seed:
        """Parse the document as a seed for a run of ``dag_id``.

        Raises:
            SeedError: naming the field that is wrong.
        """
        return Seed.from_document(self.document, dag_id=dag_id, run_id=run_id, where=str(self.path))

    def record(self, before: StoreSnapshot, store: SupervisorStore, *, dag_id: str, run_id: str) -> None:
        """Merge what changed in ``store`` since ``before`` into the document.

        Only changes are merged: variables, connections and XComs that were
        seeded from elsewhere (command-line flags, the environment) and left
        alone by the run are not copied into the file.
        """
        xcoms = _parse_xcoms(self.document.get("xcoms"), dag_id, run_id, str(self.path))
        for xkey in before.xcoms.keys() | store.xcoms.keys():
            if xkey not in store.xcoms:
                xcoms.pop(xkey, None)  # deleted by the run
            elif xkey not in before.xcoms or not _same(before.xcoms[xkey], store.xcoms[xkey]):
                xcoms[xkey] = store.xcoms[xkey]
        variables = dict(check_mapping(self.document.get("variables"), f"{self.path}: variables"))
        for name in before.variables.keys() | store.variables.keys():
            if name not in store.variables:
                variables.pop(name, None)
            elif name not in before.variables or before.variables[name] != store.variables[name]:
                variables[name] = store.variables[name]
        document: dict[str, object] = {}
        if variables or "variables" in self.document:
            document["variables"] = variables
        if "connections" in self.document:
            document["connections"] = self.document["connections"]
        if xcoms or "xcoms" in self.document:
            document["xcoms"] = xcoms_to_document(xcoms)
        self.document = document

    def save(self) -> None:
        """Write the document atomically: a temporary file in the same folder, then a rename.

        A new file is created readable by its owner only (it may hold
        passwords); an existing file keeps its permissions.

        Raises:
            OSError: the folder is not writable.
        """
        text = dump_document(self.document, self.format)
        directory = self.path.parent
        mode: int | None = None
        with contextlib.suppress(OSError):
            mode = self.path.stat().st_mode & 0o7777
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            if mode is not None:
                os.chmod(temp, mode)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self.exists = True
