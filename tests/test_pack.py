"""Executable bundles: the trailer's bytes, pack, the packed runtime and inspect.

The real ``ExecutableCoordinator`` reading these files is exercised in
``tests/interop/test_executable_bundle.py``; here the format is checked byte by
byte, and packed files are run as child processes (under the embedded
supervisor for coordinator mode).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import trio
import yaml
from hypothesis import given, strategies as st

from trio_coord import Bundle, TaskContext
from trio_coord._bundle_file import (
    FOOTER_MAGIC,
    FOOTER_SIZE,
    BundleFormatError,
    BundleLayout,
    PackUsageError,
    Trailer,
    assemble,
    read_bundle,
)
from trio_coord._cli import main as cli_main
from trio_coord._inspect import inspect_bundle
from trio_coord._loader import load_bundle
from trio_coord._metadata import build_manifest, dump_manifest, load_manifest, manifest_problems
from trio_coord._pack import build_launcher, pack
from trio_coord._packed import open_packed
from trio_coord.testing import EmbeddedSupervisor

from .conftest import REPO

SAMPLE = REPO / "tests" / "sample_bundle.py"
DIGEST = bytes(range(32))


def run(*command: str | os.PathLike[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.fspath(part) for part in command],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        check=False,
    )


def trio_coord(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "trio_coord", *args)


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``python -m trio_coord ARGS`` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = cli_main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else -1
    out, err = capsys.readouterr()
    return code, out, err


def sample_manifest(source: str = "sample_bundle.py") -> dict[str, object]:
    bundle = Bundle("sample", "2.0")
    dag = bundle.dag("sample")

    async def task(ctx: TaskContext) -> None:
        return None

    for task_id in ("hello", "sleeps", "ignores_cancellation", "123"):  # as in tests/sample_bundle.py
        dag.task(task_id=task_id)(task)
    return build_manifest(bundle, source=source)


def craft(
    tmp_path: Path,
    *,
    launcher: bytes = b"#!/bin/sh\nexit 3\n",
    source: bytes = b"print('hi')\n",
    metadata: bytes | None = None,
    name: str = "crafted.bin",
) -> Path:
    """Write a bundle from raw regions (a valid trailer for them)."""
    if metadata is None:
        metadata = dump_manifest(sample_manifest()).encode()
    path = tmp_path / name
    path.write_bytes(assemble(launcher, source, metadata))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def packed_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/sample_bundle.py packed once (and checked) for the tests that only read it."""
    path = tmp_path_factory.mktemp("packed") / "sample.bin"
    pack(str(SAMPLE), path, installed=True)
    return path


# ---------------------------------------------------------------------- the trailer, byte by byte


def test_trailer_byte_layout() -> None:
    data = Trailer(source_len=0x01020304, metadata_len=0x0A0B0C0D, binary_sha256=DIGEST).to_bytes()
    assert len(data) == FOOTER_SIZE == 64
    assert data[0:4] == b"\x04\x03\x02\x01"  # source_len, little-endian u32
    assert data[4:8] == b"\x0d\x0c\x0b\x0a"  # metadata_len
    assert data[8:12] == b"\x01\x00\x00\x00"  # footer_ver 1
    assert data[12:44] == DIGEST  # SHA-256 of the launcher region
    assert data[44:56] == bytes(12)  # reserved
    assert data[56:64] == b"AFBNDL01" == bytes.fromhex("4146424e444c3031")
    assert data == struct.pack("<III32s12s8s", 0x01020304, 0x0A0B0C0D, 1, DIGEST, bytes(12), FOOTER_MAGIC)


@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(min_size=32, max_size=32),
)
def test_trailer_round_trips(source_len: int, metadata_len: int, digest: bytes) -> None:
    trailer = Trailer(source_len, metadata_len, digest)
    assert Trailer.from_bytes(trailer.to_bytes()) == trailer


