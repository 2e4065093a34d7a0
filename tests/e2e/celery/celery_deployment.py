"""A throwaway distributed Airflow on 127.0.0.1: CeleryExecutor, PostgreSQL, Redis, two workers.

:class:`CeleryDeployment` is the LocalExecutor :class:`~tests.e2e.deployment.Deployment`
with these differences (the rest, the REST client, the waits, the stopping
by pid, is the same code):

* PostgreSQL and Redis (servers.py) are started before ``db migrate``;
  PostgreSQL is both the metadata database and Celery's result backend,
  Redis the broker.
* The scheduler runs the ``CeleryExecutor``; two ``airflow celery worker``
  processes (``worker-a``, ``worker-b``) consume queues ``trio`` and
  ``default``, 8 slots each, with ``--skip-serve-logs`` (the worker log server
  would bind every interface): the api-server reads task logs from the
  shared log folder.
* Only the workers get the ``[sdk]`` settings, each with its *own*
  ``executables_root`` holding its own copy of the packed bundles (two hosts,
  simulated): the Celery message carries the task's queue, and each worker
  maps it to a coordinator from its own configuration.
* A ``[core] hostname_callable`` returns the worker's name, so a task
  instance's ``hostname`` says which worker ran it (two workers on one host
  would otherwise report the same name).
* The scheduler declares a task instance dead after
  :data:`HEARTBEAT_TIMEOUT` s without a heartbeat (default 300), so the
  worker-loss test ends in seconds rather than minutes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..deployment import DeploymentError, tail, wait_for
from ..timings import timed
from .process_deployment import DAGS_SOURCE, QUEUE, Deployment, Server, stop_servers
from .servers import Database, start_database, start_redis, stop_database

HERE: Final = Path(__file__).resolve().parent
#: The Dag files this deployment parses: the Celery Dags and the example's mapped Dag.
CELERY_DAG_FILES: Final = (
    *sorted((HERE / "dags").glob("*.py")),
    DAGS_SOURCE / "example_mapped.py",
)
#: The trio bundle of the Celery Dags (packed beside the example bundle).
CELERY_BUNDLE: Final = str(HERE / "bundle.py")
CELERY_BUNDLE_FILE_NAME: Final = "trio_coord_celery_e2e"
WORKER_NAMES: Final = ("worker-a", "worker-b")
WORKER_CONCURRENCY: Final = 8
#: Seconds without a heartbeat before the scheduler fails a running task instance.
HEARTBEAT_TIMEOUT: Final = 30
#: How long the coordinator waits for a launched bundle to connect (default 10 s; 2 loaded cores).
TASK_STARTUP_TIMEOUT: Final = 60.0
WORKER_READY_TIMEOUT: Final = 180.0

#: The hostname_callable: a worker's name from its environment.
_IDENTITY_MODULE: Final = '''"""[core] hostname_callable of the trio_coord CeleryExecutor e2e run."""
import os
import socket


def hostname() -> str:
    return os.environ.get("TRIO_COORD_E2E_WORKER") or socket.gethostname()
'''


@dataclass
class Worker:
    """One Celery worker: its process, its name and its own executables root."""

    name: str
    server: Server
    executables_root: Path

    @property
    def pid(self) -> int:
        """The worker's main process id (its pool processes are its children)."""
        return self.server.pid


