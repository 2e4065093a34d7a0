"""What a self-contained bundle embeds: wheels fetched by pip, trio_coord's own wheel, the bundle's package.

* :func:`probe_python` asks an interpreter (run with ``-I -S``, so a bare one
  works) what it is: :class:`Target`.
* :func:`build_own_wheel` builds trio_coord's wheel in this process from the
  files of the running package (installed or a source tree), deterministically.
* :func:`fetch_wheels` runs ``python -m pip download --only-binary=:all:``
  (``pip wheel`` with ``allow_build``) as a subprocess: pip resolves trio_coord's
  runtime dependencies and the user's requirements for the target interpreter.
  There is no resolver here.
* :func:`package_archive` zips the bundle's top-level package deterministically.

Everything here is blocking (file and process I/O) and meant for ``pack``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from ._bundle_file import PackError, PackUsageError
from ._version import __version__

__all__ = [
    "RUNTIME_REQUIREMENTS",
    "Target",
    "Wheel",
    "build_own_wheel",
    "deterministic_zip",
    "fetch_wheels",
    "package_archive",
    "parse_wheel_filename",
    "platform_tags",
    "probe_python",
    "python_requirement",
    "target_for",
]

#: trio_coord's runtime dependencies (pyproject.toml's ``dependencies``; a test keeps them equal).
RUNTIME_REQUIREMENTS: Final = ("trio>=0.27", "msgpack>=1.0.5", "outcome>=1.2")
#: The timestamp of every zip entry ``pack`` writes (the earliest a zip can hold).
ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)
#: How long pip may take to fetch the wheels.
_PIP_TIMEOUT: Final = 600.0
_PROBE_TIMEOUT: Final = 30.0

_PROBE: Final = (
    "import json, os, sys, sysconfig\n"
    "libc = os.confstr('CS_GNU_LIBC_VERSION') if hasattr(os, 'confstr') else None\n"
    "print(json.dumps({'implementation': sys.implementation.name, "
    "'version': '%d.%d' % sys.version_info[:2], 'os': sys.platform, 'machine': os.uname().machine, "
    "'platform': sysconfig.get_platform(), "
    "'glibc': libc.split()[1] if libc and libc.startswith('glibc ') else None}))\n"
)
_LEGACY_MANYLINUX: Final = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_MANYLINUX_RE: Final = re.compile(r"manylinux_(\d+)_(\d+)_(.+)")
_WHEEL_RE: Final = re.compile(
    r"(?P<name>[^-]+)-(?P<version>[^-]+)(-(?P<build>\d[^-]*))?-(?P<tags>[^-]+-[^-]+-[^-]+)\.whl"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """The interpreter a bundle is packed for.

    Attributes:
        version: ``X.Y``.
        platforms: pip ``--platform`` tags (none: pip's own, this machine's).
        implementation: ``sys.implementation.name`` (only ``cpython`` is supported).
        description: how error messages name it.
        foreign: not the Python running pip: pip gets ``--python-version``,
            ``--implementation``, ``--abi`` and the ``--platform`` tags. When
            false pip is given no tag options and uses its own, exact, list.
    """

    version: str
    platforms: tuple[str, ...] = ()
    implementation: str = "cpython"
    description: str = ""
    foreign: bool = False

    def pip_options(self) -> list[str]:
        """The options that make ``pip download`` fetch for this target (none for this machine)."""
        if not self.foreign:
            return []
        nodot = self.version.replace(".", "")
        options = ["--python-version", self.version, "--implementation", "cp", "--abi", f"cp{nodot}"]
        options += ["--abi", "abi3", "--abi", "none"]
        for platform in self.platforms:
            options += ["--platform", platform]
        return options


@dataclasses.dataclass(frozen=True, slots=True)
class Wheel:
    """A wheel file's bytes and what its name says.

    Attributes:
        filename: the file name (``name-version[-build]-py-abi-platform.whl``).
        data: the file's bytes.
    """

    filename: str
    data: bytes

    @property
    def distribution(self) -> str:
        """The distribution name as the file name spells it."""
        return parse_wheel_filename(self.filename)[0]

    @property
    def version(self) -> str:
        """The version."""
        return parse_wheel_filename(self.filename)[1]

    @property
    def tags(self) -> str:
        """The compressed tag set, ``py-abi-platform``."""
        return parse_wheel_filename(self.filename)[2]

    @property
    def sha256(self) -> str:
        """The SHA-256 of the file, hex."""
        return hashlib.sha256(self.data).hexdigest()


def parse_wheel_filename(filename: str) -> tuple[str, str, str]:
    """``(distribution, version, tags)`` of a wheel file name.

    Raises:
        ValueError: the name is not a wheel file name.
    """
    match = _WHEEL_RE.fullmatch(filename)
    if match is None:
        raise ValueError(f"{filename!r} is not a wheel file name")
    return match["name"], match["version"], match["tags"]


def platform_tags(tag: str) -> list[str]:
    """``tag`` and the tags a ``pip --platform`` list needs to also accept older wheels for it.

    ``manylinux_2_28_x86_64`` expands to every ``manylinux_2_Y_x86_64`` down to
    2.5, with the legacy aliases (``manylinux2014_x86_64``...): pip matches
    ``--platform`` exactly, and most wheels are tagged for an older glibc than
    the worker's. Other tags are returned as given.
    """
    match = _MANYLINUX_RE.fullmatch(tag)
    if match is None:
        return [tag]
    major, minor, arch = int(match[1]), int(match[2]), match[3]
    if major != 2:
        return [tag]
    tags = []
    for older in range(minor, 4, -1):
        tags.append(f"manylinux_2_{older}_{arch}")
        legacy = _LEGACY_MANYLINUX.get((2, older))
        if legacy:
            tags.append(f"{legacy}_{arch}")
    return tags


def probe_python(interpreter: str) -> dict[str, str | None]:
    """Ask ``interpreter`` (run with ``-I -S``) what it is: version, platform, glibc.

    Raises:
        PackUsageError: it cannot be run, or is not a Python.
    """
    try:
        result = subprocess.run(
            [interpreter, "-I", "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PackUsageError(f"cannot run the interpreter {interpreter!r} to ask its version: {exc}") from exc
    try:
        found = json.loads(result.stdout)
    except ValueError:
        found = None
    if result.returncode != 0 or not isinstance(found, dict):
        raise PackUsageError(
            f"{interpreter!r} did not answer as a Python interpreter (exit code {result.returncode}): "
            f"{result.stderr.strip()[-500:]}"
        )
    return found


def target_for(found: dict[str, str | None], *, same_as_this: bool) -> Target:
    """The :class:`Target` of a probed interpreter (no tag options when it is this machine's Python)."""
    description = f"CPython {found['version']} on {found['platform']}"
    if found.get("glibc"):
        description += f" (glibc {found['glibc']})"
    if found["implementation"] != "cpython":
        raise PackUsageError(
            f"self-contained bundles need CPython; the interpreter is {found['implementation']}"
        )
    if same_as_this:
        return Target(str(found["version"]), (), "cpython", description, foreign=False)
    platform = str(found["platform"])
    machine = str(found["machine"])
    glibc = found.get("glibc")
    if platform.startswith("linux") and glibc:
        major, minor = (int(part) for part in glibc.split(".")[:2])
        platforms = tuple(platform_tags(f"manylinux_{major}_{minor}_{machine}"))
    else:
        raise PackUsageError(
            f"cannot tell the wheel platform tags of the interpreter ({description}); "
            "pass them with --platform TAG (for example --platform macosx_11_0_arm64)"
        )
    return Target(str(found["version"]), platforms, "cpython", description, foreign=True)


# ---------------------------------------------------------------------------- zips


def deterministic_zip(entries: Iterable[tuple[str, bytes, bool]]) -> bytes:
    """A zip of ``(name, data, executable)`` entries: sorted, fixed timestamps and modes, deflated.

    The same entries give the same bytes (for one zlib).
    """
    with tempfile.SpooledTemporaryFile(max_size=64 << 20) as buffer:
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data, executable in sorted(entries, key=lambda entry: entry[0]):
                info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
                info.external_attr = (0o100755 if executable else 0o100644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so the mode bits are read back
                archive.writestr(info, data, compresslevel=6)
        buffer.seek(0)
        return buffer.read()


def _package_files(directory: Path) -> list[tuple[str, Path]]:
    """Every file under ``directory`` but bytecode caches, as (relative POSIX path, path)."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(root, name)
            found.append((path.relative_to(directory.parent).as_posix(), path))
    return found


def package_archive(package_dir: Path) -> bytes:
    """The bundle's top-level package (every file but bytecode caches) as a deterministic zip."""
    entries = []
    for name, path in _package_files(package_dir):
        try:
            entries.append((name, path.read_bytes(), os.access(path, os.X_OK)))
        except OSError as exc:
            raise PackError(f"cannot read {str(path)!r} of the bundle's package: {exc}") from exc
    return deterministic_zip(entries)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_own_wheel() -> Wheel:
    """trio_coord's wheel, built from the running package's files (installed or a source tree).

    Pure Python (``py3-none-any``); ``METADATA`` names the version, the Python
    requirement and :data:`RUNTIME_REQUIREMENTS`. The same package files give
    the same bytes, however trio_coord was installed.
    """
    package_dir = Path(__file__).resolve().parent
    dist_info = f"trio_coord-{__version__}.dist-info"
    metadata = "".join(
        [
            "Metadata-Version: 2.1\n",
            "Name: trio_coord\n",
            f"Version: {__version__}\n",
            "Requires-Python: >=3.11\n",
            *(f"Requires-Dist: {requirement}\n" for requirement in RUNTIME_REQUIREMENTS),
        ]
    )
    wheel_text = "Wheel-Version: 1.0\nGenerator: trio_coord pack\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entries = [(name, path.read_bytes(), False) for name, path in _package_files(package_dir)]
    entries += [
        (f"{dist_info}/METADATA", metadata.encode(), False),
        (f"{dist_info}/WHEEL", wheel_text.encode(), False),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data, _ in sorted(entries))
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode(), False))
    return Wheel(f"trio_coord-{__version__}-py3-none-any.whl", deterministic_zip(entries))


