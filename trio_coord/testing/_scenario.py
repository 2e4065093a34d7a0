"""Scenarios: one task run, described in a file, that any supervisor can play.

A scenario names a task, what to seed before it runs, and what must come
out. The same file runs under the embedded supervisor and under Airflow's
real one (the interop suite), and :class:`ScenarioOutcome` is what both
runs are reduced to, so they can be checked and compared.

The file is JSON or YAML (YAML needs PyYAML)::

    description: A task reads a variable and pushes what it read.
    bundle: bundle.py                 # a file next to this one, or module[:attr]
    dag_id: scenarios
    task_id: reads_variable
    seed:                             # a seed document (see trio_coord.testing.Seed) ...
      variables: {greeting: hello}
      connections: {}
      xcoms: {}
      run:                            # ... plus the run context
        try_number: 1
        max_tries: 0
        conf: {}
    expect:
      state: success                  # required
      xcoms: {return_value: hello}    # what this task instance pushed (exactly)
      deleted_xcoms: []               # the keys it deleted (exactly)
      logs:                           # must appear in this order (others may come between)
        - {level: info, logger: task.scenarios.reads_variable, event: read hello, fields: {n: 1}}
      not_logged: [s3cr3t]            # text no log record may contain

Every field but ``bundle``, ``dag_id``, ``task_id`` and ``expect.state`` is
optional; an omitted expectation is not checked. Unknown fields are errors.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from .._wire import JsonValue
from ._state import (
    DEFAULT_RUN_ID,
    Seed,
    SeedError,
    check_int,
    check_json,
    check_keys,
    check_mapping,
    check_str,
    read_document,
)
from ._store import StartupOptions, TaskRun

__all__ = [
    "DEFAULT_LOGICAL_DATE",
    "Expectation",
    "LogEvent",
    "LogExpectation",
    "RunSettings",
    "Scenario",
    "ScenarioError",
    "ScenarioOutcome",
    "XComEffect",
    "load_scenario",
    "load_scenarios",
]

#: The logical date of a scenario's Dag run unless it sets one (fixed, so runs repeat).
DEFAULT_LOGICAL_DATE: Final = _dt.datetime(2026, 6, 16, tzinfo=_dt.UTC)

_TOP_KEYS: Final = ("name", "description", "bundle", "dag_id", "task_id", "seed", "expect")
_RUN_KEYS: Final = ("run_id", "try_number", "max_tries", "map_index", "conf", "logical_date")
_EXPECT_KEYS: Final = ("state", "xcoms", "deleted_xcoms", "logs", "not_logged")
_LOG_KEYS: Final = ("level", "logger", "event", "fields")
_STATES: Final = ("success", "failed", "skipped", "removed", "up_for_retry")
_LEVELS: Final = ("critical", "exception", "error", "warn", "warning", "info", "debug")
_RECORD_BUILTINS: Final = frozenset({"timestamp", "level", "logger", "event", "exception", "error_detail"})


class ScenarioError(SeedError):
    """A scenario file is invalid; the message names the file and the field."""


# ---------------------------------------------------------------------- the model


@dataclass(frozen=True)
class RunSettings:
    """The run context a scenario's task starts with.

    ``should_retry`` follows from these as the API server computes it:
    ``max_tries != 0 and try_number <= max_tries``.
    """

    run_id: str = DEFAULT_RUN_ID
    try_number: int = 1
    max_tries: int = 0
    map_index: int = -1
    conf: dict[str, JsonValue] | None = None
    logical_date: _dt.datetime = DEFAULT_LOGICAL_DATE

    def startup_options(self) -> StartupOptions:
        """The settings as :class:`StartupOptions` for the embedded supervisor."""
        return StartupOptions(
            run_id=self.run_id,
            try_number=self.try_number,
            max_tries=self.max_tries,
            map_index=self.map_index,
            conf=self.conf,
            logical_date=self.logical_date,
        )


@dataclass(frozen=True)
class LogExpectation:
    """A log record that must appear: ``None`` fields match anything.

    ``fields`` must be a subset of the record's other keys (nested extras
    appear flattened, e.g. ``conn.host``).
    """

    event: str
    level: str | None = None
    logger: str | None = None
    fields: Mapping[str, JsonValue] = field(default_factory=dict)

    def matches(self, event: LogEvent) -> bool:
        """Whether ``event`` is the record this expects."""
        return (
            event.event == self.event
            and (self.level is None or event.level == self.level)
            and (self.logger is None or event.logger == self.logger)
            and all(name in event.fields and event.fields[name] == v for name, v in self.fields.items())
        )

    def describe(self) -> str:
        """A one-line description for failure messages."""
        parts = [self.level or "*", f"{self.logger or '*'}:", repr(self.event)]
        if self.fields:
            parts.append(json.dumps(dict(self.fields), sort_keys=True))
        return " ".join(parts)


@dataclass(frozen=True)
class Expectation:
    """What a scenario's run must produce. ``None`` means "not checked"."""

    state: str
    xcoms: Mapping[str, JsonValue] | None = None
    deleted_xcoms: Sequence[str] | None = None
    logs: Sequence[LogExpectation] = ()
    not_logged: Sequence[str] = ()


