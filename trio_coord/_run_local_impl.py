"""The ``run`` subcommand's implementation (see ``_run_local`` for what it does)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import NoReturn

import trio

from ._bundle import Bundle
from ._bundle_file import FOOTER_MAGIC
from ._connection_uri import parse_connection
from ._loader import BundleLoadError, load_bundle
from ._local_view import LocalView, wants_colour
from .testing import (
    DEFAULT_RUN_ID,
    EmbeddedSupervisor,
    SeedError,
    StateFile,
    TaskRun,
    XComKey,
    airflow_environment_hidden,
    parse_xcom_target,
)
from .testing._state import StoreSnapshot, check_json

__all__ = ["run"]

EXIT_INTERRUPTED = 130


def _die(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.error(message)


def _split(parser: argparse.ArgumentParser, flag: str, item: str, form: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        _die(parser, f"{flag} must be {form}, got {item!r}")
    return name, value


class _Plan:
    """Everything a run needs, checked before anything runs."""

    def __init__(self, parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
        self.dag_id: str = args.dag_id
        self.task_id: str = args.task_id
        if args.retries is not None:
            if args.retries < 0:
                _die(parser, f"--retries must be 0 or more, got {args.retries}")
            given = (("--try-number", args.try_number), ("--max-tries", args.max_tries))
            clash = [flag for flag, value in given if value is not None]
            if clash:
                _die(
                    parser, f"--retries sets the try number and max tries itself; drop {' and '.join(clash)}"
                )
        self.retries: int | None = args.retries
        self.try_number: int = 1 if args.try_number is None else args.try_number
        self.max_tries: int = 0 if args.max_tries is None else args.max_tries
        if self.try_number < 1:
            _die(parser, "--try-number must be at least 1")
        if self.max_tries < -1:
            _die(parser, "--max-tries must be -1 or more")
        self.map_index: int = -1 if args.map_index is None else args.map_index
        if self.map_index < -1:
            _die(parser, f"--map-index must be -1 (unmapped) or more, got {self.map_index}")
        self.conf: dict[str, object] | None = None
        if args.conf is not None:
            try:
                parsed = json.loads(args.conf)
            except ValueError as exc:
                _die(parser, f"--conf is not valid JSON: {exc}")
            if not isinstance(parsed, dict):
                _die(parser, "--conf must be a JSON object")
            self.conf = parsed
        self.state: StateFile | None = None
        self.supervisor = EmbeddedSupervisor()
        if args.state is not None:
            try:
                self.state = StateFile(args.state)
                self.state.seed(self.dag_id).apply(self.supervisor.store)
            except SeedError as exc:
                _die(parser, f"--state: {exc}")
        for item in args.var:
            name, text = _split(parser, "--var", item, "KEY=VALUE")
            self.supervisor.set_variable(name, text)
        for item in args.conn:
            conn_id, text = _split(parser, "--conn", item, "ID=URI or ID=JSON")
            try:
                self.supervisor.set_connection(parse_connection(conn_id, text))
            except ValueError as exc:
                _die(parser, f"--conn {conn_id}: {exc}")
        for item in args.xcom:
            target, text = _split(parser, "--xcom", item, "TASK_ID[.KEY]=JSON")
            try:
                upstream, key = parse_xcom_target(target)
            except ValueError as exc:
                _die(parser, f"--xcom: {exc}")
            try:
                parsed = json.loads(text)
            except ValueError as exc:
                _die(parser, f"--xcom {target}: not valid JSON ({exc}); quote a string: {target}='\"text\"'")
            try:
                value = check_json(parsed, f"--xcom {target}")
            except SeedError as exc:
                _die(parser, str(exc))
            self.supervisor.set_xcom(XComKey(self.dag_id, DEFAULT_RUN_ID, upstream, key), value)
        self.use_env: bool = args.env
        self.colour_mode: str = args.color
        #: set for a packed bundle file, which runs as a child process
        self.command: list[str] | None = None


def packed_file(spec: str) -> str | None:
    """The absolute path of ``spec`` if it names an executable bundle file (an ``AFBNDL01`` trailer).

    Blocking file I/O (reads the file's last 8 bytes).
    """
    if not os.path.isfile(spec):
        return None
    try:
        with open(spec, "rb") as f:
            f.seek(-len(FOOTER_MAGIC), os.SEEK_END)
            magic = f.read(len(FOOTER_MAGIC))
    except OSError:
        return None
    return os.path.abspath(spec) if magic == FOOTER_MAGIC else None


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, bundle: Bundle | None) -> int:
    """Run the ``run`` subcommand; return the exit code.

    Blocks until every try has finished. Usage errors exit through
    ``parser.error`` (status 2).
    """
    plan = _Plan(parser, args)
    packed = packed_file(args.bundle) if bundle is None else None
    if packed is not None:
        plan.command = [packed]
    elif bundle is None:
        try:
            bundle = load_bundle(args.bundle)
        except BundleLoadError as exc:
            _die(parser, str(exc))
    if bundle is not None and bundle.find_task(plan.dag_id, plan.task_id) is None:
        known = ", ".join(f"{t.dag_id}.{t.task_id}" for t in bundle) or "none"
        print(
            f"trio_coord: warning: {plan.dag_id}.{plan.task_id} is not in bundle {bundle.name!r} "
            f"(tasks: {known}); the runtime will report it as removed",
            file=sys.stderr,
        )
    view = LocalView(sys.stdout, colour=wants_colour(plan.colour_mode, sys.stdout, os.environ))
    plan.supervisor.on_log = view.log_record
    before = StoreSnapshot.of(plan.supervisor.store)
    tries = _run_trio(_run_tries, plan, bundle, view)
    if tries is None:
        return EXIT_INTERRUPTED
    exit_code = 0 if tries[-1].state == "success" else 1
    view.outcome(tries, exit_code)
    if plan.state is not None:
        plan.state.record(before, plan.supervisor.store, dag_id=plan.dag_id, run_id=DEFAULT_RUN_ID)
        try:
            plan.state.save()
        except (OSError, SeedError) as exc:
            print(f"trio_coord: error: cannot write the state file {plan.state.path}: {exc}", file=sys.stderr)
            return 1
        view.note(f"state written to {plan.state.path}")
    return exit_code


def _run_trio(fn: object, *args: object) -> list[TaskRun] | None:
    try:
        return trio.run(fn, *args)  # type: ignore[arg-type]
    except* KeyboardInterrupt:
        print("trio_coord: interrupted", file=sys.stderr)
    return None


def _env_note(view: LocalView, use_env: bool, names: list[str]) -> None:
    if not names:
        return
    listed = ", ".join(sorted(names))
    if use_env:
        view.note(f"the task sees these from the environment: {listed}")
    else:
        view.note(f"hidden from the task (pass --env to use them): {listed}")


async def _run_tries(plan: _Plan, bundle: Bundle | None, view: LocalView) -> list[TaskRun]:
    supervisor = plan.supervisor
    if plan.use_env:
        _env_note(
            view, True, [name for name in os.environ if name.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_"))]
        )
        return await _tries(plan, bundle, view, supervisor)
    with airflow_environment_hidden() as hidden:
        _env_note(view, False, list(hidden))
        return await _tries(plan, bundle, view, supervisor)


async def _tries(
    plan: _Plan, bundle: Bundle | None, view: LocalView, supervisor: EmbeddedSupervisor
) -> list[TaskRun]:
    if bundle is None:
        assert plan.command is not None
        return await _command_tries(plan, plan.command, view, supervisor)
    if plan.retries is None:
        run = await supervisor.run_in_process(
            bundle,
            plan.dag_id,
            plan.task_id,
            log_level=None,
            try_number=plan.try_number,
            max_tries=plan.max_tries,
            map_index=plan.map_index,
            conf=plan.conf,
        )
        view.try_ended(run)
        return [run]
    return await supervisor.run_tries(
        bundle,
        plan.dag_id,
        plan.task_id,
        retries=plan.retries,
        on_try_start=view.try_started,
        on_try_end=lambda run: view.try_ended(run, retried=run.state == "up_for_retry"),
        log_level=None,
        map_index=plan.map_index,
        conf=plan.conf,
    )


async def _command_tries(
    plan: _Plan, command: list[str], view: LocalView, supervisor: EmbeddedSupervisor
) -> list[TaskRun]:
    """Run a packed bundle file as Airflow's supervisor does: a child process per try.

    The tries follow :meth:`EmbeddedSupervisor.run_tries`; what the child
    wrote to stdout and stderr is shown after each try (a bundle that could not
    start says why there).
    """
    tries: list[TaskRun] = []
    total = 1 if plan.retries is None else plan.retries + 1
    for attempt in range(1, total + 1):
        if plan.retries is None:
            try_number, max_tries = plan.try_number, plan.max_tries
        else:
            try_number, max_tries = attempt, plan.retries
            view.try_started(attempt, total)
        run = await supervisor.run_command(
            command, plan.dag_id, plan.task_id, try_number=try_number, max_tries=max_tries, conf=plan.conf
        )
        view.try_ended(run, retried=plan.retries is not None and run.state == "up_for_retry")
        tries.append(run)
        if run.state != "up_for_retry":
            break
    return tries
