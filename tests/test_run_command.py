"""``python -m trio_coord run``: state files, --xcom, --env, --retries and the log view."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLE = ("trio_coord.example", "example_etl")
ESC = "\x1b["


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_", "NO_COLOR"))
    }
    return subprocess.run(
        [sys.executable, "-m", "trio_coord", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
        env={**base, **(env or {})},
    )


def test_a_state_file_chains_tasks(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"variables": {"example_rows": "[5, 6]"}}))

    extract = cli(*EXAMPLE, "extract", "--state", str(state))
    assert extract.returncode == 0, extract.stdout + extract.stderr
    assert f"state written to {state}" in extract.stdout
    transform = cli(*EXAMPLE, "transform", "--state", str(state))
    assert transform.returncode == 0, transform.stdout + transform.stderr
    assert 'xcom return_value: {"total": 11.0, "rows": 2}' in transform.stdout

    written = json.loads(state.read_text())
    assert written["variables"] == {"example_rows": "[5, 6]"}
    assert [(x["task_id"], x["key"], x["value"]) for x in written["xcoms"]] == [
        ("extract", "return_value", [5, 6]),
        ("transform", "return_value", {"total": 11.0, "rows": 2}),
        ("transform", "row_count", 2),
    ]
    # Running extract again replaces its XCom (the re-run clears the old one first).
    again = cli(*EXAMPLE, "extract", "--state", str(state), "--var", "example_rows=[9]")
    assert again.returncode == 0
    assert json.loads(state.read_text())["xcoms"][0]["value"] == [9]
    assert json.loads(state.read_text())["variables"] == {"example_rows": "[5, 6]"}  # flags are not saved


def test_one_instance_of_a_mapped_task_runs_with_its_map_index(tmp_path: Path) -> None:
    mapped = ("trio_coord.example", "example_mapped")
    state = tmp_path / "state.json"

    state.write_text(json.dumps({"xcoms": {"numbers": [4, 5, 6]}}))

    for index, number in enumerate([4, 5, 6]):
        square = cli(*mapped, "square", "--map-index", str(index), "--state", str(state))
        assert square.returncode == 0, square.stdout + square.stderr
        assert f"map_index {index} squared {number}" in square.stdout
    written = json.loads(state.read_text())["xcoms"]
    assert [x.get("map_index", -1) for x in written if x["task_id"] == "square"] == [0, 1, 2]
    # describe is mapped over square's instances: instance 2 reads the third one.
    describe = cli(*mapped, "describe", "--map-index", "2", "--state", str(state))
    assert describe.returncode == 0, describe.stdout + describe.stderr
    assert 'xcom return_value: "6 squared is 36"' in describe.stdout
    unmapped = cli(*mapped, "square", "--xcom", "numbers=[4]")
    assert unmapped.returncode == 1
    assert "is not mapped (map_index -1)" in unmapped.stdout + unmapped.stderr


def test_a_yaml_state_file_is_created(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    state = tmp_path / "new.yaml"
    result = cli(*EXAMPLE, "extract", "--state", str(state))
    assert result.returncode == 0, result.stdout + result.stderr
    assert yaml.safe_load(state.read_text()) == {
        "xcoms": [
            {
                "dag_id": "example_etl",
                "run_id": "manual__trio_coord",
                "task_id": "extract",
                "key": "return_value",
                "value": [1, 2, 3, 4],
            }
        ]
    }


def test_xcom_flags_seed_upstream_values() -> None:
    result = cli(*EXAMPLE, "transform", "--xcom", "extract=[1, 2, 3]")
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'xcom return_value: {"total": 6.0, "rows": 3}' in result.stdout
    load = cli(
        *EXAMPLE,
        "load",
        "--xcom",
        'transform={"total": 1}',
        "--conn",
        'example_warehouse={"conn_type": "postgres", "host": "wh"}',
    )
    assert load.returncode == 0, load.stdout + load.stderr
    assert "summary.total=1" in load.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--xcom", "extract=[1,"), "--xcom extract: not valid JSON"),
        (("--xcom", "extract=text"), "quote a string: extract='\"text\"'"),
        (("--xcom", ".rows=1"), "--xcom: '.rows' is not TASK_ID or TASK_ID.KEY"),
        (("--xcom", "extract"), "--xcom must be TASK_ID[.KEY]=JSON"),
        (("--retries", "-1"), "--retries must be 0 or more"),
        (("--retries", "1", "--try-number", "2", "--max-tries", "3"), "drop --try-number and --max-tries"),
        (("--try-number", "0"), "--try-number must be at least 1"),
        (("--map-index", "-2"), "--map-index must be -1 (unmapped) or more, got -2"),
        (("--color", "sometimes"), "invalid choice: 'sometimes'"),
    ],
)
def test_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = cli(*EXAMPLE, "extract", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_state_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"connections": {"db": "nonsense"}}')
    result = cli(*EXAMPLE, "extract", "--state", str(state))
    assert result.returncode == 2
    assert (
        f"--state: {state}: connections.db: connection 'db': 'nonsense' is not a connection URI"
        in result.stderr
    )
    assert state.read_text() == '{"connections": {"db": "nonsense"}}'


def test_environment_variables_only_with_env() -> None:
    env = {"AIRFLOW_VAR_EXAMPLE_ROWS": "[7]"}
    hidden = cli(*EXAMPLE, "extract", env=env)
    assert hidden.returncode == 0
    assert "hidden from the task (pass --env to use them): AIRFLOW_VAR_EXAMPLE_ROWS" in hidden.stdout
    assert "xcom return_value: [1, 2, 3, 4]" in hidden.stdout
    used = cli(*EXAMPLE, "extract", "--env", env=env)
    assert used.returncode == 0
    assert "the task sees these from the environment: AIRFLOW_VAR_EXAMPLE_ROWS" in used.stdout
    assert "xcom return_value: [7]" in used.stdout


def test_retries_run_each_try_until_one_is_final() -> None:
    result = cli("trio_coord.example", "example_retry", "flaky", "--retries", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines.index("── try 1 of at most 3 ──") < lines.index("try 1: up_for_retry (runtime exit code 0)")
    assert lines.index("try 1: up_for_retry (runtime exit code 0)") < lines.index("── try 2 of at most 3 ──")
    assert "── try 3 of at most 3 ──" not in lines
    assert "state: success after 2 tries (runtime exit code 0; this command exits 0)" in lines
    assert "xcom attempt: 2" in lines
    no_retry = cli("trio_coord.example", "example_retry", "flaky", "--retries", "0")
    assert no_retry.returncode == 1
    # Both exit codes, each named: the runtime reported the failure properly (0), the command says it failed.
    assert "state: failed (runtime exit code 0; this command exits 1)" in no_retry.stdout
    assert "── try" not in no_retry.stdout


def test_the_log_level_follows_airflows_setting() -> None:
    quiet = cli(*EXAMPLE, "extract")
    assert " DEBUG " not in quiet.stdout
    debug = cli(*EXAMPLE, "extract", env={"AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG"})
    assert " DEBUG " in debug.stdout


def test_plain_output_when_piped_and_colour_when_asked() -> None:
    plain = cli(*EXAMPLE, "extract")
    assert ESC not in plain.stdout
    coloured = cli(*EXAMPLE, "extract", "--color=always")
    assert "\x1b[32mINFO    \x1b[0m" in coloured.stdout
    assert "state: \x1b[1;32msuccess\x1b[0m" in coloured.stdout


def on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """Run the command with stdout on a pseudo-terminal; return what it printed."""
    master, slave = pty.openpty()
    base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    process = subprocess.Popen(
        [sys.executable, "-m", "trio_coord", "run", *args],
        stdout=slave,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env={**base, **env},
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        process.wait(timeout=30)
    assert process.returncode == 0
    return b"".join(chunks).decode()


@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("1", False), ("", True)])
def test_colour_on_a_terminal_unless_no_color(no_color: str | None, coloured: bool) -> None:
    env = {} if no_color is None else {"NO_COLOR": no_color}
    output = on_a_terminal(*EXAMPLE, "extract", env=env)
    assert "extracted 4 rows" in output
    assert (ESC in output) is coloured


def test_a_packed_bundle_file_runs_as_a_child_per_try(tmp_path: Path) -> None:
    from trio_coord._pack import pack

    packed = pack("trio_coord.example:bundle", tmp_path / "example.bin", installed=True).path
    result = cli(str(packed), "example_retry", "flaky", "--retries", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines.index("try 1: up_for_retry (runtime exit code 0)") < lines.index("── try 2 of at most 3 ──")
    assert "state: success after 2 tries (runtime exit code 0; this command exits 0)" in lines
    assert "xcom attempt: 2" in lines
    chained = cli(str(packed), "example_etl", "transform", "--xcom", "extract=[1, 2, 3]")
    assert chained.returncode == 0, chained.stdout + chained.stderr
    assert 'xcom return_value: {"total": 6.0, "rows": 3}' in chained.stdout


def test_a_packed_bundle_that_cannot_start_shows_why(tmp_path: Path) -> None:
    from trio_coord._pack import pack

    packed = pack("trio_coord.example:bundle", tmp_path / "example.bin", installed=True).path
    data = bytearray(packed.read_bytes())
    data[data.index(b"A trio_coord")] = ord("a")  # a comment: the launcher runs, the hash differs
    packed.write_bytes(bytes(data))
    result = cli(str(packed), "example_etl", "extract")
    assert result.returncode == 1
    assert "the file was changed after it was packed" in result.stdout