@dataclass(frozen=True)
class Scenario:
    """One task run: what it runs, what it is seeded with, what must come out.

    Attributes:
        name: the file's stem unless the file sets ``name``.
        path: the file (``None`` when built in code).
        description: free text.
        bundle: a spec for :func:`trio_coord.load_bundle` (a file given
            relative to the scenario file is made absolute).
        dag_id: the Dag id.
        task_id: the task id.
        seed: variables, connections and XComs to store first.
        run: the run context.
        expect: what the run must produce.
    """

    name: str
    path: Path | None
    description: str
    bundle: str
    dag_id: str
    task_id: str
    seed: Seed
    run: RunSettings
    expect: Expectation

    def check(self, outcome: ScenarioOutcome) -> list[str]:
        """Compare ``outcome`` with :attr:`expect`; return what does not match (empty: all does)."""
        expect = self.expect
        problems: list[str] = []
        if outcome.state != expect.state:
            problems.append(f"state is {outcome.state!r}, expected {expect.state!r}")
        ti = (self.dag_id, self.run.run_id, self.task_id, self.run.map_index)
        if expect.xcoms is not None:
            pushed = outcome.pushed(*ti)
            if pushed != dict(expect.xcoms):
                problems.append(f"XComs pushed are {_json(pushed)}, expected {_json(dict(expect.xcoms))}")
        if expect.deleted_xcoms is not None:
            deleted = outcome.deleted(*ti)
            if deleted != sorted(expect.deleted_xcoms):
                problems.append(f"XCom keys deleted are {deleted}, expected {sorted(expect.deleted_xcoms)}")
        position = 0
        for wanted in expect.logs:
            for index in range(position, len(outcome.log_events)):
                if wanted.matches(outcome.log_events[index]):
                    position = index + 1
                    break
            else:
                problems.append(
                    f"no log record {wanted.describe()} (after the previous expected one); "
                    f"the log has:\n{outcome.describe_logs()}"
                )
                break
        for text in expect.not_logged:
            for event in outcome.log_events:
                if text in event.text():
                    problems.append(f"{text!r} appears in the log: {event.describe()}")
                    break
        return problems


# ---------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class LogEvent:
    """A task log record without what varies between runs (its timestamp).

    Attributes:
        level: the level name (``info``, ``error``...).
        logger: the logger name.
        event: the message.
        fields: every other key of the record (extras), as sent.
        errors: ``(exc_type, exc_value)`` of each exception the record carries.
    """

    level: str
    logger: str
    event: str
    fields: Mapping[str, object] = field(default_factory=dict)
    errors: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> LogEvent:
        """Reduce a JSON log record (as the runtime sends it, or as the task log file holds it).

        The exception list is read from ``exception`` (the runtime's key)
        or ``error_detail`` (where the real supervisor moves it).
        """
        details = record.get("exception", record.get("error_detail"))
        errors: list[tuple[str, str]] = []
        if isinstance(details, list):
            errors.extend(
                (str(entry.get("exc_type")), str(entry.get("exc_value")))
                for entry in details
                if isinstance(entry, dict)
            )
        return cls(
            level=str(record.get("level", "")),
            logger=str(record.get("logger", "")),
            event=str(record.get("event", "")),
            fields={k: v for k, v in record.items() if k not in _RECORD_BUILTINS},
            errors=tuple(errors),
        )

    def text(self) -> str:
        """Everything the record shows, as one string (to search for leaked secrets)."""
        return " ".join(
            [self.event, json.dumps(dict(self.fields), default=str), *(f"{t}: {v}" for t, v in self.errors)]
        )

    def describe(self) -> str:
        """``level logger: event {fields}`` for failure messages."""
        extra = f" {json.dumps(dict(self.fields), sort_keys=True, default=str)}" if self.fields else ""
        errors = "".join(f" [{t}: {v}]" for t, v in self.errors)
        return f"{self.level} {self.logger}: {self.event!r}{extra}{errors}"