# ---------------------------------------------------------------------------- pip


def _pip_available() -> bool:
    return importlib.util.find_spec("pip") is not None


def fetch_wheels(
    own_wheel: Wheel,
    target: Target,
    *,
    requirement_files: Sequence[str] = (),
    requirements: Sequence[str] = (),
    allow_build: bool = False,
    find_links: Sequence[str] = (),
    no_index: bool = False,
) -> list[Wheel]:
    """Resolve and fetch, as wheels for ``target``, trio_coord's dependencies and the user's.

    Runs ``python -m pip download --only-binary=:all:`` (or ``pip wheel`` with
    ``allow_build``, which builds source distributions into wheels on this
    machine) in a subprocess; pip's own configuration (``PIP_*``, pip.conf)
    applies. ``own_wheel`` is handed to pip as a requirement, so its
    ``Requires-Dist`` is resolved together with the user's requirements.

    Returns:
        Every wheel, sorted by file name, ``own_wheel`` among them.

    Raises:
        PackUsageError: pip is missing, or ``allow_build`` with a foreign target.
        PackError: pip failed (no wheel for the target, no such version...).
    """
    if not _pip_available():
        raise PackUsageError(
            f"pack fetches the dependencies' wheels with pip, which is not installed for {sys.executable} "
            "(python -m pip install pip), or pack with --installed"
        )
    if allow_build and target.foreign:
        raise PackUsageError(
            "--allow-build builds source distributions for this machine's Python only; it cannot be "
            "combined with packing for another one (--python-version/--platform or a different --python)"
        )
    with tempfile.TemporaryDirectory(prefix="trio-coord-pack-") as work:
        own_path = Path(work, own_wheel.filename)
        own_path.write_bytes(own_wheel.data)
        dest = Path(work, "wheels")
        dest.mkdir()
        if allow_build:
            command = [sys.executable, "-m", "pip", "wheel", "--wheel-dir", str(dest)]
        else:
            command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(dest)]
        command += ["--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
        command += target.pip_options()
        for link in find_links:
            command += ["--find-links", link]
        if no_index:
            command.append("--no-index")
        for file in requirement_files:
            command += ["--requirement", file]
        command += [str(own_path), *requirements]
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=_PIP_TIMEOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PackError(f"pip did not finish fetching the wheels within {_PIP_TIMEOUT:g} s") from exc
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-12:])
            hint = (
                ""
                if allow_build
                else " A dependency published only as a source distribution needs --allow-build (it is then "
                "built into a wheel here, for this machine's Python), or a version that has wheels."
            )
            raise PackError(
                f"pip could not fetch wheels for {target.description or 'the target interpreter'} "
                f"(exit code {result.returncode}).{hint} pip said:\n{tail}"
            )
        wheels = []
        for path in sorted(dest.iterdir()):
            if not path.name.endswith(".whl"):
                raise PackError(
                    f"pip fetched {path.name}, which is not a wheel; pass --allow-build to build it into one"
                )
            wheels.append(
                Wheel(path.name, own_wheel.data if path.name == own_wheel.filename else path.read_bytes())
            )
    if own_wheel.filename not in {wheel.filename for wheel in wheels}:
        wheels.append(own_wheel)
    return sorted(wheels, key=lambda wheel: wheel.filename)


