# /// script
# dependencies = ["nox>=2025.2.9"]
# ///
"""Sessions for trio_coord. ``nox`` runs the default set on the running interpreter.

Default (what CI runs): ``tests``, ``faults``, ``interop``, ``e2e``, ``lint``, ``typecheck``, ``docs``.
Opt-in: the version matrix (``nox -t matrix``), ``bench``.

No session ever downloads an interpreter: the default sessions use the Python
running nox, and the matrix sessions skip interpreters this machine lacks.
"""

from __future__ import annotations

import os
import time

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = False
nox.options.reuse_venv = "yes" if not os.environ.get("CI") else "no"
nox.options.sessions = ["tests", "faults", "interop", "e2e", "lint", "typecheck", "docs"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
ALL_PYTHONS = nox.project.python_versions(PYPROJECT)

# The oldest releases trio_coord supports, and the peers it interoperates with.
OLDEST_RUNTIME_DEPS = ["trio==0.27.0", "msgpack==1.0.5", "outcome==1.2.0"]
TASK_SDK_VERSIONS = ["1.3.0", "1.3.1", "1.3.2"]
# The Airflow release the end-to-end run deploys to (core 3.3.2 ships task-sdk 1.3.2).
AIRFLOW_VERSION = "3.3.2"


def _group(name: str) -> list[str]:
    return nox.project.dependency_groups(PYPROJECT, name)


def _install_project(session: nox.Session, *extra: str) -> None:
    # Non-editable, so the tests exercise the installed package, not the tree.
    session.install(".", *extra)


def _pytest(session: nox.Session, *args: str) -> None:
    session.run("pytest", *args, *session.posargs, env={"PYTHONDONTWRITEBYTECODE": "1"})


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests, Hypothesis properties and the embedded-supervisor runs."""
    _install_project(session, *_group("test"))
    _pytest(session, "tests", "--ignore=tests/interop", "--ignore=tests/faults", "--ignore=tests/e2e")


@nox.session
def faults(session: nox.Session) -> None:
    """Fault injection: a misbehaving supervisor and misbehaving tasks (tests/faults)."""
    _install_project(session, *_group("test"))
    _pytest(session, "tests/faults")


@nox.session
def interop(session: nox.Session) -> None:
    """Run trio_coord under the real apache-airflow-task-sdk 1.3.2 supervisor."""
    _install_project(session, *_group("interop"))
    _pytest(session, "tests/interop")


@nox.session
def e2e(session: nox.Session) -> None:
    """``python -m trio_coord dev`` starts a real Airflow 3.3.2 (api-server, scheduler, dag-processor,
    triggerer, LocalExecutor) that runs the example bundle through ``ExecutableCoordinator``; ``check``
    against Airflow's own parser; the tutorial followed as written (tests/e2e; a few minutes)."""
    # One venv for Airflow and trio_coord, installed as the tutorial says: the LocalExecutor's
    # workers launch the packed bundle, whose launcher execs this venv's Python.
    start = time.monotonic()
    session.install(".[airflow,yaml]", "pytest>=8.4", "pytest-trio>=0.8")
    took = time.monotonic() - start
    session.log(f"[e2e] install apache-airflow=={AIRFLOW_VERSION} and trio_coord took {took:.1f} s")
    # TRIO_COORD_E2E=1: a missing Airflow is an error, not a skip. -s: each step's timing is
    # printed as the step ends.
    session.env["TRIO_COORD_E2E"] = "1"
    # The tutorial's test follows a whole page against a real Airflow: minutes, not a hang.
    _pytest(session, "tests/e2e", "-s", "-o", "faulthandler_timeout=900")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and flake8-async."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("flake8", "trio_coord", "tests", "docs/examples", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, the tests and the documentation's examples."""
    _install_project(session, *_group("typecheck"))
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx site (docs/_build/html); any warning fails the build.

    Hermetic: intersphinx reads the inventories vendored in docs/_inventories. ``-E`` rereads
    every page, so a warning cannot hide in a cached one.
    """
    _install_project(session, *_group("docs"))
    session.run(
        "sphinx-build", "-E", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html", *session.posargs
    )


# ---------------------------------------------------------------------------
# Opt-in matrix for users who pin versions: `nox -t matrix`
# ---------------------------------------------------------------------------


@nox.session(python=ALL_PYTHONS, tags=["matrix"], default=False)
@nox.parametrize("deps", ["oldest", "latest"])
def tests_matrix(session: nox.Session, deps: str) -> None:
    """Unit tests on every supported Python found here, with the oldest and latest dependencies."""
    _install_project(session, *_group("test"))
    if deps == "oldest":
        session.install(*OLDEST_RUNTIME_DEPS)
    else:
        session.install("--upgrade", "trio", "msgpack", "outcome")
    _pytest(session, "tests", "--ignore=tests/interop", "--ignore=tests/e2e")


@nox.session(python=ALL_PYTHONS, tags=["matrix"], default=False)
@nox.parametrize("task_sdk", TASK_SDK_VERSIONS)
def interop_matrix(session: nox.Session, task_sdk: str) -> None:
    """The interop suite against each task-sdk release that speaks schema 2026-06-16."""
    _install_project(session, *_group("test"), f"apache-airflow-task-sdk=={task_sdk}")
    _pytest(session, "tests/interop")


# ---------------------------------------------------------------------------
# Opt-in benchmarks: `nox -s bench` (see docs/performance.md)
# ---------------------------------------------------------------------------


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks beside the raw-Python floors and Airflow's own client; prints one table.

    ``nox -s bench -- --quick`` is a short smoke run; ``nox -s bench -- --help``
    lists the options. Results go to bench-results/bench.json.
    """
    # Bytecode compiled at install time, so start-up figures measure a warm install.
    session.install(".", "apache-airflow-task-sdk==1.3.2", env={"UV_COMPILE_BYTECODE": "1"})
    session.run("python", "-m", "tests.bench", *session.posargs)
