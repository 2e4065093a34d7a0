"""``python -m trio_coord pack``: write a bundle as one executable file for ``ExecutableCoordinator``.

A packed file is ``[launcher][source][metadata][trailer]`` (the format is in
:mod:`trio_coord._bundle_file`, the runtime in :mod:`trio_coord._packed`):

* **launcher** (the "binary" region, hashed): a ``#!/bin/sh`` script whose
  only command is ``exec <interpreter> -P -m trio_coord._packed "$0" ATTR
  "$@"``. ``exec`` matters: without it the shell would go on to run the
  appended bytes as commands. The interpreter path and ``ATTR`` (the name of
  the :class:`~trio_coord.Bundle` in the module) are quoted for ``sh``.
* **source**: the bundle module's own Python source, byte for byte.
* **metadata**: the manifest (:func:`~trio_coord._metadata.build_manifest`
  with ``source`` set to the module's file name) as JSON, which the 1.3.2
  coordinator reads with ``yaml.safe_load`` (JSON is YAML flow style).

:func:`pack` does blocking file and process I/O and is meant for the command
line, never for a trio task.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from ._bundle_file import PackError, PackUsageError, assemble
from ._errors import TrioCoordError
from ._loader import _split, load_bundle
from ._metadata import build_manifest, dump_manifest, manifest_problems

__all__ = [
    "LAUNCHER_MODULE",
    "PackResult",
    "build_launcher",
    "pack",
    "pack_command",
]

#: The module the launcher runs (``python -m trio_coord._packed``).
LAUNCHER_MODULE: Final = "trio_coord._packed"
#: How long ``pack`` lets the packed file take to print its manifest.
_VERIFY_TIMEOUT: Final = 60.0
#: The mode of a packed file (as airflow-go-pack writes it, whatever the umask).
_PACKED_MODE: Final = 0o755


def build_launcher(interpreter: str, attr: str) -> bytes:
    """The launcher region: a ``#!/bin/sh`` script that ``exec``\\ s the packed runtime.

    ``interpreter`` and ``attr`` are quoted for ``sh``; ``"$0"`` is the
    packed file itself, which the runtime reads its source and manifest
    from. Python runs with ``-P`` so that the working directory cannot
    shadow installed modules.
    """
    command = shlex.join([interpreter, "-P", "-m", LAUNCHER_MODULE])
    text = (
        "#!/bin/sh\n"
        "# A trio_coord executable bundle: this launcher, the bundle's Python source, its manifest\n"
        "# and an AFBNDL01 trailer. Check it with: python -m trio_coord inspect FILE\n"
        f'exec {command} "$0" {shlex.quote(attr)} "$@"\n'
    )
    return text.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------- pack


@dataclasses.dataclass(frozen=True, slots=True)
class PackResult:
    """What :func:`pack` wrote.

    Attributes:
        path: the packed file.
        size: its size in bytes.
        manifest: the embedded manifest.
        interpreter: the interpreter the launcher runs.
        verified: whether the packed file was run once to check it.
        warnings: things worth telling the user (a Dag without tasks).
    """

    path: Path
    size: int
    manifest: dict[str, object]
    interpreter: str
    verified: bool
    warnings: tuple[str, ...] = ()


def _check_interpreter(interpreter: str, *, verify: bool) -> str:
    if not interpreter:
        raise PackUsageError("--python must not be empty")
    if any(not ch.isprintable() for ch in interpreter):
        raise PackUsageError(f"--python {interpreter!r} contains characters that are not printable")
    if "/" in interpreter:
        # abspath, not resolve: a virtualenv's python is a symlink whose location selects the venv.
        interpreter = os.path.abspath(interpreter)
        usable = os.path.isfile(interpreter) and os.access(interpreter, os.X_OK)
    elif interpreter.startswith("-"):
        raise PackUsageError(f"--python {interpreter!r} must be a path or a command name")
    else:
        usable = shutil.which(interpreter) is not None
    if verify and not usable:
        raise PackUsageError(
            f"the interpreter {interpreter!r} is not an executable file here, so the packed file cannot "
            "be checked; pass --no-verify to pack for another machine"
        )
    return interpreter


def _source_file(spec: str) -> Path:
    """The Python file that defines the bundle named by ``spec`` (already loaded)."""
    target, _ = _split(spec)
    if target.endswith(".py") or os.sep in target or "/" in target:
        return Path(target).resolve()
    module = sys.modules.get(target)
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str) or not filename.endswith(".py") or not os.path.isfile(filename):
        raise PackUsageError(
            f"module {target!r} has no Python source file (its file is {filename!r}); "
            "pack needs the .py file that defines the bundle"
        )
    return Path(filename).resolve()


def _check_output(output: Path, source: Path) -> Path:
    output = Path(os.path.abspath(output))
    if not output.parent.is_dir():
        raise PackUsageError(f"--output {str(output)!r}: the directory {str(output.parent)!r} does not exist")
    if output.is_dir():
        raise PackUsageError(f"--output {str(output)!r} is a directory; give the path of the file to write")
    if output.exists() and output.samefile(source):
        raise PackUsageError(f"--output {str(output)!r} is the bundle's own source file")
    return output


def pack(
    spec: str,
    output: str | os.PathLike[str],
    *,
    interpreter: str | None = None,
    verify: bool = True,
) -> PackResult:
    """Pack the bundle named by ``spec`` into one executable file at ``output``.

    Blocking: imports the bundle in this process, and (with ``verify``)
    runs the packed file once, with ``--airflow-metadata --format json``, to
    check that it starts and reports the embedded manifest (up to 60 s).

    The file is written to a temporary name next to ``output``, checked,
    made executable (mode 0o755) and renamed over ``output``, so a scanner
    never sees a half-written bundle. The same inputs give the same bytes.

    Args:
        spec: ``module[:attr]`` or ``path/to/file.py[:attr]``, as for ``serve``.
        output: the file to write.
        interpreter: the Python the launcher runs (default: this one,
            ``sys.executable``). A relative path is made absolute; a bare
            name is looked up on ``PATH`` when the bundle runs.
        verify: run the packed file once before installing it.

    Raises:
        PackUsageError: the bundle cannot be loaded, the output path or the
            interpreter is unusable, or the source file name cannot be
            embedded.
        PackError: the packed file failed its check, or writing failed.
    """
    chosen = _check_interpreter(interpreter if interpreter is not None else sys.executable, verify=verify)
    try:
        _, attr = _split(spec)
        bundle = load_bundle(spec)
    except TrioCoordError as exc:
        raise PackUsageError(str(exc)) from exc
    source_path = _source_file(spec)
    output_path = _check_output(Path(output), source_path)
    source_name = source_path.name
    if not source_name.isprintable():
        raise PackUsageError(f"the source file name {source_name!r} has characters a manifest cannot carry")
    if not bundle.dags:
        raise PackError(f"bundle {bundle.name!r} defines no Dags: there is nothing to pack")
    warnings = tuple(
        f"Dag {dag_id!r} has no tasks" for dag_id, dag in sorted(bundle.dags.items()) if not dag.tasks
    )
    try:
        source = source_path.read_bytes()
    except OSError as exc:
        raise PackError(f"cannot read the bundle source {str(source_path)!r}: {exc}") from exc
    manifest = build_manifest(bundle, source=source_name)
    problems = manifest_problems(manifest)
    if problems:  # pragma: no cover - build_manifest always writes a valid manifest
        raise PackError("; ".join(problems))
    data = assemble(build_launcher(chosen, attr), source, dump_manifest(manifest, "json").encode("utf-8"))
    _write_atomically(output_path, data, manifest if verify else None)
    return PackResult(output_path, len(data), manifest, chosen, verify, warnings)


def _write_atomically(output: Path, data: bytes, verify_manifest: Mapping[str, object] | None) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise PackError(f"cannot write {str(output)!r}: {exc}") from exc
        if verify_manifest is not None:
            _verify(tmp, verify_manifest)
        try:
            # Executable only now, just before the rename: until then a scan of the
            # directory skips the temporary file.
            tmp.chmod(_PACKED_MODE)
            tmp.replace(output)
        except OSError as exc:
            raise PackError(f"cannot write {str(output)!r}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(output.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - a directory we just wrote into is readable
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _verify(packed: Path, manifest: Mapping[str, object]) -> None:
    """Run the packed file the way a shell would and compare the manifest it prints."""
    command = ["/bin/sh", str(packed), "--airflow-metadata", "--format", "json"]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=_VERIFY_TIMEOUT,
            cwd=packed.parent,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PackError(
            f"the packed file did not print its manifest within {_VERIFY_TIMEOUT:g} s; not installed"
        ) from exc
    stderr = result.stderr.decode("utf-8", "replace").strip()
    tail = "\n".join(stderr.splitlines()[-15:])
    if result.returncode != 0:
        raise PackError(
            f"the packed file failed its check (exit code {result.returncode}); not installed. It must run "
            "on its own: its imports (trio_coord and any library) must be installed for the interpreter, "
            f"and it cannot import modules next to the original source. Its output:\n{tail}"
        )
    try:
        printed = json.loads(result.stdout)
    except ValueError as exc:
        raise PackError(
            f"the packed file printed no JSON manifest; not installed. Its output:\n{tail}"
        ) from exc
    if printed != manifest:
        raise PackError(
            f"the packed file printed a different manifest; not installed.\nexpected: {dict(manifest)}\n"
            f"printed:  {printed}"
        )


# ---------------------------------------------------------------------------- the command line


def pack_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``python -m trio_coord pack``: 0 when written, 1 when the check or the write failed, 2 for usage."""
    try:
        result = pack(args.bundle, args.output, interpreter=args.python, verify=not args.no_verify)
    except PackUsageError as exc:
        parser.error(str(exc))
    except PackError as exc:
        print(f"trio_coord: error: {exc}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"trio_coord: warning: {warning}", file=sys.stderr)
    dags = result.manifest["dags"]
    assert isinstance(dags, dict)
    checked = "checked" if result.verified else "not checked (--no-verify)"
    print(
        f"packed {', '.join(dags)} into {result.path} ({result.size} bytes; runs with "
        f"{result.interpreter}; {checked})"
    )
    return 0