@dataclass(frozen=True)
class XComEffect:
    """An XCom written (``set``) or deleted (``delete``) during a run."""

    action: Literal["set", "delete"]
    dag_id: str
    run_id: str
    task_id: str
    key: str
    map_index: int = -1
    value: JsonValue = None

    def describe(self) -> str:
        """``set dag/run/task/key[map_index] = value``."""
        where = f"{self.dag_id}/{self.run_id}/{self.task_id}/{self.key}"
        if self.map_index >= 0:
            where += f"[{self.map_index}]"
        return f"{self.action} {where}" + (f" = {_json(self.value)}" if self.action == "set" else "")


@dataclass(frozen=True)
class ScenarioOutcome:
    """What a run produced, in terms every supervisor can report.

    Attributes:
        state: the final state the supervisor recorded.
        xcom_effects: XCom writes and deletions, in order.
        log_events: the task's log records, in order.
    """

    state: str | None
    xcom_effects: tuple[XComEffect, ...]
    log_events: tuple[LogEvent, ...]

    @classmethod
    def from_task_run(cls, run: TaskRun) -> ScenarioOutcome:
        """Reduce an embedded supervisor's :class:`TaskRun`."""
        effects: list[XComEffect] = []
        for body in run.requests:
            kind = body.get("type")
            if kind not in ("SetXCom", "DeleteXCom"):
                continue
            map_index = body.get("map_index")
            effects.append(
                XComEffect(
                    "set" if kind == "SetXCom" else "delete",
                    str(body["dag_id"]),
                    str(body["run_id"]),
                    str(body["task_id"]),
                    str(body["key"]),
                    map_index if isinstance(map_index, int) and map_index >= 0 else -1,
                    body.get("value") if kind == "SetXCom" else None,  # type: ignore[arg-type]
                )
            )
        return cls(run.state, tuple(effects), tuple(LogEvent.from_record(r) for r in run.logs))

    def pushed(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, JsonValue]:
        """The XComs a task instance holds after the run, by key, from the effects alone."""
        values: dict[str, JsonValue] = {}
        for effect in self._of(dag_id, run_id, task_id, map_index):
            if effect.action == "set":
                values[effect.key] = effect.value
            else:
                values.pop(effect.key, None)
        return values

    def deleted(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[str]:
        """The keys deleted for a task instance, sorted, without duplicates."""
        return sorted({e.key for e in self._of(dag_id, run_id, task_id, map_index) if e.action == "delete"})

    def _of(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[XComEffect]:
        return [
            e
            for e in self.xcom_effects
            if (e.dag_id, e.run_id, e.task_id, e.map_index) == (dag_id, run_id, task_id, map_index)
        ]

    def differences(self, other: ScenarioOutcome, names: tuple[str, str] = ("this", "other")) -> list[str]:
        """What differs between two outcomes (empty: they agree).

        Args:
            other: the outcome to compare with.
            names: what to call ``self`` and ``other`` in the messages.
        """
        mine, theirs = names
        found: list[str] = []
        if self.state != other.state:
            found.append(f"state: {mine} {self.state!r}, {theirs} {other.state!r}")
        if self.xcom_effects != other.xcom_effects:
            found.append(
                f"XCom effects differ:\n  {mine}:\n"
                + "".join(f"    {e.describe()}\n" for e in self.xcom_effects)
                + f"  {theirs}:\n"
                + "".join(f"    {e.describe()}\n" for e in other.xcom_effects)
            )
        if self.log_events != other.log_events:
            index = next(
                (
                    i
                    for i, (a, b) in enumerate(zip(self.log_events, other.log_events, strict=False))
                    if a != b
                ),
                min(len(self.log_events), len(other.log_events)),
            )
            found.append(
                f"log events differ from record {index} on "
                f"({len(self.log_events)} records in {mine}, {len(other.log_events)} in {theirs}):\n"
                f"  {mine}:\n{_describe_events(self.log_events[index:])}\n"
                f"  {theirs}:\n{_describe_events(other.log_events[index:])}"
            )
        return found

    def describe_logs(self) -> str:
        """The log, one ``level logger: event`` line per record."""
        return _describe_events(self.log_events)


def _describe_events(events: Sequence[LogEvent]) -> str:
    return "\n".join(f"    {event.describe()}" for event in events) or "    (none)"


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# ---------------------------------------------------------------------- loading


def _bundle_spec(value: object, base: Path | None, where: str) -> str:
    spec = check_str(value, f"{where}: bundle")
    target, colon, attr = spec.rpartition(":")
    if not colon:
        target, attr = spec, ""
    if target.endswith(".py") or "/" in target:
        path = Path(target)
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            raise ScenarioError(f"{where}: bundle file {str(path)!r} does not exist")
        return f"{path.resolve()}:{attr}" if attr else str(path.resolve())
    return spec


def _run_settings(data: object, where: str) -> RunSettings:
    raw = check_mapping(data, f"{where}: seed.run")
    check_keys(raw, _RUN_KEYS, f"{where}: seed.run")
    values: dict[str, object] = {}
    if "run_id" in raw:
        values["run_id"] = check_str(raw["run_id"], f"{where}: seed.run.run_id")
    if "try_number" in raw:
        values["try_number"] = check_int(raw["try_number"], f"{where}: seed.run.try_number", minimum=1)
    if "max_tries" in raw:
        values["max_tries"] = check_int(raw["max_tries"], f"{where}: seed.run.max_tries", minimum=-1)
    if "map_index" in raw:
        values["map_index"] = check_int(raw["map_index"], f"{where}: seed.run.map_index", minimum=-1)
    if raw.get("conf") is not None:
        conf = check_json(raw["conf"], f"{where}: seed.run.conf")
        if not isinstance(conf, dict):
            raise ScenarioError(f"{where}: seed.run.conf must be a mapping")
        values["conf"] = conf
    if "logical_date" in raw:
        values["logical_date"] = _aware(raw["logical_date"], f"{where}: seed.run.logical_date")
    return RunSettings(**values)  # type: ignore[arg-type]


def _aware(value: object, where: str) -> _dt.datetime:
    if isinstance(value, _dt.datetime):  # YAML parses timestamps itself
        parsed = value
    else:
        try:
            parsed = _dt.datetime.fromisoformat(check_str(value, where))
        except ValueError:
            raise ScenarioError(f"{where}: {value!r} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise ScenarioError(f"{where}: {value!r} has no time zone (add Z or +00:00)")
    return parsed.astimezone(_dt.UTC)


def _expectation(data: object, where: str) -> Expectation:
    raw = check_mapping(data, f"{where}: expect")
    check_keys(raw, _EXPECT_KEYS, f"{where}: expect")
    if "state" not in raw:
        raise ScenarioError(f"{where}: expect.state is required (one of: {', '.join(_STATES)})")
    state = raw["state"]
    if state not in _STATES:
        raise ScenarioError(f"{where}: expect.state {state!r} is not one of: {', '.join(_STATES)}")
    xcoms: dict[str, JsonValue] | None = None
    if raw.get("xcoms") is not None:
        xcoms = {
            key: check_json(value, f"{where}: expect.xcoms.{key}")
            for key, value in check_mapping(raw["xcoms"], f"{where}: expect.xcoms").items()
        }
    deleted: list[str] | None = None
    if raw.get("deleted_xcoms") is not None:
        deleted = [
            check_str(key, f"{where}: expect.deleted_xcoms[{i}]")
            for i, key in enumerate(_list(raw["deleted_xcoms"], f"{where}: expect.deleted_xcoms"))
        ]
    logs = [
        _log_expectation(entry, f"{where}: expect.logs[{i}]")
        for i, entry in enumerate(_list(raw.get("logs"), f"{where}: expect.logs"))
    ]
    not_logged = [
        check_str(text, f"{where}: expect.not_logged[{i}]")
        for i, text in enumerate(_list(raw.get("not_logged"), f"{where}: expect.not_logged"))
    ]
    return Expectation(str(state), xcoms, deleted, tuple(logs), tuple(not_logged))


def _list(value: object, where: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: must be a list, not {value!r}")
    return value


def _log_expectation(data: object, where: str) -> LogExpectation:
    raw = check_mapping(data, where)
    check_keys(raw, _LOG_KEYS, where)
    if "event" not in raw:
        raise ScenarioError(f"{where}: 'event' is required")
    level = raw.get("level")
    if level is not None and level not in _LEVELS:
        raise ScenarioError(f"{where}: level {level!r} is not one of: {', '.join(_LEVELS)}")
    fields = check_json(raw.get("fields") or {}, f"{where}.fields")
    if not isinstance(fields, dict):
        raise ScenarioError(f"{where}: fields must be a mapping")
    logger = raw.get("logger")
    return LogExpectation(
        event=check_str(raw["event"], f"{where}.event", empty=True),
        level=None if level is None else str(level),
        logger=None if logger is None else check_str(logger, f"{where}.logger"),
        fields=fields,
    )


def scenario_from_document(data: Mapping[str, object], *, name: str, path: Path | None = None) -> Scenario:
    """Build a :class:`Scenario` from a parsed document.

    Args:
        data: the document.
        name: the scenario's name unless the document sets ``name``.
        path: the file it came from (relative bundle paths are resolved
            against its folder, and errors name it).

    Raises:
        ScenarioError: naming the field that is wrong.
    """
    where = str(path) if path is not None else name
    try:
        check_keys(data, _TOP_KEYS, where)
        for required in ("bundle", "dag_id", "task_id", "expect"):
            if required not in data:
                raise ScenarioError(f"{where}: {required!r} is required")
        dag_id = check_str(data["dag_id"], f"{where}: dag_id")
        seed_doc = check_mapping(data.get("seed"), f"{where}: seed")
        run = _run_settings(seed_doc.get("run"), where)
        seed = Seed.from_document(
            seed_doc, dag_id=dag_id, run_id=run.run_id, where=f"{where}: seed", extra_keys=("run",)
        )
        return Scenario(
            name=check_str(data.get("name", name), f"{where}: name"),
            path=path,
            description=check_str(data.get("description", ""), f"{where}: description", empty=True),
            bundle=_bundle_spec(data["bundle"], path.parent if path is not None else None, where),
            dag_id=dag_id,
            task_id=check_str(data["task_id"], f"{where}: task_id"),
            seed=seed,
            run=run,
            expect=_expectation(data["expect"], where),
        )
    except ScenarioError:
        raise
    except SeedError as exc:
        raise ScenarioError(str(exc)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Load one scenario file (``.json``, or ``.yaml``/``.yml`` with PyYAML installed).

    Raises:
        ScenarioError: the file cannot be read or is invalid; the message
            names the file and the field.
    """
    path = Path(path)
    try:
        data, _ = read_document(path)
    except ScenarioError:
        raise
    except SeedError as exc:
        raise ScenarioError(str(exc)) from None
    return scenario_from_document(data, name=path.stem, path=path)


def load_scenarios(directory: str | Path) -> list[Scenario]:
    """Load every ``*.json``, ``*.yaml`` and ``*.yml`` file of ``directory``, sorted by name.

    Raises:
        ScenarioError: a file is invalid, two scenarios share a name, or
            there are none.
    """
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in (".json", ".yaml", ".yml"))
    scenarios = [load_scenario(p) for p in files]
    if not scenarios:
        raise ScenarioError(f"{directory}: no scenario files (*.json, *.yaml, *.yml)")
    seen: dict[str, Path | None] = {}
    for scenario in scenarios:
        if scenario.name in seen:
            raise ScenarioError(
                f"{scenario.path}: scenario name {scenario.name!r} is taken by {seen[scenario.name]}"
            )
        seen[scenario.name] = scenario.path
    return sorted(scenarios, key=lambda s: s.name)
