"""The arguments of ``check`` and ``dev`` (kept apart so the CLI's start-up stays cheap).

``serve``, which Airflow launches for every task, builds the whole parser;
the implementations (``_check``, ``_dev``) are imported only when their
subcommand runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Final

__all__ = ["DEFAULT_HOME", "DEFAULT_QUEUE", "add_check_arguments", "add_dev_arguments"]

#: The queue ``dev`` routes to the coordinator, and ``check``'s default.
DEFAULT_QUEUE: Final = "trio"
#: ``dev``'s ``AIRFLOW_HOME`` when ``--home`` is not given (relative to the current directory).
DEFAULT_HOME: Final = "airflow-dev"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {port}")
    return port


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", metavar="BUNDLE", help="module[:attr] or path/to/file.py[:attr]")
    parser.add_argument(
        "--dags-folder", required=True, type=Path, metavar="DIR", help="the folder of Airflow Dag files"
    )
    parser.add_argument(
        "--queue",
        default=DEFAULT_QUEUE,
        help=f"the queue whose stub tasks trio_coord runs (default: {DEFAULT_QUEUE})",
    )


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the arguments of the ``check`` subcommand."""
    _common(parser)
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def add_dev_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the arguments of the ``dev`` subcommand."""
    _common(parser)
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(DEFAULT_HOME),
        metavar="DIR",
        help="AIRFLOW_HOME: airflow.cfg, the database, the logs, the packed bundle "
        f"(default: ./{DEFAULT_HOME})",
    )
    parser.add_argument(
        "--port", type=_port, metavar="N", help="the api-server's port on 127.0.0.1 (default: a free port)"
    )
    parser.add_argument(
        "--var", action="append", default=[], metavar="KEY=VALUE", help="set an Airflow variable (repeatable)"
    )
    parser.add_argument(
        "--conn",
        action="append",
        default=[],
        metavar="ID=URI",
        help="set an Airflow connection from a URI or JSON object (repeatable)",
    )
