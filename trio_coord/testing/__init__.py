"""Testing kit for trio task authors: an embedded supervisor with an in-memory store."""

from __future__ import annotations

from ._supervisor import (
    EmbeddedSupervisor as EmbeddedSupervisor,
)
from ._supervisor import (
    StartupOptions as StartupOptions,
)
from ._supervisor import (
    SupervisorStore as SupervisorStore,
)
from ._supervisor import (
    TaskRun as TaskRun,
)
from ._supervisor import (
    XComKey as XComKey,
)
from ._supervisor import (
    validate_log_line as validate_log_line,
)
from ._supervisor import (
    validate_request as validate_request,
)

__all__ = [
    "EmbeddedSupervisor",
    "StartupOptions",
    "SupervisorStore",
    "TaskRun",
    "XComKey",
    "validate_log_line",
    "validate_request",
]
