"""``python -m trio_coord inspect``: check an executable bundle as the 1.3.2 coordinator would.

For a self-contained bundle it also lists the embedded distributions (name,
version, wheel tags, size, SHA-256) and the Python a worker needs, and checks
every recorded SHA-256 (each wheel's, the package's and the source region's).

:func:`inspect_bundle` does blocking file I/O and is meant for the command
line, never for a trio task. The manifest is parsed with PyYAML's
``safe_load``, exactly as the coordinator parses it, so that a manifest
another packer wrote is judged as Airflow judges it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import importlib
import os
import stat
import sys
import types
from pathlib import Path
from typing import Any, BinaryIO

from . import _boot
from ._bundle_file import (
    FOOTER_MAGIC,
    BundleFile,
    BundleFormatError,
    PackUsageError,
    decode_metadata,
    read_bundle,
)
from ._metadata import manifest_problems

__all__ = ["EmbeddedPayload", "InspectReport", "inspect_bundle", "inspect_command", "read_payload"]

#: How far into the launcher region the bootstrap's end is looked for (what its loader reads).
_BOOT_SEARCH = 262144
_HASH_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True, slots=True)
class EmbeddedPayload:
    """A self-contained bundle's ``INDEX`` (see :mod:`trio_coord._boot`), every hash checked.

    Attributes:
        python: what a worker's interpreter must be (``INDEX["python"]``).
        module: the bundle's module when its package is embedded (else ``None``).
        items: every payload item (``kind``, ``name``, ``distribution``,
            ``version``, ``tags``, ``size``, ``sha256``, ``offset``).
        payload_start: the offset of the payload in the file.
    """

    python: dict[str, Any]
    module: str | None
    items: list[dict[str, Any]]
    payload_start: int

    def describe_python(self) -> str:
        """``CPython 3.11 on linux x86_64 (glibc 2.17 or newer)``."""
        return _boot.describe_python(self.python)


def read_payload(bundle: BundleFile) -> EmbeddedPayload | None:
    """Read a self-contained bundle's ``INDEX`` and check every SHA-256 it records.

    Blocking file I/O (the payload is hashed in 1 MiB chunks). Returns
    ``None`` for a bundle without the bootstrap (``--installed``, or another
    packer's).

    Raises:
        BundleFormatError: ``bad_payload``: the ``INDEX`` cannot be read, an
            item lies outside the launcher region, or an item's or the source
            region's SHA-256 differs from the recorded one.
    """
    layout = bundle.layout
    with bundle.path.open("rb") as f:
        head = f.read(min(layout.source_start, _BOOT_SEARCH))
        start = head.find(_boot.BOOT_MARK)
        end = head.find(_boot.END_MARK, max(start, 0))
        if start < 0 or end < 0:
            return None
        index = _parse_index(head[start + len(_boot.BOOT_MARK) : end])
        payload_start = end + len(_boot.END_MARK)
        items = index["blobs"]
        for item in items:
            begin, size = payload_start + item["offset"], item["size"]
            if begin + size > layout.source_start:
                raise BundleFormatError(
                    "bad_payload", f"the embedded {item['name']} extends past the launcher region"
                )
            _check_hash(f, begin, size, item["sha256"], f"the embedded {item['name']}")
        _check_hash(
            f, layout.source_start, layout.trailer.source_len, index["source_sha256"], "the source region"
        )
    module = index.get("module")
    return EmbeddedPayload(index["python"], module if isinstance(module, str) else None, items, payload_start)


def _parse_index(boot: bytes) -> dict[str, Any]:
    line = next((line for line in boot.split(b"\n") if line.startswith(b"INDEX = ")), None)
    try:
        if line is None:
            raise ValueError("no INDEX line")
        index = ast.literal_eval(line.removeprefix(b"INDEX = ").decode("utf-8"))
        if not isinstance(index, dict) or not isinstance(index.get("blobs"), list):
            raise ValueError("INDEX is not a mapping with a list of blobs")
        for item in index["blobs"]:
            for key, kind in (("offset", int), ("size", int), ("sha256", str), ("name", str)):
                if not isinstance(item.get(key), kind):
                    raise ValueError(f"an item has no {key}")
        for key in ("python", "source_sha256"):
            if key not in index:
                raise ValueError(f"INDEX has no {key}")
    except (ValueError, SyntaxError, UnicodeDecodeError) as exc:
        raise BundleFormatError("bad_payload", f"the bootstrap's INDEX cannot be read: {exc}") from exc
    return index


def _check_hash(f: BinaryIO, start: int, size: int, expected: str, what: str) -> None:
    f.seek(start)
    digest = hashlib.sha256()
    remaining = size
    while remaining:
        chunk = f.read(min(_HASH_CHUNK, remaining))
        if not chunk:
            raise BundleFormatError("truncated", f"the file shrank while hashing {what}")
        digest.update(chunk)
        remaining -= len(chunk)
    if digest.hexdigest() != expected:
        raise BundleFormatError(
            "bad_payload",
            f"the SHA-256 of {what} is {digest.hexdigest()}, but the bundle records {expected}: "
            "the file was changed after it was packed",
        )


@dataclasses.dataclass(frozen=True, slots=True)
class InspectReport:
    """What :func:`inspect_bundle` found in a valid bundle.

    Attributes:
        bundle: the checked file.
        metadata_text: the manifest, as embedded.
        manifest: the manifest as ``yaml.safe_load`` (Airflow's parser) reads it.
        executable: whether this user may execute the file (the coordinator
            skips files it cannot execute).
        payload: a self-contained bundle's embedded distributions (``None``
            for others).
    """

    bundle: BundleFile
    metadata_text: str
    manifest: dict[str, object]
    executable: bool
    payload: EmbeddedPayload | None = None

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
        ]
        if self.payload is not None:
            lines += self._describe_payload(self.payload)
        lines += ["", self.metadata_text.rstrip("\n")]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _describe_payload(payload: EmbeddedPayload) -> list[str]:
        wheels = [item for item in payload.items if item.get("kind") == "wheel"]
        lines = [
            f"  python:   {payload.describe_python()}",
            f"  embedded: {len(wheels)} wheels, SHA-256 of each and of the source checked"
            + (f"; the bundle is the module {payload.module}" if payload.module else ""),
        ]
        for item in payload.items:
            if item.get("kind") == "wheel":
                lines.append(
                    f"    {item['distribution']} {item['version']} ({item['tags']}, {item['size']} bytes)"
                )
            else:
                lines.append(f"    package {item['name']} ({item['size']} bytes)")
            lines.append(f"      sha256 {item['sha256']}")
        return lines


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
    payload = read_payload(bundle)
    return InspectReport(bundle, text, manifest, os.access(path, os.X_OK), payload)


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
