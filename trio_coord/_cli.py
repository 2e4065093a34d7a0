"""The ``python -m trio_coord`` command line.

``serve BUNDLE --comm=HOST:PORT --logs=HOST:PORT``
    Coordinator mode: what Airflow's supervisor launches.
``serve BUNDLE --airflow-metadata [--format yaml|json]``
    Print the bundle manifest.
``run BUNDLE DAG_ID TASK_ID [--var …] [--conn …] [--xcom …] [--state FILE] [--retries N] …``
    Run one task locally under the embedded supervisor (see ``_run_local``).
``pack BUNDLE --output PATH [--python INTERPRETER] [--no-verify] [--installed] [-r FILE] [--with SPEC] …``
    Write an executable bundle for ``ExecutableCoordinator`` (see ``_pack``).
``inspect PATH``
    Check an executable bundle and print its manifest (and a self-contained one's payload).
``cache dir``, ``cache prune [--older-than DAYS] [--all]``
    The cache where self-contained bundles install their wheels (see ``_boot``).
``check BUNDLE --dags-folder DIR [--queue trio]``
    Compare the Dag files' stub tasks with the bundle (needs Airflow; see ``_check``).
``dev BUNDLE --dags-folder DIR [--home DIR] [--port N] [--var …] [--conn …]``
    A local Airflow 3.3.2 serving the bundle, for development (needs Airflow; see ``_dev``).

Usage errors exit 2 with a message naming what was wrong. ``serve`` exits 0
once a terminal message was delivered and 1 when none could be; ``run``
exits 0 only when the task succeeded; ``pack`` exits 1 when the packed file
fails its check or cannot be written; ``inspect`` exits 1 when the file is not
a valid bundle; ``check`` exits 1 on any mismatch; ``dev`` exits 0 when stopped
by Ctrl-C or SIGTERM and 1 when it could not start or an Airflow process died.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, NoReturn

import trio

from ._bundle import Bundle
from ._loader import BundleLoadError, load_bundle
from ._logging import SocketLogHandler, flush_stderr_fallback, install_log_handler
from ._serve import ServeOptions, parse_address, serve
from ._version import __version__

if TYPE_CHECKING:
    import argparse

__all__ = ["main", "plain_serve_arguments"]

EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
COMMANDS: Final = ("serve", "run", "pack", "inspect", "cache", "check", "dev")


def plain_serve_arguments(arguments: Sequence[str]) -> types.SimpleNamespace | None:
    """``serve BUNDLE --comm=HOST:PORT --logs=HOST:PORT`` parsed without :mod:`argparse`, or ``None``.

    That exact form is how Airflow's supervisor (through a packed bundle's
    launcher or a ``python -m trio_coord serve`` command) starts every task
    instance; importing :mod:`argparse` and building the parser cost a few
    per cent of a task's start-up. Any other command line (options in another
    spelling, help, a usage error) returns ``None`` and goes through the full
    parser, which gives the same result for this form.
    """
    if len(arguments) != 4 or arguments[0] != "serve" or arguments[1].startswith("-"):
        return None
    flags: dict[str, str] = {}
    for argument in arguments[2:]:
        name, sep, value = argument.partition("=")
        if not sep or name not in ("--comm", "--logs") or name in flags or not value:
            return None
        flags[name] = value
    return types.SimpleNamespace(
        command="serve",
        bundle=arguments[1],
        comm=flags["--comm"],
        logs=flags["--logs"],
        airflow_metadata=False,
        format=None,
    )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``python -m trio_coord``.

    Args:
        only: define the arguments of this subcommand alone; the others keep
            their name and help but take no arguments. :func:`main` passes the
            command it was given, so that ``serve``, which every task instance
            runs, does not build the parsers of ``run``, ``pack`` and ``inspect``.
    """
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            self.print_usage(sys.stderr)
            self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    parser = _Parser(prog="python -m trio_coord", description="Run trio tasks for Apache Airflow.")
    parser.add_argument("--version", action="version", version=f"trio_coord {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    serve_cmd = commands.add_parser("serve", help="serve a task for the Airflow supervisor")
    run_cmd = commands.add_parser("run", help="run one task locally under an embedded supervisor")
    pack_cmd = commands.add_parser("pack", help="pack a bundle into one executable file for Airflow")
    inspect_cmd = commands.add_parser("inspect", help="check an executable bundle and print its manifest")
    cache_cmd = commands.add_parser("cache", help="manage the cache of self-contained bundles")
    check_cmd = commands.add_parser(
        "check", help="compare the stub tasks of Airflow Dag files with a bundle (needs Airflow)"
    )
    dev_cmd = commands.add_parser(
        "dev", help="run a local Airflow 3.3.2 that serves a bundle, for development (needs Airflow)"
    )
    if only in (None, "serve"):
        _add_serve_arguments(serve_cmd)
    if only in (None, "run"):
        from ._run_local import add_run_arguments

        add_run_arguments(run_cmd)
    if only in (None, "pack"):
        from ._pack_args import add_pack_arguments

        add_pack_arguments(pack_cmd)
    if only in (None, "inspect"):
        inspect_cmd.add_argument("path", metavar="PATH", help="the bundle file")
    if only in (None, "cache"):
        cache_actions = cache_cmd.add_subparsers(dest="cache_action", metavar="ACTION", parser_class=_Parser)
        cache_actions.required = True
        prune_cmd = cache_actions.add_parser(
            "prune", help="delete cache entries no bundle started from lately"
        )
        prune_cmd.add_argument(
            "--older-than",
            type=float,
            default=30.0,
            metavar="DAYS",
            help="delete entries unused for this many days (default 30)",
        )
        prune_cmd.add_argument("--all", action="store_true", help="delete every entry")
        cache_actions.add_parser("dir", help="print the cache directory")
    if only in (None, "check", "dev"):
        from ._dev_args import add_check_arguments, add_dev_arguments

        add_check_arguments(check_cmd)
        add_dev_arguments(dev_cmd)
    return parser


def _add_serve_arguments(serve_cmd: argparse.ArgumentParser) -> None:
    serve_cmd.add_argument("bundle", metavar="BUNDLE", help="module[:attr] or path/to/file.py[:attr]")
    serve_cmd.add_argument("--comm", metavar="HOST:PORT", help="the supervisor's comm socket")
    serve_cmd.add_argument("--logs", metavar="HOST:PORT", help="the supervisor's logs socket")
    serve_cmd.add_argument(
        "--airflow-metadata", action="store_true", help="print the bundle manifest and exit"
    )
    serve_cmd.add_argument("--format", metavar="yaml|json", help="manifest format (with --airflow-metadata)")


def _usage_error(parser: argparse.ArgumentParser | None, message: str) -> NoReturn:
    """Exit 2 with ``message`` and the usage (``parser`` is ``None`` on the plain serve path)."""
    (parser or build_parser(only="serve")).error(message)


def _load(parser: argparse.ArgumentParser | None, spec: str) -> Bundle:
    try:
        return load_bundle(spec)
    except BundleLoadError as exc:
        _usage_error(parser, str(exc))


def main(argv: Sequence[str] | None = None, *, bundle: Bundle | None = None) -> int:
    """Run the command line; return the exit code.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
        bundle: a bundle to use instead of loading ``BUNDLE`` (used by packed
            executables, whose bundle is embedded).
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    plain = plain_serve_arguments(arguments)
    if plain is not None:
        return _serve_command(None, plain, bundle)
    command = arguments[0] if arguments and arguments[0] in COMMANDS else None
    parser = build_parser(only=command)
    args = parser.parse_args(arguments)
    if args.command == "serve":
        return _serve_command(parser, args, bundle)
    if args.command == "pack":
        from ._pack import pack_command

        return pack_command(parser, args)
    if args.command == "inspect":
        from ._inspect import inspect_command

        return inspect_command(parser, args)
    if args.command == "cache":
        return _cache_command(parser, args)
    if args.command == "check":
        from ._check import check_command

        return check_command(parser, args)
    if args.command == "dev":
        from ._dev import dev_command

        return dev_command(parser, args)
    from ._run_local import run_local

    return run_local(parser, args, bundle)


def _cache_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``cache dir`` and ``cache prune``: blocking file I/O on the cache of self-contained bundles."""
    from . import _boot

    root = _boot.cache_dir()
    if args.cache_action == "dir":
        print(root)
        return 0
    if args.older_than < 0:
        _usage_error(parser, f"--older-than must be 0 or more days, got {args.older_than:g}")
    if not os.path.isdir(root):
        print(f"{root}: no cache yet")
        return 0
    try:
        _boot.open_cache_dir(root)
        removed = _boot.prune(root, older_than_days=args.older_than, everything=args.all)
    except (_boot.BootError, OSError) as exc:
        print(f"trio_coord: error: {exc}", file=sys.stderr)
        return 1
    for name, size in removed:
        print(f"removed {name} ({size} bytes)")
    print(f"{root}: removed {len(removed)} entries, {sum(size for _, size in removed)} bytes")
    return 0


def _serve_command(
    parser: argparse.ArgumentParser | None,
    args: argparse.Namespace | types.SimpleNamespace,
    bundle: Bundle | None,
) -> int:
    if args.format is not None and not args.airflow_metadata:
        _usage_error(parser, "--format is only valid with --airflow-metadata")
    if args.airflow_metadata:
        from ._metadata import build_manifest, dump_manifest, parse_manifest_format

        if args.comm or args.logs:
            _usage_error(parser, "--airflow-metadata cannot be combined with --comm/--logs")
        try:
            fmt = parse_manifest_format(args.format or "")
        except ValueError as exc:
            _usage_error(parser, str(exc))
        target = bundle or _load(parser, args.bundle)
        sys.stdout.write(dump_manifest(build_manifest(target), fmt))
        sys.stdout.flush()
        return 0
    if not args.comm or not args.logs:
        missing = "--logs" if args.comm else "--comm"
        _usage_error(parser, f"coordinator mode needs both --comm and --logs ({missing} is missing)")
    try:
        comm_address = parse_address(args.comm, "--comm")
        logs_address = parse_address(args.logs, "--logs")
        options = ServeOptions.from_env()
    except ValueError as exc:
        _usage_error(parser, str(exc))
    # Before the bundle imports, so that its import-time logs are kept. This
    # process is trio_coord's: the process-wide logging switches apply.
    handler = install_log_handler(owns_process=True)
    target = bundle or _load_for_serve(parser, args.bundle, handler)
    return _run_trio(
        serve,
        target,
        comm_address,
        logs_address,
        log_handler=handler,
        options=options,
        on_abandon=_hard_exit,
    )


def _load_for_serve(parser: argparse.ArgumentParser | None, spec: str, handler: SocketLogHandler) -> Bundle:
    try:
        return load_bundle(spec)
    except BundleLoadError as exc:
        logging.getLogger("trio_coord.cli").error("%s", exc, exc_info=exc)
        handler.detach()
        _usage_error(parser, str(exc))


def _hard_exit(code: int) -> NoReturn:
    """Leave the process now: a task that ignores cancellation cannot be waited out."""
    flush_stderr_fallback(timeout=1.0)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # exiting regardless
            stream.flush()
    os._exit(code)


def _run_trio(fn: object, *args: object, **kwargs: object) -> int:
    result = EXIT_INTERRUPTED
    try:
        result = trio.run(_call, fn, args, kwargs)
    except* KeyboardInterrupt:
        print("trio_coord: interrupted", file=sys.stderr)
    return result


async def _call(fn: object, args: tuple[object, ...], kwargs: dict[str, object]) -> int:
    return await fn(*args, **kwargs)  # type: ignore[operator, no-any-return]
