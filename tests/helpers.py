"""Helpers shared by tests: a supervisor-shaped StartupDetails body."""

from __future__ import annotations

import datetime as dt
from typing import Any

from trio_coord.testing import EmbeddedSupervisor


def startup_body(dag_id: str = "dag", task_id: str = "task", **overrides: Any) -> dict[str, Any]:
    """A StartupDetails body as the 1.3.2 supervisor builds it (aware datetimes)."""
    body = EmbeddedSupervisor().startup_details(dag_id, task_id, **overrides)
    assert isinstance(body["start_date"], dt.datetime)
    return body
