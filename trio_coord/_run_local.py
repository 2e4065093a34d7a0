"""``python -m trio_coord run``: run one task locally under the embedded supervisor.

What a run gets, lowest precedence first:

1. ``--state FILE``: variables, connections and XComs from a JSON or YAML
   state file (a missing file is an empty state);
2. ``--var``, ``--conn`` and ``--xcom`` flags;
3. with ``--env``, ``AIRFLOW_VAR_*`` / ``AIRFLOW_CONN_*`` from the
   environment, which the task's client reads before asking the supervisor,
   exactly as under Airflow. Without ``--env`` they are hidden from the task,
   so a run sees only what the command gave it.

``--retries N`` runs the task as Airflow retries it: up to N+1 tries, try
*k* with ``try_number=k`` and ``max_tries=N`` (so it may retry on every try
but the last), stopping at the first try that is not ``up_for_retry``; each
try starts by clearing the XComs the previous one pushed. There is no retry
delay.

``BUNDLE`` may also be a file ``pack`` wrote: it then runs as Airflow runs
it, as a child process launched with ``--comm=… --logs=…``, one per try, so
the exact artefact that is deployed is what is tested.

After the run the state file, if given, gets the run's effects (XComs
pushed or deleted, variables set or deleted) and is replaced atomically, so
``run … extract --state s.json`` then ``run … transform --state s.json``
chains. The exit code is 0 when the task succeeded, 1 when it did not, 2 for
a usage error and 130 when interrupted (the state file is then left alone).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._bundle import Bundle

# Only the argument definitions are imported with the CLI: ``serve`` (what Airflow
# launches for every task) must not pay for the testing kit. The rest is in _run_local_impl.

__all__ = ["add_run_arguments", "run_local"]


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the arguments of the ``run`` subcommand."""
    parser.add_argument(
        "bundle",
        metavar="BUNDLE",
        help="module[:attr], path/to/file.py[:attr], or a packed bundle file (run as a child process)",
    )
    parser.add_argument("dag_id", metavar="DAG_ID")
    parser.add_argument("task_id", metavar="TASK_ID")
    seeds = parser.add_argument_group("what the task sees")
    seeds.add_argument(
        "--var", action="append", default=[], metavar="KEY=VALUE", help="set a variable (repeatable)"
    )
    seeds.add_argument(
        "--conn",
        action="append",
        default=[],
        metavar="ID=URI",
        help="set a connection from an Airflow URI or JSON object (repeatable)",
    )
    seeds.add_argument(
        "--xcom",
        action="append",
        default=[],
        metavar="TASK_ID[.KEY]=JSON",
        help="store an XCom of this Dag run; KEY (after the last '.') defaults to return_value (repeatable)",
    )
    seeds.add_argument(
        "--state",
        metavar="FILE",
        type=Path,
        help="read variables, connections and XComs from FILE (JSON, or YAML with PyYAML) "
        "and write the run's XComs back to it",
    )
    seeds.add_argument(
        "--env",
        action="store_true",
        help="let the task see AIRFLOW_VAR_* and AIRFLOW_CONN_* from the environment (hidden otherwise)",
    )
    run = parser.add_argument_group("the run")
    run.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help="run up to N+1 tries as Airflow retries (try_number 1.., max_tries N), "
        "stopping at the first try not up_for_retry",
    )
    run.add_argument("--try-number", type=int, help="the try number of a single try (default 1)")
    run.add_argument(
        "--max-tries", type=int, help="max_tries of a single try; a try may retry when try number <= it"
    )
    run.add_argument(
        "--map-index",
        type=int,
        metavar="N",
        help="run one instance of a mapped task: its map_index (default -1, unmapped); "
        "ctx.mapped_item() reads item N of the upstream's XCom",
    )
    run.add_argument("--conf", metavar="JSON", help="the Dag run conf as a JSON object")
    run.add_argument(
        "--color",
        "--colour",
        dest="color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the output: auto (default: on a terminal unless NO_COLOR is set), always, never",
    )


def run_local(parser: argparse.ArgumentParser, args: argparse.Namespace, bundle: Bundle | None) -> int:
    """Run the ``run`` subcommand; return the exit code.

    Blocks until every try has finished. Usage errors exit through
    ``parser.error`` (status 2).
    """
    from ._run_local_impl import run  # here, not at the top: see the note on the imports

    return run(parser, args, bundle)
