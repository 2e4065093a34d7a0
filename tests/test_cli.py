"""The command line: usage errors, the manifest, serve as a child process, run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import trio

from trio_coord.testing import EmbeddedSupervisor

from .conftest import REPO

SAMPLE = str(REPO / "tests" / "sample_bundle.py")
SERVE = [sys.executable, "-m", "trio_coord", "serve", SAMPLE]


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_coord", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "required: COMMAND"),
        (("serve", SAMPLE), "needs both --comm and --logs (--comm is missing)"),
        (("serve", SAMPLE, "--comm=127.0.0.1:1"), "(--logs is missing)"),
        (("serve", SAMPLE, "--comm=127.0.0.1", "--logs=127.0.0.1:2"), "--comm must be HOST:PORT"),
        (("serve", SAMPLE, "--comm=127.0.0.1:99999", "--logs=127.0.0.1:2"), "port must be a number"),
        (("serve", SAMPLE, "--comm=::1:5", "--logs=127.0.0.1:2"), "IPv6 host in brackets"),
        (("serve", SAMPLE, "--comm=a b:5", "--logs=127.0.0.1:2"), "not an IP address or host name"),
        (("serve", SAMPLE, "--format=json"), "--format is only valid with --airflow-metadata"),
        (("serve", SAMPLE, "--airflow-metadata", "--format=JSON"), "--format must be 'yaml' or 'json'"),
        (("serve", "no_such_module_xyz", "--airflow-metadata"), "cannot import bundle module"),
        (("serve", "tests/missing.py", "--airflow-metadata"), "does not exist"),
        (("serve", f"{SAMPLE}:nothing", "--airflow-metadata"), "no attribute 'nothing'"),
        (("serve", f"{SAMPLE}:log", "--airflow-metadata"), "is a Logger, not a trio_coord.Bundle"),
        (("run", SAMPLE, "sample", "hello", "--var", "novalue"), "--var must be KEY=VALUE"),
        (("run", SAMPLE, "sample", "hello", "--conn", "c=nonsense"), "not a connection URI"),
        (("run", SAMPLE, "sample", "hello", "--conf", "[1]"), "--conf must be a JSON object"),
    ],
)
def test_usage_errors_exit_2_and_say_what_is_wrong(args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_manifest_yaml_and_json() -> None:
    yaml_out = cli("serve", SAMPLE, "--airflow-metadata")
    assert yaml_out.returncode == 0, yaml_out.stderr
    assert yaml_out.stdout == (
        'airflow_bundle_metadata_version: "1.0"\n'
        "sdk:\n"
        '  language: "python-trio"\n'
        f'  version: "{_version()}"\n'
        '  supervisor_schema_version: "2026-06-16"\n'
        "dags:\n"
        '  "sample":\n'
        "    tasks:\n"
        '      - "hello"\n'
        '      - "sleeps"\n'
        '      - "ignores_cancellation"\n'
        '      - "123"\n'
    )
    json_out = cli("serve", SAMPLE, "--airflow-metadata", "--format", "json")
    assert json_out.returncode == 0
    assert json_out.stdout.startswith('{\n    "airflow_bundle_metadata_version": "1.0",')
    assert json_out.stdout.endswith("}\n")
    assert not json_out.stdout.endswith("\n\n")
    manifest = json.loads(json_out.stdout)
    assert manifest["dags"]["sample"]["tasks"][-1] == "123"


def test_manifest_yaml_parses_with_strings_kept() -> None:
    yaml = pytest.importorskip("yaml")
    out = cli("serve", SAMPLE, "--airflow-metadata").stdout
    parsed = yaml.safe_load(out)
    assert parsed == json.loads(cli("serve", SAMPLE, "--airflow-metadata", "--format=json").stdout)
    assert parsed["dags"]["sample"]["tasks"][-1] == "123"


def _version() -> str:
    from trio_coord import __version__

    return __version__


def test_run_command_runs_the_shipped_example() -> None:
    result = cli("run", "trio_coord.example", "example_etl", "extract", "--var", "example_rows=[5, 6]")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "extracted 2 rows" in result.stdout
    assert "state: success" in result.stdout
    assert "xcom return_value: [5, 6]" in result.stdout


def test_run_command_exits_1_when_the_task_does_not_succeed() -> None:
    result = cli("run", "trio_coord.example", "example_etl", "load")
    assert result.returncode == 1
    assert "state: skipped" in result.stdout
    retry = cli("run", "trio_coord.example", "example_retry", "flaky", "--max-tries", "2")
    assert retry.returncode == 1
    assert "state: up_for_retry" in retry.stdout
    second = cli("run", "trio_coord.example", "example_retry", "flaky", "--try-number", "2")
    assert second.returncode == 0
    assert "ok on try 2" in second.stdout


def test_run_command_with_a_connection_uri() -> None:
    result = cli(
        "run",
        "trio_coord.example",
        "example_etl",
        "load",
        "--conn",
        "example_warehouse=postgresql://user:p%40ss@wh.local:5432/db",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loading summary into wh.local" in result.stdout
    assert 'conn_type="postgres"' in result.stdout


async def test_serve_as_a_child_process(io_budget: None) -> None:
    result = await EmbeddedSupervisor().run_command(SERVE, "sample", "hello")
    assert result.problems == []
    assert result.exit_code == 0
    assert result.state == "success"
    assert result.xcom() == "hi"
    events = result.log_events()
    # logged at import time, before the socket existed: buffered, then flushed first
    assert events[0] == "imported before the logs socket was connected"
    assert "hello from the child" in events


async def test_numeric_task_id_round_trips(io_budget: None) -> None:
    result = await EmbeddedSupervisor().run_command(SERVE, "sample", "123")
    assert result.state == "success"


class Waiter:
    """An EmbeddedSupervisor whose test can wait for a given log event."""

    def __init__(self, event: str) -> None:
        self.seen = trio.Event()
        self.event = event
        self.sup = EmbeddedSupervisor(on_log=self._on_log)

    def _on_log(self, record: dict[str, object]) -> None:
        if record.get("event") == self.event:
            self.seen.set()

    def signal_child(self, signum: signal.Signals) -> None:
        (child,) = self.sup.children
        child.send_signal(signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_mid_task_cancels_and_reports(io_budget: None, signum: signal.Signals) -> None:
    waiter = Waiter("sleeping")
    async with trio.open_nursery() as nursery:

        async def signal_when_sleeping() -> None:
            await waiter.seen.wait()
            waiter.signal_child(signum)
            waiter.signal_child(signum)  # a second signal must not break the reporting

        nursery.start_soon(signal_when_sleeping)
        start = trio.current_time()
        result = await waiter.sup.run_command(SERVE, "sample", "sleeps", max_tries=1)
        elapsed = trio.current_time() - start
    assert elapsed < 30  # the task sleeps 60 s unless cancelled
    assert result.exit_code == 0, result.output
    assert result.state == "up_for_retry"
    assert result.terminal is not None
    assert result.terminal["retry_reason"] == "cancelled"
    events = result.log_events()
    assert f"received {signum.name}: cancelling the task" in events


async def test_task_ignoring_cancellation_is_reported_after_the_grace_period(io_budget: None) -> None:
    waiter = Waiter("sleeping, shielded")
    async with trio.open_nursery() as nursery:

        async def signal_when_sleeping() -> None:
            await waiter.seen.wait()
            waiter.signal_child(signal.SIGTERM)

        nursery.start_soon(signal_when_sleeping)
        result = await waiter.sup.run_command(SERVE, "sample", "ignores_cancellation")
    assert result.exit_code == 0, result.output
    assert result.state == "failed"
    assert any("ignored cancellation" in event for event in result.log_events())


async def test_comm_address_that_refuses_exits_non_zero(io_budget: None) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # nothing listens there any more
    result = await trio.run_process(
        [*SERVE, f"--comm=127.0.0.1:{port}", f"--logs=127.0.0.1:{port}"],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert b"cannot connect the comm socket" in result.stderr
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "TRIO_COORD_GRACE_PERIOD",
            "soon",
            "TRIO_COORD_GRACE_PERIOD must be a number of seconds, got 'soon'",
        ),
        ("TRIO_COORD_GRACE_PERIOD", "0", "TRIO_COORD_GRACE_PERIOD must be a positive number of seconds"),
        ("TRIO_COORD_TERMINAL_TIMEOUT", "-1", "TRIO_COORD_TERMINAL_TIMEOUT must be a positive number"),
        ("TRIO_COORD_TERMINAL_TIMEOUT", "nan", "TRIO_COORD_TERMINAL_TIMEOUT must be a positive number"),
        ("TRIO_COORD_REQUEST_TIMEOUT", "2m", "TRIO_COORD_REQUEST_TIMEOUT must be a number of seconds"),
    ],
)
def test_serve_timing_variables_are_checked(name: str, value: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trio_coord", "serve", SAMPLE, "--comm=127.0.0.1:9", "--logs=127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
        env={**os.environ, name: value},
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_options_from_the_environment() -> None:
    from trio_coord._serve import ServeOptions

    options = ServeOptions.from_env({"TRIO_COORD_GRACE_PERIOD": "1.5", "TRIO_COORD_TERMINAL_TIMEOUT": "4"})
    assert (options.grace_period, options.terminal_timeout) == (1.5, 4.0)
    assert ServeOptions.from_env({}) == ServeOptions(request_timeout=120.0)


def test_plain_serve_arguments_match_the_full_parser() -> None:
    from trio_coord._cli import build_parser, plain_serve_arguments

    argv = ["serve", "pkg.mod:bundle", "--logs=127.0.0.1:2", "--comm=127.0.0.1:1"]
    plain = plain_serve_arguments(argv)
    assert plain is not None
    assert vars(plain) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "b.py", "--comm", "127.0.0.1:1", "--logs=127.0.0.1:2"],
        ["serve", "b.py", "--comm=127.0.0.1:1"],
        ["serve", "b.py", "--comm=127.0.0.1:1", "--comm=127.0.0.1:2"],
        ["serve", "b.py", "--comm=", "--logs=127.0.0.1:2"],
        ["serve", "--help", "--comm=127.0.0.1:1", "--logs=127.0.0.1:2"],
        ["serve", "b.py", "--com=127.0.0.1:1", "--logs=127.0.0.1:2"],
        ["run", "b.py", "--comm=127.0.0.1:1", "--logs=127.0.0.1:2"],
    ],
)
def test_other_command_lines_go_through_argparse(argv: list[str]) -> None:
    from trio_coord._cli import plain_serve_arguments

    assert plain_serve_arguments(argv) is None


def test_usage_error_on_the_plain_path_names_the_problem() -> None:
    result = cli("serve", "b.py", "--comm=localhost", "--logs=127.0.0.1:1")
    assert result.returncode == 2
    assert "usage: python -m trio_coord" in result.stderr
    assert "--comm" in result.stderr
