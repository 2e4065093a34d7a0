"""``dev`` without Airflow: its configuration, its arguments, and how it stops child processes.

Against a real Airflow 3.3.2, ``dev`` is tested end to end in tests/e2e (``nox -s e2e``).
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from trio_coord import _dev
from trio_coord._dev import ChildDied, Children
from trio_coord._dev_config import (
    DevLayout,
    DevSecrets,
    airflow_settings,
    child_environment,
    read_secrets,
    render_airflow_cfg,
    settings_as_environment,
)

HAS_AIRFLOW = importlib.util.find_spec("airflow") is not None


def layout(tmp_path: Path) -> DevLayout:
    return DevLayout(
        home=tmp_path / "home",
        dags_folder=tmp_path / "dags",
        queue="trio",
        api_port=18080,
        worker_log_port=18793,
        trigger_log_port=18794,
    )


def test_airflow_cfg_holds_the_whole_deployment(tmp_path: Path) -> None:
    keys = DevSecrets("jwt", "key", "fernet")
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(render_airflow_cfg(layout(tmp_path), keys))

    home = tmp_path / "home"
    assert cfg["core"]["dags_folder"] == str(tmp_path / "dags")
    assert cfg["core"]["executor"] == "LocalExecutor"
    assert cfg["core"]["execution_api_server_url"] == "http://127.0.0.1:18080/execution/"
    assert cfg["database"]["sql_alchemy_conn"] == f"sqlite:///{home / 'airflow.db'}"
    assert (cfg["api"]["host"], cfg["api"]["port"]) == ("127.0.0.1", "18080")
    assert (cfg["api_auth"]["jwt_secret"], cfg["api"]["secret_key"], cfg["core"]["fernet_key"]) == (
        "jwt",
        "key",
        "fernet",
    )
    coordinators = json.loads(cfg["sdk"]["coordinators"])
    assert coordinators == {
        "trio": {
            "classpath": "airflow.sdk.coordinators.executable.ExecutableCoordinator",
            "kwargs": {"executables_root": [str(home / "executable-bundles")]},
        }
    }
    assert json.loads(cfg["sdk"]["queue_to_coordinator"]) == {"trio": "trio"}


def test_the_environment_form_holds_the_same_settings_as_the_file(tmp_path: Path) -> None:
    # The e2e suite's process-by-process deployments pass these as AIRFLOW__… variables;
    # Airflow reads AIRFLOW__{SECTION}__{KEY} for [section] key.
    keys = DevSecrets("jwt", "key", "fernet")
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(render_airflow_cfg(layout(tmp_path), keys))
    from_file = {
        f"AIRFLOW__{section.upper()}__{option.upper()}": value
        for section in cfg.sections()
        for option, value in cfg[section].items()
    }

    env = settings_as_environment(airflow_settings(layout(tmp_path), keys))

    assert env == from_file
    assert env["AIRFLOW__SDK__QUEUE_TO_COORDINATOR"] == '{"trio": "trio"}'
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "jwt"


def test_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    first = render_airflow_cfg(layout(tmp_path), read_secrets(None))
    again = read_secrets(first)

    assert render_airflow_cfg(layout(tmp_path), again) == first
    assert read_secrets(None) != again  # fresh ones differ
    assert len(again.fernet_key) == 44  # 32 bytes, URL-safe base64: what Fernet accepts


def test_a_path_airflow_cfg_cannot_hold_is_refused(tmp_path: Path) -> None:
    odd = DevLayout(tmp_path / "100%", tmp_path, "trio", 1, 2, 3)
    with pytest.raises(ValueError, match=r"--home .* cannot be written to airflow\.cfg"):
        render_airflow_cfg(odd, read_secrets(None))


def test_the_servers_get_the_home_and_none_of_the_callers_airflow_settings(tmp_path: Path) -> None:
    env = child_environment(
        {"PATH": "/bin", "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW_HOME": "/x"}, tmp_path
    )
    assert env == {
        "PATH": "/bin",
        "AIRFLOW_HOME": str(tmp_path),
        "TRIO_COORD_CACHE_DIR": str(tmp_path / "trio-coord-cache"),
        "PYTHONUNBUFFERED": "1",
    }
    mine = child_environment({"TRIO_COORD_CACHE_DIR": "/var/cache/bundles"}, tmp_path)
    assert mine["TRIO_COORD_CACHE_DIR"] == "/var/cache/bundles"  # the caller's choice is kept


# ---------------------------------------------------------------------------- the command line


def trio_coord(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_coord", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.skipif(HAS_AIRFLOW, reason="Airflow is installed here")
@pytest.mark.parametrize("command", ["dev", "check"])
def test_without_airflow_one_line_says_how_to_install_it(command: str, tmp_path: Path) -> None:
    done = trio_coord(command, "trio_coord.example", "--dags-folder", str(tmp_path), cwd=tmp_path)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"trio_coord: error: {command} needs Apache Airflow 3.3.2 in this environment ({sys.executable}): "
        "pip install 'trio_coord[airflow]'  (from a checkout: pip install '.[airflow]')\n"
    )
    assert not (tmp_path / "airflow-dev").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dags-folder", "missing"], "--dags-folder 'missing' is not a directory"),
        (["--dags-folder", ".", "--var", "novalue"], "--var must be KEY=VALUE, got 'novalue'"),
        (
            ["--dags-folder", ".", "--conn", "db=nonsense"],
            "--conn db: connection 'db': 'nonsense' is not a connection URI",
        ),
        (["--dags-folder", ".", "--port", "70000"], "a port is 1-65535, got 70000"),
    ],
)
def test_bad_arguments_are_named_before_anything_starts(
    args: list[str], message: str, tmp_path: Path
) -> None:
    done = trio_coord("dev", "trio_coord.example", *args, cwd=tmp_path)

    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "airflow-dev").exists()


# ---------------------------------------------------------------------------- child processes


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


SLEEPER = python("import time; time.sleep(120)")
#: Ignores the first SIGTERM, as an Airflow server that waits for its children does.
STUBBORN = python(
    """
    import signal, time
    signal.signal(signal.SIGTERM, lambda *_: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    print("ready", flush=True)
    time.sleep(120)
    """
)
DEAF = python(
    """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ready", flush=True)
    time.sleep(120)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _wait_for_line(path: Path, text: str) -> None:
    with trio.fail_after(60):
        while text not in await trio.Path(path).read_text(encoding="utf-8"):  # noqa: ASYNC110 - a file
            await trio.sleep(0.05)


async def test_stop_ends_every_child_and_a_second_sigterm_reaches_a_slow_one(tmp_path: Path) -> None:
    children = Children(dict(os.environ), tmp_path)
    async with trio.open_nursery() as nursery:
        sleeper = await nursery.start(children.run, "sleeper", SLEEPER, tmp_path / "sleeper.log")
        stubborn = await nursery.start(children.run, "stubborn", STUBBORN, tmp_path / "stubborn.log")
        await _wait_for_line(tmp_path / "stubborn.log", "ready")
        with trio.CancelScope(shield=True):
            killed = await children.stop()
        nursery.cancel_scope.cancel()

    assert killed == []
    assert (sleeper.process.returncode, stubborn.process.returncode) == (-signal.SIGTERM, -signal.SIGTERM)


async def test_a_child_deaf_to_sigterm_is_killed_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dev, "STOP_GRACE", 1.0)
    monkeypatch.setattr(_dev, "SECOND_SIGTERM_AFTER", 0.5)
    children = Children(dict(os.environ), tmp_path)
    async with trio.open_nursery() as nursery:
        deaf = await nursery.start(children.run, "deaf", DEAF, tmp_path / "deaf.log")
        await _wait_for_line(tmp_path / "deaf.log", "ready")
        with trio.CancelScope(shield=True):
            killed = await children.stop()
        nursery.cancel_scope.cancel()

    assert killed == ["deaf (1 process)"]
    assert deaf.process.returncode == -signal.SIGKILL
    assert not _alive(deaf.pid)


