"""Benchmarks (``nox -s bench``): not collected by pytest, never asserted in tests.

``runner.py`` orchestrates; ``server.py``, ``worker.py`` and ``startup_*.py``
run as separate processes (see runner.py's docstring).
"""
