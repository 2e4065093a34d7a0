"""Self-contained bundles: embedded wheels, the bootstrap, the cache, inspect.

The wheels come from the session's wheelhouse (tests/wheelhouse.py), so pip
runs with ``--no-index``. Packed files run on a bare interpreter (``python -m
venv --without-pip``) with a cache directory of the test's own; the real
``ExecutableCoordinator`` running one is in tests/interop/test_executable_bundle.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from trio_coord import _boot
from trio_coord._bundle_file import BundleFormatError, PackUsageError, Trailer, read_bundle
from trio_coord._inspect import inspect_bundle
from trio_coord._metadata import dump_manifest
from trio_coord._pack import Dependencies, PackResult, pack
from trio_coord._wheels import (
    RUNTIME_REQUIREMENTS,
    Wheel,
    build_own_wheel,
    platform_tags,
    python_requirement,
)
from trio_coord.testing import EmbeddedSupervisor

from .conftest import REPO
from .wheelhouse import FOREIGN_VERSION, foreign_platform, pack_package

SAMPLE = REPO / "tests" / "sample_bundle.py"
#: How many first starts race for one empty cache directory.
CONCURRENT_STARTS = 16


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without PYTHONPATH (a bare interpreter must not see the test's packages)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", _boot.CACHE_DIR_ENV)}
    return {**env, **extra}


def run(
    *command: str | os.PathLike[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.fspath(part) for part in command],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        check=False,
    )


@pytest.fixture(scope="module")
def offline(wheelhouse: Path) -> Dependencies:
    """pip finds every wheel in the wheelhouse and asks no index."""
    return Dependencies(find_links=(str(wheelhouse),), no_index=True)


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv's interpreter with nothing installed, not even pip."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def packed_sample(
    tmp_path_factory: pytest.TempPathFactory, bare_python: Path, offline: Dependencies
) -> PackResult:
    """tests/sample_bundle.py, self-contained, for the bare interpreter (checked)."""
    output = tmp_path_factory.mktemp("packed") / "sample.bin"
    return pack(str(SAMPLE), output, interpreter=str(bare_python), dependencies=offline)


def start(packed: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the packed file (default: print its manifest as JSON) with ``cache`` as its cache directory."""
    return run(
        packed,
        *(args or ("--airflow-metadata", "--format", "json")),
        env=clean_env(**{_boot.CACHE_DIR_ENV: str(cache)}),
    )


def entries(cache: Path) -> list[Path]:
    """The bundles' entries (not the compiled embedded sources' directory)."""
    return sorted(p for p in cache.iterdir() if p.is_dir() and p.name != _boot.CODE_DIR)


def compiled_sources(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / _boot.CODE_DIR).iterdir())


def copy_of(packed: Path, tmp_path: Path, edit: bytes | None = None, *, at: int = 0) -> Path:
    copy = tmp_path / packed.name
    data = bytearray(packed.read_bytes())
    if edit is not None:
        data[at : at + len(edit)] = edit
    copy.write_bytes(bytes(data))
    copy.chmod(0o755)
    return copy


# ---------------------------------------------------------------------- what is embedded


def test_the_bare_interpreter_has_nothing_installed(bare_python: Path) -> None:
    for module in ("trio", "msgpack", "trio_coord", "six", "pip"):
        result = run(bare_python, "-c", f"import {module}", env=clean_env(), cwd=bare_python.parent)
        assert result.returncode == 1, module
        assert f"No module named '{module}'" in result.stderr