@pytest.mark.parametrize(
    ("offset", "replacement", "problem", "message"),
    [
        (56, b"AFBNDL02", "bad_magic", "does not end with the bundle magic"),
        (8, b"\x02\x00\x00\x00", "unknown_version", "footer_ver 2; only version 1 exists"),
        (8, b"\x00\x00\x00\x00", "unknown_version", "footer_ver 0"),
        (
            50,
            b"\x01",
            "reserved_not_zero",
            "reserved trailer bytes must be zero, got 000000000000010000000000",
        ),
    ],
)
def test_trailer_rejects(offset: int, replacement: bytes, problem: str, message: str) -> None:
    data = bytearray(Trailer(1, 2, DIGEST).to_bytes())
    data[offset : offset + len(replacement)] = replacement
    with pytest.raises(BundleFormatError) as caught:
        Trailer.from_bytes(bytes(data))
    assert caught.value.problem == problem
    assert message in str(caught.value)


def test_trailer_fields_must_fit_their_slots() -> None:
    with pytest.raises(ValueError, match="source_len must fit"):
        Trailer(2**32, 0, DIGEST)
    with pytest.raises(ValueError, match="metadata_len must fit"):
        Trailer(0, -1, DIGEST)
    with pytest.raises(ValueError, match="binary_sha256 must be 32 bytes"):
        Trailer(0, 0, b"short")
    with pytest.raises(ValueError, match="a trailer is 64 bytes"):
        Trailer.from_bytes(b"\x00" * 63)


def test_layout_offsets_and_broken_regions() -> None:
    layout = BundleLayout.locate(1000, Trailer(100, 50, DIGEST))
    assert (layout.trailer_start, layout.metadata_start, layout.source_start) == (936, 886, 786)
    with pytest.raises(BundleFormatError) as caught:
        BundleLayout.locate(1000, Trailer(900, 50, DIGEST))
    assert caught.value.problem == "bad_regions"
    assert "declares 900 source and 50 metadata bytes, more than the 936 bytes" in str(caught.value)
    with pytest.raises(BundleFormatError) as caught:
        BundleLayout.locate(1000, Trailer(886, 50, DIGEST))
    assert caught.value.problem == "no_launcher"


def test_assemble_concatenates_regions_and_hashes_only_the_launcher() -> None:
    data = assemble(b"LAUNCHER", b"SOURCE", b"META")
    assert data[:18] == b"LAUNCHERSOURCEMETA"
    trailer = Trailer.from_bytes(data[-64:])
    assert trailer == Trailer(6, 4, hashlib.sha256(b"LAUNCHER").digest())
    assert BundleLayout.locate(len(data), trailer).source_start == len(b"LAUNCHER")
    with pytest.raises(ValueError, match="launcher region must not be empty"):
        assemble(b"", b"SOURCE", b"META")


def test_launcher_is_a_shell_script_that_execs_the_packed_runtime() -> None:
    assert build_launcher("/opt/venv/bin/python", "bundle") == (
        b"#!/bin/sh\n"
        b"# A trio_coord executable bundle: this launcher, the bundle's Python source, its manifest\n"
        b"# and an AFBNDL01 trailer. Check it with: python -m trio_coord inspect FILE\n"
        b'exec /opt/venv/bin/python -P -m trio_coord._packed "$0" bundle "$@"\n'
    )


def test_launcher_quotes_the_interpreter_and_passes_arguments_verbatim(tmp_path: Path) -> None:
    # A stand-in "interpreter" in a directory whose name sh would otherwise expand or split.
    odd_dir = tmp_path / "dir with 'quotes' $HOME `x` ;& \"dq\""
    odd_dir.mkdir()
    fake = odd_dir / "python"
    fake.write_text('#!/bin/sh\nfor arg in "$@"; do printf "%s\\n" "$arg"; done\n')
    fake.chmod(0o755)
    output = tmp_path / "odd.bin"
    result = pack(str(SAMPLE), output, interpreter=str(fake), verify=False, installed=True)
    assert result.interpreter == str(fake)
    printed = run(output, "--comm=127.0.0.1:1", "two words", "$HOME", "")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.split("\n") == [
        "-P",
        "-m",
        "trio_coord._packed",
        str(output),
        "bundle",
        "--comm=127.0.0.1:1",
        "two words",
        "$HOME",
        "",
        "",
    ]