# ---------------------------------------------------------------------------- what the worker needs


def python_requirement(version: str, wheels: Iterable[Wheel]) -> dict[str, str | None]:
    """What a worker's interpreter must be for these wheels (the bootstrap's ``INDEX["python"]``).

    The exact CPython ``X.Y`` packed for; for platform wheels also the OS, the
    machine and, for ``manylinux`` ones, the oldest glibc every one of them
    accepts (each wheel needs the lowest glibc among its tags; the bundle the
    highest of those).
    """
    wanted: dict[str, str | None] = {"implementation": "cpython", "version": version}
    os_name = machine = None
    glibc: tuple[int, int] | None = None
    for wheel in wheels:
        platforms = wheel.tags.split("-")[2].split(".")
        if platforms == ["any"]:
            continue
        lowest: tuple[int, int] | None = None
        for platform in platforms:
            match = _MANYLINUX_RE.fullmatch(platform)
            legacy = next(
                (key for key, name in _LEGACY_MANYLINUX.items() if platform.startswith(name + "_")), None
            )
            if match:
                needed, arch = (int(match[1]), int(match[2])), match[3]
            elif legacy:
                needed, arch = legacy, platform.removeprefix(_LEGACY_MANYLINUX[legacy] + "_")
            elif platform.startswith(("musllinux_", "linux_")):
                needed, arch = (
                    None,
                    platform.split("_", 3)[-1] if platform.startswith("musl") else platform[6:],
                )
            else:
                # Not Linux: the OS as sys.platform names it; the machine is left to pip's match.
                os_name = os_name or ("darwin" if platform.startswith("macosx") else platform.split("_")[0])
                continue
            os_name, machine = "linux", arch
            if needed is not None and (lowest is None or needed < lowest):
                lowest = needed
        if lowest is not None and (glibc is None or lowest > glibc):
            glibc = lowest
    wanted["os"] = os_name
    wanted["machine"] = machine
    wanted["glibc"] = f"{glibc[0]}.{glibc[1]}" if glibc else None
    return wanted
