"""``python -m trio_coord pack``: write a bundle as one executable file for ``ExecutableCoordinator``.

A packed file is ``[launcher][source][metadata][trailer]`` (the format is in
:mod:`trio_coord._bundle_file`). There are two kinds:

**Self-contained** (the default). The launcher region is a ``#!/bin/sh``
script that ``exec``\\ s ``PYTHON -I -S -c LOADER "$0" ATTR "$@"``, the
bootstrap (:mod:`trio_coord._boot`, with the ``INDEX`` of what is embedded),
and the payload: the wheels of trio_coord, its runtime dependencies and the
user's requirements, fetched by pip for the target interpreter
(:mod:`trio_coord._wheels`), then, when the bundle is a module of a package,
that whole top-level package as a zip. The trailer's SHA-256 covers all of
it; ``INDEX`` records the SHA-256 of each item and of the source region. The
worker needs nothing but a CPython X.Y of the packed platform: the first start
unzips the payload into a per-user cache entry keyed by the hash.

**Installed** (``--installed``). The launcher is one line, ``exec PYTHON -P -m
trio_coord._packed "$0" ATTR "$@"``: the interpreter must have trio_coord and
everything the bundle imports.

In both, the source region is the bundle module's source byte for byte, and
the metadata region is the manifest (:func:`~trio_coord._metadata.build_manifest`)
as JSON, which the 1.3.2 coordinator reads with ``yaml.safe_load``. ``exec``
matters: without it the shell would go on to run the appended bytes as
commands. The interpreter path and ``ATTR`` (the name of the
:class:`~trio_coord.Bundle` in the module) are quoted for ``sh``.

:func:`pack` does blocking file and process I/O and is meant for the command
line, never for a trio task.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from . import _boot
from ._bundle_file import PackError, PackUsageError, assemble
from ._errors import TrioCoordError
from ._loader import _split, load_bundle
from ._metadata import build_manifest, dump_manifest, manifest_problems
from ._wheels import (
    Target,
    Wheel,
    build_own_wheel,
    fetch_wheels,
    package_archive,
    platform_tags,
    probe_python,
    python_requirement,
    target_for,
)

__all__ = [
    "LAUNCHER_MODULE",
    "LOADER",
    "Dependencies",
    "EmbeddedItem",
    "PackResult",
    "build_launcher",
    "build_self_contained_launcher",
    "pack",
    "pack_command",
]

#: The module the launcher of an ``--installed`` bundle runs (``python -m trio_coord._packed``).
LAUNCHER_MODULE: Final = "trio_coord._packed"
#: What a self-contained launcher runs with ``python -I -S -c``: it executes the bootstrap. When
#: the file has a ``#CODE MAGIC BASE64`` line whose magic number is this interpreter's, that is
#: the bootstrap compiled at packing time by the same interpreter; otherwise LOADER compiles the
#: text between the ``#BOOT`` and ``#END`` lines near the start of the file (about 3 ms).
LOADER: Final = (
    r'import sys,marshal,binascii,importlib.util as i;f=sys.argv[1];d=open(f,"rb").read(262144);'
    r'c=d.find(b"\n#CODE "+i.MAGIC_NUMBER.hex().encode()+b" ");'
    r'exec(marshal.loads(binascii.a2b_base64(d[c+16:d.index(b"\n",c+16)]))if c>0 else '
    r'compile(d[d.index(b"\n#BOOT\n")+7:d.index(b"\n#END\n")],f,"exec"))'
)
#: Run by the launcher's interpreter at packing time: the bootstrap's text on stdin, its
#: ``#CODE`` line's ``MAGIC BASE64`` on stdout (``-I -S``: the same bytes on every run).
_COMPILE_BOOTSTRAP: Final = (
    "import sys,marshal,binascii,importlib.util as i\n"
    'c=compile(sys.stdin.buffer.read(),"<trio_coord bootstrap>","exec",dont_inherit=True,optimize=0)\n'
    'sys.stdout.buffer.write(i.MAGIC_NUMBER.hex().encode()+b" "'
    "+binascii.b2a_base64(marshal.dumps(c),newline=False))\n"
)
#: How much of the file LOADER reads: the script and the bootstrap must fit.
_LOADER_READ: Final = 262144
#: How long ``pack`` lets the packed file take to print its manifest (a first start unzips).
_VERIFY_TIMEOUT: Final = 120.0
#: The mode of a packed file (as airflow-go-pack writes it, whatever the umask).
_PACKED_MODE: Final = 0o755
_PYTHON_VERSION_RE: Final = re.compile(r"3\.[0-9]{1,2}")


def build_launcher(interpreter: str, attr: str) -> bytes:
    """The launcher region of an ``--installed`` bundle: a ``#!/bin/sh`` script that ``exec``\\ s the runtime.

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