# ---------------------------------------------------------------------- the manifest

_IDS = st.from_regex(r"[A-Za-z0-9_.\-]{1,20}", fullmatch=True)


@given(
    dags=st.dictionaries(_IDS, st.lists(_IDS, max_size=4, unique=True), min_size=1, max_size=4),
    source=st.text(min_size=1),
)
def test_the_embedded_json_manifest_reads_the_same_as_yaml(dags: dict[str, list[str]], source: str) -> None:
    # The 1.3.2 coordinator reads the metadata with yaml.safe_load; the runtime with json.loads.
    bundle = Bundle("b")
    for dag_id, task_ids in dags.items():
        dag = bundle.dag(dag_id)
        for task_id in task_ids:

            async def task(ctx: TaskContext) -> None:
                return None

            dag.task(task_id=task_id)(task)
    manifest = build_manifest(bundle, source=source)
    text = dump_manifest(manifest, "json")
    assert load_manifest(text) == manifest == yaml.safe_load(text)
    assert list(load_manifest(text)) == list(manifest)
    assert manifest_problems(manifest) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "the manifest is a list, not a mapping"),
        ("null", "the manifest is null, not a mapping"),
        ("source: x", "Expecting value"),
    ],
)
def test_load_manifest_rejects_anything_but_a_json_object(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_manifest(text)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.pop("source"), "missing key(s): source"),
        (lambda m: m.update(airflow_bundle_metadata_version=1.0), "must be a string like '1.0', got 1.0"),
        (lambda m: m.update(sdk="python"), "sdk must be a mapping, got a str"),
        (lambda m: m.update(sdk=None), "sdk must be a mapping, got null"),
        (lambda m: m["sdk"].pop("language"), "sdk.language is missing"),
        (lambda m: m["sdk"].update(language="Python"), "sdk.language must be a lower-case identifier"),
        (lambda m: m["sdk"].update(version=""), "sdk.version must be a non-empty string"),
        (
            lambda m: m["sdk"].update(supervisor_schema_version=__import__("datetime").date(2026, 6, 16)),
            "sdk.supervisor_schema_version must be a string, got a date",
        ),
        (lambda m: m["sdk"].update(supervisor_schema_version="June"), "must look like YYYY-MM-DD"),
        (
            lambda m: m["sdk"].update(supervisor_schema_version="2026-10-30"),
            "is '2026-10-30', but task-sdk 1.3.2 (the supervisor trio_coord speaks to) "
            "accepts only '2026-06-16'",
        ),
        (lambda m: m.update(source=""), "source must be a non-empty string"),
        (lambda m: m.update(dags={}), "dags is empty"),
        (lambda m: m.update(dags=["sample"]), "dags must be a mapping"),
        (lambda m: m.update(dags={123: {"tasks": []}}), "Dag id 123 is an int, not a non-empty string"),
        (lambda m: m.update(dags={"d": None}), "dags.d must be a mapping with a 'tasks' list"),
        (lambda m: m.update(dags={"d": {"tasks": "t"}}), "dags.d.tasks must be a list, got a str"),
        (lambda m: m.update(dags={"d": {"tasks": ["t", 5]}}), "dags.d.tasks has 5"),
    ],
)
def test_manifest_problems(edit: Callable[[dict[str, Any]], object], message: str) -> None:
    manifest: dict[str, Any] = json.loads(json.dumps(sample_manifest()))
    edit(manifest)
    problems = manifest_problems(manifest)
    assert len(problems) == 1, problems
    assert message in problems[0]


def test_manifest_problems_of_a_non_mapping() -> None:
    assert manifest_problems(["a"]) == ["the manifest is a list, not a mapping"]
    assert manifest_problems(None) == ["the manifest is null, not a mapping"]


