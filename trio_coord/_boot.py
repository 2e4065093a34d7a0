"""The bootstrap of a self-contained bundle: standard library only, embedded in its launcher.

A self-contained bundle's launcher region is::

    #!/bin/sh
    # (comments)
    exec PYTHON -I -S -c 'LOADER' "$0" ATTR "$@"
    #BOOT
    <this module's source>
    INDEX = {...}
    main(INDEX)
    #END
    <payload: the embedded wheels and the bundle's package, concatenated>

``LOADER`` reads the first bytes of the file and executes the text between
the ``#BOOT`` and ``#END`` lines, so the interpreter needs nothing but its
standard library: ``-I`` ignores ``PYTHON*`` variables, the user site and the
working directory, ``-S`` skips ``site`` (no site-packages at all). ``INDEX``
(written by ``pack``) names the target interpreter, the bundle's module, the
SHA-256 of the source region, and where each payload item is with its size
and SHA-256.

:func:`main` then, before any socket is dialled:

1. checks that this interpreter is the CPython X.Y (and platform) the wheels
   were fetched for; otherwise one line naming both, exit code 1;
2. reads the file, checks its trailer and the SHA-256 of the launcher region
   (which covers this code, ``INDEX`` and the payload) and of the source region;
3. finds the bundle's cache entry, ``<cache dir>/<hash>-<cache tag>``. If it is
   missing or incomplete (a file missing, truncated or rewritten since it was
   installed), it takes an exclusive ``flock`` on ``<entry>.lock`` (waiting at
   most :data:`LOCK_TIMEOUT` seconds for another builder), checks
   again, unzips every payload item (after checking its SHA-256) into a fresh
   temporary directory, writes the entry's marker (every file with its size
   and mtime) last, and renames the directory into place: concurrent first
   starts wait for one builder, and a reader never sees a partial entry;
4. appends the entry's ``site`` directory to ``sys.path`` and hands over to
   :func:`trio_coord._packed.main`, imported from there.

The cache directory is ``$TRIO_COORD_CACHE_DIR``, or ``$XDG_CACHE_HOME/trio_coord/bundles``
(``~/.cache/...``; ``~/Library/Caches/...`` on macOS). It is created with mode
0700 and refused when another user owns it or others can write to it. Its
``code`` subdirectory holds the compiled embedded sources (:mod:`trio_coord._code_cache`).

Installing a wheel is unzipping it: ``*.data/purelib`` and ``*.data/platlib``
go to ``site`` too, scripts, headers and data files are left out. The module
is also imported by trio_coord itself, for ``python -m trio_coord cache``.
Everything here is blocking file I/O, run before trio starts.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys

TYPE_CHECKING = False  # not typing's: importing typing would cost every start a few ms
if TYPE_CHECKING:
    from typing import Any

#: The format of ``INDEX`` (and of the payload).
FORMAT = 1
#: The lines around the embedded bootstrap.
BOOT_MARK = b"\n#BOOT\n"
END_MARK = b"\n#END\n"
#: The environment variable that chooses the cache directory.
CACHE_DIR_ENV = "TRIO_COORD_CACHE_DIR"
#: The file an entry's builder writes last: one ``size mtime_ns path`` line per file.
ENTRY_MARKER = ".trio_coord-entry"
#: The directory of an entry that goes on ``sys.path``.
ENTRY_SITE = "site"
#: The subdirectory of the cache directory that holds compiled embedded sources (``_code_cache``).
CODE_DIR = "code"
#: How long a start waits for another process that is installing the same entry.
LOCK_TIMEOUT = 600.0

_TRAILER_SIZE = 64
_MAGIC = b"AFBNDL01"
_DAY = 86400


class BootError(Exception):
    """A self-contained bundle cannot start here; the message is one line naming why."""


# ---------------------------------------------------------------------------- the interpreter


def describe_python(python: dict[str, Any]) -> str:
    """``CPython 3.11 on linux x86_64 (glibc 2.17 or newer)`` for an ``INDEX["python"]``."""
    text = f"CPython {python['version']}"
    if python.get("os"):
        text += f" on {python['os']} {python.get('machine') or ''}".rstrip()
    if python.get("glibc"):
        text += f" (glibc {python['glibc']} or newer)"
    return text


def this_python() -> dict[str, object]:
    """What :func:`describe_python` says about the running interpreter."""
    name = sys.implementation.name
    glibc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else None
    try:
        libc = glibc.split()[1] if glibc and glibc.startswith("glibc ") else None
    except IndexError:  # pragma: no cover - confstr always has both words
        libc = None
    return {
        "implementation": name,
        "version": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "os": sys.platform,
        "machine": os.uname().machine,
        "glibc": libc,
    }


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def check_python(wanted: dict[str, Any], path: str) -> None:
    """Raise :class:`BootError` unless this interpreter can run the wheels ``wanted`` describes."""
    have = this_python()
    fits = have["implementation"] == wanted["implementation"] and have["version"] == wanted["version"]
    for key in ("os", "machine"):
        if wanted.get(key) and wanted[key] != have[key]:
            fits = False
    need_glibc = wanted.get("glibc")
    if need_glibc:
        have_glibc = have["glibc"]
        if not isinstance(have_glibc, str) or _version_tuple(have_glibc) < _version_tuple(str(need_glibc)):
            fits = False
    if not fits:
        shown = (
            "CPython" if have["implementation"] == "cpython" else str(have["implementation"])
        ) + f" {have['version']} on {have['os']} {have['machine']}"
        if need_glibc:
            shown += f" ({'glibc ' + str(have['glibc']) if have['glibc'] else 'no glibc'})"
        raise BootError(
            f"{path} was packed for {describe_python(wanted)}, but {sys.executable} is {shown}: "
            "run it with a matching interpreter, or pack it again for this one"
        )


# ---------------------------------------------------------------------------- the file


def locate_payload(data: bytes, path: str, index: dict[str, Any]) -> int:
    """Check the trailer, the launcher hash and the source hash; return where the payload starts.

    The cache key is the trailer's hash (:func:`bundle_digest`).
    """
    size = len(data)
    if size < _TRAILER_SIZE or data[-8:] != _MAGIC:
        raise BootError(f"{path} does not end with an {_MAGIC.decode()} trailer: it is not a bundle")
    trailer = data[-_TRAILER_SIZE:]
    source_len = int.from_bytes(trailer[0:4], "little")
    metadata_len = int.from_bytes(trailer[4:8], "little")
    source_start = size - _TRAILER_SIZE - metadata_len - source_len
    if source_start <= 0:
        raise BootError(f"{path}: the trailer's regions do not fit in the file")
    view = memoryview(data)
    if hashlib.sha256(view[:source_start]).digest() != trailer[12:44]:
        raise BootError(
            f"{path}: the SHA-256 of the launcher region differs from the trailer's: "
            "the file was changed after it was packed"
        )
    source = view[source_start : source_start + source_len]
    if hashlib.sha256(source).hexdigest() != index["source_sha256"]:
        raise BootError(
            f"{path}: the SHA-256 of the source region differs from the one packed: "
            "the file was changed after it was packed"
        )
    end = data.find(END_MARK, 0, source_start)
    if end < 0:
        raise BootError(f"{path}: the launcher has no end-of-bootstrap line")
    return end + len(END_MARK)


def bundle_digest(data: bytes) -> str:
    """The launcher region's SHA-256 (hex) as the trailer records it."""
    return data[-_TRAILER_SIZE + 12 : -_TRAILER_SIZE + 44].hex()


