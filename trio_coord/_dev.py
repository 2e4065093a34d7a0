"""``python -m trio_coord dev``: a local Airflow 3.3.2 serving one bundle, for development.

What it does, in order (every wait bounded; a step that fails ends ``dev``
with exit code 1 and the tail of the log that explains it):

1. writes ``DIR/airflow.cfg`` (``_dev_config``: SQLite, LocalExecutor,
   127.0.0.1, the queue routed to ``ExecutableCoordinator``, secrets kept
   across restarts) and packs the bundle into ``DIR/executable-bundles``;
2. runs ``check`` (the Dag files' stub tasks against the bundle) while
   ``airflow db migrate`` runs, then prints what ``check`` found;
3. starts ``airflow api-server``, ``scheduler``, ``dag-processor`` and
   ``triggerer``, each a child process in its own process group with its
   output in ``DIR/logs/<name>.log``;
4. waits until ``/api/v2/monitor/health`` says all of them are healthy,
   unpauses the Dags whose stub tasks go to the queue, sets ``--var`` and
   ``--conn`` through the REST API, and prints the URL and the login;
5. watches the bundle's source file and repacks it when it changes (the
   coordinator scans for every task, so the next task runs the new code).

Structure: the children and the watcher are tasks of one nursery; a task per
child waits for its process and raises :class:`ChildDied` if it exits while
``dev`` is not stopping, which cancels everything else. SIGINT (Ctrl-C) and
SIGTERM cancel the nursery. Whatever ended it, :meth:`Children.stop` then
runs shielded and bounded: SIGTERM to every process group, up to
:data:`STOP_GRACE` seconds, then SIGKILL to any group or descendant still
alive, so nothing is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, NoReturn

import trio
import trio.lowlevel

from ._check import airflow_missing_message
from ._connection_uri import parse_connection
from ._dev_config import (
    ADMIN_USER,
    DevLayout,
    child_environment,
    read_secrets,
    render_airflow_cfg,
)
from ._loader import BundleLoadError, load_bundle
from ._messages import Connection
from ._record import record_items

__all__ = ["ChildDied", "DevError", "dev_command"]

#: The Airflow release ``dev`` is written for (``trio_coord[airflow]`` pins it).
AIRFLOW_VERSION: Final = "3.3.2"
#: The Airflow servers ``dev`` runs, in start order, with their arguments. The scheduler's and
#: the triggerer's log servers are skipped: they listen on every interface, and the api-server
#: reads the task logs from the shared log folder anyway.
SERVERS: Final = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer", "--skip-serve-logs"),
}
#: The health report's component for each server (the api-server answers the report itself).
_HEALTH_PARTS: Final = ("metadatabase", "scheduler", "dag_processor", "triggerer")

#: Bounds, in seconds (generous: a first start on a loaded machine is slow).
PACK_TIMEOUT: Final = 120.0
CHECK_TIMEOUT: Final = 180.0
MIGRATE_TIMEOUT: Final = 300.0
READY_TIMEOUT: Final = 300.0
DAG_PARSE_TIMEOUT: Final = 120.0
HTTP_TIMEOUT: Final = 10.0
#: How long the children get to exit after SIGTERM before SIGKILL.
STOP_GRACE: Final = 10.0
#: When a server still runs this long after the first SIGTERM, it gets a second one.
SECOND_SIGTERM_AFTER: Final = 3.0
KILL_WAIT: Final = 5.0
_POLL: Final = 0.5
#: How often the bundle's source file is looked at.
WATCH_INTERVAL: Final = 1.0
_TAIL_LINES: Final = 25


class DevError(Exception):
    """A step of ``dev`` failed; the message says which, and why."""


class ChildDied(DevError):
    """An Airflow server exited while ``dev`` was running (the message has its log's tail)."""


def _say(text: str) -> None:
    print(text, flush=True)


def _tail(path: Path, lines: int = _TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in kept) if kept else "(no output)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class DevPlan:
    """Everything ``dev`` needs, checked before anything starts."""

    spec: str
    source: Path
    bundle_name: str
    layout: DevLayout
    variables: tuple[tuple[str, str], ...]
    connections: tuple[Connection, ...]
    python: str = sys.executable

    @property
    def packed_path(self) -> Path:
        """The packed bundle in the executables root."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", self.bundle_name).lstrip(".") or "bundle"
        return self.layout.executables_root / safe

    def airflow(self, *args: str) -> list[str]:
        """The argv of an ``airflow`` command in this environment."""
        return [self.python, "-m", "airflow", *args]

    def trio_coord(self, *args: str) -> list[str]:
        """The argv of a ``python -m trio_coord`` command in this environment."""
        return [self.python, "-m", "trio_coord", *args]


def _die(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.error(message)


def _distinct_free_ports(count: int, taken: set[int]) -> list[int]:
    ports: list[int] = []
    for _ in range(100 * count):
        port = free_port()
        if port not in taken and port not in ports:
            ports.append(port)
        if len(ports) == count:
            return ports
    raise DevError("could not find free ports on 127.0.0.1")  # pragma: no cover - the kernel hands them out


def make_plan(parser: argparse.ArgumentParser, args: argparse.Namespace) -> DevPlan:
    """Check the arguments and load the bundle once (usage errors exit 2)."""
    from ._bundle_file import PackUsageError
    from ._pack import _source_file

    dags_folder: Path = args.dags_folder.resolve()
    if not dags_folder.is_dir():
        _die(parser, f"--dags-folder {str(args.dags_folder)!r} is not a directory")
    home: Path = args.home.resolve()
    if home.exists() and not home.is_dir():
        _die(parser, f"--home {str(args.home)!r} exists and is not a directory")
    try:
        bundle = load_bundle(args.bundle)
        source = _source_file(args.bundle)
    except (BundleLoadError, PackUsageError) as exc:
        _die(parser, str(exc))
    if not bundle.dags:
        _die(parser, f"bundle {bundle.name!r} defines no Dags: there is nothing to serve")
    variables = []
    for item in args.var:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _die(parser, f"--var must be KEY=VALUE, got {item!r}")
        variables.append((key, value))
    connections = []
    for item in args.conn:
        conn_id, sep, text = item.partition("=")
        if not sep or not conn_id:
            _die(parser, f"--conn must be ID=URI or ID=JSON, got {item!r}")
        try:
            connections.append(parse_connection(conn_id, text))
        except ValueError as exc:
            _die(parser, f"--conn {conn_id}: {exc}")
    api_port = args.port if args.port is not None else free_port()
    worker_log_port, trigger_log_port = _distinct_free_ports(2, {api_port})
    layout = DevLayout(
        home=home,
        dags_folder=dags_folder,
        queue=args.queue,
        api_port=api_port,
        worker_log_port=worker_log_port,
        trigger_log_port=trigger_log_port,
    )
    return DevPlan(args.bundle, source, bundle.name, layout, tuple(variables), tuple(connections))


def prepare_home(plan: DevPlan) -> list[str]:
    """Make the folders and write ``airflow.cfg`` (keeping its secrets); return notes to print.

    Blocking (file system). Files in the executables root other than this
    bundle's are removed: a stale bundle claiming the same Dag ids would
    shadow this one.

    Raises:
        DevError: a folder or the file cannot be written, or a path cannot
            go into airflow.cfg.
    """
    layout = plan.layout
    notes = []
    try:
        for folder in (layout.home, layout.logs, layout.executables_root):
            folder.mkdir(parents=True, exist_ok=True)
        for stale in sorted(layout.executables_root.iterdir()):
            if stale != plan.packed_path and stale.is_file():
                stale.unlink()
                notes.append(f"removed {stale} (a bundle from an earlier dev session)")
        existing = layout.cfg_path.read_text(encoding="utf-8") if layout.cfg_path.is_file() else None
        text = render_airflow_cfg(layout, read_secrets(existing))
        temporary = layout.cfg_path.with_name(".airflow.cfg.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(0o600)  # it holds the secrets
        temporary.replace(layout.cfg_path)
    except ValueError as exc:
        raise DevError(str(exc)) from exc
    except OSError as exc:
        raise DevError(f"cannot prepare {layout.home}: {exc}") from exc
    return notes


# ---------------------------------------------------------------------------- child processes


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (empty when psutil, an Airflow dependency, is missing)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - Airflow installs it
        return []
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _live_members(pgids: set[int]) -> list[int]:
    """The pids of the processes in the process groups ``pgids`` that are not zombies."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - Airflow installs it
        return [pgid for pgid in pgids if _pid_alive(pgid)]
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) in pgids and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (OSError, psutil.Error):
            continue
    return members


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: it has exited and only waits to be reaped)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - Airflow installs it
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


