"""The bundle manifest (``airflow-metadata``), as YAML or JSON.

The layout follows task-sdk's ``airflow-metadata.schema.json`` and the Go
SDK's producer: keys in a fixed order (``airflow_bundle_metadata_version``,
``sdk``, ``source``, ``dags``), Dag ids sorted, tasks in registration order,
and every string double-quoted in YAML so that ``"123"`` stays a string.
The output is deterministic: the same bundle gives the same bytes.
"""

from __future__ import annotations

import json
import re
from typing import Final, Literal

from ._bundle import Bundle
from ._messages import SUPERVISOR_SCHEMA_VERSION
from ._version import __version__

__all__ = [
    "BUNDLE_METADATA_VERSION",
    "SDK_LANGUAGE",
    "ManifestFormat",
    "build_manifest",
    "dump_manifest",
    "parse_manifest_format",
]

#: ``airflow_bundle_metadata_version`` written into every manifest.
BUNDLE_METADATA_VERSION: Final = "1.0"
#: ``sdk.language`` of trio_coord bundles.
SDK_LANGUAGE: Final = "python-trio"

ManifestFormat = Literal["yaml", "json"]

_YAML_UNSAFE: Final = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def parse_manifest_format(text: str) -> ManifestFormat:
    """Validate a ``--format`` value: ``""`` or ``yaml`` (the default) or ``json``.

    Raises:
        ValueError: any other value (the check is case-sensitive, as in Go).
    """
    if text in ("", "yaml"):
        return "yaml"
    if text == "json":
        return "json"
    raise ValueError(f"--format must be 'yaml' or 'json', got {text!r}")


def build_manifest(bundle: Bundle, *, source: str | None = None) -> dict[str, object]:
    """Build the manifest of ``bundle`` (with ``source`` when packing)."""
    manifest: dict[str, object] = {
        "airflow_bundle_metadata_version": BUNDLE_METADATA_VERSION,
        "sdk": {
            "language": SDK_LANGUAGE,
            "version": __version__,
            "supervisor_schema_version": SUPERVISOR_SCHEMA_VERSION,
        },
    }
    if source is not None:
        manifest["source"] = source
    manifest["dags"] = {dag_id: {"tasks": list(bundle.dags[dag_id].tasks)} for dag_id in sorted(bundle.dags)}
    return manifest


def _quote(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar (same escapes). JSON
    # leaves DEL, C1 controls, U+2028/U+2029 and non-characters raw, which YAML
    # does not print (or reads as line breaks): escape those too. Astral
    # characters stay raw, since PyYAML does not join escaped surrogate pairs.
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "null"
    return json.dumps(value)


def _yaml_mapping(mapping: dict[str, object], indent: int, *, quote_keys: bool) -> list[str]:
    """Render a mapping; schema keys stay bare, data keys (Dag ids) are quoted."""
    pad = "  " * indent
    lines: list[str] = []
    for key, item in mapping.items():
        key_text = _quote(key) if quote_keys else key
        if isinstance(item, dict):
            if not item:
                lines.append(f"{pad}{key_text}: {{}}")
                continue
            lines.append(f"{pad}{key_text}:")
            lines.extend(_yaml_mapping(item, indent + 1, quote_keys=key == "dags"))
        elif isinstance(item, list):
            if not item:
                lines.append(f"{pad}{key_text}: []")
                continue
            lines.append(f"{pad}{key_text}:")
            lines.extend(f"{pad}  - {_scalar(element)}" for element in item)
        else:
            lines.append(f"{pad}{key_text}: {_scalar(item)}")
    return lines


def dump_manifest(manifest: dict[str, object], fmt: ManifestFormat = "yaml") -> str:
    """Render a manifest: deterministic YAML (2-space indent) or 4-space JSON.

    Both end with exactly one newline.
    """
    if fmt == "json":
        return json.dumps(manifest, indent=4, ensure_ascii=False) + "\n"
    return "\n".join(_yaml_mapping(manifest, 0, quote_keys=False)) + "\n"
