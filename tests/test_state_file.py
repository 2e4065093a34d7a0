"""Seeds and state files: parsing, errors that name the field, effects written back atomically."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from trio_coord import Connection
from trio_coord.testing import Seed, SeedError, StateFile, SupervisorStore, XComKey, parse_xcom_target
from trio_coord.testing._state import StoreSnapshot

RUN = "manual__trio_coord"


def seed(data: dict[str, object]) -> Seed:
    return Seed.from_document(data, dag_id="etl", where="s.json")


def test_a_full_seed_document() -> None:
    parsed = seed(
        {
            "variables": {"greeting": "hello", "unset": None},
            "connections": {
                "db": "postgresql://etl:pa%40ss@db.internal:5432/analytics?sslmode=require",
                "api": {"conn_type": "http", "host": "api.internal", "port": "8443", "extra": {"t": 5}},
            },
            "xcoms": {"extract": [1, 2], "extract.rows": 2, "group.task.return_value": "x"},
        }
    )
    assert parsed.variables == {"greeting": "hello", "unset": None}
    assert parsed.connections["db"] == Connection(
        "db", "postgres", "db.internal", "analytics", "etl", "pa@ss", 5432, '{"sslmode": "require"}'
    )
    assert parsed.connections["api"] == Connection("api", "http", "api.internal", port=8443, extra='{"t": 5}')
    assert parsed.xcoms == {
        XComKey("etl", RUN, "extract", "return_value"): [1, 2],
        XComKey("etl", RUN, "extract", "rows"): 2,
        XComKey("etl", RUN, "group.task", "return_value"): "x",
    }
    store = SupervisorStore()
    parsed.apply(store)
    assert store.variables["greeting"] == "hello"
    assert store.connections["db"].password == "pa@ss"


def test_xcoms_as_a_list_name_everything() -> None:
    parsed = seed(
        {
            "xcoms": [
                {"task_id": "a", "value": 1},
                {"dag_id": "other", "run_id": "r", "task_id": "b", "key": "k", "map_index": 3, "value": None},
            ]
        }
    )
    assert parsed.xcoms == {
        XComKey("etl", RUN, "a", "return_value"): 1,
        XComKey("other", "r", "b", "k", 3): None,
    }


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("extract", ("extract", "return_value")),
        ("extract.rows", ("extract", "rows")),
        ("group.extract.return_value", ("group.extract", "return_value")),
    ],
)
def test_xcom_targets(target: str, expected: tuple[str, str]) -> None:
    assert parse_xcom_target(target) == expected


@pytest.mark.parametrize("target", ["", ".rows", "extract."])
def test_bad_xcom_targets(target: str) -> None:
    with pytest.raises(ValueError, match=r"is not TASK_ID or TASK_ID\.KEY"):
        parse_xcom_target(target)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"varables": {}},
            "s.json: unknown field 'varables' (expected one of: connections, variables, xcoms)",
        ),
        ({"variables": []}, "s.json: variables: must be a mapping, not a list"),
        (
            {"variables": {"rows": [1, 2]}},
            "s.json: variables.rows: must be a string (or null), not a list; "
            'write a JSON variable as a string, e.g. "[1, 2]"',
        ),
        ({"connections": {"db": "nonsense"}}, "s.json: connections.db: connection 'db': 'nonsense' is not"),
        (
            {"connections": {"db": {"host": "h"}}},
            "s.json: connections.db: connection 'db': 'conn_type' is required",
        ),
        ({"connections": {"db": 5}}, "s.json: connections.db: must be a connection URI or an object"),
        ({"xcoms": "x"}, "s.json: xcoms must be a mapping of TASK_ID[.KEY] to values, or a list"),
        ({"xcoms": {".k": 1}}, "s.json: xcoms: '.k' is not TASK_ID or TASK_ID.KEY"),
        ({"xcoms": [{"value": 1}]}, "s.json: xcoms[0]: 'task_id' is required"),
        ({"xcoms": [{"task_id": "a"}]}, "s.json: xcoms[0]: 'value' is required"),
        ({"xcoms": [{"task_id": "a", "value": 1, "map": 2}]}, "s.json: xcoms[0]: unknown field 'map'"),
        (
            {"xcoms": [{"task_id": "a", "value": 1, "map_index": -2}]},
            "xcoms[0].map_index: must be at least -1",
        ),
        ({"xcoms": [{"task_id": "a", "value": 1, "map_index": True}]}, "map_index: must be an integer"),
        ({"xcoms": [{"task_id": "", "value": 1}]}, "s.json: xcoms[0].task_id: must be a non-empty string"),
        ({"xcoms": {"a": {"when": object()}}}, "s.json: xcoms.a.when: a object is not a JSON value"),
        ({"xcoms": {"a": float("nan")}}, "s.json: xcoms.a: nan is not a JSON number"),
        ({"xcoms": {"a": {1: "x"}}}, "s.json: xcoms.a: key 1 is not a string"),
    ],
)
def test_errors_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(SeedError) as info:
        seed(data)
    assert message in str(info.value)


def store_with(seeded: Seed) -> SupervisorStore:
    store = SupervisorStore()
    seeded.apply(store)
    return store


def test_a_missing_state_file_is_empty_and_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = StateFile(path)
    assert not state.exists
    store = store_with(state.seed("etl"))
    before = StoreSnapshot.of(store)
    store.xcoms[XComKey("etl", RUN, "extract", "return_value")] = [1]
    state.record(before, store, dag_id="etl", run_id=RUN)
    state.save()
    assert json.loads(path.read_text()) == {
        "xcoms": [{"dag_id": "etl", "run_id": RUN, "task_id": "extract", "key": "return_value", "value": [1]}]
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left


def test_only_the_runs_effects_are_written_back(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    document = {
        "variables": {"kept": "1", "to_delete": "2"},
        "connections": {"db": "postgresql://u:p@h/d"},
        "xcoms": {"extract": [1, 2], "old.gone": "x"},
    }
    path.write_text(json.dumps(document))
    path.chmod(0o640)
    state = StateFile(path)
    store = store_with(state.seed("etl"))
    store.variables["from_a_flag"] = "not written"
    store.xcoms[XComKey("etl", RUN, "flag", "return_value")] = "not written either"
    before = StoreSnapshot.of(store)
    # what the run did
    store.variables["set_by_task"] = "v"
    del store.variables["to_delete"]
    store.xcoms[XComKey("etl", RUN, "extract", "return_value")] = [1, 2]  # same value: unchanged
    store.xcoms[XComKey("etl", RUN, "transform", "total")] = 3
    del store.xcoms[XComKey("etl", RUN, "old", "gone")]
    store.xcoms[XComKey("etl", RUN, "flag", "return_value")] = True  # changed by the run: written
    state.record(before, store, dag_id="etl", run_id=RUN)
    state.save()

    written = json.loads(path.read_text())
    assert written["variables"] == {"kept": "1", "set_by_task": "v"}
    assert written["connections"] == {"db": "postgresql://u:p@h/d"}  # as written, not re-rendered
    assert [(e["task_id"], e["key"], e["value"]) for e in written["xcoms"]] == [
        ("extract", "return_value", [1, 2]),
        ("flag", "return_value", True),
        ("transform", "total", 3),
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    # and it reads back as the same seed
    again = StateFile(path).seed("etl")
    assert again.xcoms[XComKey("etl", RUN, "transform", "total")] == 3


def test_a_value_that_only_equals_in_python_is_a_change(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "s.json")
    store = SupervisorStore()
    key = XComKey("etl", RUN, "t", "k")
    store.xcoms[key] = 1
    before = StoreSnapshot.of(store)
    store.xcoms[key] = True  # == 1 in Python, but not the same JSON
    state.record(before, store, dag_id="etl", run_id=RUN)
    assert state.document["xcoms"] == [
        {"dag_id": "etl", "run_id": RUN, "task_id": "t", "key": "k", "value": True}
    ]


def test_yaml_state_round_trips(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "state.yaml"
    path.write_text("variables:\n  greeting: hello\nxcoms:\n  extract: [1, 2]\n")
    state = StateFile(path)
    store = store_with(state.seed("etl"))
    before = StoreSnapshot.of(store)
    store.xcoms[XComKey("etl", RUN, "transform", "return_value")] = {"total": 3}
    state.record(before, store, dag_id="etl", run_id=RUN)
    state.save()
    assert path.read_text().startswith("variables:\n  greeting: hello\nxcoms:\n- dag_id: etl\n")
    assert StateFile(path).seed("etl").xcoms == store.xcoms


def test_yaml_without_pyyaml_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    with pytest.raises(SeedError, match=r"needs PyYAML: pip install 'trio_coord\[yaml\]'"):
        StateFile(tmp_path / "state.yml")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("s.json", "{", "s.json: not valid JSON"),
        ("s.json", "[1]", "s.json: must hold a mapping at the top level, not a list"),
        ("s.json", '{"xcoms": {"a": NaN}}', "s.json: not valid JSON: NaN is not a JSON value"),
        ("s.yaml", "a: [", "s.yaml: not valid YAML"),
        ("s.yaml", "xcoms:\n  a: 2026-01-01\n", "s.yaml: xcoms.a: a date is not a JSON value"),
    ],
)
def test_unreadable_state_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    if name.endswith(".yaml"):
        pytest.importorskip("yaml")
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SeedError) as info:
        StateFile(path).seed("etl")
    assert message in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_a_failed_save_leaves_the_old_file_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"variables": {"a": "1"}}')
    state = StateFile(path)
    state.document = {"variables": {"a": "2"}}

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        state.save()
    assert path.read_text() == '{"variables": {"a": "1"}}'
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