@dataclass
class CeleryDeployment(Deployment):
    """See the module docstring; use like :class:`~tests.e2e.deployment.Deployment`."""

    dag_files: Sequence[Path] = field(default_factory=lambda: CELERY_DAG_FILES)
    database: Database | None = None
    redis: Server | None = None
    redis_port: int = 0
    workers: list[Worker] = field(default_factory=list)

    @property
    def python_path(self) -> Path:
        """A folder on every process's ``PYTHONPATH`` (the hostname callable lives there)."""
        return self.workdir / "pylib"

    def worker_root(self, name: str) -> Path:
        """The executables root of one worker."""
        return self.workdir / f"executable-bundles-{name}"

    def environment(self) -> dict[str, str]:
        """Every process's environment: Celery, PostgreSQL, Redis; no ``[sdk]`` (workers only)."""
        env = super().environment()
        del env["AIRFLOW__SDK__COORDINATORS"], env["AIRFLOW__SDK__QUEUE_TO_COORDINATOR"]
        if self.database is not None:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.database.url()
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = self.database.url("db+postgresql")
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                # The defaults (32 and 16) would cap a 40-wide fan-out.
                "AIRFLOW__CORE__PARALLELISM": "64",
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "trio_coord_e2e_identity.hostname",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "PYTHONPATH": str(self.python_path),
            }
        )
        return env

    def worker_environment(self, name: str) -> dict[str, str]:
        """A worker's environment: the common one plus its own ``[sdk]`` settings."""
        coordinators = {
            QUEUE: {
                "classpath": "airflow.sdk.coordinators.executable.ExecutableCoordinator",
                "kwargs": {
                    "executables_root": [str(self.worker_root(name))],
                    "task_startup_timeout": TASK_STARTUP_TIMEOUT,
                },
            }
        }
        env = self.environment()
        env.update(
            {
                "AIRFLOW__SDK__COORDINATORS": json.dumps(coordinators),
                "AIRFLOW__SDK__QUEUE_TO_COORDINATOR": json.dumps({QUEUE: QUEUE}),
                "TRIO_COORD_E2E_WORKER": name,
                # Each simulated host unpacks the self-contained bundles into a cache of its own.
                "TRIO_COORD_CACHE_DIR": str(self.home / f"trio-coord-cache-{name}"),
            }
        )
        return env

    # ---------------------------------------------------------------- steps

    def prepare(self) -> None:
        """The LocalExecutor layout, plus the hostname callable's module."""
        super().prepare()
        self.python_path.mkdir(parents=True, exist_ok=True)
        (self.python_path / "trio_coord_e2e_identity.py").write_text(_IDENTITY_MODULE, encoding="utf-8")

    def pack_bundle(self) -> Path:
        """Pack the example and the Celery bundles once; give each worker its own copy."""
        path = super().pack_bundle()
        self.pack(CELERY_BUNDLE, CELERY_BUNDLE_FILE_NAME)
        for name in WORKER_NAMES:
            # copytree keeps the execute bit the coordinator's scan requires.
            shutil.copytree(self.executables_root, self.worker_root(name))
        return path

    def start_backing_services(self) -> None:
        """Start PostgreSQL and Redis."""
        with timed("start PostgreSQL and Redis"):
            self.database = start_database(self.server_logs)
            self.redis, self.redis_port = start_redis(self.server_logs)

    def start_workers(self) -> None:
        """Start the two Celery workers; wait until both say they are ready."""
        with timed(f"start {len(WORKER_NAMES)} Celery workers until ready"):
            for name in WORKER_NAMES:
                server = self.start_server(
                    name,
                    "celery",
                    "worker",
                    "--queues",
                    f"{QUEUE},default",
                    "--concurrency",
                    str(WORKER_CONCURRENCY),
                    "--celery-hostname",
                    f"{name}@%h",
                    "--skip-serve-logs",
                    env=self.worker_environment(name),
                )
                self.workers.append(Worker(name, server, self.worker_root(name)))
            for worker in self.workers:
                wait_for(
                    f"Celery worker {worker.name} to be ready",
                    lambda worker=worker: self._worker_ready(worker),  # type: ignore[misc]
                    timeout=WORKER_READY_TIMEOUT,
                    explain=lambda worker=worker: self.explain(worker.name),  # type: ignore[misc]
                )

    def _worker_ready(self, worker: Worker) -> bool | None:
        if not worker.server.running():
            raise DeploymentError(
                f"{worker.name} exited with {worker.server.process.returncode}" + self.explain(worker.name)
            )
        return True if " ready." in tail(worker.server.log_path, 200) else None

    def worker(self, name: str) -> Worker:
        """The worker called ``name``."""
        for worker in self.workers:
            if worker.name == name:
                return worker
        raise KeyError(name)

    def stop_backing_services(self) -> list[str]:
        """Stop Redis, then PostgreSQL (after every Airflow process: they are its clients)."""
        killed: list[str] = []
        with timed("stop Redis and PostgreSQL"):
            if self.redis is not None:
                killed += stop_servers([self.redis], timeout=10)
            if self.database is not None:
                killed += stop_database(self.database)
        return killed
