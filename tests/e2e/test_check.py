"""``python -m trio_coord check`` with Airflow 3.3.2's own parser (``nox -s e2e``; no servers needed)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("airflow") is None:
    if os.environ.get("TRIO_COORD_E2E") == "1":
        raise RuntimeError("TRIO_COORD_E2E=1 but apache-airflow is not installed here (run nox -s e2e)")
    pytest.skip("needs apache-airflow==3.3.2 (nox -s e2e)", allow_module_level=True)

from .deployment import clean_environment

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "examples" / "tutorial"


def check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_coord", "check", *args],
        cwd=cwd,
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def tutorial(tmp_path: Path) -> Path:
    """The tutorial's bundle in a folder, and its Dag file in ``dags/``."""
    (tmp_path / "dags").mkdir()
    shutil.copy(TUTORIAL / "orders.py", tmp_path / "orders.py")
    shutil.copy(TUTORIAL / "orders_dag.py", tmp_path / "dags" / "orders_dag.py")
    return tmp_path


def test_the_tutorials_dag_and_bundle_match(tutorial: Path) -> None:
    done = check("orders.py", "--dags-folder", "dags", cwd=tutorial)

    assert (done.returncode, done.stderr) == (0, ""), done.stdout + done.stderr
    assert done.stdout == (
        "check: ok, 2 stub tasks on queue 'trio' in 1 Dag (orders), all served by bundle orders 1.0.0\n"
    )
    assert not (tutorial / "airflow").exists()  # nothing written next to it (nor to ~/airflow)


def test_a_stub_without_an_implementation_and_a_task_without_a_stub(tutorial: Path) -> None:
    dag_file = tutorial / "dags" / "orders_dag.py"
    dag_file.write_text(
        dag_file.read_text(encoding="utf-8")
        .replace("def summarize() -> None: ...", "def summarise() -> None: ...")
        .replace("fetch_orders() >> summarize()", "fetch_orders() >> summarise()"),
        encoding="utf-8",
    )

    done = check("orders.py", "--dags-folder", "dags", cwd=tutorial)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "check: 2 mismatches between the Dags folder and bundle orders 1.0.0 on queue 'trio' "
        "(1 stub task served)",
        "  stub task orders.summarise has no implementation in bundle orders 1.0.0: its runs end 'removed'",
        "  bundle task orders.summarize has no stub on queue 'trio': Dag orders has no task summarize",
    ]


def test_the_e2e_dags_against_the_example_bundle_as_json() -> None:
    done = check(
        "trio_coord.example", "--dags-folder", str(REPO / "tests" / "e2e" / "dags"), "--json", cwd=REPO
    )

    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    # example_mapped's stubs are mapped (.expand()): still stubs, and the bundle implements them.
    assert report["stub_dags"] == ["e2e_no_bundle", "example_mapped", "example_mixed", "example_retry"]
    assert report["lines"][1:] == [
        "  Dag e2e_no_bundle has stub tasks on queue 'trio' (orphan) but bundle trio_coord-example "
        "1.0.0 does not claim it: they fail before they start (the coordinator finds no bundle)",
        "  bundle Dag example_etl (extract, load, transform) has no stubs: "
        "the Dags folder has no Dag example_etl",
    ]
    # On the typo'd queue, the stub is the bundle's business no longer: nothing matches it.
    typo = check(
        "trio_coord.example",
        "--dags-folder",
        str(REPO / "tests" / "e2e" / "dags"),
        "--queue",
        "trio-typo",
        cwd=REPO,
    )
    assert typo.returncode == 1
    assert "Dag e2e_queue_typo has stub tasks on queue 'trio-typo' (misrouted)" in typo.stdout


def test_a_dag_file_that_does_not_import_is_a_mismatch(tutorial: Path) -> None:
    (tutorial / "dags" / "broken.py").write_text(
        "from airflow.sdk import dag\nraise ValueError('broken on purpose')\n"
    )

    done = check("orders.py", "--dags-folder", "dags", cwd=tutorial)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "broken.py could not be imported: ValueError: broken on purpose" in done.stdout
