"""Sphinx configuration of trio_coord's documentation (built by ``nox -s docs``)."""

from __future__ import annotations

from pathlib import Path

from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer

import trio_coord

HERE = Path(__file__).resolve().parent

project = "trio_coord"
author = "trio_coord developers"
copyright = "trio_coord developers"
version = release = trio_coord.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinxcontrib_trio",
    "sphinxarg.ext",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_inventories", "examples", "Thumbs.db", ".DS_Store"]

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# Keep the names of the public type aliases in signatures instead of their expansion.
autodoc_type_aliases = {
    "JsonValue": "trio_coord.JsonValue",
    "TaskFunction": "trio_coord.TaskFunction",
}
# Decoding and encoding wire maps is the runtime's business, not a task author's.
autodoc_default_options = {"exclude-members": "from_wire, to_wire, describe"}
python_maximum_signature_line_length = 90
napoleon_google_docstring = True
napoleon_numpy_docstring = False

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", str(HERE / "_inventories" / "python.inv")),
    "trio": ("https://trio.readthedocs.io/en/stable", str(HERE / "_inventories" / "trio.inv")),
}

html_theme = "furo"
html_title = f"trio_coord {release}"


# ---------------------------------------------------------------------------
# The public names live in private modules and are re-exported lazily by
# trio_coord/__init__.py (PEP 562). Autodoc finds a constant's ``#:`` comment
# only in the module it documents, so for ``trio_coord.X`` it would show the
# docstring of the value's type (``float``, ``str``). Take the comment from the
# module that defines the name instead: one source for the text.


def _defining_module(name: str) -> str | None:
    package, _, short = name.rpartition(".")
    if package == "trio_coord":
        if short == "__version__":
            return "trio_coord._version"
        relative = trio_coord._LAZY.get(short)
        return None if relative is None else "trio_coord" + relative
    return None


def _attribute_docs(
    app: Sphinx, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    if what not in ("data", "attribute"):
        return
    module = _defining_module(name)
    if module is None:
        return
    docs = ModuleAnalyzer.for_module(module).find_attr_docs()
    comment = docs.get(("", name.rpartition(".")[2]))
    if comment:
        lines[:] = [*comment]


# ---------------------------------------------------------------------------
def setup(app: Sphinx) -> None:
    app.connect("autodoc-process-docstring", _attribute_docs)
