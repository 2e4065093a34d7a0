"""The bytecode cache of packed bundles' embedded source (trio_coord._code_cache)."""

from __future__ import annotations

import hashlib
import marshal
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from trio_coord import _boot, _code_cache
from trio_coord._code_cache import cache_key, code_dir, entry_path, load_code
from trio_coord._pack import pack

SOURCE = b"def answer():\n    return 42\n"
FILENAME = "/bundles/answer.bin/answer.py"
#: How many starts race to write one entry.
CONCURRENT_STARTS = 16


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache directory of the test's own; bytecode writing on (nox turns it off)."""
    root = tmp_path / "cache"
    monkeypatch.setenv(_boot.CACHE_DIR_ENV, str(root))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    return root


class CompileCounter:
    """Counts the compilations load_code falls back to."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = _code_cache._compile

        def counting(source: bytes, filename: str) -> types.CodeType:
            self.calls += 1
            return real(source, filename)

        monkeypatch.setattr(_code_cache, "_compile", counting)


def answer_of(code: types.CodeType) -> object:
    namespace: dict[str, object] = {}
    exec(code, namespace)
    function = namespace["answer"]
    assert isinstance(function, types.FunctionType)
    return function()


def the_entry(cache: Path, source: bytes = SOURCE, filename: str = FILENAME) -> Path:
    return Path(entry_path(str(cache / _boot.CODE_DIR), cache_key(source, filename)))


def test_a_miss_compiles_and_writes_the_entry_then_a_hit_reads_it(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = CompileCounter(monkeypatch)

    first = load_code(SOURCE, FILENAME)
    second = load_code(SOURCE, FILENAME)

    assert compiled.calls == 1
    assert answer_of(first) == answer_of(second) == 42
    assert second.co_filename == FILENAME
    assert sorted(p.name for p in (cache / _boot.CODE_DIR).iterdir()) == [the_entry(cache).name]
    assert stat_mode(cache / _boot.CODE_DIR) == 0o700


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: data[:40], id="header cut short"),
        pytest.param(lambda data: data[:-5], id="body truncated"),
        pytest.param(lambda data: data[:-1] + bytes([data[-1] ^ 1]), id="a body byte flipped"),
        pytest.param(lambda data: b"\0\0\0\0" + data[4:], id="another magic number"),
        pytest.param(lambda data: data[:4] + bytes(32) + data[36:], id="another key"),
        pytest.param(lambda data: os.urandom(len(data)), id="garbage"),
    ],
)
def test_a_corrupt_or_foreign_entry_is_ignored_and_replaced(
    cache: Path, monkeypatch: pytest.MonkeyPatch, damage: object
) -> None:
    load_code(SOURCE, FILENAME)
    entry = the_entry(cache)
    valid = entry.read_bytes()
    assert callable(damage)
    entry.write_bytes(damage(valid))
    compiled = CompileCounter(monkeypatch)

    code = load_code(SOURCE, FILENAME)

    assert compiled.calls == 1
    assert answer_of(code) == 42
    assert entry.read_bytes() == valid


def test_an_entry_that_is_not_a_code_object_is_ignored(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Whole and hashed, but its body is not code: never executed.
    load_code(SOURCE, FILENAME)
    entry = the_entry(cache)
    body = marshal.dumps("not code")
    header = entry.read_bytes()[:36]
    entry.write_bytes(header + hashlib.sha256(body).digest() + body)
    compiled = CompileCounter(monkeypatch)

    assert answer_of(load_code(SOURCE, FILENAME)) == 42
    assert compiled.calls == 1


def test_another_source_or_file_name_gets_its_own_entry(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other_source = b"def answer():\n    return 43\n"
    other_name = "/elsewhere/answer.bin/answer.py"
    compiled = CompileCounter(monkeypatch)

    results = [
        load_code(SOURCE, FILENAME),
        load_code(other_source, FILENAME),
        load_code(SOURCE, other_name),
    ]

    assert compiled.calls == 3
    assert [answer_of(code) for code in results] == [42, 43, 42]
    assert [code.co_filename for code in results] == [FILENAME, FILENAME, other_name]
    entries = {the_entry(cache), the_entry(cache, other_source), the_entry(cache, SOURCE, other_name)}
    assert len(entries) == 3
    assert set((cache / _boot.CODE_DIR).iterdir()) == entries


def test_an_unusable_cache_directory_falls_back_to_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(_boot.CACHE_DIR_ENV, str(blocker / "cache"))  # cannot be created

    assert code_dir() is None
    assert answer_of(load_code(SOURCE, FILENAME)) == 42


def test_a_cache_directory_others_can_write_is_not_used(cache: Path) -> None:
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)

    assert code_dir() is None
    assert answer_of(load_code(SOURCE, FILENAME)) == 42
    assert list(cache.iterdir()) == []


def test_an_entry_that_cannot_be_written_is_skipped_and_leaves_nothing_behind(cache: Path) -> None:
    # A directory where the entry should go: os.replace fails (even for root).
    entry = the_entry(cache)
    entry.mkdir(parents=True)

    assert answer_of(load_code(SOURCE, FILENAME)) == 42
    assert [p.name for p in entry.parent.iterdir()] == [entry.name]
    assert entry.is_dir()


def test_without_bytecode_writing_an_entry_is_read_but_none_written(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    load_code(SOURCE, FILENAME)
    assert list((cache / _boot.CODE_DIR).iterdir()) == []

    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    load_code(SOURCE, FILENAME)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    compiled = CompileCounter(monkeypatch)
    assert answer_of(load_code(SOURCE, FILENAME)) == 42
    assert compiled.calls == 0


def test_a_syntax_error_in_the_source_is_raised(cache: Path) -> None:
    with pytest.raises(SyntaxError):
        load_code(b"def broken(:\n", FILENAME)
    assert list((cache / _boot.CODE_DIR).iterdir()) == []


def test_cache_prune_removes_unused_compiled_sources_and_stale_temporary_files(cache: Path) -> None:
    load_code(SOURCE, FILENAME)
    load_code(b"x = 1\n", FILENAME)
    code = cache / _boot.CODE_DIR
    old, recent = the_entry(cache), the_entry(cache, b"x = 1\n")
    stale_temporary = code / ".tmp-abandoned.pyc"
    stale_temporary.write_bytes(b"partial")
    long_ago = time.time() - 40 * 86400
    for path in (old, stale_temporary):
        os.utime(path, (long_ago, long_ago))

    removed = _boot.prune(str(cache), older_than_days=30)

    assert sorted(name for name, _ in removed) == sorted(
        [f"{_boot.CODE_DIR}/{old.name}", f"{_boot.CODE_DIR}/{stale_temporary.name}"]
    )
    assert [p.name for p in code.iterdir()] == [recent.name]
    assert [name for name, _ in _boot.prune(str(cache), older_than_days=0, everything=True)] == [
        f"{_boot.CODE_DIR}/{recent.name}"
    ]


def test_concurrent_starts_of_a_packed_bundle_leave_one_valid_entry(tmp_path: Path) -> None:
    module = tmp_path / "racing.py"
    module.write_text(
        "from trio_coord import Bundle\n"
        "bundle = Bundle('racing', '1')\n"
        "dag = bundle.dag('racing')\n"
        "@dag.task\n"
        "async def t(ctx):\n"
        "    return 1\n"
    )
    packed = tmp_path / "racing.bin"
    pack(str(module), packed, verify=False, installed=True)
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env[_boot.CACHE_DIR_ENV] = str(cache)

    processes = [
        subprocess.Popen(
            [str(packed), "--airflow-metadata"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=tmp_path,
        )
        for _ in range(CONCURRENT_STARTS)
    ]
    try:
        errors = [process.communicate(timeout=120)[1] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    assert [process.returncode for process in processes] == [0] * CONCURRENT_STARTS, errors
    (entry,) = (cache / _boot.CODE_DIR).iterdir()  # one entry, no temporary file left
    source = module.read_bytes()
    assert entry.name == Path(entry_path(str(entry.parent), cache_key(source, f"{packed}/racing.py"))).name
    assert _code_cache._read_entry(str(entry), cache_key(source, f"{packed}/racing.py")) is not None
