"""Modules loaded on first use, to keep a task run's start-up short."""

from __future__ import annotations

import importlib.util
import sys
import types

__all__ = ["lazy_module"]


def lazy_module(name: str) -> types.ModuleType:
    """Return module ``name``, executed only when one of its attributes is first used.

    Uses :class:`importlib.util.LazyLoader`; an already imported module is
    returned as it is.
    """
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:  # pragma: no cover - our own module always exists
        raise ImportError(f"cannot find module {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