async def test_a_child_that_exits_on_its_own_is_reported_with_its_log(tmp_path: Path) -> None:
    children = Children(dict(os.environ), tmp_path)
    crash = python("print('something broke'); raise SystemExit(3)")

    with pytest.RaisesGroup(ChildDied) as info:
        async with trio.open_nursery() as nursery:
            await nursery.start(children.run, "crasher", crash, tmp_path / "crasher.log")
            await nursery.start(children.run, "sleeper", SLEEPER, tmp_path / "sleeper.log")
    with trio.CancelScope(shield=True):
        await children.stop()

    (died,) = info.value.exceptions
    assert isinstance(died, ChildDied)
    assert (
        str(died)
        == f"airflow crasher exited with code 3; the end of {tmp_path / 'crasher.log'}:\n    something broke"
    )
    assert all(child.process.returncode is not None for child in children.items)


# ---------------------------------------------------------------------------- what dev reads of check


def test_dev_reads_checks_json_and_quotes_stderr_when_there_is_none() -> None:
    report = {"ok": False, "queue": "trio", "stub_dags": ["orders"], "lines": ["check: 1 mismatch", "  x"]}
    stdout = b"some warning Airflow printed\n" + json.dumps(report).encode()

    assert _dev.CheckOutcome.from_output(stdout, b"") == _dev.CheckOutcome(
        False, ("check: 1 mismatch", "  x"), ("orders",)
    )
    broken = _dev.CheckOutcome.from_output(b"", b"Traceback ...\nImportError: no airflow")
    assert broken == _dev.CheckOutcome(
        False, ("check: could not compare the Dags with the bundle:\nTraceback ...\nImportError: no airflow",)
    )
