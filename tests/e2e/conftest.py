"""End to end on a real Airflow deployment (``nox -s e2e``).

test_deployment.py holds the session's deployment fixture and the tests;
deployment.py runs Airflow; dags/ holds the Dag files it deploys. This file
only lists every step's timing at the end of the run, also when a test
failed (the steps are printed as they end, too: the session runs with -s).
"""

from __future__ import annotations

import pytest

from .timings import TIMINGS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("trio_coord e2e timings")
    width = max(len(t.step) for t in TIMINGS)
    for timing in TIMINGS:
        terminalreporter.write_line(f"{timing.step:<{width}}  {timing.seconds:6.1f} s")
