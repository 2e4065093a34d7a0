"""docs/tutorial.md, followed as written against the real Airflow 3.3.2 that ``dev`` starts (``nox -s e2e``).

Every ``console`` block of the page runs in order, in one folder holding the
files the page tells the reader to save (``orders.py``, ``test_orders.py``,
``dags/orders_dag.py``, from docs/examples/tutorial), next to ``trio_coord``,
a link to this checkout; each command with bash, as written. The output each
block shows must appear in what the command printed, in order
(tests/doc_blocks.py: ``...`` stands for any text).

The page's first block makes a virtualenv and installs trio_coord with
Airflow from the checkout. By default the test skips those two commands and
runs in this venv, which the e2e session installed the same way
(``.[airflow,yaml]``, pytest, pytest-trio: checked below). With
``TRIO_COORD_TUTORIAL_INSTALL=1`` it runs them too, as written (minutes: a
fresh install of Airflow), and the timings then give the time from
``pip install`` to a green Dag run.

Three things a reader does by hand are done here the way the page says:

* ``python -m trio_coord dev`` runs "in a terminal of its own": it is started
  in the background, and the test goes on once everything the page shows
  for it has been printed;
* "ask for the task states, and again until both say success": a read-only
  command listed in :data:`REPEATED` runs again (every 2 s, up to
  :data:`REPEAT_TIMEOUT`) until its output shows what the page shows;
* "press Ctrl-C in dev's terminal": SIGINT goes to dev's process group, as
  a terminal sends it; the ``text`` block starting with ``^C`` is what dev
  must print, and nothing dev started may be left running.

``export`` lines, and activating the virtualenv, carry over to the later
commands, as in one shell.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

if importlib.util.find_spec("airflow") is None:
    if os.environ.get("TRIO_COORD_E2E") == "1":
        raise RuntimeError("TRIO_COORD_E2E=1 but apache-airflow is not installed here (run nox -s e2e)")
    pytest.skip("needs apache-airflow==3.3.2 (nox -s e2e)", allow_module_level=True)

from ..doc_blocks import Block, Step, assert_shown, blocks, shown_in, transcript
from .deployment import READY_TIMEOUT, DeploymentError, DevProcess, clean_environment, living, wait_for
from .timings import record, timed

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "tutorial.md"
#: What the page tells the reader to save, and where (the page shows each with literalinclude).
SAVED = {
    "orders.py": "orders.py",
    "test_orders.py": "test_orders.py",
    "orders_dag.py": "dags/orders_dag.py",
}
#: Commands the page says to run again until they show what it shows.
REPEATED = ("airflow tasks states-for-dag-run ",)
#: The page's install commands, run only with TRIO_COORD_TUTORIAL_INSTALL=1.
INSTALL = ("python -m venv ", "pip install ")
RUN_INSTALL = os.environ.get("TRIO_COORD_TUTORIAL_INSTALL") == "1"
REPEAT_TIMEOUT = 240.0
COMMAND_TIMEOUT = 300.0


class Shell:
    """Runs the page's commands as written, with bash, in one folder; ``export`` lines carry over."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.exports: list[str] = []
        self.env = clean_environment()
        # The activated virtualenv: python, pytest and airflow are this venv's.
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}"
        self.env.update(NO_COLOR="1", PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        self.dev: DevProcess | None = None

    def script(self, command: str) -> list[str]:
        return ["bash", "-c", "\n".join([*self.exports, command])]

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.script(command),
            cwd=self.folder,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def start_dev(self, step: Step, where: str) -> None:
        """Start dev in the background; return once it printed everything the page shows."""
        assert self.dev is None, f"{where}: a second dev"
        self.dev = DevProcess(
            self.script(step.command), cwd=self.folder, output=self.folder / "dev.out", env=self.env
        )
        dev = self.dev

        def shown() -> bool | None:
            if dev.process.poll() is not None:
                raise DeploymentError(f"{where}: dev exited with {dev.process.returncode}:\n{dev.output()}")
            return True if shown_in(step.output, dev.output()) is None else None

        wait_for(
            f"{where}: dev to print what the page shows",
            shown,
            timeout=READY_TIMEOUT,
            explain=lambda: f"\n{dev.output()}",
        )

    def run_block(self, block: Block) -> None:
        steps = transcript(block)
        last_code: int | None = None
        for index, step in enumerate(steps):
            where = f"{block}: {step.command!r}"
            following = steps[index + 1].command if index + 1 < len(steps) else ""
            if step.command == "echo $?":
                assert step.output == [str(last_code)], (
                    f"{where}: documented exit code {step.output}, got {last_code}"
                )
                continue
            if step.command.startswith("python -m trio_coord dev "):
                with timed("tutorial: dev, until it printed what the page shows"):
                    self.start_dev(step, where)
                continue
            if step.command.startswith("export "):
                self.exports.append(step.command)
                continue
            if step.command.startswith(INSTALL) and not RUN_INSTALL:
                continue  # this venv is the one the page installs (see the module docstring)
            deadline = time.monotonic() + (REPEAT_TIMEOUT if step.command.startswith(REPEATED) else 0)
            with timed(f"tutorial: {step.command[:60]}"):
                while True:
                    done = self.run(step.command)
                    if shown_in(step.output, done.stdout) is None or time.monotonic() >= deadline:
                        break
                    time.sleep(2)
            last_code = done.returncode
            if step.command.startswith("python -m venv ") and ". .venv/bin/activate" in step.command:
                self.exports.append(". .venv/bin/activate")  # the shell stays activated
            if following != "echo $?":
                assert done.returncode == 0, f"{where} exited {done.returncode}:\n{done.stdout}"
            assert_shown(step.output, done.stdout, where)

    def stop_dev(self) -> None:
        """Whatever happened: stop dev and everything it started (bounded)."""
        if self.dev is not None and self.dev.process.poll() is None:
            self.dev.stop(signal.SIGTERM)


def test_the_install_line_is_what_the_e2e_session_installs() -> None:
    (block,) = [b for b in blocks(PAGE) if "pip install" in b.body]
    (line,) = [line for line in block.body.splitlines() if line.startswith("$ pip install")]
    words = shlex.split(line)
    assert words[3:] == ["../trio_coord[airflow,yaml]", "pytest", "pytest-trio"], line
    noxfile = (REPO / "noxfile.py").read_text(encoding="utf-8")
    assert '".[airflow,yaml]", "pytest>=8.4", "pytest-trio>=0.8"' in noxfile
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'airflow = ["apache-airflow==3.3.2"]' in pyproject


def test_the_tutorial_as_written_ends_in_a_green_dag_run(tmp_path: Path) -> None:
    (tmp_path / "trio_coord").symlink_to(REPO)  # "an empty folder next to the checkout"
    folder = tmp_path / "tutorial"
    for source, target in SAVED.items():
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "docs" / "examples" / "tutorial" / source, folder / target)
    shell = Shell(folder)
    started = time.monotonic()
    consoles = [block for block in blocks(PAGE) if block.info == "console"]
    try:
        for block in consoles:
            shell.run_block(block)
        install = "pip install" if RUN_INSTALL else "the first command after pip install"
        record(f"tutorial: from {install} to the green Dag run", time.monotonic() - started)
        assert shell.dev is not None, "the page never starts dev"

        # "Press Ctrl-C in dev's terminal."
        (ctrl_c,) = [b for b in blocks(PAGE) if b.info == "text" and b.body.startswith("^C\n")]
        tree = shell.dev.descendants()
        with timed("tutorial: Ctrl-C until dev exited"):
            stopped = shell.dev.stop(signal.SIGINT, group=True)
        assert stopped.exit_code == 0, stopped.output
        assert_shown(ctrl_c.body.splitlines()[1:], stopped.output, str(ctrl_c))
        assert stopped.left_running == [], stopped.output
        assert living(tree) == []
    finally:
        shell.stop_dev()
