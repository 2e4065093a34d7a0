"""Shared fixtures and the rules every test here follows.

Determinism rules (after trio-websocket's test suite):

* Loopback only: every server listens on 127.0.0.1 with port 0.
* No sleeps to order events: use ``trio.testing.wait_all_tasks_blocked``,
  memory streams, and the ``autojump_clock`` fixture for anything that waits
  on time, so timeouts are exact and instant.
* Every I/O test has an absolute ``trio.fail_after`` budget (the
  ``io_budget`` fixture) so a hang fails instead of stalling the run.
* Every process a test starts is stopped by the test.
* Speed is never asserted here: ``nox -s bench`` measures it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from trio_coord import _redact

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
async def io_budget() -> AsyncIterator[None]:
    """Fail the test if it takes more than 30 s of trio time."""
    with trio.fail_after(30):
        yield


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of the wheels self-contained bundles embed (see tests/wheelhouse.py)."""
    from .wheelhouse import WHEELHOUSE_ENV, fill

    given = os.environ.get(WHEELHOUSE_ENV)
    if given:
        return Path(given)
    folder = tmp_path_factory.mktemp("wheelhouse")
    fill(folder)
    return folder


@pytest.fixture(autouse=True)
def _clean_global_state() -> Iterator[None]:
    """Each test starts without registered secrets, handlers or AIRFLOW_* overrides."""
    _redact.reset_secrets()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    knobs = {
        name: getattr(logging, name)
        for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")
    }
    saved_env = {k: v for k, v in os.environ.items() if k.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_"))}
    for key in saved_env:
        del os.environ[key]
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, value in knobs.items():
        setattr(logging, name, value)
    _redact.reset_secrets()
    os.environ.update(saved_env)