def build_self_contained_launcher(
    interpreter: str, attr: str, index: Mapping[str, object], *, precompile: bool = False
) -> bytes:
    """The script and bootstrap of a self-contained bundle (the payload follows them).

    ``python -I -S`` ignores ``PYTHON*`` variables, the user site, the
    working directory and site-packages: the bundle sees the standard
    library and its own cache entry only. With ``precompile``, ``interpreter``
    (when it runs here) also compiles the bootstrap into a ``#CODE`` line,
    which spares every start compiling it (see :data:`LOADER`).

    Raises:
        PackError: the bootstrap does not fit in what :data:`LOADER` reads.
    """
    boot = Path(_boot.__file__).read_text(encoding="utf-8")
    if _boot.BOOT_MARK.decode() in boot or _boot.END_MARK.decode() in boot:  # pragma: no cover - a bug
        raise PackError("the bootstrap source contains its own delimiter lines")
    command = shlex.join([interpreter, "-I", "-S", "-c", LOADER])
    bootstrap = f"{boot}INDEX = {dict(index)!r}\nmain(INDEX)\n".encode("utf-8", "surrogateescape")
    compiled = _compile_bootstrap(interpreter, bootstrap) if precompile else None
    script = (
        "#!/bin/sh\n"
        "# A self-contained trio_coord executable bundle: this launcher and bootstrap, the embedded\n"
        "# wheels, the bundle's Python source, its manifest and an AFBNDL01 trailer. It needs only a\n"
        "# CPython; check it with: python -m trio_coord inspect FILE\n"
        f'exec {command} "$0" {shlex.quote(attr)} "$@"\n'
    )
    data = b"".join(
        (
            script.encode("utf-8", "surrogateescape"),
            b"#CODE " + compiled + b"\n" if compiled is not None else b"",
            b"#BOOT\n",
            bootstrap,
            b"#END\n",
        )
    )
    if len(data) > _LOADER_READ:
        raise PackError(
            f"the launcher and bootstrap take {len(data)} bytes, more than the {_LOADER_READ} read"
        )
    return data