# ---------------------------------------------------------------------- pack


def test_pack_writes_the_documented_layout(packed_sample: Path) -> None:
    data = packed_sample.read_bytes()
    launcher = build_launcher(sys.executable, "bundle")
    source = SAMPLE.read_bytes()
    metadata = dump_manifest(sample_manifest(), "json").encode()
    assert (
        data
        == launcher
        + source
        + metadata
        + Trailer(len(source), len(metadata), hashlib.sha256(launcher).digest()).to_bytes()
    )
    assert stat.S_IMODE(packed_sample.stat().st_mode) == 0o755


def test_pack_is_deterministic_and_replaces_the_output_atomically(
    tmp_path: Path, packed_sample: Path
) -> None:
    output = tmp_path / "again.bin"
    output.write_bytes(b"an older bundle")
    old_inode = output.stat().st_ino
    result = trio_coord("pack", SAMPLE, "--output", output, "--installed")
    assert result.returncode == 0, result.stderr
    size = packed_sample.stat().st_size
    assert result.stdout == (
        f"packed sample into {output} ({size} bytes; runs with {sys.executable}; checked)\n"
    )
    assert output.read_bytes() == packed_sample.read_bytes()
    assert output.stat().st_ino != old_inode  # renamed over, never rewritten in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.bin"]  # no temporary file left


def test_pack_a_module_spec(tmp_path: Path) -> None:
    import trio_coord.example

    output = tmp_path / "example.bin"
    result = pack("trio_coord.example:bundle", output, installed=True)
    assert result.verified
    assert read_bundle(output).source == Path(trio_coord.example.__file__).read_bytes()
    assert result.manifest["source"] == "example.py"
    dags = result.manifest["dags"]
    assert isinstance(dags, dict)
    assert sorted(dags) == ["example_etl", "example_mapped", "example_mixed", "example_retry"]


def _write_bundle_module(path: Path, body: str = "") -> Path:
    path.write_text(
        "from trio_coord import Bundle, TaskContext\n"
        f"{body}\n"
        "bundle = Bundle('made', '1')\n"
        "dag = bundle.dag('made')\n"
        "@dag.task\n"
        "async def fails(ctx: TaskContext) -> None:\n"
        "    raise RuntimeError('boom from the embedded source')\n"
    )
    return path


def test_pack_refuses_a_bundle_that_cannot_run_on_its_own(tmp_path: Path) -> None:
    (tmp_path / "helper_mod_xyz.py").write_text("VALUE = 1\n")
    module = _write_bundle_module(tmp_path / "needs_sibling.py", "import helper_mod_xyz")
    # Next to the source: the check runs there, and -P keeps that folder off sys.path.
    output = tmp_path / "needs_sibling.bin"
    result = trio_coord("pack", module, "-o", output, "--installed")
    assert result.returncode == 1, result.stderr
    assert "the packed file failed its check (exit code 2); not installed" in result.stderr
    assert "No module named 'helper_mod_xyz'" in result.stderr
    # Nothing installed, no temporary file left.
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__")
    assert left == ["helper_mod_xyz.py", "needs_sibling.py"]


def test_pack_refuses_a_bundle_without_dags(tmp_path: Path) -> None:
    module = tmp_path / "empty_bundle.py"
    module.write_text("from trio_coord import Bundle\nbundle = Bundle('empty')\n")
    result = trio_coord("pack", module, "-o", tmp_path / "empty.bin", "--installed")
    assert result.returncode == 1
    assert "trio_coord: error: bundle 'empty' defines no Dags: there is nothing to pack" in result.stderr
    assert not (tmp_path / "empty.bin").exists()


def test_pack_warns_about_a_dag_without_tasks(tmp_path: Path) -> None:
    module = _write_bundle_module(tmp_path / "with_empty_dag.py", "Bundle('x')")
    module.write_text(module.read_text() + "bundle.dag('no_tasks')\n")
    result = pack(str(module), tmp_path / "x.bin", verify=False, installed=True)
    assert result.warnings == ("Dag 'no_tasks' has no tasks",)


