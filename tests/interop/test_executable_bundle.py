"""Packed bundles under Airflow's own ``ExecutableCoordinator`` (task-sdk 1.3.2).

``python -m trio_coord pack`` writes the bundles into folders; the unmodified
coordinator scans a folder, checks each file's trailer and launcher hash,
picks the one whose manifest lists the task's Dag id and runs it with
``--comm=… --logs=…`` under the real supervisor (``harness.run_executable``).
Most tests use ``--installed`` bundles (the format); the last one runs a
self-contained bundle on a bare interpreter.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("airflow") is None:
    pytest.skip("needs apache-airflow-task-sdk==1.3.2 (nox -s interop)", allow_module_level=True)

# The harness configures Airflow, so it comes before anything that imports airflow.
from .harness import (
    BUNDLE_FILE,
    RUN_ID,
    SCHEMA_VERSION,
    ApiCall,
    FakeExecutionAPI,
    run_executable,
    start_call,
    state_call,
)

# isort: split
from airflow.sdk.coordinators.executable.coordinator import _Bundle, _read_bundle_metadata

from trio_coord._boot import CACHE_DIR_ENV
from trio_coord._bundle_file import BundleFormatError
from trio_coord._inspect import inspect_bundle
from trio_coord._pack import PackResult, pack

from ..wheelhouse import pack_package

#: An unrelated bundle (Dag ``sample``) that shares the folder.
SAMPLE_FILE = BUNDLE_FILE.parent.parent / "sample_bundle.py"


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PackResult]:
    """The interop bundle and an unrelated one, packed into one folder."""
    folder = tmp_path_factory.mktemp("executable-bundles")
    return {
        "interop": pack(str(BUNDLE_FILE), folder / "interop.bin", installed=True),
        "sample": pack(str(SAMPLE_FILE), folder / "sample.bin", installed=True),
    }


def test_the_coordinators_own_reader_sees_the_embedded_manifests(packed: dict[str, PackResult]) -> None:
    for dag_id, result in packed.items():
        assert _read_bundle_metadata(result.path) == result.manifest
        found = _Bundle.find([result.path.parent], dag_id)
        assert (found.path, found.schema_version) == (result.path.resolve(), SCHEMA_VERSION)


def test_a_packed_bundle_runs_under_the_real_executable_coordinator(packed: dict[str, PackResult]) -> None:
    folder = packed["interop"].path.parent
    api = FakeExecutionAPI(
        variables={"greeting": "hello from the API"},
        connections={"warehouse": {"conn_type": "postgres", "host": "db.internal", "login": "etl"}},
        xcoms={("interop", RUN_ID, "upstream", "return_value"): [1, 2, 3, 4]},
    )

    result = run_executable("interop", "reads_everything", executables_root=[folder], api=api)

    assert (result.exit_code, result.final_state) == (0, "success"), result.describe_log()
    xcoms = f"xcoms/interop/{RUN_ID}"
    assert result.calls_without_heartbeats == [
        start_call(result.ti),
        ApiCall("GET", "variables/greeting"),
        ApiCall("GET", "connections/warehouse"),
        ApiCall("GET", f"{xcoms}/upstream/return_value"),
        ApiCall("POST", f"{xcoms}/reads_everything/summary", {}, {"total": 10, "rows": 4}),
        ApiCall(
            "POST",
            f"{xcoms}/reads_everything/return_value",
            {},
            {"greeting": "hello from the API", "total": 10},
        ),
        state_call(result.ti, "success", task_outlets=[], outlet_events=[]),
    ]
    assert result.record(logger="trio_coord.runner", event="task interop.reads_everything succeeded")

    # The same folder serves the other bundle's Dag: the coordinator routes by Dag id.
    other = run_executable("sample", "hello", executables_root=[folder])
    assert (other.exit_code, other.final_state) == (0, "success"), other.describe_log()
    assert other.record(event="hello from the child")["pid_marker"] == "child"


def test_a_tampered_copy_is_rejected_by_the_real_coordinator(
    packed: dict[str, PackResult], tmp_path: Path
) -> None:
    data = bytearray(packed["interop"].path.read_bytes())
    # One byte of the launcher, in a comment: the script would still run, only the hash differs.
    data[data.index(b"A trio_coord")] = ord("a")
    tampered = tmp_path / "interop.bin"
    tampered.write_bytes(bytes(data))
    tampered.chmod(0o755)
    shutil.copy2(packed["sample"].path, tmp_path / "sample.bin")
    api = FakeExecutionAPI()

    with pytest.raises(FileNotFoundError, match=r"cannot find executable bundle containing dag_id='interop'"):
        run_executable("interop", "handles_missing_variable", executables_root=[tmp_path], api=api)

    assert api.calls == []  # nothing was launched, the task never started
    with pytest.raises(BundleFormatError) as caught:
        inspect_bundle(tampered)
    assert caught.value.problem == "hash_mismatch"


def test_a_bundle_without_the_execute_bit_is_skipped_by_the_real_coordinator(
    packed: dict[str, PackResult], tmp_path: Path
) -> None:
    copy = tmp_path / "interop.bin"
    shutil.copy(packed["interop"].path, copy)
    copy.chmod(0o644)
    assert not stat.S_IMODE(copy.stat().st_mode) & 0o111
    with pytest.raises(FileNotFoundError, match="cannot find executable bundle containing dag_id='interop'"):
        _Bundle.find([tmp_path], "interop")
    assert not inspect_bundle(copy).executable  # inspect warns about it


def test_a_moved_bundle_whose_source_is_gone_still_runs(tmp_path: Path) -> None:
    source_dir, build_dir, deploy_dir = (tmp_path / name for name in ("src", "build", "deploy"))
    for directory in (source_dir, build_dir, deploy_dir):
        directory.mkdir()
    shutil.copy(BUNDLE_FILE, source_dir / "moved_interop.py")
    pack(str(source_dir / "moved_interop.py"), build_dir / "interop.bin", installed=True)
    shutil.move(build_dir / "interop.bin", deploy_dir / "interop.bin")
    shutil.rmtree(source_dir)
    shutil.rmtree(build_dir)

    result = run_executable("interop", "handles_missing_variable", executables_root=[deploy_dir])
    assert (result.exit_code, result.final_state) == (0, "success"), result.describe_log()

    # The task code came from the packed file: a failure's frames point into it.
    failed = run_executable("interop", "fails", executables_root=[deploy_dir])
    assert (failed.exit_code, failed.final_state) == (0, "failed"), failed.describe_log()
    failure = failed.record(
        logger="trio_coord.runner", event="task interop.fails failed: ValueError: boom: the input is bad"
    )
    (exception,) = failure["error_detail"]  # the supervisor renames "exception" to "error_detail"
    frame = exception["frames"][-1]
    assert (frame["filename"], frame["name"]) == (f"{deploy_dir / 'interop.bin'}/moved_interop.py", "fails")


def test_a_self_contained_package_bundle_runs_on_a_bare_interpreter(tmp_path: Path, wheelhouse: Path) -> None:
    # A worker with nothing but a CPython: a venv without pip, which cannot import the runtime.
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    bare = venv / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for module in ("trio", "msgpack", "trio_coord", "six"):
        probe = subprocess.run(
            [str(bare), "-c", f"import {module}"],
            capture_output=True,
            env=clean,
            cwd=venv,
            timeout=60,
            check=False,
        )
        assert probe.returncode == 1, f"the bare interpreter can import {module}"

    # A package of two modules and a data file, importing six and msgpack's C extension; its
    # source is deleted once packed.
    packed = pack_package(tmp_path, bare, wheelhouse)
    deploy = packed.parent
    cache = tmp_path / "cache"
    os.environ[CACHE_DIR_ENV] = str(cache)  # the coordinator's child inherits the worker's environment
    try:
        result = run_executable("scpkg", "hello", executables_root=[deploy])
    finally:
        del os.environ[CACHE_DIR_ENV]

    assert (result.exit_code, result.final_state) == (0, "success"), result.describe_log()
    (pushed,) = [
        call for call in result.calls_without_heartbeats if call.method == "POST" and "xcoms" in call.path
    ]
    value = pushed.body
    assert value["roundtrip"] == [1, "two", {"three": 3}]
    assert value["greeting"] == "hello from package data"
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    assert all(file.startswith(f"{entry}/site/") for file in value["files"]), value["files"]
    assert _read_bundle_metadata(packed)["source"] == "scpkg/tasks.py"
