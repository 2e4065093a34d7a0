"""TaskRunner: seed an embedded supervisor and run tasks in a few lines (the pytest fixture's object)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final, Unpack

import trio

from .._bundle import Bundle
from .._connection_uri import connection_from_json, parse_connection
from .._loader import load_bundle
from .._messages import Connection
from .._wire import JsonValue
from ._state import DEFAULT_RUN_ID, Seed, SeedError, StateFile, check_json, parse_xcom_target
from ._store import StartupOptions, SupervisorStore, TaskRun, XComKey
from ._supervisor import EmbeddedSupervisor

__all__ = ["TaskRunner", "airflow_environment_hidden"]

#: The environment variables Airflow's environment secrets backend reads.
ENV_PREFIXES: Final = ("AIRFLOW_VAR_", "AIRFLOW_CONN_")


@contextlib.contextmanager
def airflow_environment_hidden() -> Iterator[dict[str, str]]:
    """Hide ``AIRFLOW_VAR_*`` and ``AIRFLOW_CONN_*`` from ``os.environ`` for the block.

    The runtime's client reads these before asking the supervisor (as
    Airflow does), so a shell's ``AIRFLOW_CONN_PROD_DB`` would otherwise
    reach a local run. Yields what was hidden; restores it on exit.
    """
    hidden = {name: value for name, value in os.environ.items() if name.startswith(ENV_PREFIXES)}
    for name in hidden:
        del os.environ[name]
    try:
        yield hidden
    finally:
        for name in [name for name in os.environ if name.startswith(ENV_PREFIXES)]:
            del os.environ[name]
        os.environ.update(hidden)


class TaskRunner:
    """Seed variables, connections and XComs; run tasks in this process; keep every run.

    A thin layer over :class:`EmbeddedSupervisor` for tests (it is what the
    ``trio_coord_runner`` pytest fixture returns)::

        runner = TaskRunner(my_bundle)
        runner.set_variable("rows", "[1, 2]")
        run = await runner.run("etl", "extract")
        assert run.state == "success" and run.xcom() == [1, 2]

    Args:
        bundle: the default bundle of :meth:`run`: a :class:`Bundle`, or a
            spec for :func:`trio_coord.load_bundle` (``module[:attr]`` or
            ``path/file.py[:attr]``).
        supervisor: the supervisor to use (a fresh one by default).
        timeout: the bound, in seconds, on each :meth:`run` (``trio.TooSlowError``).
        log_level: the runtime's log threshold (DEBUG by default, so tests
            can assert debug records; Airflow's default is INFO).
        use_env: let the task see ``AIRFLOW_VAR_*`` / ``AIRFLOW_CONN_*``
            from the environment; by default they are hidden during runs,
            so a test sees only what it seeded.
        check_protocol: fail a run (``AssertionError``) that broke the
            protocol in a way the real supervisor would drop or crash on.

    Attributes:
        supervisor: the :class:`EmbeddedSupervisor`.
        runs: every :class:`TaskRun` so far, retries included, in order.
    """

    def __init__(
        self,
        bundle: Bundle | str | None = None,
        *,
        supervisor: EmbeddedSupervisor | None = None,
        timeout: float = 60.0,
        log_level: int = logging.DEBUG,
        use_env: bool = False,
        check_protocol: bool = True,
    ) -> None:
        self.supervisor = supervisor if supervisor is not None else EmbeddedSupervisor()
        self.bundle = bundle
        self.timeout = timeout
        self.log_level = log_level
        self.use_env = use_env
        self.check_protocol = check_protocol
        self.runs: list[TaskRun] = []
        self._loaded: dict[str, Bundle] = {}

    @property
    def store(self) -> SupervisorStore:
        """The supervisor's variables, connections and XComs."""
        return self.supervisor.store

    # ------------------------------------------------------------------ seeding

    def set_variable(self, key: str, value: str | None) -> None:
        """Store a variable (Airflow variables are strings; see :meth:`set_json_variable`)."""
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"variable {key!r} must be a string; use set_json_variable for a {type(value).__name__}"
            )
        self.supervisor.set_variable(key, value)

    def set_json_variable(self, key: str, value: JsonValue) -> None:
        """Store a variable holding ``value`` as JSON (what ``get_json_variable`` reads)."""
        self.supervisor.set_variable(key, json.dumps(check_json(value, f"variable {key!r}")))

    def set_connection(
        self, connection: Connection | str, spec: str | Mapping[str, object] | None = None
    ) -> Connection:
        """Store a connection: a :class:`Connection`, or an id with an Airflow URI or JSON fields.

        ``set_connection("db", "postgresql://user:pw@host:5432/name")`` and
        ``set_connection("db", {"conn_type": "postgres", "host": "host"})``
        parse as Airflow does.

        Returns:
            The stored connection.

        Raises:
            ValueError: the URI or fields are invalid.
            TypeError: an id without a spec, or a Connection with one.
        """
        if isinstance(connection, Connection):
            if spec is not None:
                raise TypeError("pass either a Connection or a conn id with a URI/JSON, not both")
            conn = connection
        else:
            if spec is None:
                raise TypeError(f"set_connection({connection!r}) needs a URI or the connection's fields")
            if isinstance(spec, Mapping):
                conn = connection_from_json(connection, json.dumps(dict(spec)))
            else:
                conn = parse_connection(connection, spec)
        self.supervisor.set_connection(conn)
        return conn

    def set_xcom(
        self,
        dag_id: str,
        task_id: str,
        value: JsonValue,
        *,
        key: str = "return_value",
        run_id: str = DEFAULT_RUN_ID,
        map_index: int = -1,
    ) -> None:
        """Store an XCom as if ``task_id`` of ``dag_id`` had pushed it."""
        where = f"XCom {dag_id}.{task_id}.{key}"
        self.supervisor.set_xcom(XComKey(dag_id, run_id, task_id, key, map_index), check_json(value, where))

    def load_state(self, source: str | Path | Mapping[str, object], *, dag_id: str) -> Seed:
        """Seed from a state file (JSON/YAML) or an already-parsed seed document.

        Args:
            source: a path, or a mapping with ``variables``, ``connections``, ``xcoms``.
            dag_id: the Dag that ``TASK_ID[.KEY]`` XComs belong to.

        Returns:
            What was stored.

        Raises:
            SeedError: naming the field that is wrong.
        """
        if isinstance(source, Mapping):
            seed = Seed.from_document(source, dag_id=dag_id)
        else:
            path = Path(source)
            if not path.exists():
                raise SeedError(f"{path}: no such state file")
            seed = StateFile(path).seed(dag_id)
        seed.apply(self.store)
        return seed

    # ------------------------------------------------------------------ running

    def _bundle(self, bundle: Bundle | str | None) -> Bundle:
        chosen = bundle if bundle is not None else self.bundle
        if chosen is None:
            raise TypeError(
                "no bundle: pass bundle=..., give TaskRunner one, or define a trio_coord_bundle fixture"
            )
        if isinstance(chosen, Bundle):
            return chosen
        if chosen not in self._loaded:
            self._loaded[chosen] = load_bundle(chosen)
        return self._loaded[chosen]

    async def run(
        self,
        dag_id: str,
        task_id: str,
        *,
        bundle: Bundle | str | None = None,
        xcoms: Mapping[str, JsonValue] | None = None,
        retries: int | None = None,
        **startup: Unpack[StartupOptions],
    ) -> TaskRun:
        """Run one task in this process under the embedded supervisor; return its run.

        Blocks until the task has finished (at most :attr:`timeout` seconds).

        Args:
            dag_id: the Dag id.
            task_id: the task id.
            bundle: the bundle (default: the runner's).
            xcoms: XComs to store first, as ``{"TASK_ID[.KEY]": value}`` in
                this Dag run (``{"extract": [1, 2]}`` is ``extract``'s
                ``return_value``; the key follows the last dot).
            retries: run the way Airflow retries (see
                :meth:`EmbeddedSupervisor.run_tries`) and return the last
                try; every try is in :attr:`runs`. Excludes ``try_number``
                and ``max_tries``.
            **startup: the run context (``try_number``, ``max_tries``,
                ``conf``, ``run_id``, ``map_index``, ``logical_date``...).

        Cancelling the caller cancels the run (the task with it) and closes
        its sockets; nothing is recorded in :attr:`runs` then.

        Returns:
            The :class:`TaskRun` (the last try's with ``retries``).

        Raises:
            trio.TooSlowError: the run took longer than :attr:`timeout`.
            AssertionError: with ``check_protocol``, the run broke the protocol.
        """
        target = self._bundle(bundle)
        run_id = startup.get("run_id", DEFAULT_RUN_ID)
        for text, value in (xcoms or {}).items():
            upstream, key = parse_xcom_target(text)
            self.set_xcom(dag_id, upstream, value, key=key, run_id=run_id)
        env = contextlib.nullcontext() if self.use_env else airflow_environment_hidden()
        with env, trio.fail_after(self.timeout):
            if retries is None:
                tries = [
                    await self.supervisor.run_in_process(
                        target, dag_id, task_id, log_level=self.log_level, **startup
                    )
                ]
            else:
                tries = await self.supervisor.run_tries(
                    target, dag_id, task_id, retries=retries, log_level=self.log_level, **startup
                )
        self.runs.extend(tries)
        if self.check_protocol:
            problems = [f"try {run.try_number}: {problem}" for run in tries for problem in run.problems]
            if problems:
                raise AssertionError(
                    f"{dag_id}.{task_id} broke the coordinator protocol:\n  " + "\n  ".join(problems)
                )
        return tries[-1]