def test_a_self_contained_bundle_embeds_trio_coord_and_its_dependencies(packed_sample: PackResult) -> None:
    names = {item.distribution for item in packed_sample.embedded}
    assert names == {
        "trio_coord",
        "trio",
        "msgpack",
        "outcome",
        "attrs",
        "idna",
        "sniffio",
        "sortedcontainers",
    }
    assert packed_sample.python is not None
    assert packed_sample.python.startswith(f"CPython {sys.version_info[0]}.{sys.version_info[1]} on linux ")
    data = packed_sample.path.read_bytes()
    launcher = data[: read_bundle(packed_sample.path).layout.source_start]
    index = launcher[: launcher.index(b"\n#END\n")].decode()
    for item in packed_sample.embedded:
        assert f"'sha256': '{item.sha256}'" in index  # recorded in INDEX, under the trailer's hash
    described = inspect_bundle(packed_sample.path).describe()
    assert f"  python:   {packed_sample.python}\n" in described
    assert "  embedded: 8 wheels, SHA-256 of each and of the source checked\n" in described
    for item in packed_sample.embedded:
        assert f"    {item.distribution} {item.version} ({item.tags}, {item.size} bytes)\n" in described
        assert f"      sha256 {item.sha256}\n" in described
    # The source region is still the module, byte for byte, and the manifest the 1.3.2 one.
    assert read_bundle(packed_sample.path).source == SAMPLE.read_bytes()
    assert json.loads(read_bundle(packed_sample.path).metadata) == packed_sample.manifest


def test_packing_is_deterministic(
    tmp_path: Path, packed_sample: PackResult, bare_python: Path, offline: Dependencies
) -> None:
    again = pack(
        str(SAMPLE), tmp_path / "again.bin", interpreter=str(bare_python), dependencies=offline, verify=False
    )
    assert again.path.read_bytes() == packed_sample.path.read_bytes()


def test_own_wheel_is_deterministic_and_names_the_runtime_dependencies() -> None:
    first, second = build_own_wheel(), build_own_wheel()
    assert first == second
    assert first.filename.endswith("-py3-none-any.whl")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert list(RUNTIME_REQUIREMENTS) == pyproject["project"]["dependencies"]


def test_platform_tags_accept_older_manylinux_wheels() -> None:
    tags = platform_tags("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64"
    assert {
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux2010_x86_64",
        "manylinux1_x86_64",
    } <= set(tags)
    assert tags[-2:] == ["manylinux_2_5_x86_64", "manylinux1_x86_64"]
    assert platform_tags("macosx_11_0_arm64") == ["macosx_11_0_arm64"]


def test_python_requirement_is_the_strictest_of_the_wheels() -> None:
    wheels = [
        Wheel("pure-1.0-py3-none-any.whl", b""),
        Wheel("a-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", b""),
        Wheel("b-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", b""),
    ]
    assert python_requirement("3.11", wheels) == {
        "implementation": "cpython",
        "version": "3.11",
        "os": "linux",
        "machine": "x86_64",
        "glibc": "2.28",
    }
    assert python_requirement("3.11", wheels[:1])["os"] is None  # pure Python runs on any platform
    assert _boot.describe_python(python_requirement("3.11", wheels)) == (
        "CPython 3.11 on linux x86_64 (glibc 2.28 or newer)"
    )


# ---------------------------------------------------------------------- running on a bare interpreter


@pytest.fixture(scope="module")
def packed_package(tmp_path_factory: pytest.TempPathFactory, bare_python: Path, wheelhouse: Path) -> Path:
    """The test package (tests/wheelhouse.py), packed for the bare interpreter; its source deleted."""
    return pack_package(tmp_path_factory.mktemp("package"), bare_python, wheelhouse)


async def test_a_package_bundle_runs_on_a_bare_interpreter_after_its_source_is_deleted(
    tmp_path: Path, packed_package: Path, io_budget: None
) -> None:
    packed = packed_package
    cache = tmp_path / "cache"

    run_ = await EmbeddedSupervisor().run_command(
        [str(packed)], "scpkg", "hello", env=clean_env(**{_boot.CACHE_DIR_ENV: str(cache)})
    )

    assert (run_.exit_code, run_.state) == (0, "success"), run_.output
    value = run_.xcom()
    assert isinstance(value, dict)
    assert value["roundtrip"] == [1, "two", {"three": 3}]
    assert value["greeting"] == "hello from package data"
    (entry,) = entries(cache)
    # Every import came from the cache entry, none from the test's environment.
    files = value["files"]
    assert isinstance(files, list)
    assert all(str(file).startswith(f"{entry}/site/") for file in files), files
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    report = inspect_bundle(packed)
    assert report.payload is not None
    assert report.payload.module == "scpkg.tasks"
    assert [item["kind"] for item in report.payload.items][-1] == "package"


def test_sixteen_concurrent_cold_starts_share_one_cache_entry(
    tmp_path: Path, packed_sample: PackResult
) -> None:
    cache = tmp_path / "cache"
    env = clean_env(**{_boot.CACHE_DIR_ENV: str(cache)})
    command = [str(packed_sample.path), "--airflow-metadata", "--format", "json"]
    children = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
        )
        for _ in range(CONCURRENT_STARTS)
    ]
    outputs = []
    try:
        for child in children:
            out, err = child.communicate(timeout=300)
            outputs.append((child.returncode, out.decode(), err.decode()))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    expected = dump_manifest(packed_sample.manifest, "json")
    assert [output for output in outputs if output != (0, expected, "")] == []
    (entry,) = entries(cache)  # one entry, no leftover build or trash folders
    assert _boot.entry_is_complete(str(entry))
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [_boot.CODE_DIR, entry.name, f"{entry.name}.lock"]
    )
    (compiled,) = compiled_sources(cache)  # the embedded source, compiled once, no temporary file left
    assert compiled.endswith(".pyc")


