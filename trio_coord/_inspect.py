"""``python -m trio_coord inspect``: check an executable bundle as the 1.3.2 coordinator would.

:func:`inspect_bundle` does blocking file I/O and is meant for the command
line, never for a trio task. The manifest is parsed with PyYAML's
``safe_load``, exactly as the coordinator parses it, so that a manifest
another packer wrote is judged as Airflow judges it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import stat
import sys
import types
from pathlib import Path

from ._bundle_file import (
    FOOTER_MAGIC,
    BundleFile,
    BundleFormatError,
    PackUsageError,
    decode_metadata,
    read_bundle,
)
from ._metadata import manifest_problems

__all__ = ["InspectReport", "inspect_bundle", "inspect_command"]


@dataclasses.dataclass(frozen=True, slots=True)
class InspectReport:
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
