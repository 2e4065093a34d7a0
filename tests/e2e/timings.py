"""Step timings of the e2e run: printed as each step ends, and listed again at the end.

No third-party imports: the conftest's terminal-summary hook uses this module
even where Airflow (and httpx) are not installed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Timing:
    """How long one step took."""

    step: str
    seconds: float


#: Every timed step of this process, in order.
TIMINGS: Final[list[Timing]] = []


@contextlib.contextmanager
def timed(step: str) -> Iterator[None]:
    """Time the block, record it in :data:`TIMINGS` and print it (also when it fails)."""
    start = time.monotonic()
    outcome = "failed after"
    try:
        yield
        outcome = "took"
    finally:
        seconds = time.monotonic() - start
        TIMINGS.append(Timing(step if outcome == "took" else f"{step} (failed)", seconds))
        print(f"[e2e] {step} {outcome} {seconds:.1f} s", flush=True)


def record(step: str, seconds: float) -> None:
    """Record (and print) a duration measured elsewhere."""
    TIMINGS.append(Timing(step, seconds))
    print(f"[e2e] {step}: {seconds:.1f} s", flush=True)