def test_a_truncated_or_incomplete_cache_entry_is_rebuilt(tmp_path: Path, packed_sample: PackResult) -> None:
    cache = tmp_path / "cache"
    assert start(packed_sample.path, cache).returncode == 0
    (entry,) = entries(cache)
    victim = entry / "site" / "trio" / "__init__.py"
    size = victim.stat().st_size
    with victim.open("r+b") as f:
        f.truncate(size // 2)
    assert not _boot.entry_is_complete(str(entry))
    again = start(packed_sample.path, cache)
    assert again.returncode == 0, again.stderr
    assert victim.stat().st_size == size
    assert _boot.entry_is_complete(str(entry))
    (entry / _boot.ENTRY_MARKER).unlink()  # as if a build had stopped before its last step
    shutil.rmtree(entry / "site" / "msgpack")
    assert start(packed_sample.path, cache).returncode == 0
    assert (entry / "site" / "msgpack" / "__init__.py").is_file()
    assert [p.name for p in entries(cache)] == [entry.name]


def _wheel_offset(packed: Path, distribution: str) -> int:
    report = inspect_bundle(packed)
    assert report.payload is not None
    (item,) = [i for i in report.payload.items if i.get("distribution") == distribution]
    return report.payload.payload_start + int(item["offset"]) + int(item["size"]) // 2


def _rehash(path: Path) -> None:
    """Give ``path`` a trailer that matches its (edited) launcher region again."""
    data = path.read_bytes()
    old = Trailer.from_bytes(data[-64:])
    source_start = len(data) - 64 - old.metadata_len - old.source_len
    new = Trailer(old.source_len, old.metadata_len, hashlib.sha256(data[:source_start]).digest())
    path.write_bytes(data[:-64] + new.to_bytes())


def test_a_tampered_wheel_is_refused_by_inspect_and_at_start(
    tmp_path: Path, packed_sample: PackResult
) -> None:
    offset = _wheel_offset(packed_sample.path, "trio")
    original = packed_sample.path.read_bytes()[offset : offset + 1]
    tampered = copy_of(packed_sample.path, tmp_path, bytes([original[0] ^ 0xFF]), at=offset)
    cache = tmp_path / "cache"

    # The trailer's hash covers the wheels: Airflow and inspect reject the file, and it refuses to start.
    with pytest.raises(BundleFormatError) as caught:
        inspect_bundle(tampered)
    assert caught.value.problem == "hash_mismatch"
    refused = start(tampered, cache)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "the file was changed after it was packed" in refused.stderr

    # With the trailer forged to match, the wheel's own SHA-256 (recorded in the hashed INDEX) still differs.
    _rehash(tampered)
    with pytest.raises(BundleFormatError) as caught:
        inspect_bundle(tampered)
    assert caught.value.problem == "bad_payload"
    assert "the SHA-256 of the embedded trio-" in str(caught.value)
    refused = start(tampered, cache)
    assert refused.returncode == 1
    assert "the embedded trio-" in refused.stderr
    assert "does not match the SHA-256 it was packed with" in refused.stderr
    assert entries(cache) == []  # nothing was installed


def test_a_tampered_source_region_is_refused(tmp_path: Path, packed_sample: PackResult) -> None:
    source_start = read_bundle(packed_sample.path).layout.source_start
    tampered = copy_of(
        packed_sample.path, tmp_path, b"#", at=source_start
    )  # the source is not under the trailer hash
    with pytest.raises(BundleFormatError) as caught:
        inspect_bundle(tampered)
    assert caught.value.problem == "bad_payload"
    refused = start(tampered, tmp_path / "cache")
    assert refused.returncode == 1
    assert "the SHA-256 of the source region differs from the one packed" in refused.stderr


def test_the_bootstrap_runs_compiled_when_the_magic_number_matches_else_from_its_text(
    tmp_path: Path, packed_sample: PackResult
) -> None:
    data = packed_sample.path.read_bytes()
    # The bare interpreter is a venv of this one: the same magic number.
    code_at = data.index(b"\n#CODE " + importlib.util.MAGIC_NUMBER.hex().encode() + b" ")
    text_at = data.index(_boot.BOOT_MARK) + len(_boot.BOOT_MARK)
    assert code_at < text_at

    def edited(name: str, *edits: tuple[bytes, int]) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        copy = copy_of(packed_sample.path, folder)
        changed = bytearray(copy.read_bytes())
        for edit, at in edits:
            changed[at : at + len(edit)] = edit
        copy.write_bytes(bytes(changed))
        _rehash(copy)
        return copy

    broken_text = (b"(((", text_at)  # the docstring's quotes: the text no longer compiles
    other_magic = (b"00000000", code_at + len(b"\n#CODE "))
    cache = tmp_path / "cache"
    # The text broken, the compiled bootstrap intact: the file runs, so the compiled code ran.
    assert start(edited("compiled", broken_text), cache).returncode == 0
    # Another interpreter's magic number: the text runs.
    assert start(edited("text", other_magic), cache).returncode == 0
    # Both: compiling the text fails, so the start above did compile it.
    both = start(edited("both", broken_text, other_magic), cache)
    assert both.returncode == 1
    assert "SyntaxError" in both.stderr


def test_another_python_is_refused_before_any_socket_is_dialled(
    tmp_path: Path, offline: Dependencies
) -> None:
    result = pack(
        str(SAMPLE),
        tmp_path / "foreign.bin",
        interpreter="/usr/bin/python" + FOREIGN_VERSION,
        verify=False,
        dependencies=Dependencies(
            python_version=FOREIGN_VERSION,
            platforms=(foreign_platform(),),
            find_links=offline.find_links,
            no_index=True,
        ),
    )
    assert result.python is not None
    assert result.python.startswith(f"CPython {FOREIGN_VERSION} on linux ")
    assert b"\n#CODE " not in result.path.read_bytes()[:4096]  # its interpreter does not run here
    nodot = FOREIGN_VERSION.replace(".", "")
    assert any(f"-cp{nodot}-" in item.name for item in result.embedded)
    report = inspect_bundle(result.path)
    assert report.payload is not None
    assert f"  python:   CPython {FOREIGN_VERSION} on linux" in report.describe()

    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    try:
        comm, logs = (listener.getsockname()[1] for listener in listeners)
        # Launch the file's bootstrap with this interpreter, as a worker with the wrong Python would.
        launched = run(
            sys.executable,
            "-I",
            "-S",
            "-c",
            _loader_of(result.path),
            str(result.path),
            "bundle",
            f"--comm=127.0.0.1:{comm}",
            f"--logs=127.0.0.1:{logs}",
            env=clean_env(**{_boot.CACHE_DIR_ENV: str(tmp_path / "cache")}),
        )
        for listener in listeners:
            listener.setblocking(False)
            with pytest.raises(BlockingIOError):
                listener.accept()  # nobody connected
    finally:
        for listener in listeners:
            listener.close()
    assert launched.returncode == 1
    lines = launched.stderr.splitlines()
    assert len(lines) == 1, launched.stderr
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert lines[0].startswith(
        f"trio_coord: error: {result.path} was packed for CPython {FOREIGN_VERSION} on linux "
    )
    assert f"but {sys.executable} is CPython {here} on linux" in lines[0]
    assert not (tmp_path / "cache").exists()


def _loader_of(packed: Path) -> str:
    """The ``-c`` program of a self-contained launcher."""
    from trio_coord._pack import LOADER

    assert f"-c '{LOADER}'".encode() in packed.read_bytes()[:1024]
    return LOADER


# ---------------------------------------------------------------------- the cache directory


def test_a_cache_directory_others_can_write_is_refused(tmp_path: Path, packed_sample: PackResult) -> None:
    cache = tmp_path / "shared"
    cache.mkdir()
    cache.chmod(0o777)
    refused = start(packed_sample.path, cache)
    assert refused.returncode == 1
    assert f"the bundle cache directory {cache} can be written by other users (mode 0777)" in refused.stderr
    assert list(cache.iterdir()) == []


def test_cache_prune_removes_unused_entries(tmp_path: Path, packed_sample: PackResult) -> None:
    cache = tmp_path / "cache"
    assert start(packed_sample.path, cache).returncode == 0
    (entry,) = entries(cache)
    env = {**os.environ, _boot.CACHE_DIR_ENV: str(cache)}
    shown = run(sys.executable, "-m", "trio_coord", "cache", "dir", env=env)
    assert shown.stdout == f"{cache}\n"
    kept = run(sys.executable, "-m", "trio_coord", "cache", "prune", env=env)
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.endswith(f"{cache}: removed 0 entries, 0 bytes\n")
    old = entry / _boot.ENTRY_MARKER
    os.utime(old, (old.stat().st_atime - 40 * 86400, old.stat().st_mtime - 40 * 86400))
    pruned = run(sys.executable, "-m", "trio_coord", "cache", "prune", env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert f"removed {entry.name} (" in pruned.stdout
    assert [p.name for p in cache.iterdir()] == [_boot.CODE_DIR]  # its compiled source was used recently
    assert len(compiled_sources(cache)) == 1
    # The next start installs it again.
    assert start(packed_sample.path, cache).returncode == 0
    assert run(sys.executable, "-m", "trio_coord", "cache", "prune", "--all", env=env).returncode == 0
    assert [p.name for p in cache.iterdir()] == [_boot.CODE_DIR]
    assert compiled_sources(cache) == []


# ---------------------------------------------------------------------- pack's refusals


def test_a_source_distribution_is_refused_without_allow_build(
    tmp_path: Path, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sdists = tmp_path / "sdists"
    sdists.mkdir()
    _write_sdist(sdists, "onlysdist", "1.0")
    result = run(
        sys.executable,
        "-m",
        "trio_coord",
        "pack",
        str(SAMPLE),
        "-o",
        str(tmp_path / "x.bin"),
        "--with",
        "onlysdist",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        "--find-links",
        str(sdists),
    )
    assert result.returncode == 1
    assert "trio_coord: error: pip could not fetch wheels for CPython" in result.stderr
    assert "A dependency published only as a source distribution needs --allow-build" in result.stderr
    assert "onlysdist" in result.stderr
    assert not (tmp_path / "x.bin").exists()


async def test_allow_build_embeds_a_dependency_published_only_as_a_source_distribution(
    tmp_path: Path, bare_python: Path, wheelhouse: Path, io_budget: None
) -> None:
    # pip builds the sdist with its declared backend (flit_core, from the wheelhouse: no network).
    sdists = tmp_path / "sdists"
    sdists.mkdir()
    _write_flit_sdist(sdists, "onlysdist", "1.0", "VALUE = 'built from a source distribution'\n")
    bundle = tmp_path / "uses_sdist.py"
    bundle.write_text(
        "from trio_coord import Bundle, TaskContext\n"
        "bundle = Bundle('uses_sdist', '1.0')\n"
        "dag = bundle.dag('uses_sdist')\n"
        "@dag.task\n"
        "async def value(ctx: TaskContext) -> dict[str, str]:\n"
        "    import onlysdist  # not installed where pack runs, which imports this module\n"
        "    return {'value': onlysdist.VALUE, 'file': onlysdist.__file__}\n"
    )
    dependencies = Dependencies(
        requirements=("onlysdist",),
        allow_build=True,
        find_links=(str(wheelhouse), str(sdists)),
        no_index=True,
    )
    result = pack(
        f"{bundle}:bundle",
        tmp_path / "uses_sdist.bin",
        interpreter=str(bare_python),
        dependencies=dependencies,
    )
    assert [item.name for item in result.embedded if item.name.startswith("onlysdist-1.0-")] != []
    bundle.unlink()  # the packed file carries the task module and the built wheel
    cache = tmp_path / "cache"

    run_ = await EmbeddedSupervisor().run_command(
        [str(result.path)], "uses_sdist", "value", env=clean_env(**{_boot.CACHE_DIR_ENV: str(cache)})
    )

    assert (run_.exit_code, run_.state) == (0, "success"), run_.output
    value = run_.xcom()
    assert isinstance(value, dict)
    assert value["value"] == "built from a source distribution"
    (entry,) = entries(cache)
    assert str(value["file"]).startswith(f"{entry}/site/")


def _write_flit_sdist(folder: Path, name: str, version: str, source: str) -> None:
    """A source distribution (no wheel anywhere) whose pyproject.toml builds it with flit_core."""
    import io
    import tarfile

    files = {
        f"{name}-{version}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}/pyproject.toml": (
            '[build-system]\nrequires = ["flit_core>=3.2"]\nbuild-backend = "flit_core.buildapi"\n\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\ndescription = "a test sdist"\n'
        ),
        f"{name}-{version}/{name}.py": source,
    }
    with tarfile.open(folder / f"{name}-{version}.tar.gz", "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = 1_700_000_000  # a wheel (zip) cannot hold a time before 1980
            archive.addfile(info, io.BytesIO(data))


def _write_sdist(folder: Path, name: str, version: str) -> None:
    import io
    import tarfile

    files = {
        f"{name}-{version}/PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}/setup.py": "from setuptools import setup\nsetup()\n",
    }
    with tarfile.open(folder / f"{name}-{version}.tar.gz", "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"installed": True, "dependencies": Dependencies(requirements=("six",))},
            "--installed embeds no dependencies",
        ),
        ({"dependencies": Dependencies(python_version="3")}, "--python-version must be X.Y"),
        (
            {"dependencies": Dependencies(python_version="3.12", allow_build=True), "verify": False},
            "--allow-build builds source distributions for this machine's Python only",
        ),
        ({"interpreter": "/opt/nowhere/python3", "verify": False}, "pass --python-version X.Y"),
    ],
)
def test_pack_usage_errors(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(PackUsageError, match=message.replace(".", r"\.")):
        pack(str(SAMPLE), tmp_path / "x.bin", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "x.bin").exists()
