"""The bytecode cache of packed bundles' embedded source: compile it once per source, not per start.

A packed bundle's task code is its source region, which no ``__pycache__``
covers, so every start compiled it (about 1 ms per 200 lines). :func:`load_code`
keeps the compiled code in ``<cache dir>/code/<key>.pyc``, where the cache
directory is the one self-contained bundles use (:func:`trio_coord._boot.cache_dir`:
``$TRIO_COORD_CACHE_DIR``, or ``$XDG_CACHE_HOME/trio_coord/bundles``).

The key is the SHA-256 of everything the code depends on: the interpreter's
bytecode magic number, its optimisation level (``-O``), the file name the code
reports in tracebacks and the source. An entry is::

    magic number (4 bytes) | key (32) | SHA-256 of the body (32) | body (marshal.dumps of the code)

and is used only when its magic number, its key and its body's hash all match;
anything else (a truncated, corrupt or foreign file) is ignored and replaced.

Writing is atomic: a start that compiled writes a temporary file in the same
directory and ``os.replace``\\ s it onto the entry, so concurrent starts each
write a whole entry and readers never see a partial one (the last writer wins;
all write the same bytes). The directory is created with mode 0700 and used
only when it belongs to this user and others cannot write to it (the checks of
:func:`trio_coord._boot.open_cache_dir`): loading bytecode from a directory
another user can write would run their code. When the directory cannot be
used or written, or ``sys.dont_write_bytecode`` is set (``python -B``,
``PYTHONDONTWRITEBYTECODE``; not for self-contained bundles, which run with
``-I``), the source is compiled as before and nothing is written.

Everything here is blocking file I/O, done once before trio starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import time
import types
from importlib.util import MAGIC_NUMBER
from typing import Final

__all__ = ["cache_key", "code_dir", "entry_path", "load_code"]

_KEY_SIZE: Final = 32
_HEADER_SIZE: Final = len(MAGIC_NUMBER) + 2 * _KEY_SIZE
_DAY: Final = 86400


def code_dir() -> str | None:
    """The directory of the entries, created if needed; ``None`` when it cannot be used safely."""
    from . import _boot

    try:
        root = _boot.open_cache_dir(_boot.cache_dir())
        return _boot.open_cache_dir(os.path.join(root, _boot.CODE_DIR))
    except _boot.BootError:
        return None


def cache_key(source: bytes, filename: str) -> bytes:
    """The SHA-256 of what the compiled code depends on (see the module docstring)."""
    digest = hashlib.sha256(MAGIC_NUMBER)
    digest.update(bytes([sys.flags.optimize]))
    name = filename.encode("utf-8", "surrogateescape")
    digest.update(len(name).to_bytes(4, "little"))
    digest.update(name)
    digest.update(source)
    return digest.digest()


def entry_path(directory: str, key: bytes) -> str:
    """The entry of ``key`` in ``directory``."""
    return os.path.join(directory, key.hex() + ".pyc")


def load_code(source: bytes, filename: str) -> types.CodeType:
    """The embedded source compiled as the module ``filename``: from the cache, or compiled and cached.

    Blocking file I/O. Any problem with the cache (missing, corrupt, unwritable)
    falls back to compiling; only a ``SyntaxError`` in the source is raised.
    """
    directory = code_dir()
    if directory is None:
        return _compile(source, filename)
    key = cache_key(source, filename)
    path = entry_path(directory, key)
    code = _read_entry(path, key)
    if code is not None:
        return code
    code = _compile(source, filename)
    if not sys.dont_write_bytecode:
        _write_entry(directory, path, key, code)
    return code


def _compile(source: bytes, filename: str) -> types.CodeType:
    return compile(source, filename, "exec", dont_inherit=True)


def _read_entry(path: str, key: bytes) -> types.CodeType | None:
    """The code in the entry at ``path`` if it is whole and for ``key``; otherwise ``None``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
            if os.fstat(f.fileno()).st_mtime < time.time() - _DAY:
                os.utime(f.fileno())  # "last used", for `cache prune`; at most once a day
    except OSError:
        return None
    magic_end = len(MAGIC_NUMBER)
    if (
        len(data) <= _HEADER_SIZE
        or data[:magic_end] != MAGIC_NUMBER
        or data[magic_end : magic_end + _KEY_SIZE] != key
    ):
        return None
    body = memoryview(data)[_HEADER_SIZE:]
    if hashlib.sha256(body).digest() != data[magic_end + _KEY_SIZE : _HEADER_SIZE]:
        return None
    try:
        # Only this user can write here (code_dir checks), and the hash rules out a damaged body.
        code = marshal.loads(body)  # noqa: S302
    except (ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _write_entry(directory: str, path: str, key: bytes, code: types.CodeType) -> None:
    """Write the entry atomically (temporary file, then ``os.replace``); give up quietly on any error."""
    import tempfile

    body = marshal.dumps(code)
    data = b"".join((MAGIC_NUMBER, key, hashlib.sha256(body).digest(), body))
    try:
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".pyc", dir=directory)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
