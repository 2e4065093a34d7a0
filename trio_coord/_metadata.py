"""The bundle manifest (``airflow-metadata``), as YAML or JSON.

The layout follows task-sdk's ``airflow-metadata.schema.json`` and the Go
SDK's producer: keys in a fixed order (``airflow_bundle_metadata_version``,
``sdk``, ``source``, ``dags``), Dag ids sorted, tasks in registration order,
and every string double-quoted in YAML so that ``"123"`` stays a string.
The output is deterministic: the same bundle gives the same bytes.

The JSON form is also what ``pack`` embeds: JSON is YAML flow style, so the
1.3.2 coordinator's ``yaml.safe_load`` reads it, and the packed runtime reads
it with :func:`json.loads` (characters YAML would not read back as written
are escaped, see :func:`dump_manifest`). :func:`manifest_problems` checks a
parsed manifest against protocol.md §12.2.
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
    "load_manifest",
    "manifest_problems",
    "parse_manifest_format",
]

#: ``airflow_bundle_metadata_version`` written into every manifest.
BUNDLE_METADATA_VERSION: Final = "1.0"
#: ``sdk.language`` of trio_coord bundles.
SDK_LANGUAGE: Final = "python-trio"

ManifestFormat = Literal["yaml", "json"]

# Patterns are compiled on first use (re's cache), not at import: a packed task start imports this
# module to check its manifest and needs none of them.
_YAML_UNSAFE: Final = "[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]"


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
    return re.sub(_YAML_UNSAFE, lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


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

    Both end with exactly one newline. The JSON is also valid YAML that
    ``yaml.safe_load`` reads as the same value: beyond JSON's own escapes,
    DEL, C1 controls, U+2028/U+2029, lone surrogates and non-characters are
    written as ``\\uXXXX`` (they only ever occur inside strings).
    """
    if fmt == "json":
        text = json.dumps(manifest, indent=4, ensure_ascii=False)
        return re.sub(_YAML_UNSAFE, lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"
    return "\n".join(_yaml_mapping(manifest, 0, quote_keys=False)) + "\n"


def load_manifest(text: str) -> dict[str, object]:
    """Parse a manifest as ``pack`` embeds it (JSON); it must be a mapping.

    Raises:
        ValueError: the text is not JSON, or not a JSON object.
    """
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"the manifest is {_kind(value)}, not a mapping")
    return value


# The schema's patterns, checked with string methods: compiling the regular expressions cost every
# packed task start about 0.5 ms.
_LANGUAGE_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_+.-")


def _digits(text: str, count: int | None = None) -> bool:
    """``[0-9]+`` (or exactly ``count`` of them)."""
    return text.isascii() and text.isdigit() and (count is None or len(text) == count)


def _is_version(text: str) -> bool:
    """``[0-9]+\\.[0-9]+(\\.[0-9]+)?``"""
    parts = text.split(".")
    return len(parts) in (2, 3) and all(_digits(part) for part in parts)


def _is_language(text: str) -> bool:
    """``[a-z][a-z0-9_+.\\-]*``"""
    return bool(text) and "a" <= text[0] <= "z" and _LANGUAGE_CHARS.issuperset(text)


def _is_date(text: str) -> bool:
    """``[0-9]{4}-[0-9]{2}-[0-9]{2}``"""
    parts = text.split("-")
    return len(parts) == 3 and all(_digits(part, size) for part, size in zip(parts, (4, 2, 2), strict=True))


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
        isinstance(version, str) and _is_version(version)
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
    if "language" in sdk and not (isinstance(language, str) and _is_language(language)):
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
    elif not _is_date(schema):
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