# ---------------------------------------------------------------------------- the cache


def cache_dir() -> str:
    """The cache directory this process uses (not created)."""
    chosen = os.environ.get(CACHE_DIR_ENV)
    if chosen:
        return os.path.abspath(chosen)
    if sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "trio_coord", "bundles")


def open_cache_dir(path: str) -> str:
    """Create ``path`` (mode 0700) if needed and check that only this user can write to it."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
    except OSError as exc:
        raise BootError(
            f"cannot use the bundle cache directory {path}: {exc.strerror or exc}; "
            f"set {CACHE_DIR_ENV} to a directory this user can write"
        ) from exc
    if not stat.S_ISDIR(info.st_mode):
        raise BootError(f"the bundle cache directory {path} is not a directory")
    if info.st_uid != os.geteuid():
        raise BootError(
            f"the bundle cache directory {path} belongs to uid {info.st_uid}, not to this user "
            f"(uid {os.geteuid()}); set {CACHE_DIR_ENV} to a directory of its own"
        )
    if info.st_mode & 0o022:
        raise BootError(
            f"the bundle cache directory {path} can be written by other users "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); chmod go-w it, or set {CACHE_DIR_ENV}"
        )
    return path


def entry_name(digest: str) -> str:
    """The entry directory's name for a bundle hash, on this interpreter."""
    return f"{digest[:32]}-{sys.implementation.cache_tag}"


