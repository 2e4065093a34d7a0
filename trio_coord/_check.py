"""``python -m trio_coord check``: do the Dag files' stub tasks and the bundle agree?

Airflow 3.3.2 routes a ``@task.stub(queue=Q)`` task to the coordinator mapped
to ``Q``, which picks the executable bundle by Dag id only; the runtime then
looks the task id up in the bundle. A stub without an implementation ends
``removed``, a Dag no bundle claims fails before it starts, and a bundle task
without a stub never runs, and none of this shows until a run. ``check``
parses the Dags with Airflow's own parser (``DagBag``, as the dag-processor
does) and compares:

* every stub task on the queue whose Dag the bundle claims but whose task id
  it does not define (**no implementation**);
* every Dag with stub tasks on the queue that the bundle does not claim
  (**unclaimed Dag**);
* every bundle task that has no stub on the queue in the Dags folder (**no
  stub**: the Dag is missing, the task is missing, it is not a stub, or it is
  a stub on another queue);
* every Dag file the parser could not import.

The comparison (:func:`compare`) is pure; only :func:`parse_dags` imports
Airflow. Exit code 0 when everything matches (with a one-line summary), 1 on
any mismatch or import error, 2 for a usage error (Airflow missing included).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NoReturn

from ._bundle import Bundle
from ._dev_args import DEFAULT_QUEUE
from ._loader import BundleLoadError, load_bundle

__all__ = [
    "AIRFLOW_INSTALL_HINT",
    "CheckReport",
    "ParsedDags",
    "TaskInfo",
    "airflow_missing_message",
    "check_command",
    "compare",
    "parse_dags",
]

#: How to get the Airflow release trio_coord supports into this environment.
AIRFLOW_INSTALL_HINT: Final = "pip install 'trio_coord[airflow]'  (from a checkout: pip install '.[airflow]')"


def airflow_missing_message(command: str) -> str | None:
    """The one-line error for ``command`` when Airflow is not importable here (``None`` if it is)."""
    if importlib.util.find_spec("airflow") is not None:
        return None
    return (
        f"{command} needs Apache Airflow 3.3.2 in this environment ({sys.executable}): {AIRFLOW_INSTALL_HINT}"
    )


_NO_DAG: Final = "the Dags folder has no Dag {dag_id}"


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What ``check`` needs of one Airflow task: its queue, and whether it is a ``@task.stub``."""

    queue: str
    stub: bool