def _compile_bootstrap(interpreter: str, bootstrap: bytes) -> bytes | None:
    """``MAGIC BASE64`` of ``bootstrap`` compiled by ``interpreter``; ``None`` when it does not run here.

    Blocking: runs ``interpreter`` once. Without the line, starts compile the
    bootstrap's text, so a missing or foreign interpreter costs time, not correctness.
    """
    try:
        done = subprocess.run(
            [interpreter, "-I", "-S", "-c", _COMPILE_BOOTSTRAP],
            input=bootstrap,
            capture_output=True,
            timeout=_VERIFY_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    magic, _, encoded = done.stdout.partition(b" ")
    if done.returncode != 0 or len(magic) != 8 or not encoded or b"\n" in encoded:
        return None
    return done.stdout


# ---------------------------------------------------------------------------- pack


@dataclasses.dataclass(frozen=True, slots=True)
class Dependencies:
    """What a self-contained bundle embeds besides trio_coord and its runtime dependencies.

    Attributes:
        requirement_files: pip requirements files (``--requirement``).
        requirements: requirement specifiers (``--with``).
        python_version: pack for this CPython ``X.Y`` instead of the
            ``--python`` interpreter's.
        platforms: pack for these wheel platform tags (``manylinux_2_17_x86_64``).
        allow_build: let pip build source distributions into wheels (for
            this machine's Python only); refused otherwise.
        find_links: extra places pip looks for wheels (``--find-links``).
        no_index: pip does not use the package index (``--no-index``).
    """

    requirement_files: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    python_version: str | None = None
    platforms: tuple[str, ...] = ()
    allow_build: bool = False
    find_links: tuple[str, ...] = ()
    no_index: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class EmbeddedItem:
    """One item of a self-contained bundle's payload (a wheel, or the bundle's package).

    Attributes:
        kind: ``"wheel"`` or ``"package"``.
        name: the wheel's file name, or the package's name.
        distribution: the distribution name (``None`` for the package).
        version: the version (``None`` for the package).
        tags: the wheel's tags, ``py-abi-platform`` (``None`` for the package).
        size: its size in bytes.
        sha256: its SHA-256, hex.
    """

    kind: str
    name: str
    distribution: str | None
    version: str | None
    tags: str | None
    size: int
    sha256: str


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
        embedded: a self-contained bundle's payload (empty with ``--installed``).
        python: what a worker's interpreter must be, e.g. ``CPython 3.11 on
            linux x86_64 (glibc 2.17 or newer)`` (``None`` with ``--installed``).
    """

    path: Path
    size: int
    manifest: dict[str, object]
    interpreter: str
    verified: bool
    warnings: tuple[str, ...] = ()
    embedded: tuple[EmbeddedItem, ...] = ()
    python: str | None = None


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


@dataclasses.dataclass(frozen=True, slots=True)
class _Code:
    """Where the bundle's code is: its module's source file, and the package embedded with it."""

    source_path: Path
    source_name: str
    module: str | None = None
    package_dir: Path | None = None


def _code_of(spec: str, *, installed: bool) -> _Code:
    """The bundle's code: the single file, or (self-contained, ``pkg.mod:attr``) its top-level package."""
    source_path = _source_file(spec)
    target, _ = _split(spec)
    if installed or target.endswith(".py") or "/" in target or os.sep in target:
        return _Code(source_path, source_path.name)
    top = target.split(".")[0]
    top_module = sys.modules.get(top)
    paths = list(getattr(top_module, "__path__", None) or [])
    if not paths:  # a top-level module: the single file is all there is
        return _Code(source_path, source_path.name)
    if getattr(top_module, "__file__", None) is None or len(paths) != 1:
        raise PackUsageError(
            f"{top!r} is a namespace package ({len(paths)} directories); pack embeds a regular package "
            "(with an __init__.py) or a single file"
        )
    package_dir = Path(paths[0]).resolve()
    name = source_path.relative_to(package_dir.parent).as_posix()
    # trio_coord's own modules (trio_coord.example) come with its wheel.
    return _Code(source_path, name, target, None if top == "trio_coord" else package_dir)


def _target(interpreter: str, dependencies: Dependencies) -> Target:
    """The interpreter to fetch wheels for: the given version and platforms, or ``interpreter``'s own."""
    platforms = tuple(tag for given in dependencies.platforms for tag in platform_tags(given))
    version = dependencies.python_version
    if version is not None:
        if not _PYTHON_VERSION_RE.fullmatch(version):
            raise PackUsageError(f"--python-version must be X.Y (for example 3.11), got {version!r}")
        where = ", ".join(dependencies.platforms) if platforms else "this platform"
        return Target(version, platforms, "cpython", f"CPython {version} on {where}", foreign=True)
    local = interpreter if "/" in interpreter else shutil.which(interpreter)
    if local is None or not (os.path.isfile(local) and os.access(local, os.X_OK)):
        raise PackUsageError(
            f"the interpreter {interpreter!r} is not on this machine, so pack cannot ask it which Python it "
            "is: pass --python-version X.Y (and --platform TAG for another platform)"
        )
    found = probe_python(local)
    if platforms:
        description = f"CPython {found['version']} on {', '.join(dependencies.platforms)}"
        return Target(str(found["version"]), platforms, "cpython", description, foreign=True)
    return target_for(found, same_as_this=found == probe_python(sys.executable))


def _payload(
    code: _Code, interpreter: str, dependencies: Dependencies
) -> tuple[list[tuple[EmbeddedItem, bytes]], dict[str, str | None]]:
    """Fetch and build the payload's items; also what a worker's Python must be."""
    target = _target(interpreter, dependencies)
    wheels = fetch_wheels(
        build_own_wheel(),
        target,
        requirement_files=dependencies.requirement_files,
        requirements=dependencies.requirements,
        allow_build=dependencies.allow_build,
        find_links=dependencies.find_links,
        no_index=dependencies.no_index,
    )
    items = [
        (
            EmbeddedItem("wheel", w.filename, w.distribution, w.version, w.tags, len(w.data), w.sha256),
            w.data,
        )
        for w in wheels
    ]
    if code.package_dir is not None:
        archive = Wheel("package.whl", package_archive(code.package_dir))
        name = code.package_dir.name
        items.append(
            (EmbeddedItem("package", name, None, None, None, len(archive.data), archive.sha256), archive.data)
        )
    return items, python_requirement(target.version, wheels)


def pack(
    spec: str,
    output: str | os.PathLike[str],
    *,
    interpreter: str | None = None,
    verify: bool = True,
    installed: bool = False,
    dependencies: Dependencies | None = None,
) -> PackResult:
    """Pack the bundle named by ``spec`` into one executable file at ``output``.

    Blocking: imports the bundle in this process; for a self-contained bundle
    runs pip (see :func:`~trio_coord._wheels.fetch_wheels`); and (with
    ``verify``) runs the packed file once, with ``--airflow-metadata --format
    json``, to check that it starts and reports the embedded manifest (up to
    120 s; a self-contained bundle installs itself into a throw-away cache
    directory for that).

    The file is written to a temporary name next to ``output``, checked,
    made executable (mode 0o755) and renamed over ``output``, so a scanner
    never sees a half-written bundle. The same inputs (and the same wheels
    from pip) give the same bytes.

    Args:
        spec: ``module[:attr]`` or ``path/to/file.py[:attr]``, as for ``serve``.
        output: the file to write.
        interpreter: the Python the launcher runs (default: this one,
            ``sys.executable``). A relative path is made absolute; a bare
            name is looked up on ``PATH`` when the bundle runs.
        verify: run the packed file once before installing it.
        installed: embed the source only; the interpreter provides trio_coord
            and every import (the format before self-contained bundles).
        dependencies: what else a self-contained bundle embeds, and the
            target it is packed for.

    Raises:
        PackUsageError: the bundle cannot be loaded, the output path or the
            interpreter is unusable, the source file name cannot be
            embedded, or the options contradict each other.
        PackError: pip failed, the packed file failed its check, or writing failed.
    """
    dependencies = dependencies or Dependencies()
    if installed and dependencies != Dependencies():
        raise PackUsageError(
            "--installed embeds no dependencies: it cannot be combined with --requirement, --with, "
            "--python-version, --platform, --allow-build, --find-links or --no-index"
        )
    chosen = _check_interpreter(interpreter if interpreter is not None else sys.executable, verify=verify)
    try:
        _, attr = _split(spec)
        bundle = load_bundle(spec)
    except TrioCoordError as exc:
        raise PackUsageError(str(exc)) from exc
    code = _code_of(spec, installed=installed)
    output_path = _check_output(Path(output), code.source_path)
    if not code.source_name.isprintable():
        raise PackUsageError(
            f"the source file name {code.source_name!r} has characters a manifest cannot carry"
        )
    if not bundle.dags:
        raise PackError(f"bundle {bundle.name!r} defines no Dags: there is nothing to pack")
    warnings = tuple(
        f"Dag {dag_id!r} has no tasks" for dag_id, dag in sorted(bundle.dags.items()) if not dag.tasks
    )
    try:
        source = code.source_path.read_bytes()
    except OSError as exc:
        raise PackError(f"cannot read the bundle source {str(code.source_path)!r}: {exc}") from exc
    manifest = build_manifest(bundle, source=code.source_name)
    problems = manifest_problems(manifest)
    if problems:  # pragma: no cover - build_manifest always writes a valid manifest
        raise PackError("; ".join(problems))
    metadata = dump_manifest(manifest, "json").encode("utf-8")
    if installed:
        data = assemble(build_launcher(chosen, attr), source, metadata)
        _write_atomically(output_path, data, manifest if verify else None, self_contained=False)
        return PackResult(output_path, len(data), manifest, chosen, verify, warnings)
    items, python = _payload(code, chosen, dependencies)
    index = _index(items, python, code.module, source)
    launcher = build_self_contained_launcher(chosen, attr, index, precompile=True)
    data = assemble(launcher + b"".join(blob for _, blob in items), source, metadata)
    _write_atomically(output_path, data, manifest if verify else None, self_contained=True)
    embedded = tuple(item for item, _ in items)
    return PackResult(
        output_path, len(data), manifest, chosen, verify, warnings, embedded, _boot.describe_python(python)
    )


def _index(
    items: Sequence[tuple[EmbeddedItem, bytes]],
    python: dict[str, str | None],
    module: str | None,
    source: bytes,
) -> dict[str, object]:
    """The bootstrap's ``INDEX`` (see :mod:`trio_coord._boot`)."""
    blobs = []
    offset = 0
    for item, blob in items:
        blobs.append({**dataclasses.asdict(item), "offset": offset})
        offset += len(blob)
    return {
        "format": _boot.FORMAT,
        "python": python,
        "module": module,
        "source_sha256": hashlib.sha256(source).hexdigest(),
        "blobs": blobs,
    }


def _write_atomically(
    output: Path, data: bytes, verify_manifest: Mapping[str, object] | None, *, self_contained: bool
) -> None:
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
            _verify(tmp, verify_manifest, self_contained=self_contained)
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


def _verify(packed: Path, manifest: Mapping[str, object], *, self_contained: bool) -> None:
    """Run the packed file the way a shell would and compare the manifest it prints.

    A self-contained bundle installs itself into a throw-away cache directory
    (so the check also proves that a cold start works).
    """
    command = ["/bin/sh", str(packed), "--airflow-metadata", "--format", "json"]
    with tempfile.TemporaryDirectory(prefix="trio-coord-verify-") as cache:
        env = {**os.environ, _boot.CACHE_DIR_ENV: cache} if self_contained else None
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=_VERIFY_TIMEOUT,
                cwd=packed.parent,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PackError(
                f"the packed file did not print its manifest within {_VERIFY_TIMEOUT:g} s; not installed"
            ) from exc
    stderr = result.stderr.decode("utf-8", "replace").strip()
    tail = "\n".join(stderr.splitlines()[-15:])
    if result.returncode != 0:
        needs = (
            "what it imports must be in the bundle's package or its wheels (--requirement/--with)"
            if self_contained
            else "its imports (trio_coord and any library) must be installed for the interpreter"
        )
        raise PackError(
            f"the packed file failed its check (exit code {result.returncode}); not installed. It must run "
            f"on its own: {needs}, and it cannot import modules next to the original source. Its "
            f"output:\n{tail}"
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
    dependencies = Dependencies(
        requirement_files=tuple(args.requirement_files),
        requirements=tuple(args.requirements),
        python_version=args.python_version,
        platforms=tuple(args.platforms),
        allow_build=args.allow_build,
        find_links=tuple(args.find_links),
        no_index=args.no_index,
    )
    try:
        result = pack(
            args.bundle,
            args.output,
            interpreter=args.python,
            verify=not args.no_verify,
            installed=args.installed,
            dependencies=dependencies,
        )
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
    if result.python is not None:
        wheels = [item for item in result.embedded if item.kind == "wheel"]
        print(f"self-contained: {len(wheels)} wheels; the worker needs {result.python}")
        for item in result.embedded:
            print(f"  {item.name} ({item.size} bytes)")
    return 0
