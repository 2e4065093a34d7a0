"""The scenario file format: loading, errors that name the field, checks and comparisons."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from trio_coord.testing import (
    DEFAULT_LOGICAL_DATE,
    LogEvent,
    Scenario,
    ScenarioError,
    ScenarioOutcome,
    TaskRun,
    XComEffect,
    XComKey,
    load_scenario,
    load_scenarios,
)

BUNDLE = Path(__file__).resolve().parent / "scenarios" / "bundle.py"


def write(tmp_path: Path, data: dict[str, object], name: str = "case.json") -> Path:
    (tmp_path / "bundle.py").write_text(BUNDLE.read_text())
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def minimal(**overrides: object) -> dict[str, object]:
    return {
        "bundle": "bundle.py",
        "dag_id": "scenarios",
        "task_id": "t",
        "expect": {"state": "success"},
        **overrides,
    }


def test_a_minimal_scenario_gets_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, minimal()))
    assert scenario.name == "case"
    assert scenario.bundle == str((tmp_path / "bundle.py").resolve())
    assert (scenario.run.run_id, scenario.run.try_number, scenario.run.max_tries) == (
        "manual__trio_coord",
        1,
        0,
    )
    assert scenario.run.logical_date == DEFAULT_LOGICAL_DATE
    assert scenario.expect.xcoms is None  # not checked
    assert scenario.expect.logs == ()


def test_a_full_scenario(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "full.yaml"
    (tmp_path / "bundle.py").write_text("")
    path.write_text(
        """
name: renamed
description: everything set
bundle: bundle.py:bundle
dag_id: d
task_id: t
seed:
  variables: {v: "1"}
  xcoms: {up: [1]}
  run:
    run_id: r1
    try_number: 2
    max_tries: 3
    map_index: 4
    conf: {a: 1}
    logical_date: 2026-01-02T03:04:05+02:00
expect:
  state: up_for_retry
  xcoms: {return_value: 1}
  deleted_xcoms: [old]
  logs:
    - {event: hi, level: info, logger: l, fields: {n: 1}}
    - {event: ""}
  not_logged: [secret]