@dataclass(frozen=True, slots=True)
class ParsedDags:
    """What Airflow's parser found in a Dags folder.

    Attributes:
        dags: task infos by task id, by Dag id.
        import_errors: the error text by file path, for files that failed to import.
    """

    dags: Mapping[str, Mapping[str, TaskInfo]]
    import_errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The result of comparing a Dags folder with a bundle on one queue.

    Attributes:
        queue: the queue compared.
        bundle: the bundle's ``name version``.
        stub_dags: the Dag ids with at least one stub task on the queue (what
            ``dev`` unpauses), sorted.
        served: how many stub tasks on the queue the bundle implements.
        no_implementation: ``(dag_id, task_id)`` of stubs the bundle does not implement.
        unclaimed_dags: Dag id to its stub task ids, for Dags the bundle does not claim.
        no_stub: ``(dag_id, task_id, why)`` of bundle tasks without a stub on the queue.
        import_errors: file path to error, for Dag files that failed to import.
    """

    queue: str
    bundle: str
    stub_dags: tuple[str, ...]
    served: int
    no_implementation: tuple[tuple[str, str], ...] = ()
    unclaimed_dags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    no_stub: tuple[tuple[str, str, str], ...] = ()
    import_errors: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        """Whether everything matched and every Dag file imported."""
        return not (self.no_implementation or self.unclaimed_dags or self.no_stub or self.import_errors)

    def summary(self) -> str:
        """One line: what was checked and whether it matched."""
        dags = f"{len(self.stub_dags)} Dag{'' if len(self.stub_dags) == 1 else 's'}"
        listed = f" ({', '.join(self.stub_dags)})" if self.stub_dags else ""
        tasks = f"{self.served} stub task{'' if self.served == 1 else 's'}"
        if self.ok:
            return (
                f"check: ok, {tasks} on queue {self.queue!r} in {dags}{listed}, all served by {self.bundle}"
            )
        problems = len(self.problems())
        return (
            f"check: {problems} mismatch{'' if problems == 1 else 'es'} between the Dags folder and "
            f"{self.bundle} on queue {self.queue!r} ({tasks} served)"
        )

    def problems(self) -> list[str]:
        """One sentence per mismatch, saying what Airflow would do about it."""
        lines = [
            f"stub task {dag_id}.{task_id} has no implementation in {self.bundle}: its runs end 'removed'"
            for dag_id, task_id in self.no_implementation
        ]
        lines.extend(
            f"Dag {dag_id} has stub tasks on queue {self.queue!r} ({', '.join(tasks)}) but {self.bundle} "
            "does not claim it: they fail before they start (the coordinator finds no bundle)"
            for dag_id, tasks in self.unclaimed_dags
        )
        missing_dags: dict[str, list[str]] = {}
        for dag_id, task_id, why in self.no_stub:
            if why == _NO_DAG.format(dag_id=dag_id):
                missing_dags.setdefault(dag_id, []).append(task_id)
            else:
                lines.append(f"bundle task {dag_id}.{task_id} has no stub on queue {self.queue!r}: {why}")
        lines.extend(
            f"bundle Dag {dag_id} ({', '.join(tasks)}) has no stubs: {_NO_DAG.format(dag_id=dag_id)}"
            for dag_id, tasks in missing_dags.items()
        )
        lines.extend(
            f"{path} could not be imported: {_last_line(error)}" for path, error in self.import_errors
        )
        return lines

    def lines(self) -> list[str]:
        """The whole report: the summary, then one line per problem."""
        return [self.summary(), *(f"  {problem}" for problem in self.problems())]

    def to_json(self) -> dict[str, object]:
        """The report as JSON (what ``check --json`` prints)."""
        return {"ok": self.ok, "queue": self.queue, "stub_dags": list(self.stub_dags), "lines": self.lines()}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no message)"


def compare(parsed: ParsedDags, bundle: Bundle, queue: str = DEFAULT_QUEUE) -> CheckReport:
    """Compare what Airflow parsed with what ``bundle`` implements, for stub tasks on ``queue``."""
    stubs: dict[str, list[str]] = {}
    for dag_id, tasks in parsed.dags.items():
        on_queue = [task_id for task_id, info in tasks.items() if info.stub and info.queue == queue]
        if on_queue:
            stubs[dag_id] = sorted(on_queue)
    no_implementation: list[tuple[str, str]] = []
    unclaimed: list[tuple[str, tuple[str, ...]]] = []
    served = 0
    for dag_id, task_ids in sorted(stubs.items()):
        dag = bundle.dags.get(dag_id)
        if dag is None:
            unclaimed.append((dag_id, tuple(task_ids)))
            continue
        for task_id in task_ids:
            if task_id in dag.tasks:
                served += 1
            else:
                no_implementation.append((dag_id, task_id))
    no_stub: list[tuple[str, str, str]] = []
    for dag_id, dag in sorted(bundle.dags.items()):
        airflow_tasks = parsed.dags.get(dag_id)
        for task_id in sorted(dag.tasks):
            if task_id in stubs.get(dag_id, ()):
                continue
            if airflow_tasks is None:
                why = _NO_DAG.format(dag_id=dag_id)
            elif task_id not in airflow_tasks:
                why = f"Dag {dag_id} has no task {task_id}"
            elif not airflow_tasks[task_id].stub:
                why = "it is an ordinary Python task, not a @task.stub"
            else:
                why = f"it is a stub on queue {airflow_tasks[task_id].queue!r}"
            no_stub.append((dag_id, task_id, why))
    return CheckReport(
        queue=queue,
        bundle=f"bundle {bundle.name} {bundle.version}",
        stub_dags=tuple(sorted(stubs)),
        served=served,
        no_implementation=tuple(no_implementation),
        unclaimed_dags=tuple(unclaimed),
        no_stub=tuple(no_stub),
        import_errors=tuple(sorted(parsed.import_errors.items())),
    )


def is_stub(task: object) -> bool:
    """Whether an Airflow task is a ``@task.stub``: a plain one, or one mapped with ``.expand()``.

    A mapped task is a ``MappedOperator`` that keeps the class it will build
    in ``operator_class``; only that class says whether it is a stub.
    """
    if getattr(task, "is_stub", False):
        return True
    return bool(getattr(getattr(task, "operator_class", None), "is_stub", False))


@contextlib.contextmanager
def _airflow_home() -> Iterator[None]:
    """Keep Airflow's import from writing ``~/airflow``: a throwaway home unless one is set."""
    if os.environ.get("AIRFLOW_HOME"):
        yield
        return
    home = tempfile.mkdtemp(prefix="trio_coord_check_")
    os.environ["AIRFLOW_HOME"] = home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    try:
        yield
    finally:
        os.environ.pop("AIRFLOW_HOME", None)
        shutil.rmtree(home, ignore_errors=True)


def parse_dags(dags_folder: Path) -> ParsedDags:
    """Parse every Dag file under ``dags_folder`` with Airflow's ``DagBag``.

    Blocking, and slow (it imports Airflow and every Dag file: seconds). Uses
    ``AIRFLOW_HOME`` when set; otherwise a temporary home, removed afterwards.
    """
    with _airflow_home():
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(dags_folder))
        dags = {
            dag_id: {task.task_id: TaskInfo(queue=str(task.queue), stub=is_stub(task)) for task in dag.tasks}
            for dag_id, dag in bag.dags.items()
        }
        return ParsedDags(dags, {str(path): str(error) for path, error in bag.import_errors.items()})


# ---------------------------------------------------------------------------- the command line


def _die(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.error(message)


def check_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``python -m trio_coord check``: 0 when everything matches, 1 on a mismatch, 2 for usage.

    Blocking: imports Airflow and parses every Dag file (seconds).
    """
    if not args.dags_folder.is_dir():
        _die(parser, f"--dags-folder {str(args.dags_folder)!r} is not a directory")
    try:
        bundle = load_bundle(args.bundle)
    except BundleLoadError as exc:
        _die(parser, str(exc))
    missing = airflow_missing_message("check")
    if missing:
        print(f"trio_coord: error: {missing}", file=sys.stderr)
        return 2
    report = compare(parse_dags(args.dags_folder.resolve()), bundle, args.queue)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1
