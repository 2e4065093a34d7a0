"""The wheels the self-contained bundle tests embed, fetched once (``pip download``).

``nox`` fetches them into ``.nox/_wheelhouse`` before the tests run (``python
-m tests.wheelhouse DIR``) and names the folder in ``TRIO_COORD_TEST_WHEELHOUSE``;
the tests then pack with ``--no-index --find-links`` that folder, so they use
no network. Run directly, pytest fetches them into a temporary folder itself.

Two sets: for this interpreter, and for CPython :data:`FOREIGN_VERSION` on
``manylinux_2_17`` of this machine, to pack for an interpreter that is not
here. The tests' bundles import ``six``, a small pure-Python library; ``flit_core``
is the build backend of the source distribution the ``--allow-build`` test builds.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from trio_coord._wheels import RUNTIME_REQUIREMENTS, platform_tags

WHEELHOUSE_ENV = "TRIO_COORD_TEST_WHEELHOUSE"
#: What the tests embed besides trio_coord's own dependencies.
EXTRA_REQUIREMENTS = ("six",)
#: The build backend of the source distribution ``pack --allow-build`` builds offline (this interpreter only).
BUILD_REQUIREMENTS = ("flit_core",)
#: A CPython the tests pack for but never run.
FOREIGN_VERSION = "3.12" if sys.version_info[:2] != (3, 12) else "3.13"


def foreign_platform() -> str:
    """The wheel platform the foreign set is fetched for: manylinux 2.17 of this machine."""
    return f"manylinux_2_17_{platform.machine()}"


def fill(directory: Path) -> None:
    """Download both sets into ``directory`` (pip skips files already there)."""
    directory.mkdir(parents=True, exist_ok=True)
    requirements = [*RUNTIME_REQUIREMENTS, *EXTRA_REQUIREMENTS]
    base = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--disable-pip-version-check"]
    base += ["--progress-bar", "off", "--quiet", "--dest", str(directory)]
    subprocess.run(
        [*base, *requirements, *BUILD_REQUIREMENTS], check=True, timeout=600, stdin=subprocess.DEVNULL
    )
    nodot = FOREIGN_VERSION.replace(".", "")
    foreign = ["--python-version", FOREIGN_VERSION, "--implementation", "cp", "--abi", f"cp{nodot}"]
    foreign += ["--abi", "abi3", "--abi", "none"]
    for tag in platform_tags(foreign_platform()):
        foreign += ["--platform", tag]
    subprocess.run([*base, *foreign, *requirements], check=True, timeout=600, stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.wheelhouse DIR")
    fill(Path(sys.argv[1]))
    print(f"{os.path.abspath(sys.argv[1])}: {len(list(Path(sys.argv[1]).glob('*.whl')))} wheels")


# ---------------------------------------------------------------------------- a package bundle

#: The package bundle of the tests: two modules, a data file, six and msgpack's C extension.
PACKAGE_FILES = {
    "__init__.py": "",
    "greeting.txt": "hello from package data\n",
    "helpers.py": (
        "from pathlib import Path\n"
        "\n"
        "import six\n"
        "from msgpack import _cmsgpack  # the C extension, not the pure-Python fallback\n"
        "\n"
        "\n"
        "def roundtrip(value: object) -> object:\n"
        "    return _cmsgpack.unpackb(_cmsgpack.Packer().pack(value))\n"
        "\n"
        "\n"
        "def greeting() -> str:\n"
        "    return Path(__file__).with_name('greeting.txt').read_text().strip()\n"
        "\n"
        "\n"
        "SIX = six.__version__\n"
    ),
    "tasks.py": (
        "from trio_coord import Bundle, TaskContext\n"
        "\n"
        "from .helpers import SIX, greeting, roundtrip\n"
        "\n"
        "bundle = Bundle('scpkg', '1')\n"
        "dag = bundle.dag('scpkg')\n"
        "\n"
        "\n"
        "@dag.task\n"
        "async def hello(ctx: TaskContext) -> dict[str, object]:\n"
        "    import msgpack, six, trio, trio_coord\n"
        "\n"
        "    return {\n"
        "        'roundtrip': roundtrip([1, 'two', {'three': 3}]),\n"
        "        'greeting': greeting(),\n"
        "        'six': SIX,\n"
        "        'files': [m.__file__ for m in (msgpack, six, trio, trio_coord)],\n"
        "    }\n"
    ),
}


def write_package(root: Path, name: str = "scpkg") -> Path:
    """Write the test package under ``root``; return ``root/name``."""
    package = root / name
    package.mkdir(parents=True)
    for file, text in PACKAGE_FILES.items():
        (package / file).write_text(text)
    return package


def unzip_wheel(wheelhouse: Path, distribution: str, dest: Path) -> Path:
    """Unzip a pure-Python wheel into ``dest`` (for a packer's PYTHONPATH)."""
    import zipfile

    (wheel,) = wheelhouse.glob(f"{distribution}-*-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(dest)
    return dest


def pack_package(root: Path, interpreter: Path, wheelhouse: Path) -> Path:
    """Pack the test package as a user would, for ``interpreter``; delete its source; return the file.

    ``python -m trio_coord pack scpkg.tasks:bundle --with six`` runs in the
    package's folder, with ``six`` importable (pack imports the bundle), and
    pip takes the wheels from ``wheelhouse``. Blocking (up to 5 minutes).
    """
    import shutil

    source = root / "src"
    write_package(source)
    packer_site = unzip_wheel(wheelhouse, "six", root / "packer-site")
    deploy = root / "executable-bundles"
    deploy.mkdir()
    packed = deploy / "scpkg"
    path = os.pathsep.join(p for p in (str(source), str(packer_site), os.environ.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "trio_coord", "pack", "scpkg.tasks:bundle", "--output", str(packed)]
    command += ["--python", str(interpreter), "--with", "six", "--no-index", "--find-links", str(wheelhouse)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        cwd=source,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"pack failed (exit code {done.returncode}):\n{done.stderr}")
    assert "the worker needs CPython" in done.stdout
    shutil.rmtree(source)
    shutil.rmtree(packer_site)
    return packed
