"""The arguments of ``python -m trio_coord pack`` (here, so that the CLI does not import ``_pack``).

``serve``, which Airflow launches for every task, builds the same parser: the
packing machinery (pip, zips) is imported only when ``pack`` runs.
"""

from __future__ import annotations

import argparse

__all__ = ["add_pack_arguments"]


def add_pack_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the arguments of the ``pack`` subcommand."""
    parser.add_argument("bundle", metavar="BUNDLE", help="module[:attr] or path/to/file.py[:attr]")
    parser.add_argument("--output", "-o", required=True, metavar="PATH", help="the file to write")
    parser.add_argument(
        "--python", metavar="INTERPRETER", help="the Python the bundle runs with (default: this one)"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="do not run the packed file once to check it"
    )
    parser.add_argument(
        "--installed",
        action="store_true",
        help="embed the source only: the interpreter must have trio_coord and every import installed",
    )
    deps = parser.add_argument_group("self-contained bundles (the default)")
    deps.add_argument(
        "--requirement",
        "-r",
        dest="requirement_files",
        action="append",
        default=[],
        metavar="FILE",
        help="also embed what this pip requirements file names (repeatable)",
    )
    deps.add_argument(
        "--with",
        dest="requirements",
        action="append",
        default=[],
        metavar="SPEC",
        help="also embed this requirement, e.g. 'httpx>=0.27' (repeatable)",
    )
    deps.add_argument(
        "--python-version", metavar="X.Y", help="pack for this CPython version (with --no-verify)"
    )
    deps.add_argument(
        "--platform",
        dest="platforms",
        action="append",
        default=[],
        metavar="TAG",
        help="pack for this wheel platform, e.g. manylinux_2_17_x86_64 (repeatable; with --no-verify)",
    )
    deps.add_argument(
        "--allow-build",
        action="store_true",
        help="let pip build source distributions into wheels (this machine's Python only)",
    )
    deps.add_argument(
        "--find-links", action="append", default=[], metavar="DIR|URL", help="pip --find-links (repeatable)"
    )
    deps.add_argument("--no-index", action="store_true", help="pip --no-index: use --find-links only")