@dataclass
class Child:
    """One Airflow server: a child process leading its own process group."""

    name: str
    process: trio.Process
    log_path: Path

    @property
    def pid(self) -> int:
        """Its pid, which is also its process group id."""
        return self.process.pid


@dataclass
class Children:
    """The servers ``dev`` started, and how to stop all of them."""

    env: dict[str, str]
    cwd: Path
    items: list[Child] = field(default_factory=list)
    stopping: bool = False

    async def run(
        self, name: str, argv: Sequence[str], log_path: Path, *, task_status: trio.TaskStatus[Child]
    ) -> None:
        """Start ``argv`` as a server, report it started, and wait for it.

        Returns only when cancelled (the process is left to :meth:`stop`).

        Raises:
            ChildDied: the process exited while ``dev`` was not stopping.
        """
        log = await trio.to_thread.run_sync(_open_log, log_path)
        try:
            process = await trio.lowlevel.open_process(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        finally:
            log.close()
        child = Child(name, process, log_path)
        self.items.append(child)
        task_status.started(child)
        code = await process.wait()
        if not self.stopping:
            tail = await trio.to_thread.run_sync(_tail, log_path)
            raise ChildDied(f"airflow {name} exited with code {code}; the end of {log_path}:\n{tail}")

    async def stop(self) -> list[str]:
        """Stop every server: SIGTERM to each, then to its group, then SIGKILL to what is left.

        Call it shielded. SIGTERM goes to each server alone, so that it shuts
        its own children down in order (a triggerer whose trigger runner was
        killed under it waits 10 s for it); after the grace period SIGKILL
        goes to each whole process group, and to every descendant seen before
        the SIGTERM that left its group. A group still running
        :data:`SECOND_SIGTERM_AFTER` seconds after the first SIGTERM gets a
        second one, to every process in it (Airflow's servers take a second
        SIGTERM as "stop now"); :data:`STOP_GRACE` seconds after the first,
        SIGKILL.

        Returns:
            What had to be killed (empty when everything exited on SIGTERM).
        """
        self.stopping = True
        alive = [child for child in self.items if child.process.returncode is None]
        groups = {child.pid for child in self.items}
        strays = {pid: child.name for child in alive for pid in _descendants(child.pid)}
        deadline = trio.current_time() + STOP_GRACE
        for whole_group, wait_until in (
            (False, trio.current_time() + SECOND_SIGTERM_AFTER),
            # Then to every process of each group: Airflow's servers take a second SIGTERM as
            # "do not wait" (the triggerer otherwise waits 10 s for its trigger runner), and a
            # LocalExecutor worker the scheduler left behind gets its own.
            (True, deadline),
        ):
            for child in alive:
                if whole_group:
                    _signal_group(child.pid, signal.SIGTERM)
                elif child.process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.process.send_signal(signal.SIGTERM)
            with trio.move_on_at(wait_until):
                async with trio.open_nursery() as reapers:  # reap each as it exits: no zombie counts
                    for child in alive:
                        reapers.start_soon(child.process.wait)
                # Polling: another process's children leave no event to wait on.
                while _live_members(groups):  # noqa: ASYNC110
                    await trio.sleep(0.2)
        killed = []
        left = set(_live_members(groups))
        for child in self.items:
            members = sorted(pid for pid in left if _pgid(pid) == child.pid)
            if members:
                killed.append(f"{child.name} ({len(members)} process{'es' if len(members) > 1 else ''})")
                _signal_group(child.pid, signal.SIGKILL)
        for pid, owner in strays.items():
            if pid not in left and _pid_alive(pid) and _pgid(pid) not in groups:
                killed.append(f"pid {pid} (started by {owner})")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with trio.move_on_after(KILL_WAIT):
            async with trio.open_nursery() as reapers:
                for child in alive:
                    reapers.start_soon(child.process.wait)
        return killed


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _open_log(path: Path) -> IO[bytes]:
    return path.open("wb")


async def _run_step(
    what: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path, log_path: Path, seconds: float
) -> None:
    """Run a command to completion with its output in ``log_path``.

    Raises:
        DevError: it exited non-zero or took longer than ``seconds`` (with the log's tail).
    """
    log = await trio.to_thread.run_sync(_open_log, log_path)
    try:
        with trio.move_on_after(seconds) as scope:
            done = await trio.run_process(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                check=False,
            )
    finally:
        log.close()
    tail = await trio.to_thread.run_sync(_tail, log_path)
    if scope.cancelled_caught:
        raise DevError(f"{what} did not finish within {seconds:.0f} s; the end of {log_path}:\n{tail}")
    if done.returncode != 0:
        raise DevError(f"{what} failed (exit code {done.returncode}); the end of {log_path}:\n{tail}")


# ---------------------------------------------------------------------------- the REST API


_NO_PROXY: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class _Answer:
    status: int  # 0: no answer (connection refused, timeout)
    body: object


def _http(method: str, url: str, body: object, token: str | None) -> _Answer:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http://127.0.0.1
    try:
        with _NO_PROXY.open(request, timeout=HTTP_TIMEOUT) as response:
            raw = response.read()
            status = int(response.status)
    except urllib.error.HTTPError as error:
        return _Answer(error.code, error.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        return _Answer(0, None)
    try:
        return _Answer(status, json.loads(raw) if raw else None)
    except ValueError:
        return _Answer(status, raw.decode("utf-8", "replace"))


@dataclass
class RestApi:
    """The deployment's REST API, as the admin user (blocking calls run in a thread)."""

    base_url: str
    token: str | None = None

    async def call(self, method: str, path: str, body: object = None) -> _Answer:
        """One request; an answer with status 0 means no server answered."""
        return await trio.to_thread.run_sync(
            _http, method, f"{self.base_url}{path}", body, self.token, abandon_on_cancel=True
        )

    async def put(self, collection: str, key_field: str, key: str, body: dict[str, object]) -> None:
        """Create ``body`` in ``collection``, or update it if it exists.

        Raises:
            DevError: the API refused both.
        """
        created = await self.call("POST", f"/api/v2/{collection}", body)
        if created.status in (200, 201):
            return
        if created.status == 409:
            updated = await self.call("PATCH", f"/api/v2/{collection}/{_quote(key)}", body)
            if updated.status == 200:
                return
            created = updated
        raise DevError(
            f"could not set {collection[:-1]} {key!r} ({key_field}): {created.status} {created.body}"
        )


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


# ---------------------------------------------------------------------------- dev


@dataclass(frozen=True)
class CheckOutcome:
    """What ``check --json`` reported: whether all matched, its lines, the Dags routed to the queue."""

    ok: bool
    lines: tuple[str, ...]
    stub_dags: tuple[str, ...] = ()

    @classmethod
    def from_output(cls, stdout: bytes, stderr: bytes) -> CheckOutcome:
        """Read ``check --json``'s last line; an unreadable answer becomes a line quoting its stderr."""
        lines = stdout.decode("utf-8", "replace").strip().splitlines()
        try:
            report = json.loads(lines[-1])
        except (IndexError, ValueError):
            report = None
        if not isinstance(report, dict):
            error = stderr.decode("utf-8", "replace").strip()
            return cls(False, (f"check: could not compare the Dags with the bundle:\n{error}",))
        return cls(
            bool(report.get("ok")),
            tuple(str(line) for line in report.get("lines") or ()),
            tuple(str(dag_id) for dag_id in report.get("stub_dags") or ()),
        )


@dataclass
class _State:
    stopped_by: str | None = None
    packed_digest: str | None = None


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class Dev:
    """One ``dev`` session (see the module docstring)."""

    def __init__(self, plan: DevPlan, *, say: Callable[[str], None] = _say) -> None:
        self.plan = plan
        self.layout = plan.layout
        self.say = say
        self.env = child_environment(os.environ, plan.layout.home)
        self.children = Children(self.env, plan.layout.home)
        self.api = RestApi(plan.layout.base_url)
        self.state = _State()

    async def run(self) -> int:
        """Run until SIGINT/SIGTERM (exit code 0) or until something fails (1)."""
        code = 0
        started = time.monotonic()
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._stop_on_signal, signals, nursery.cancel_scope)
                    await self._start(nursery, started)
                    nursery.start_soon(self._watch_bundle)
            except* DevError as group:
                code = 1
                for error in group.exceptions:
                    print(f"trio_coord: error: {error}", file=sys.stderr, flush=True)
            finally:
                with trio.CancelScope(shield=True):
                    await self._stop()
        return code

    async def _stop_on_signal(self, signals: AsyncIterator[int], scope: trio.CancelScope) -> None:
        async for signum in signals:
            self.state.stopped_by = signal.Signals(signum).name
            self.say(f"{self.state.stopped_by}: stopping Airflow")
            scope.cancel()
            return

    async def _stop(self) -> None:
        if not self.children.items:
            return
        start = time.monotonic()
        killed = await self.children.stop()
        names = ", ".join(child.name for child in self.children.items)
        took = time.monotonic() - start
        if killed:
            self.say(f"stopped {names} in {took:.1f} s")
            self.say(f"  (still running after {STOP_GRACE:.0f} s, so killed: {', '.join(killed)})")
        else:
            self.say(f"stopped {names} in {took:.1f} s")

    # ------------------------------------------------------------------ start-up

    async def _start(self, nursery: trio.Nursery, started: float) -> None:
        plan, layout = self.plan, self.layout
        try:
            version = importlib.metadata.version("apache-airflow")
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - checked before
            version = "unknown"
        if version != AIRFLOW_VERSION:
            self.say(f"warning: Airflow {version} is installed; dev is made for {AIRFLOW_VERSION}")
        for note in await trio.to_thread.run_sync(prepare_home, plan):
            self.say(note)
        self.say(f"AIRFLOW_HOME={layout.home} (the whole configuration is in {layout.cfg_path})")
        await self._pack(initial=True)
        checked: list[CheckOutcome] = []

        async def check_alongside() -> None:
            checked.append(await self._check())

        async with trio.open_nursery() as steps:
            steps.start_soon(check_alongside)
            self.say("migrating the database (airflow db migrate) ...")
            await _run_step(
                "airflow db migrate",
                plan.airflow("db", "migrate"),
                env=self.env,
                cwd=layout.home,
                log_path=layout.logs / "db-migrate.log",
                seconds=MIGRATE_TIMEOUT,
            )
        (check,) = checked
        for line in check.lines:
            self.say(line)
        for name, arguments in SERVERS.items():
            argv = plan.airflow(*arguments)
            child = await nursery.start(self.children.run, name, argv, layout.logs / f"{name}.log")
            self.say(f"started airflow {name} (pid {child.pid}), log {child.log_path}")
        await self._wait_healthy()
        password = await self._log_in()
        await self._unpause(list(check.stub_dags))
        for key, value in plan.variables:
            await self.api.put("variables", "key", key, {"key": key, "value": value})
            self.say(f"set variable {key}")
        for connection in plan.connections:
            body = {name: value for name, value in record_items(connection) if value is not None}
            body["connection_id"] = body.pop("conn_id")
            await self.api.put("connections", "connection_id", connection.conn_id, body)
            self.say(f"set connection {connection.conn_id}")
        took = time.monotonic() - started
        self.say("")
        self.say(f"Airflow {version} is ready at {layout.base_url} (started in {took:.0f} s)")
        self.say(f"  log in as {ADMIN_USER}, password {password}")
        self.say(f"  from another shell: export AIRFLOW_HOME={layout.home}")
        self.say(f"  server logs: {layout.logs}/<server>.log; task logs: {layout.logs}/dag_id=<dag_id>/")
        self.say(f"  {plan.source.name} is repacked when it changes; Ctrl-C stops everything")

    async def _pack(self, *, initial: bool) -> bool:
        """Pack the bundle into the executables root; report the outcome (``True`` when packed).

        Raises:
            DevError: the first pack failed (a later one only reports).
        """
        plan = self.plan
        digest = await trio.to_thread.run_sync(_digest, plan.source)
        argv = plan.trio_coord("pack", plan.spec, "--output", str(plan.packed_path))
        with trio.move_on_after(PACK_TIMEOUT) as scope:
            done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
        if scope.cancelled_caught or done.returncode != 0:
            why = (
                "it took too long"
                if scope.cancelled_caught
                else done.stderr.decode("utf-8", "replace").strip()
            )
            if initial:
                raise DevError(f"could not pack {plan.spec}: {why}")
            self.say(f"could not repack {plan.source.name}; Airflow keeps running the previous one:\n{why}")
            self.state.packed_digest = digest  # report once per change
            return False
        self.state.packed_digest = digest
        verb = "packed" if initial else "repacked"
        self.say(f"{verb} {plan.source.name} into {plan.packed_path}")
        return True

    async def _check(self) -> CheckOutcome:
        """Run ``check --json`` in a child process (it imports Airflow: seconds); return what it found."""
        plan = self.plan
        argv = plan.trio_coord(
            "check",
            plan.spec,
            "--dags-folder",
            str(self.layout.dags_folder),
            "--queue",
            self.layout.queue,
            "--json",
        )
        with trio.move_on_after(CHECK_TIMEOUT) as scope:
            done = await trio.run_process(
                argv, capture_stdout=True, capture_stderr=True, env=self.env, check=False
            )
        if scope.cancelled_caught:
            return CheckOutcome(False, (f"check: did not finish within {CHECK_TIMEOUT:.0f} s",))
        return CheckOutcome.from_output(done.stdout, done.stderr)

    async def _wait_healthy(self) -> None:
        self.say("waiting for Airflow to be healthy ...")
        last: object = None
        with trio.move_on_after(READY_TIMEOUT):
            while True:
                answer = await self.api.call("GET", "/api/v2/monitor/health")
                last = answer.body
                if answer.status == 200 and isinstance(answer.body, dict):
                    health = answer.body
                    if all(
                        isinstance(health.get(part), dict) and health[part].get("status") == "healthy"
                        for part in _HEALTH_PARTS
                    ):
                        return
                await trio.sleep(_POLL)
        raise DevError(
            f"Airflow was not healthy within {READY_TIMEOUT:.0f} s; its last health report: {last}"
        )

    async def _log_in(self) -> str:
        """Get a token for the REST API as admin; return the admin password."""
        password = ""
        last: object = None
        with trio.move_on_after(READY_TIMEOUT):
            while True:
                password = await trio.to_thread.run_sync(_admin_password, self.layout.passwords_file)
                if password:
                    answer = await self.api.call(
                        "POST", "/auth/token", {"username": ADMIN_USER, "password": password}
                    )
                    last = answer.body
                    if answer.status in (200, 201) and isinstance(answer.body, dict):
                        token = answer.body.get("access_token")
                        if isinstance(token, str):
                            self.api.token = token
                            return password
                await trio.sleep(_POLL)
        raise DevError(
            f"could not log in to the REST API as {ADMIN_USER} within {READY_TIMEOUT:.0f} s: {last}"
        )

    async def _unpause(self, dag_ids: list[str]) -> None:
        """Wait (bounded) until the dag-processor has stored each Dag, then unpause it."""
        waiting = list(dag_ids)
        # With no Dag to wait for, the scope has nothing to bound: no checkpoint needed.
        with trio.move_on_after(DAG_PARSE_TIMEOUT):  # noqa: ASYNC912
            while waiting:
                waiting = await self._unpause_stored(waiting)
                if waiting:
                    await trio.sleep(_POLL)
        if waiting:
            errors = await self.api.call("GET", "/api/v2/importErrors")
            self.say(
                f"warning: the dag-processor has not stored {', '.join(waiting)} within "
                f"{DAG_PARSE_TIMEOUT:.0f} s (left paused); import errors: {errors.body}"
            )

    async def _unpause_stored(self, dag_ids: list[str]) -> list[str]:
        """Unpause each Dag the API knows; return those it does not know yet."""
        waiting = []
        for dag_id in dag_ids:
            answer = await self.api.call("PATCH", f"/api/v2/dags/{_quote(dag_id)}", {"is_paused": False})
            if answer.status == 200:
                self.say(f"unpaused Dag {dag_id} (its stub tasks run on queue {self.layout.queue!r})")
            else:
                waiting.append(dag_id)
        return waiting

    # ------------------------------------------------------------------ running

    async def _watch_bundle(self) -> None:
        """Repack the bundle whenever its source file's content changes (polled every second)."""
        plan = self.plan
        while True:
            await trio.sleep(WATCH_INTERVAL)
            digest = await trio.to_thread.run_sync(_digest, plan.source)
            if digest is None or digest == self.state.packed_digest:
                continue
            self.say(f"{plan.source.name} changed: repacking")
            if await self._pack(initial=False):
                check = await self._check()
                if not check.ok:
                    for line in check.lines:
                        self.say(line)


def _admin_password(path: Path) -> str:
    """The admin password the api-server generated ("" until it has)."""
    try:
        passwords = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    password = passwords.get(ADMIN_USER) if isinstance(passwords, dict) else None
    return password if isinstance(password, str) else ""


def dev_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``python -m trio_coord dev``: runs until Ctrl-C or SIGTERM (0), 1 when something failed.

    Blocks for the life of the deployment. Exits 2 for a usage error,
    Airflow missing from this environment included.
    """
    plan = make_plan(parser, args)
    missing = airflow_missing_message("dev")
    if missing:
        print(f"trio_coord: error: {missing}", file=sys.stderr)
        return 2
    try:
        return trio.run(Dev(plan).run)
    except* KeyboardInterrupt:  # before the signal handler was installed
        print("trio_coord: interrupted", file=sys.stderr)
    return 130
