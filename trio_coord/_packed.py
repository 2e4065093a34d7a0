"""The runtime of a packed bundle: what its launcher ``exec``\\ s (or its bootstrap calls).

::

    python -P -m trio_coord._packed FILE ATTR [ARGS...]

A self-contained bundle's bootstrap (:mod:`trio_coord._boot`) calls
:func:`main` instead, once its cache entry is on ``sys.path``, with the file's
bytes (already checked) and, for a package bundle, the module to import by
its own name from there.

``FILE`` is the packed file itself (the launcher's ``"$0"``) and ``ATTR`` the
name of the :class:`~trio_coord.Bundle` in the embedded module. The runtime
reads ``FILE`` again, checks its trailer and launcher hash, reads the
manifest and the embedded source, and makes that source importable as the
module ``_trio_coord_packed_<stem>`` through a finder placed first on
``sys.meta_path``: the task code always comes from ``FILE``, never from the
path it was packed from. Its ``__file__`` (and the file name tracebacks show,
with the source lines) is ``FILE/<source name>``. The source is compiled once
per source and file name; later starts read the code from the bytecode cache
(:mod:`trio_coord._code_cache`). Then it behaves like ``serve``:

* ``--comm=… --logs=…``, and every usage error, go unchanged through
  ``python -m trio_coord serve _trio_coord_packed_<stem>:ATTR …``: the same
  log handling (lines logged while the module is imported are kept), the
  same exit codes.
* ``--airflow-metadata [--format yaml|json]`` loads the bundle, checks that
  it defines the Dags and tasks the manifest lists, and prints the embedded
  manifest (as YAML, or with ``--format json`` the embedded JSON byte for byte).

Exit code 1, before anything else, when ``FILE`` is not a valid trio_coord
bundle or was packed for another supervisor schema version; 2 when this
module is run without ``FILE ATTR``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, cast

from ._bundle_file import BundleFormatError, bundle_from_bytes, decode_metadata, read_bundle
from ._cli import build_parser, main as cli_main, plain_serve_arguments
from ._code_cache import load_code
from ._loader import BundleLoadError, load_bundle
from ._metadata import load_manifest, manifest_problems
from ._record import Record

if TYPE_CHECKING:
    import argparse
    from importlib.abc import Loader

__all__ = ["PackedBundle", "main", "open_packed"]

#: The prefix of the embedded module's name.
MODULE_PREFIX: Final = "_trio_coord_packed_"


class PackedBundle(Record):
    """A packed bundle file, checked and read.

    Attributes:
        path: the packed file (absolute).
        source: the embedded module's source.
        metadata_text: the embedded manifest, as written.
        manifest: the embedded manifest, parsed.
        module: the bundle's module when a self-contained bundle installed
            its package on ``sys.path`` (``None``: the embedded source is the
            module).
    """

    path: str
    source: bytes
    metadata_text: str
    manifest: dict[str, object]
    module: str | None = None

    @property
    def source_name(self) -> str:
        """The embedded module's file name (the manifest's ``source``)."""
        source = self.manifest["source"]
        assert isinstance(source, str)
        return source

    @property
    def module_name(self) -> str:
        """The name the embedded module is imported as."""
        stem = self.source_name.removesuffix(".py")
        return MODULE_PREFIX + re.sub(r"\W", "_", stem, flags=re.ASCII)

    @property
    def filename(self) -> str:
        """The embedded module's ``__file__``: the packed file, then the source name."""
        return f"{self.path}/{self.source_name}"

    def install(self, attr: str) -> str:
        """Make the embedded module importable (first on ``sys.meta_path``); return its bundle spec.

        A bundle whose package is installed (:attr:`module`) needs nothing: its spec is returned.
        """
        if self.module is not None:
            return f"{self.module}:{attr}"
        sys.meta_path.insert(0, _EmbeddedModule(self.module_name, self.source, self.filename))
        return f"{self.module_name}:{attr}"


class _EmbeddedModule:
    """Finder and loader of exactly one module whose source is in memory.

    It implements the finder and loader protocols directly rather than through
    ``importlib.abc``, whose import (it pulls in ``importlib.resources``) every
    packed task start would pay.
    """

    def __init__(self, name: str, source: bytes, filename: str) -> None:
        self.name = name
        self.source = source
        self.filename = filename

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        loader = cast("Loader", self)  # the protocol, not the base class
        spec = importlib.machinery.ModuleSpec(fullname, loader, origin=self.filename)
        spec.has_location = True  # sets __file__, so code that reads it keeps working
        return spec

    def is_package(self, fullname: str) -> bool:
        return False

    def get_source(self, fullname: str) -> str:
        # Also what linecache asks for, so tracebacks show the embedded lines.
        if fullname != self.name:
            raise ImportError(f"{fullname!r} is not the embedded module", name=fullname)
        return importlib.util.decode_source(self.source)

    def get_code(self, fullname: str) -> types.CodeType:
        # Compiled once per source and file name, then read from the bytecode cache.
        if fullname != self.name:
            raise ImportError(f"{fullname!r} is not the embedded module", name=fullname)
        return load_code(self.source, self.filename)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        exec(self.get_code(module.__name__), module.__dict__)  # noqa: S102 - the bundle's own code


