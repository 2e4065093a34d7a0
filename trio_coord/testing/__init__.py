"""Testing kit for trio task authors: an embedded supervisor with an in-memory store."""

from __future__ import annotations

from ._handlers import RequestHandlers as RequestHandlers
from ._store import (
    StartupOptions as StartupOptions,
    SupervisorStore as SupervisorStore,
    TaskRun as TaskRun,
    XComKey as XComKey,
)
from ._supervisor import EmbeddedSupervisor as EmbeddedSupervisor
from ._validation import validate_log_line as validate_log_line, validate_request as validate_request

__all__ = [
    "EmbeddedSupervisor",
    "RequestHandlers",
    "StartupOptions",
    "SupervisorStore",
    "TaskRun",
    "XComKey",
    "validate_log_line",
    "validate_request",
]