def entry_is_complete(entry: str) -> bool:
    """Whether ``entry`` has its marker and every file it lists, unchanged (size and mtime)."""
    marker = os.path.join(entry, ENTRY_MARKER)
    try:
        with open(marker, encoding="utf-8") as f:
            listed = f.read()
        if not listed.endswith("\n"):
            return False
        for line in listed.splitlines():
            size, mtime, name = line.split(" ", 2)
            info = os.stat(os.path.join(entry, name))
            if info.st_size != int(size) or info.st_mtime_ns != int(mtime):
                return False
        if os.stat(marker).st_mtime < _now() - _DAY:
            os.utime(marker)  # "last used", for `cache prune`; at most once a day
    except (OSError, ValueError):
        return False
    return True


def _now() -> float:
    import time

    return time.time()


def ensure_entry(data: bytes, payload_start: int, index: dict[str, Any], path: str) -> str:
    """The complete cache entry of this bundle, built under a lock when missing; its ``site`` dir."""
    root = open_cache_dir(cache_dir())
    entry = os.path.join(root, entry_name(bundle_digest(data)))
    if entry_is_complete(entry):
        return os.path.join(entry, ENTRY_SITE)
    try:
        lock = os.open(entry + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise BootError(f"cannot create the lock file {entry}.lock: {exc.strerror or exc}") from exc
    try:
        _lock(lock, entry)
        if not entry_is_complete(entry):
            if os.path.lexists(entry):
                discard(entry)
            _build_entry(entry, root, data, payload_start, index, path)
    finally:
        os.close(lock)
    return os.path.join(entry, ENTRY_SITE)


def _lock(fd: int, entry: str) -> None:
    """Take the entry's exclusive lock, waiting at most :data:`LOCK_TIMEOUT` s for another builder."""
    import fcntl
    import time

    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise BootError(
                    f"another process has been installing {entry} for more than {LOCK_TIMEOUT:g} s; "
                    "if none is, delete that folder and its .lock file"
                ) from None
            time.sleep(0.05)


def discard(directory: str) -> None:
    """Move ``directory`` out of the way (an atomic rename), then delete it."""
    import shutil
    import tempfile

    trash = tempfile.mkdtemp(prefix=".trash-", dir=os.path.dirname(directory))
    os.rename(directory, os.path.join(trash, "entry"))
    shutil.rmtree(trash, ignore_errors=True)


def _build_entry(
    entry: str, root: str, data: bytes, payload_start: int, index: dict[str, Any], path: str
) -> None:
    import shutil
    import tempfile

    building = tempfile.mkdtemp(prefix=".build-", dir=root)
    try:
        site = os.path.join(building, ENTRY_SITE)
        os.mkdir(site, 0o755)
        written: list[str] = []
        view = memoryview(data)
        for item in index["blobs"]:
            start = payload_start + item["offset"]
            blob = view[start : start + item["size"]]
            if len(blob) != item["size"] or hashlib.sha256(blob).hexdigest() != item["sha256"]:
                raise BootError(
                    f"{path}: the embedded {item['name']} does not match the SHA-256 it was packed "
                    "with: the file was changed after it was packed"
                )
            written.extend(_unzip(blob, site, item["name"], wheel=item["kind"] == "wheel"))
        lines = []
        for name in sorted(set(written)):
            info = os.stat(os.path.join(building, name))
            lines.append(f"{info.st_size} {info.st_mtime_ns} {name}\n")
        with open(os.path.join(building, ENTRY_MARKER), "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.rename(building, entry)  # mode 0700, as mkdtemp made it
    except OSError as exc:
        shutil.rmtree(building, ignore_errors=True)
        raise BootError(f"cannot install {path} into the cache entry {entry}: {exc}") from exc
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _unzip(blob: memoryview, site: str, name: str, *, wheel: bool) -> list[str]:
    """Extract one embedded zip into ``site``; return the paths written, relative to the entry."""
    import io
    import shutil
    import zipfile

    written = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise BootError(f"the embedded {name} is not a zip archive: {exc}") from exc
    with archive:
        for member in members:
            if member.is_dir():
                continue
            parts = member.filename.split("/")
            if wheel and parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue  # scripts, headers, data: not importable
                parts = parts[2:]
            if (
                member.filename.startswith("/")
                or "\\" in member.filename
                or any(part in ("", ".", "..") for part in parts)
            ):
                raise BootError(f"the embedded {name} has an unsafe member name {member.filename!r}")
            target = os.path.join(site, *parts)
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            executable = (member.external_attr >> 16) & 0o111
            with archive.open(member) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            os.chmod(target, 0o755 if executable else 0o644)
            written.append("/".join((ENTRY_SITE, *parts)))
    return written


# ---------------------------------------------------------------------------- prune


def prune(root: str, *, older_than_days: float, everything: bool = False) -> list[tuple[str, int]]:
    """Delete the entries of ``root`` unused for ``older_than_days`` (all with ``everything``).

    An entry is "used" when a bundle starts from it (its marker's mtime,
    refreshed at most once a day). Incomplete entries and leftovers of an
    interrupted build are deleted once a day old. An entry whose lock another
    process holds (a build in progress) is skipped. Blocking.

    Returns:
        The deleted entries' names and sizes in bytes.
    """
    import fcntl

    removed = []
    cutoff = _now() - older_than_days * _DAY
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name.endswith(".lock") or not os.path.isdir(path) or os.path.islink(path):
            continue
        if name == CODE_DIR:
            removed.extend(_prune_code(path, cutoff if not everything else None))
            continue
        leftover = name.startswith((".build-", ".trash-"))
        marker = os.path.join(path, ENTRY_MARKER)
        try:
            used = os.stat(marker if os.path.exists(marker) else path).st_mtime
        except OSError:
            continue
        if not everything and used >= (cutoff if not leftover else min(cutoff, _now() - _DAY)):
            continue
        size = _tree_size(path)
        if leftover:
            import shutil

            shutil.rmtree(path, ignore_errors=True)
            removed.append((name, size))
            continue
        lock_path = path + ".lock"
        lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being built right now
            discard(path)
            os.unlink(lock_path)
            removed.append((name, size))
        finally:
            os.close(lock)
    return removed


def _prune_code(directory: str, cutoff: float | None) -> list[tuple[str, int]]:
    """Delete the compiled sources unused since ``cutoff`` (all when ``None``), and stale temporary files."""
    removed = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
            stale = name.startswith(".tmp-") and info.st_mtime < _now() - _DAY
            if cutoff is None or stale or info.st_mtime < cutoff:
                os.unlink(path)
                removed.append((f"{CODE_DIR}/{name}", info.st_size))
        except OSError:
            continue
    return removed


def _tree_size(path: str) -> int:
    import contextlib

    total = 0
    for directory, _, files in os.walk(path):
        for file in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, file)).st_size
    return total


# ---------------------------------------------------------------------------- main


def main(index: dict[str, Any]) -> None:
    """The launcher's entry point: ``sys.argv`` is ``[-c, FILE, ATTR, ARGS...]``; never returns."""
    path, attr, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        check_python(index["python"], path)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise BootError(f"cannot read {path}: {exc.strerror or exc}") from exc
        payload_start = locate_payload(data, path, index)
        site = ensure_entry(data, payload_start, index, path)
    except BootError as exc:
        sys.stderr.write(f"trio_coord: error: {exc}\n")
        sys.stderr.flush()
        raise SystemExit(1) from None
    sys.path.append(site)
    from trio_coord._packed import main as run_packed

    raise SystemExit(run_packed([path, attr, *rest], module=index["module"], data=data))