def open_packed(path: str, *, data: bytes | None = None, module: str | None = None) -> PackedBundle:
    """Read and check a packed trio_coord bundle.

    Blocking file I/O, unless ``data`` (the whole file, whose launcher hash a
    self-contained bundle's bootstrap has just checked) is given. ``module``
    is the bundle's module when its package is installed on ``sys.path``.

    Raises:
        OSError: the file cannot be read.
        BundleFormatError: the file is not a valid trio_coord bundle, or its
            manifest names another supervisor schema version.
    """
    bundle = read_bundle(path) if data is None else bundle_from_bytes(path, data)
    text = decode_metadata(bundle.metadata)
    try:
        manifest = load_manifest(text)
    except ValueError as exc:
        raise BundleFormatError(
            "bad_metadata", f"the manifest is not the JSON trio_coord pack writes: {exc}"
        ) from exc
    problems = manifest_problems(manifest)
    if problems:
        raise BundleFormatError("bad_metadata", "the manifest is not usable: " + "; ".join(problems))
    source_name = manifest["source"]
    assert isinstance(source_name, str)  # checked by manifest_problems
    if module is None and ("/" in source_name or "\0" in source_name or source_name in (".", "..")):
        raise BundleFormatError("bad_metadata", f"the manifest's source {source_name!r} is not a file name")
    if not bundle.source:
        raise BundleFormatError("bad_regions", "the source region is empty: this is not a trio_coord bundle")
    return PackedBundle(os.path.abspath(path), bundle.source, text, manifest, module)


def main(argv: Sequence[str] | None = None, *, module: str | None = None, data: bytes | None = None) -> int:
    """Run a packed bundle; return the exit code (see the module docstring).

    A self-contained bundle's bootstrap (:mod:`trio_coord._boot`) passes the
    file's bytes, already checked, and the bundle's module when it is a
    package installed into the cache entry.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print(
            "usage: python -P -m trio_coord._packed FILE ATTR [ARGS...]\n"
            "trio_coord._packed is the runtime of packed bundles: run the packed file itself",
            file=sys.stderr,
        )
        return 2
    path, attr, rest = args[0], args[1], args[2:]
    try:
        packed = open_packed(path, data=data, module=module)
    except (OSError, BundleFormatError) as exc:
        print(f"trio_coord: error: {path} is not a usable packed bundle: {exc}", file=sys.stderr)
        return 1
    spec = packed.install(attr)
    serve_argv = ["serve", spec, *rest]
    if plain_serve_arguments(serve_argv) is not None:  # what the supervisor runs: no argparse
        return cli_main(serve_argv)
    parser = build_parser(only="serve")
    parsed = parser.parse_args(serve_argv)
    if parsed.airflow_metadata:
        return _print_manifest(parser, parsed, packed, spec)
    return cli_main(serve_argv)


def _print_manifest(
    parser: argparse.ArgumentParser, parsed: argparse.Namespace, packed: PackedBundle, spec: str
) -> int:
    # The same checks, in the same order, as `serve --airflow-metadata`.
    from ._metadata import build_manifest, dump_manifest, parse_manifest_format

    if parsed.comm or parsed.logs:
        parser.error("--airflow-metadata cannot be combined with --comm/--logs")
    try:
        fmt = parse_manifest_format(parsed.format or "")
    except ValueError as exc:
        parser.error(str(exc))
    try:
        bundle = load_bundle(spec)
    except BundleLoadError as exc:
        parser.error(str(exc))
    defined = build_manifest(bundle)["dags"]
    if defined != packed.manifest["dags"]:
        print(
            f"trio_coord: error: {packed.path}: the embedded source defines the Dags {defined}, but the "
            f"embedded manifest, which Airflow routes tasks by, lists {packed.manifest['dags']}: the "
            "bundle's Dags depend on something outside its source; make them static and pack it again",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(packed.metadata_text if fmt == "json" else dump_manifest(packed.manifest, "yaml"))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
