"""The public namespace: every exported name resolves, lazily, to what its module defines."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import trio_coord


def test_all_matches_the_lazy_table() -> None:
    assert set(trio_coord.__all__) == {*trio_coord._LAZY, "__version__"}
    assert len(trio_coord.__all__) == len(set(trio_coord.__all__))


def test_every_name_resolves_to_its_module_attribute() -> None:
    for name, module in trio_coord._LAZY.items():
        expected = getattr(importlib.import_module(module, "trio_coord"), name)
        assert getattr(trio_coord, name) is expected, name
    assert set(trio_coord._LAZY) <= set(dir(trio_coord))


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        getattr(trio_coord, "no_such_thing")  # noqa: B009 - the point is a dynamic lookup


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = (
        "import sys, trio_coord; "
        "print(sorted(m for m in sys.modules if m.startswith(('trio_coord', 'trio', 'msgpack'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['trio_coord', 'trio_coord._version']"


def test_a_run_imports_none_of_what_start_up_does_not_need() -> None:
    # Every task instance is a fresh process (issue 16): what `python -m trio_coord serve` and a
    # bundle import is paid by every run. These modules are imported only where they are used.
    code = (
        "import sys; from trio_coord import Bundle, TaskContext; import trio_coord.__main__; "
        "import trio_coord._serve, trio_coord._client, trio_coord._logging; "
        "print(sorted(m for m in ('json', 'argparse', 'dataclasses', 'importlib.abc', 'mmap', 'shlex') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
    ).stdout
    assert out.strip() == "[]"
