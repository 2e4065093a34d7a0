"""The trio_coord version (single source: pyproject reads it from here)."""

from __future__ import annotations

#: The installed trio_coord version (also ``sdk.version`` in a bundle manifest).
__version__ = "0.1.0"
