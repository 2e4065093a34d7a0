"""Executable bundles: the ``AFBNDL01`` file format, ``pack`` and ``inspect``.

Theory of operation
===================

Airflow's ``ExecutableCoordinator`` does not run a module path: it scans
``executables_root`` for executable files that end in a 64-byte trailer,
reads the YAML manifest the trailer points at, and runs the first file whose
manifest lists the task's Dag id with ``--comm=… --logs=…`` appended
(protocol.md §12). A packed trio_coord bundle is one such file::

    [launcher][source][metadata][trailer]

* **launcher** (the "binary" region, hashed): a ``#!/bin/sh`` script whose
  only command is ``exec <interpreter> -P -m trio_coord._packed "$0" ATTR
  "$@"``. ``exec`` matters: without it the shell would go on to run the
  appended bytes as commands. The interpreter path and ``ATTR`` (the name of
  the :class:`~trio_coord.Bundle` in the module) are quoted for ``sh``.
* **source**: the bundle module's own Python source, byte for byte. The
  packed runtime (:mod:`trio_coord._packed`) imports the task code from
  here, never from the path it was packed from.
* **metadata**: the manifest (:func:`~trio_coord._metadata.build_manifest`
  with ``source`` set to the module's file name), in the deterministic YAML
  of :func:`~trio_coord._metadata.dump_manifest`.
* **trailer**: ``struct`` ``<III32s12s8s``: ``source_len``,
  ``metadata_len``, ``footer_ver`` (1), the SHA-256 of the launcher region,
  12 zero bytes, ``b"AFBNDL01"``.

The byte-level pieces (:class:`Trailer`, :class:`BundleLayout`,
:func:`assemble`, :func:`build_launcher`, :func:`parse_canonical_manifest`,
:func:`manifest_problems`) are pure; :func:`read_bundle`, :func:`pack` and
:func:`inspect_bundle` do blocking file and process I/O and are meant for the
command line, never for a trio task.

Reading follows the 1.3.2 coordinator's order (``_Footer.read``): size,
magic, version, reserved bytes, regions, then the hash of ``[0,
source_start)``; every way a file can fail is a :class:`BundleFormatError`
with a :attr:`~BundleFormatError.problem` code and a message naming what was
wrong.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import types
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final, Literal

from ._errors import TrioCoordError
from ._loader import _split, load_bundle
from ._messages import SUPERVISOR_SCHEMA_VERSION
from ._record import Record

if TYPE_CHECKING:
    import argparse

__all__ = [
    "FOOTER_MAGIC",
    "FOOTER_SIZE",
    "FOOTER_VERSION",
    "LAUNCHER_MODULE",
    "BundleFile",
    "BundleFormatError",
    "BundleLayout",
    "FormatProblem",
    "InspectReport",
    "PackError",
    "PackResult",
    "PackUsageError",
    "Trailer",
    "assemble",
    "build_launcher",
    "decode_metadata",
    "inspect_bundle",
    "inspect_command",
    "manifest_problems",
    "pack",
    "pack_command",
    "parse_canonical_manifest",
    "read_bundle",
]

#: The last 8 bytes of every bundle.
FOOTER_MAGIC: Final = b"AFBNDL01"
#: The size of the trailer.
FOOTER_SIZE: Final = 64
#: The only trailer version there is.
FOOTER_VERSION: Final = 1
#: The module the launcher runs (``python -m trio_coord._packed``).
LAUNCHER_MODULE: Final = "trio_coord._packed"

_TRAILER: Final = struct.Struct("<III32s12s8s")
_RESERVED: Final = bytes(12)
_MAX_REGION: Final = 2**32 - 1
_HASH_CHUNK: Final = 1 << 20
#: How long ``pack`` lets the packed file take to print its manifest.
_VERIFY_TIMEOUT: Final = 60.0
#: The mode of a packed file (as airflow-go-pack writes it, whatever the umask).
_PACKED_MODE: Final = 0o755

FormatProblem = Literal[
    "too_short",
    "bad_magic",
    "unknown_version",
    "reserved_not_zero",
    "bad_regions",
    "no_launcher",
    "truncated",
    "hash_mismatch",
    "bad_metadata",
]
"""Why a file is not a usable bundle (:attr:`BundleFormatError.problem`)."""


class BundleFormatError(TrioCoordError):
    """A file is not a valid executable bundle.

    Attributes:
        problem: what is wrong, as a stable code (see :data:`FormatProblem`).
    """

    def __init__(self, problem: FormatProblem, message: str) -> None:
        super().__init__(message)
        self.problem: FormatProblem = problem


class PackError(TrioCoordError):
    """Packing failed (the packed file did not run, or could not be written)."""


class PackUsageError(PackError):
    """The inputs of ``pack`` or ``inspect`` are wrong (a usage error: exit code 2)."""


# ---------------------------------------------------------------------------- the byte layout


class Trailer(Record):
    """The 64-byte trailer at the end of a bundle.

    Attributes:
        source_len: the size of the source region.
        metadata_len: the size of the metadata region.
        binary_sha256: the SHA-256 of the launcher ("binary") region.
        footer_ver: the trailer version (always :data:`FOOTER_VERSION` once
            parsed).
    """

    source_len: int
    metadata_len: int
    binary_sha256: bytes
    footer_ver: int = FOOTER_VERSION

    def __post_init__(self) -> None:
        for name in ("source_len", "metadata_len", "footer_ver"):
            value = getattr(self, name)
            if not 0 <= value <= _MAX_REGION:
                raise ValueError(f"{name} must fit in an unsigned 32-bit integer, got {value}")
        if len(self.binary_sha256) != 32:
            raise ValueError(f"binary_sha256 must be 32 bytes, got {len(self.binary_sha256)}")

    def to_bytes(self) -> bytes:
        """The trailer's 64 bytes (little-endian lengths, zero reserved bytes, the magic)."""
        return _TRAILER.pack(
            self.source_len, self.metadata_len, self.footer_ver, self.binary_sha256, _RESERVED, FOOTER_MAGIC
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Trailer:
        """Parse the last 64 bytes of a file.

        Checks, in the 1.3.2 coordinator's order: the magic, the version, the
        reserved bytes.

        Raises:
            ValueError: ``data`` is not 64 bytes long.
            BundleFormatError: ``bad_magic``, ``unknown_version`` or
                ``reserved_not_zero``.
        """
        if len(data) != FOOTER_SIZE:
            raise ValueError(f"a trailer is {FOOTER_SIZE} bytes, got {len(data)}")
        source_len, metadata_len, footer_ver, digest, reserved, magic = _TRAILER.unpack(data)
        if magic != FOOTER_MAGIC:
            raise BundleFormatError(
                "bad_magic",
                f"the file does not end with the bundle magic {FOOTER_MAGIC!r} (its last 8 bytes are "
                f"{bytes(magic)!r}): it is not an executable bundle",
            )
        if footer_ver != FOOTER_VERSION:
            raise BundleFormatError(
                "unknown_version",
                f"the trailer has footer_ver {footer_ver}; only version {FOOTER_VERSION} exists "
                "(Airflow rejects the file)",
            )
        if reserved != _RESERVED:
            raise BundleFormatError(
                "reserved_not_zero",
                f"the 12 reserved trailer bytes must be zero, got {bytes(reserved).hex()} "
                "(Airflow rejects the file)",
            )
        return cls(source_len, metadata_len, bytes(digest), footer_ver)


class BundleLayout(Record):
    """Where the regions of a bundle of ``file_size`` bytes are, per its trailer.

    Create it with :meth:`locate`.
    """

    file_size: int
    trailer: Trailer

    @property
    def trailer_start(self) -> int:
        """The offset of the trailer."""
        return self.file_size - FOOTER_SIZE

    @property
    def metadata_start(self) -> int:
        """The offset of the metadata region."""
        return self.trailer_start - self.trailer.metadata_len

    @property
    def source_start(self) -> int:
        """The offset of the source region, which is also the size of the launcher region."""
        return self.metadata_start - self.trailer.source_len

    @classmethod
    def locate(cls, file_size: int, trailer: Trailer) -> BundleLayout:
        """Check that the trailer's regions fit in the file and leave a launcher.

        Raises:
            BundleFormatError: ``bad_regions`` (the regions extend past the
                start of the file) or ``no_launcher`` (the launcher region is
                empty).
        """
        layout = cls(file_size, trailer)
        if layout.source_start < 0:
            raise BundleFormatError(
                "bad_regions",
                f"the trailer declares {trailer.source_len} source and {trailer.metadata_len} metadata "
                f"bytes, more than the {max(file_size - FOOTER_SIZE, 0)} bytes in front of it",
            )
        if layout.source_start == 0:
            raise BundleFormatError(
                "no_launcher",
                "the trailer leaves no room for the launcher (binary) region, which must not be empty",
            )
        return layout


def assemble(launcher: bytes, source: bytes, metadata: bytes) -> bytes:
    """Concatenate the regions and the trailer into a bundle's bytes.

    Raises:
        ValueError: the launcher is empty or a region does not fit a 32-bit length.
    """
    if not launcher:
        raise ValueError("the launcher region must not be empty")
    trailer = Trailer(len(source), len(metadata), hashlib.sha256(launcher).digest())
    return b"".join((launcher, source, metadata, trailer.to_bytes()))


def build_launcher(interpreter: str, attr: str) -> bytes:
    """The launcher region: a ``#!/bin/sh`` script that ``exec``\\ s the packed runtime.

    ``interpreter`` and ``attr`` are quoted for ``sh``; ``"$0"`` is the
    packed file itself, which the runtime reads its source and manifest
    from. Python runs with ``-P`` so that the working directory cannot
    shadow installed modules.
    """
    import shlex  # only when packing: the packed runtime imports this module too

    command = shlex.join([interpreter, "-P", "-m", LAUNCHER_MODULE])
    text = (
        "#!/bin/sh\n"
        "# A trio_coord executable bundle: this launcher, the bundle's Python source, its manifest\n"
        "# and an AFBNDL01 trailer. Check it with: python -m trio_coord inspect FILE\n"
        f'exec {command} "$0" {shlex.quote(attr)} "$@"\n'
    )
    return text.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------- the manifest

_VERSION_RE: Final = re.compile(r"[0-9]+\.[0-9]+(\.[0-9]+)?")
_LANGUAGE_RE: Final = re.compile(r"[a-z][a-z0-9_+.\-]*")
_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def manifest_problems(manifest: object) -> list[str]:
    """Check a parsed manifest against protocol.md §12.2; return the problems (none: valid).

    Besides the schema (``airflow-metadata.schema.json``: required keys,
    types and patterns) it checks what the 1.3.2 coordinator needs to route
    a task: Dag ids that are strings, and ``sdk.supervisor_schema_version``
    equal to the one version 1.3.2 accepts.
    """
    if not isinstance(manifest, dict):
        return [f"the manifest is {_kind(manifest)}, not a mapping"]
    problems: list[str] = []
    missing = [k for k in ("airflow_bundle_metadata_version", "sdk", "source", "dags") if k not in manifest]
    if missing:
        problems.append(f"missing key(s): {', '.join(missing)}")
    version = manifest.get("airflow_bundle_metadata_version")
    if "airflow_bundle_metadata_version" in manifest and not (
        isinstance(version, str) and _VERSION_RE.fullmatch(version)
    ):
        problems.append(f"airflow_bundle_metadata_version must be a string like '1.0', got {version!r}")
    if "sdk" in manifest:
        problems.extend(_sdk_problems(manifest["sdk"]))
    source = manifest.get("source")
    if "source" in manifest and not (isinstance(source, str) and source):
        problems.append(f"source must be a non-empty string, got {source!r}")
    if "dags" in manifest:
        problems.extend(_dags_problems(manifest["dags"]))
    return problems


def _sdk_problems(sdk: object) -> list[str]:
    if not isinstance(sdk, dict):
        return [f"sdk must be a mapping, got {_kind(sdk)}"]
    required = ("language", "version", "supervisor_schema_version")
    problems = [f"sdk.{key} is missing" for key in required if key not in sdk]
    language = sdk.get("language")
    if "language" in sdk and not (isinstance(language, str) and _LANGUAGE_RE.fullmatch(language)):
        problems.append(f"sdk.language must be a lower-case identifier string, got {language!r}")
    version = sdk.get("version")
    if "version" in sdk and not (isinstance(version, str) and version):
        problems.append(f"sdk.version must be a non-empty string, got {version!r}")
    schema = sdk.get("supervisor_schema_version")
    if "supervisor_schema_version" not in sdk:
        pass
    elif not isinstance(schema, str):
        problems.append(
            f"sdk.supervisor_schema_version must be a string, got {_kind(schema)} ({schema!r}): quote it"
        )
    elif not _DATE_RE.fullmatch(schema):
        problems.append(f"sdk.supervisor_schema_version must look like YYYY-MM-DD, got {schema!r}")
    elif schema != SUPERVISOR_SCHEMA_VERSION:
        problems.append(
            f"sdk.supervisor_schema_version is {schema!r}, but task-sdk 1.3.2 (the supervisor trio_coord "
            f"speaks to) accepts only {SUPERVISOR_SCHEMA_VERSION!r}"
        )
    return problems


def _dags_problems(dags: object) -> list[str]:
    if not isinstance(dags, dict):
        return [f"dags must be a mapping of Dag id to {{tasks: [...]}}, got {_kind(dags)}"]
    if not dags:
        return ["dags is empty: the bundle serves no Dag"]
    problems: list[str] = []
    for dag_id, entry in dags.items():
        if not isinstance(dag_id, str) or not dag_id:
            problems.append(
                f"Dag id {dag_id!r} is {_kind(dag_id)}, not a non-empty string: Airflow never matches it "
                "(quote it)"
            )
            continue
        if not isinstance(entry, dict) or "tasks" not in entry:
            problems.append(f"dags.{dag_id} must be a mapping with a 'tasks' list")
            continue
        tasks = entry["tasks"]
        if not isinstance(tasks, list):
            problems.append(f"dags.{dag_id}.tasks must be a list, got {_kind(tasks)}")
            continue
        problems.extend(
            f"dags.{dag_id}.tasks has {task!r}, which is not a non-empty string"
            for task in tasks
            if not (isinstance(task, str) and task)
        )
    return problems


_BARE_KEY_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JSON: Final = json.JSONDecoder()


class _ManifestSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")


def parse_canonical_manifest(text: str) -> dict[str, object]:
    """Parse a manifest written by :func:`~trio_coord._metadata.dump_manifest`.

    A strict reader for exactly that subset of YAML, so that the packed
    runtime needs no YAML library: block mappings and sequences indented by
    two spaces, keys bare (``[A-Za-z_][A-Za-z0-9_]*``) or double-quoted,
    values double-quoted strings (JSON escapes), ``[]`` or ``{}``, one
    ``\\n`` at the end of every line. On that subset it returns what
    ``yaml.safe_load`` returns. ``inspect`` uses PyYAML instead, so that
    manifests written by other packers are judged as Airflow judges them.

    Raises:
        ValueError: the text is outside the subset (the message names the
            line and what was expected).
    """
    if not text.endswith("\n"):
        raise ValueError("the manifest must end with a newline")
    lines = text[:-1].split("\n")
    value, end = _parse_block(lines, 0, 0)
    if end != len(lines):  # pragma: no cover - _parse_block rejects stray indentation itself
        raise _ManifestSyntaxError(end + 1, "unexpected content")
    if not isinstance(value, dict):
        raise ValueError("the manifest must be a mapping at the top level")
    return value


def _indent_of(line: str, number: int) -> int:
    stripped = line.lstrip(" ")
    indent = len(line) - len(stripped)
    if not stripped:
        raise _ManifestSyntaxError(number, "blank lines are not part of the canonical manifest")
    if stripped.startswith("\t"):
        raise _ManifestSyntaxError(number, "indent with spaces, not tabs")
    if indent % 2:
        raise _ManifestSyntaxError(number, f"indentation must be a multiple of 2 spaces, got {indent}")
    return indent


def _parse_block(lines: list[str], start: int, indent: int) -> tuple[object, int]:
    if _indent_of(lines[start], start + 1) != indent:
        raise _ManifestSyntaxError(start + 1, f"expected indentation {indent}")
    if lines[start][indent:].startswith("- "):
        return _parse_sequence(lines, start, indent)
    return _parse_mapping(lines, start, indent)


def _parse_sequence(lines: list[str], start: int, indent: int) -> tuple[list[object], int]:
    items: list[object] = []
    i = start
    while i < len(lines) and _indent_of(lines[i], i + 1) == indent:
        content = lines[i][indent:]
        if not content.startswith("- "):
            raise _ManifestSyntaxError(i + 1, "expected '- ' (a sequence item)")
        items.append(_parse_scalar(content[2:], i + 1))
        i += 1
    if i < len(lines) and _indent_of(lines[i], i + 1) > indent:
        raise _ManifestSyntaxError(i + 1, "unexpected indentation")
    return items, i


def _parse_mapping(lines: list[str], start: int, indent: int) -> tuple[dict[str, object], int]:
    mapping: dict[str, object] = {}
    i = start
    while i < len(lines) and _indent_of(lines[i], i + 1) == indent:
        number = i + 1
        key, rest = _parse_key(lines[i][indent:], number)
        if key in mapping:
            raise _ManifestSyntaxError(number, f"duplicate key {key!r}")
        if rest:
            if not rest.startswith(" "):
                raise _ManifestSyntaxError(number, "expected ': ' after the key")
            mapping[key] = _parse_scalar(rest[1:], number)
            i += 1
            continue
        if i + 1 >= len(lines) or _indent_of(lines[i + 1], i + 2) != indent + 2:
            raise _ManifestSyntaxError(
                number, f"{key!r} has no value (expected a block indented by {indent + 2})"
            )
        mapping[key], i = _parse_block(lines, i + 1, indent + 2)
    if i < len(lines) and _indent_of(lines[i], i + 1) > indent:
        raise _ManifestSyntaxError(i + 1, "unexpected indentation")
    return mapping, i


def _parse_key(content: str, number: int) -> tuple[str, str]:
    if content.startswith('"'):
        key, end = _decode_string(content, number)
    else:
        match = _BARE_KEY_RE.match(content)
        if match is None:
            raise _ManifestSyntaxError(number, "expected a key (a name or a double-quoted string)")
        key, end = match.group(), match.end()
    if content[end : end + 1] != ":":
        raise _ManifestSyntaxError(number, f"expected ':' after the key {key!r}")
    return key, content[end + 1 :]


def _parse_scalar(text: str, number: int) -> object:
    if text == "[]":
        return []
    if text == "{}":
        return {}
    if text.startswith('"'):
        value, end = _decode_string(text, number)
        if end == len(text):
            return value
    raise _ManifestSyntaxError(number, f"expected a double-quoted string, [] or {{}}, got {text!r}")


def _decode_string(text: str, number: int) -> tuple[str, int]:
    try:
        value, end = _JSON.raw_decode(text)
    except ValueError as exc:
        raise _ManifestSyntaxError(number, f"bad double-quoted string: {exc}") from exc
    assert isinstance(value, str)  # the text starts with '"'
    return value, end


# ---------------------------------------------------------------------------- reading a file


class BundleFile(Record):
    """A bundle whose trailer and launcher hash were checked.

    Attributes:
        path: the file.
        layout: where its regions are.
        launcher_head: the start of the launcher region (up to 256 bytes).
        source: the source region (``None`` when not read).
        metadata: the metadata region, raw.
    """

    path: Path
    layout: BundleLayout
    launcher_head: bytes
    source: bytes | None
    metadata: bytes


def _read_exactly(f: BinaryIO, size: int, what: str) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise BundleFormatError("truncated", f"the file shrank while reading the {what}")
    return data


def read_bundle(path: str | os.PathLike[str], *, with_source: bool = True) -> BundleFile:
    """Read and check a bundle file's trailer, regions and launcher hash.

    Blocking file I/O (the launcher region is hashed in 1 MiB chunks, so a
    large native binary is never held in memory).

    Args:
        path: the file.
        with_source: also read the source region.

    Raises:
        OSError: the file cannot be opened or read.
        BundleFormatError: the file is not a valid bundle (see
            :attr:`BundleFormatError.problem`).
    """
    path = Path(path)
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < FOOTER_SIZE:
            raise BundleFormatError(
                "too_short", f"the file has {size} bytes, fewer than the {FOOTER_SIZE}-byte bundle trailer"
            )
        f.seek(size - FOOTER_SIZE)
        trailer = Trailer.from_bytes(_read_exactly(f, FOOTER_SIZE, "trailer"))
        layout = BundleLayout.locate(size, trailer)
        f.seek(0)
        digest = hashlib.sha256()
        head = b""
        remaining = layout.source_start
        while remaining:
            chunk = f.read(min(_HASH_CHUNK, remaining))
            if not chunk:
                raise BundleFormatError("truncated", "the file shrank while hashing the launcher region")
            if len(head) < 256:
                head += chunk[: 256 - len(head)]
            digest.update(chunk)
            remaining -= len(chunk)
        if digest.digest() != trailer.binary_sha256:
            raise BundleFormatError(
                "hash_mismatch",
                f"the SHA-256 of the launcher region (bytes 0-{layout.source_start - 1}) is "
                f"{digest.hexdigest()}, but the trailer records {trailer.binary_sha256.hex()}: the file was "
                "changed after it was packed (Airflow rejects it)",
            )
        source = _read_exactly(f, trailer.source_len, "source region") if with_source else None
        f.seek(layout.metadata_start)
        metadata = _read_exactly(f, trailer.metadata_len, "metadata region")
    return BundleFile(path, layout, head, source, metadata)


def decode_metadata(data: bytes) -> str:
    """The metadata region as text.

    Raises:
        BundleFormatError: ``bad_metadata``: the bytes are not UTF-8.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleFormatError("bad_metadata", f"the metadata region is not UTF-8 text: {exc}") from exc


# ---------------------------------------------------------------------------- inspect


class InspectReport(Record):
    """What :func:`inspect_bundle` found in a valid bundle.

    Attributes:
        bundle: the checked file.
        metadata_text: the manifest, as embedded.
        manifest: the manifest as ``yaml.safe_load`` (Airflow's parser) reads it.
        executable: whether this user may execute the file (the coordinator
            skips files it cannot execute).
    """

    bundle: BundleFile
    metadata_text: str
    manifest: dict[str, object]
    executable: bool

    def describe(self) -> str:
        """A human-readable summary followed by the embedded manifest."""
        layout = self.bundle.layout
        trailer = layout.trailer
        first_line = self.bundle.launcher_head.split(b"\n", 1)[0]
        if first_line.startswith(b"#!"):
            kind = f"script ({first_line.decode('utf-8', 'replace')})"
        elif self.bundle.launcher_head.startswith(b"\x7fELF"):
            kind = "ELF binary"
        else:
            kind = "binary"
        sdk = self.manifest.get("sdk")
        sdk_map = sdk if isinstance(sdk, dict) else {}
        dags = self.manifest.get("dags")
        dag_ids = ", ".join(sorted(str(d) for d in dags)) if isinstance(dags, dict) else ""

        def span(start: int, length: int) -> str:
            return f"bytes {start}-{start + length - 1} ({length} bytes)" if length else "empty"

        lines = [
            f"{self.bundle.path}: valid executable bundle",
            f"  trailer:  {FOOTER_MAGIC.decode()}, footer_ver {trailer.footer_ver}, reserved bytes zero",
            f"  launcher: {span(0, layout.source_start)}, {kind}",
            f"            SHA-256 {trailer.binary_sha256.hex()} (matches the trailer)",
            f"  source:   {span(layout.source_start, trailer.source_len)}",
            f"  metadata: {span(layout.metadata_start, trailer.metadata_len)}",
            f"  sdk:      {sdk_map.get('language')} {sdk_map.get('version')}, "
            f"supervisor schema {sdk_map.get('supervisor_schema_version')}",
            f"  dags:     {dag_ids}",
            "",
            self.metadata_text.rstrip("\n"),
        ]
        return "\n".join(lines) + "\n"


def _import_yaml() -> types.ModuleType:
    try:
        # Optional (trio_coord[yaml]): only `inspect` needs it.
        return importlib.import_module("yaml")
    except ImportError as exc:
        raise PackUsageError(
            "inspect parses the manifest with PyYAML, as Airflow does, and PyYAML is not installed: "
            "pip install 'trio_coord[yaml]'"
        ) from exc


def inspect_bundle(path: str | os.PathLike[str]) -> InspectReport:
    """Check that ``path`` is a bundle the 1.3.2 ``ExecutableCoordinator`` would use.

    Blocking file I/O. The manifest is parsed with PyYAML's ``safe_load``,
    exactly as the coordinator parses it, and checked with
    :func:`manifest_problems`.

    Raises:
        PackUsageError: ``path`` is missing or not a regular file, or PyYAML
            is not installed.
        BundleFormatError: the file is not a valid bundle.
    """
    yaml = _import_yaml()
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise PackUsageError(f"cannot inspect {str(path)!r}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(mode):
        raise PackUsageError(f"cannot inspect {str(path)!r}: not a regular file")
    try:
        bundle = read_bundle(path, with_source=False)
    except OSError as exc:
        raise PackUsageError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    text = decode_metadata(bundle.metadata)
    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BundleFormatError("bad_metadata", f"the metadata is not valid YAML: {exc}") from exc
    problems = manifest_problems(manifest)
    if problems:
        raise BundleFormatError("bad_metadata", "the manifest is not usable: " + "; ".join(problems))
    assert isinstance(manifest, dict)
    return InspectReport(bundle, text, manifest, os.access(path, os.X_OK))


# ---------------------------------------------------------------------------- pack


class PackResult(Record):
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
    from ._metadata import build_manifest, dump_manifest  # packing only: the runtime never needs them

    manifest = build_manifest(bundle, source=source_name)
    problems = manifest_problems(manifest)
    if problems:  # pragma: no cover - build_manifest always writes a valid manifest
        raise PackError("; ".join(problems))
    data = assemble(build_launcher(chosen, attr), source, dump_manifest(manifest).encode("utf-8"))
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


def inspect_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``python -m trio_coord inspect``: 0 for a valid bundle, 1 for an invalid one, 2 for usage."""
    try:
        report = inspect_bundle(args.path)
    except PackUsageError as exc:
        parser.error(str(exc))
    except BundleFormatError as exc:
        print(f"trio_coord: error: {args.path} is not a valid executable bundle: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(report.describe())
    if not report.executable:
        print(
            f"trio_coord: warning: {args.path} is not executable by this user, and ExecutableCoordinator "
            "skips such files (chmod +x)",
            file=sys.stderr,
        )
    return 0