"""
    )
    scenario = load_scenario(path)
    assert scenario.name == "renamed"
    assert scenario.bundle == f"{(tmp_path / 'bundle.py').resolve()}:bundle"
    assert scenario.seed.xcoms == {XComKey("d", "r1", "up", "return_value"): [1]}  # the run's run id
    assert scenario.run.startup_options() == {
        "run_id": "r1",
        "try_number": 2,
        "max_tries": 3,
        "map_index": 4,
        "conf": {"a": 1},
        "logical_date": dt.datetime(2026, 1, 2, 1, 4, 5, tzinfo=dt.UTC),
    }
    assert scenario.expect.deleted_xcoms == ["old"]
    assert [log.event for log in scenario.expect.logs] == ["hi", ""]


def test_a_module_bundle_is_kept_as_a_spec(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, minimal(bundle="trio_coord.example"))).bundle == "trio_coord.example"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"task": "x"}, "unknown field 'task'"),
        ({"bundle": "missing.py"}, "bundle file"),
        ({"dag_id": ""}, "dag_id: must be a non-empty string"),
        ({"expect": {}}, "expect.state is required"),
        ({"expect": {"state": "done"}}, "expect.state 'done' is not one of: success, failed"),
        ({"expect": {"state": "success", "xcom": {}}}, "expect: unknown field 'xcom'"),
        (
            {"expect": {"state": "success", "logs": [{"level": "info"}]}},
            "expect.logs[0]: 'event' is required",
        ),
        ({"expect": {"state": "success", "logs": [{"event": "e", "level": "INFO"}]}}, "level 'INFO' is not"),
        ({"expect": {"state": "success", "logs": {"event": "e"}}}, "expect.logs: must be a list"),
        (
            {"expect": {"state": "success", "deleted_xcoms": [1]}},
            "deleted_xcoms[0]: must be a non-empty string",
        ),
        ({"seed": {"run": {"try_number": 0}}}, "seed.run.try_number: must be at least 1"),
        ({"seed": {"run": {"retries": 1}}}, "seed.run: unknown field 'retries'"),
        ({"seed": {"run": {"conf": [1]}}}, "seed.run.conf must be a mapping"),
        ({"seed": {"run": {"logical_date": "2026-01-01T00:00:00"}}}, "has no time zone"),
        ({"seed": {"run": {"logical_date": "yesterday"}}}, "'yesterday' is not an ISO 8601 date"),
        ({"seed": {"variables": {"v": 1}}}, "seed: variables.v: must be a string (or null), not a int"),
        ({"seed": {"secrets": {}}}, "seed: unknown field 'secrets'"),
    ],
)
def test_errors_name_the_file_and_field(tmp_path: Path, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, minimal(**overrides)))
    assert message in str(info.value)
    assert str(tmp_path / "case.json") in str(info.value)


def test_load_scenarios_rejects_duplicate_names_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario files"):
        load_scenarios(tmp_path)
    write(tmp_path, minimal(name="same"), "a.json")
    write(tmp_path, minimal(name="same"), "b.json")
    with pytest.raises(ScenarioError, match="scenario name 'same' is taken by"):
        load_scenarios(tmp_path)


def scenario(tmp_path: Path, expect: dict[str, object]) -> Scenario:
    return load_scenario(write(tmp_path, minimal(expect=expect)))


def outcome(
    state: str = "success", effects: tuple[XComEffect, ...] = (), logs: tuple[LogEvent, ...] = ()
) -> ScenarioOutcome:
    return ScenarioOutcome(state, effects, logs)


RUN = "manual__trio_coord"


def test_check_passes_and_names_each_mismatch(tmp_path: Path) -> None:
    case = scenario(
        tmp_path,
        {
            "state": "success",
            "xcoms": {"return_value": 2},
            "deleted_xcoms": ["old"],
            "logs": [{"event": "first", "level": "info"}, {"event": "second", "fields": {"n": 1}}],
            "not_logged": ["hunter2"],
        },
    )
    good = outcome(
        effects=(
            XComEffect("delete", "scenarios", RUN, "t", "old"),
            XComEffect("set", "scenarios", RUN, "t", "return_value", value=1),
            XComEffect("set", "scenarios", RUN, "t", "return_value", value=2),  # the last value counts
            XComEffect("set", "scenarios", RUN, "other", "return_value", value=9),  # another task's
        ),
        logs=(
            LogEvent("info", "x", "first"),
            LogEvent("debug", "x", "between"),
            LogEvent("info", "x", "second", {"n": 1, "more": True}),
        ),
    )
    assert case.check(good) == []

    bad = outcome(
        state="failed",
        effects=(XComEffect("set", "scenarios", RUN, "t", "return_value", value=3),),
        logs=(LogEvent("info", "x", "second", {"n": 1}), LogEvent("info", "x", "first", {"pw": "hunter2"})),
    )
    problems = case.check(bad)
    assert problems[0] == "state is 'failed', expected 'success'"
    assert problems[1] == 'XComs pushed are {"return_value": 3}, expected {"return_value": 2}'
    assert problems[2] == "XCom keys deleted are [], expected ['old']"
    assert problems[3].startswith("no log record * *: 'second' {\"n\": 1} (after the previous expected one)")
    assert problems[4] == "'hunter2' appears in the log: info x: 'first' {\"pw\": \"hunter2\"}"
    assert len(problems) == 5


def test_log_event_from_either_supervisors_record() -> None:
    runtime = {
        "timestamp": "2026-01-01T00:00:00.000001Z",
        "level": "error",
        "logger": "trio_coord.runner",
        "event": "failed",
        "exception": [{"exc_type": "ValueError", "exc_value": "bad", "frames": []}],
        "n": 1,
    }
    task_log = {**runtime, "timestamp": "2026-01-01T00:00:01Z"}
    task_log["error_detail"] = task_log.pop("exception")
    assert LogEvent.from_record(runtime) == LogEvent.from_record(task_log)
    assert LogEvent.from_record(runtime) == LogEvent(
        "error", "trio_coord.runner", "failed", {"n": 1}, (("ValueError", "bad"),)
    )


def test_differences_name_what_differs() -> None:
    one = outcome(
        effects=(XComEffect("set", "d", "r", "t", "k", value=1),),
        logs=(LogEvent("info", "l", "a"), LogEvent("info", "l", "b")),
    )
    assert one.differences(one) == []
    other = outcome(
        state="failed",
        effects=(XComEffect("set", "d", "r", "t", "k", value=2),),
        logs=(LogEvent("info", "l", "a"), LogEvent("info", "l", "c", {"f": 1})),
    )
    found = one.differences(other, names=("embedded", "real"))
    assert found[0] == "state: embedded 'success', real 'failed'"
    assert "set d/r/t/k = 1" in found[1]
    assert "set d/r/t/k = 2" in found[1]
    assert found[2].startswith("log events differ from record 1 on (2 records in embedded, 2 in real)")
    assert "info l: 'c' {\"f\": 1}" in found[2]


def test_outcome_from_an_embedded_run() -> None:
    run = TaskRun("d", "t", "r", 1, state="success")
    run.requests = [
        {"type": "GetVariable", "key": "v"},
        {"type": "DeleteXCom", "dag_id": "d", "run_id": "r", "task_id": "t", "key": "old", "map_index": -1},
        {
            "type": "SetXCom",
            "dag_id": "d",
            "run_id": "r",
            "task_id": "t",
            "key": "k",
            "value": [1],
            "map_index": 2,
        },
        {"type": "SucceedTask"},
    ]
    run.logs = [{"level": "info", "logger": "l", "event": "e", "timestamp": "x"}]
    reduced = ScenarioOutcome.from_task_run(run)
    assert reduced.xcom_effects == (
        XComEffect("delete", "d", "r", "t", "old"),
        XComEffect("set", "d", "r", "t", "k", 2, [1]),
    )
    assert reduced.log_events == (LogEvent("info", "l", "e"),)
    assert reduced.pushed("d", "r", "t", 2) == {"k": [1]}
    assert reduced.deleted("d", "r", "t") == ["old"]
