"""Find a :class:`Bundle` from a ``module:attr`` or ``path/to/file.py:attr`` spec."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import zlib
from pathlib import Path

from ._bundle import Bundle
from ._errors import TrioCoordError

__all__ = ["BundleLoadError", "load_bundle", "load_bundle_from_source"]


class BundleLoadError(TrioCoordError):
    """The bundle spec could not be resolved to a :class:`Bundle`."""


def _split(spec: str) -> tuple[str, str]:
    target, sep, attr = spec.rpartition(":")
    if not sep:
        return spec, "bundle"
    if not target:
        raise BundleLoadError(f"bundle spec {spec!r} has nothing before ':'")
    if not attr.isidentifier():
        raise BundleLoadError(f"bundle spec {spec!r}: {attr!r} is not an attribute name")
    return target, attr


def _pick(namespace: object, attr: str, spec: str) -> Bundle:
    value = getattr(namespace, attr, None)
    if value is None:
        raise BundleLoadError(f"bundle spec {spec!r}: no attribute {attr!r}")
    if not isinstance(value, Bundle):
        raise BundleLoadError(
            f"bundle spec {spec!r}: {attr!r} is a {type(value).__name__}, not a trio_coord.Bundle"
        )
    return value


def load_bundle(spec: str) -> Bundle:
    """Import the bundle named by ``spec``.

    ``spec`` is ``package.module[:attr]`` or ``path/to/file.py[:attr]``;
    ``attr`` defaults to ``bundle``. A file's directory is put first on
    ``sys.path`` so that it can import its neighbours.

    Raises:
        BundleLoadError: naming the spec and what went wrong (the import
            error is chained).
    """
    target, attr = _split(spec)
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise BundleLoadError(f"bundle file {target!r} does not exist")
        return load_bundle_from_source(path.read_bytes(), str(path.resolve()), attr, spec=spec)
    try:
        module = importlib.import_module(target)
    except ImportError as exc:
        raise BundleLoadError(f"cannot import bundle module {target!r}: {exc}") from exc
    except Exception as exc:
        raise BundleLoadError(f"importing bundle module {target!r} failed: {exc!r}") from exc
    return _pick(module, attr, spec)


def load_bundle_from_source(source: bytes, filename: str, attr: str = "bundle", *, spec: str = "") -> Bundle:
    """Execute bundle source code as a fresh module and return its bundle.

    Used for files and for the source embedded in a packed executable.

    Raises:
        BundleLoadError: the code failed or defines no :class:`Bundle` ``attr``.
    """
    spec = spec or f"{filename}:{attr}"
    digest = f"{zlib.crc32(filename.encode()):08x}"  # a stable, unique-enough module name
    module_name = f"_trio_coord_bundle_{digest}"
    directory = str(Path(filename).parent)
    if directory and directory not in sys.path and Path(directory).is_dir():
        sys.path.insert(0, directory)
    module_spec = importlib.util.spec_from_loader(module_name, loader=None, origin=filename)
    if module_spec is None:  # pragma: no cover - spec_from_loader always returns a spec
        raise BundleLoadError(f"cannot create a module for {filename!r}")
    module = importlib.util.module_from_spec(module_spec)
    module.__file__ = filename
    sys.modules[module_name] = module
    try:
        code = compile(source, filename, "exec")
        exec(code, module.__dict__)  # noqa: S102 - running the bundle's own code is the point
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise BundleLoadError(f"loading bundle {spec!r} failed: {exc!r}") from exc
    return _pick(module, attr, spec)