def test_pack_for_another_machine_needs_no_verify(tmp_path: Path) -> None:
    missing = "/opt/nowhere/bin/python3"
    with pytest.raises(PackUsageError, match=r"is not an executable file here.*pass --no-verify"):
        pack(str(SAMPLE), tmp_path / "a.bin", interpreter=missing, installed=True)
    result = pack(str(SAMPLE), tmp_path / "a.bin", interpreter=missing, verify=False, installed=True)
    assert not result.verified
    assert b"exec /opt/nowhere/bin/python3 -P -m" in (tmp_path / "a.bin").read_bytes()
    # A bare name stays a name (found on PATH when the bundle runs); a relative path becomes absolute.
    assert (
        pack(str(SAMPLE), tmp_path / "b.bin", interpreter="python3", verify=False, installed=True).interpreter
        == "python3"
    )
    relative = pack(
        str(SAMPLE), tmp_path / "c.bin", interpreter="venv/bin/python", verify=False, installed=True
    )
    assert relative.interpreter == os.path.abspath("venv/bin/python")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pack", str(SAMPLE)), "the following arguments are required: --output"),
        (
            ("pack", "no_such_module_xyz", "-o", "{tmp}/x.bin"),
            "cannot import bundle module 'no_such_module_xyz'",
        ),
        (("pack", f"{SAMPLE}:nothing", "-o", "{tmp}/x.bin"), "no attribute 'nothing'"),
        (("pack", "json:loads", "-o", "{tmp}/x.bin"), "'loads' is a function, not a trio_coord.Bundle"),
        (("pack", str(SAMPLE), "-o", "{tmp}/missing/x.bin"), "/missing' does not exist"),
        (("pack", str(SAMPLE), "-o", "{tmp}"), "is a directory; give the path of the file to write"),
        (("pack", str(SAMPLE), "-o", str(SAMPLE)), "is the bundle's own source file"),
        (("pack", str(SAMPLE), "-o", "{tmp}/x.bin", "--python", ""), "--python must not be empty"),
        (("pack", str(SAMPLE), "-o", "{tmp}/x.bin", "--python=-x"), "must be a path or a command name"),
        (("pack", str(SAMPLE), "-o", "{tmp}/x.bin", "--python", "a\nb"), "are not printable"),
        (("inspect",), "the following arguments are required: PATH"),
        (("inspect", "{tmp}/missing.bin"), "cannot inspect '{tmp}/missing.bin': No such file or directory"),
        (("inspect", "{tmp}"), "not a regular file"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, _, stderr = in_process(capsys, *(arg.replace("{tmp}", str(tmp_path)) for arg in args))
    assert code == 2, stderr
    assert message.replace("{tmp}", str(tmp_path)) in stderr
    assert not (tmp_path / "x.bin").exists()


def test_pack_usage_error_from_the_command_line(tmp_path: Path) -> None:
    result = trio_coord("pack", SAMPLE, "-o", tmp_path / "missing" / "x.bin", "--installed")
    assert result.returncode == 2
    assert result.stderr.endswith(
        f"error: --output {str(tmp_path / 'missing' / 'x.bin')!r}: the directory "
        f"{str(tmp_path / 'missing')!r} does not exist\n"
    )
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------- running the packed file


def test_packed_file_prints_the_embedded_manifest(packed_sample: Path) -> None:
    embedded = read_bundle(packed_sample).metadata.decode()
    assert '"source": "sample_bundle.py"' in embedded
    as_yaml = run(packed_sample, "--airflow-metadata")
    assert as_yaml.returncode == 0, as_yaml.stderr
    assert as_yaml.stdout == dump_manifest(sample_manifest())
    as_json = run(packed_sample, "--airflow-metadata", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout == embedded == dump_manifest(sample_manifest(), "json")
    assert json.loads(as_json.stdout) == yaml.safe_load(embedded) == yaml.safe_load(as_yaml.stdout)


async def test_packed_file_serves_after_its_source_is_moved_and_deleted(
    tmp_path: Path, io_budget: None
) -> None:
    source_dir, build_dir, deploy_dir = (tmp_path / name for name in ("src", "build", "deploy"))
    for directory in (source_dir, build_dir, deploy_dir):
        directory.mkdir()
    shutil.copy(SAMPLE, source_dir / "moved_sample.py")
    pack(str(source_dir / "moved_sample.py"), build_dir / "sample.bin", installed=True)
    shutil.move(build_dir / "sample.bin", deploy_dir / "sample.bin")
    shutil.rmtree(source_dir)

    result = await EmbeddedSupervisor().run_command([str(deploy_dir / "sample.bin")], "sample", "hello")

    assert result.problems == []
    assert (result.exit_code, result.state) == (0, "success"), result.output
    assert result.xcom() == "hi"
    events = result.log_events()
    # Logged while the embedded module was imported, before the socket existed: kept, and first.
    assert events[0] == "imported before the logs socket was connected"
    assert "hello from the child" in events


async def test_packed_task_tracebacks_show_the_embedded_source(tmp_path: Path, io_budget: None) -> None:
    module = _write_bundle_module(tmp_path / "failing.py")
    packed = tmp_path / "failing.bin"
    pack(str(module), packed, installed=True)
    module.unlink()

    result = await EmbeddedSupervisor().run_command([str(packed)], "made", "fails")

    assert (result.exit_code, result.state) == (0, "failed")
    (failure,) = [record for record in result.logs if record.get("exception")]
    exception = failure["exception"]
    assert isinstance(exception, list)
    assert exception[0]["exc_value"] == "boom from the embedded source"
    assert exception[0]["frames"][-1] == {"filename": f"{packed}/failing.py", "lineno": 7, "name": "fails"}


def test_embedded_module_gives_tracebacks_its_source_lines(tmp_path: Path) -> None:
    module = _write_bundle_module(tmp_path / "lines.py")
    packed = tmp_path / "lines.bin"
    pack(str(module), packed, verify=False, installed=True)
    module.unlink()
    embedded = open_packed(str(packed))
    saved_meta_path = list(sys.meta_path)
    try:
        spec = embedded.install("bundle")
        bundle = load_bundle(spec)
        task = bundle.find_task("made", "fails")
        assert task is not None
        with pytest.raises(RuntimeError) as caught:
            trio.run(task.function, cast("TaskContext", None))  # the task never reads ctx
        text = "".join(traceback.format_exception(caught.value))
    finally:
        sys.meta_path[:] = saved_meta_path
        sys.modules.pop(embedded.module_name, None)
    assert embedded.module_name == "_trio_coord_packed_lines"
    assert f'File "{packed}/lines.py", line 7, in fails\n' in text
    assert "    raise RuntimeError('boom from the embedded source')\n" in text


def test_packed_file_whose_source_fails_to_import_is_a_usage_error(
    tmp_path: Path, packed_sample: Path
) -> None:
    crafted = _repack(tmp_path, packed_sample, source=b"raise RuntimeError('broken at import')\n")
    result = run(crafted, "--airflow-metadata")
    assert result.returncode == 2
    assert (
        "importing bundle module '_trio_coord_packed_sample_bundle' failed: RuntimeError('broken at import')"
        in result.stderr
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--format=json",),
        ("--comm=127.0.0.1:1",),
        ("--logs=127.0.0.1:1",),
        ("--comm=127.0.0.1", "--logs=127.0.0.1:2"),
        ("--airflow-metadata", "--comm=127.0.0.1:1"),
        ("--airflow-metadata", "--format=JSON"),
        ("--no-such-flag",),
    ],
)
def test_packed_usage_errors_are_those_of_serve(
    packed_sample: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    packed = run(packed_sample, *args)
    serve = in_process(capsys, "serve", str(SAMPLE), *args)
    assert (packed.returncode, packed.stdout, packed.stderr) == serve
    assert packed.returncode == 2


def _repack(
    tmp_path: Path,
    packed: Path,
    edit: Callable[[dict[str, Any]], object] = lambda manifest: None,
    *,
    source: bytes | None = None,
) -> Path:
    """``packed`` with its manifest edited or its source replaced (and a matching trailer)."""
    original = read_bundle(packed)
    assert original.source is not None
    manifest: dict[str, Any] = load_manifest(original.metadata.decode())
    edit(manifest)
    launcher = packed.read_bytes()[: original.layout.source_start]
    return craft(
        tmp_path,
        launcher=launcher,
        source=original.source if source is None else source,
        metadata=dump_manifest(manifest, "json").encode(),
    )


def test_packed_file_refuses_another_supervisor_schema_version(tmp_path: Path, packed_sample: Path) -> None:
    crafted = _repack(
        tmp_path, packed_sample, lambda m: m["sdk"].update(supervisor_schema_version="2026-10-30")
    )
    for args in (("--airflow-metadata",), ("--comm=127.0.0.1:1", "--logs=127.0.0.1:2")):
        result = run(crafted, *args)
        assert result.returncode == 1
        assert "is not a usable packed bundle" in result.stderr
        assert "accepts only '2026-06-16'" in result.stderr


def test_packed_file_reports_dags_its_source_does_not_define(tmp_path: Path, packed_sample: Path) -> None:
    crafted = _repack(tmp_path, packed_sample, lambda m: m["dags"].update(ghost={"tasks": ["t"]}))
    result = run(crafted, "--airflow-metadata")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "the embedded source defines the Dags {'sample': " in result.stderr
    assert "lists {'sample': {'tasks': ['hello', 'sleeps', 'ignores_cancellation', '123']}, 'ghost':" in (
        result.stderr
    )


def test_packed_file_refuses_to_run_once_tampered(tmp_path: Path, packed_sample: Path) -> None:
    tampered = tmp_path / "tampered.bin"
    data = bytearray(packed_sample.read_bytes())
    data[data.index(b"A trio_coord")] = ord("a")  # in a comment: the script itself still runs
    tampered.write_bytes(bytes(data))
    result = run("/bin/sh", tampered, "--airflow-metadata")
    assert result.returncode == 1
    assert "the file was changed after it was packed" in result.stderr


def test_packed_runtime_module_needs_the_file_and_attr() -> None:
    result = run(sys.executable, "-m", "trio_coord._packed")
    assert result.returncode == 2
    assert "run the packed file itself" in result.stderr


# ---------------------------------------------------------------------- inspect


def test_inspect_a_valid_bundle(packed_sample: Path) -> None:
    result = trio_coord("inspect", packed_sample)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    layout = read_bundle(packed_sample).layout
    lines = result.stdout.splitlines()
    assert lines[0] == f"{packed_sample}: valid executable bundle"
    assert lines[1] == "  trailer:  AFBNDL01, footer_ver 1, reserved bytes zero"
    assert (
        lines[2]
        == f"  launcher: bytes 0-{layout.source_start - 1} ({layout.source_start} bytes), script (#!/bin/sh)"
    )
    assert lines[6] == "  sdk:      python-trio 0.1.0, supervisor schema 2026-06-16"
    assert lines[7] == "  dags:     sample"
    assert result.stdout.endswith("\n\n" + read_bundle(packed_sample).metadata.decode())


def test_inspect_warns_when_the_file_is_not_executable(tmp_path: Path, packed_sample: Path) -> None:
    copy = tmp_path / "copy.bin"
    shutil.copy(packed_sample, copy)
    copy.chmod(0o644)
    result = trio_coord("inspect", copy)
    assert result.returncode == 0
    assert "is not executable by this user, and ExecutableCoordinator skips such files" in result.stderr


def _metadata(text: str) -> bytes:
    return text.encode()


def _trailer_edit(offset: int, value: bytes) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        start = len(data) - 64 + offset
        return data[:start] + value + data[start + len(value) :]

    return edit


_BROKEN: list[tuple[str, Callable[[bytes], bytes], str, str]] = [
    ("too_short", lambda data: data[-63:], "too_short", "the file has 63 bytes, fewer than the 64-byte"),
    ("bad_magic", _trailer_edit(63, b"2"), "bad_magic", "does not end with the bundle magic"),
    ("unknown_version", _trailer_edit(8, b"\x02"), "unknown_version", "footer_ver 2"),
    ("reserved", _trailer_edit(44, b"\xff"), "reserved_not_zero", "reserved trailer bytes must be zero"),
    ("regions", _trailer_edit(0, b"\xff\xff\xff\x00"), "bad_regions", "more than the"),
    ("no_launcher", lambda data: data[17:], "no_launcher", "leaves no room for the launcher"),
    ("hash", lambda data: b"X" + data[1:], "hash_mismatch", "the file was changed after it was packed"),
]


@pytest.mark.parametrize(
    ("edit", "problem", "message"),
    [pytest.param(edit, problem, message, id=name) for name, edit, problem, message in _BROKEN],
)
def test_inspect_rejects_a_broken_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[bytes], bytes],
    problem: str,
    message: str,
) -> None:
    good = craft(tmp_path, launcher=b"#!/bin/sh\nexit 3\n")  # 17-byte launcher
    broken = tmp_path / "broken.bin"
    broken.write_bytes(edit(good.read_bytes()))
    with pytest.raises(BundleFormatError) as caught:
        inspect_bundle(broken)
    assert caught.value.problem == problem
    assert message in str(caught.value)
    assert in_process(capsys, "inspect", str(broken)) == (
        1,
        "",
        f"trio_coord: error: {broken} is not a valid executable bundle: {caught.value}\n",
    )


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (b"dags: [unclosed\n", "the metadata is not valid YAML: while parsing a flow sequence"),
        (b"\xff\xfe", "the metadata region is not UTF-8 text"),
        (b"- a list\n", "the manifest is not usable: the manifest is a list, not a mapping"),
        (b"", "the manifest is not usable: the manifest is null, not a mapping"),
        (
            dump_manifest(sample_manifest()).replace('"2026-06-16"', "2026-06-16").encode(),
            "supervisor_schema_version must be a string, got a date (datetime.date(2026, 6, 16)): quote it",
        ),
        (
            dump_manifest(sample_manifest()).replace('"sample":', "123:").encode(),
            "Dag id 123 is an int, not a non-empty string: Airflow never matches it",
        ),
    ],
)
def test_inspect_rejects_bad_metadata(tmp_path: Path, metadata: bytes, message: str) -> None:
    broken = craft(tmp_path, metadata=metadata)
    with pytest.raises(BundleFormatError) as caught:
        inspect_bundle(broken)
    assert caught.value.problem == "bad_metadata"
    assert message in str(caught.value)


def test_inspect_accepts_a_manifest_another_packer_wrote(tmp_path: Path) -> None:
    # Plain scalars and flow style, as a YAML library would write them: valid for Airflow.
    metadata = (
        b"airflow_bundle_metadata_version: '1.0'\n"
        b"sdk: {language: go, version: v1.2.0, supervisor_schema_version: '2026-06-16'}\n"
        b"source: main.go\n"
        b"dags:\n  tutorial: {tasks: [extract, load]}\n"
    )
    report = inspect_bundle(craft(tmp_path, launcher=b"\x7fELF....", metadata=metadata))
    assert report.manifest["dags"] == {"tutorial": {"tasks": ["extract", "load"]}}
    assert "  launcher: bytes 0-7 (8 bytes), ELF binary\n" in report.describe()


def test_inspect_without_pyyaml_says_how_to_get_it(
    tmp_path: Path, packed_sample: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    with pytest.raises(SystemExit) as caught:
        cli_main(["inspect", str(packed_sample)])
    assert caught.value.code == 2
    assert "PyYAML is not installed: pip install 'trio_coord[yaml]'" in capsys.readouterr().err
