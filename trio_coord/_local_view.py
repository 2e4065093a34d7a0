"""Human-readable output of ``python -m trio_coord run``."""

from __future__ import annotations

import json
from typing import TextIO

from .testing import TaskRun

__all__ = ["format_log_record", "print_run"]

_SKIP: frozenset[str] = frozenset({"timestamp", "level", "event", "logger"})


def format_log_record(record: dict[str, object]) -> str:
    """One log record as a readable line: time, level, logger, event, fields."""
    timestamp = str(record.get("timestamp") or "")
    clock = timestamp[11:23] if len(timestamp) >= 23 else timestamp
    level = str(record.get("level", "")).upper()
    parts = [clock, f"{level:<8}", f"{record.get('logger', '')}:", str(record.get("event", ""))]
    fields = [
        f"{key}={json.dumps(value, ensure_ascii=False, default=str)}"
        for key, value in record.items()
        if key not in _SKIP and key != "exception"
    ]
    line = " ".join(part for part in parts if part)
    if fields:
        line += "  " + " ".join(fields)
    exception = record.get("exception")
    if isinstance(exception, list):
        for entry in exception:
            if isinstance(entry, dict):
                line += f"\n    {entry.get('exc_type')}: {entry.get('exc_value')}"
                frames = entry.get("frames")
                if isinstance(frames, list):
                    for frame in frames[-5:]:
                        if isinstance(frame, dict):
                            where = f"{frame.get('filename')}:{frame.get('lineno')}"
                            line += f"\n      at {where} in {frame.get('name')}"
    return line


def print_run(run: TaskRun, out: TextIO, *, logs: bool = True) -> None:
    """Print a finished run: its log lines (unless streamed already), state and XComs."""
    if logs:
        for record in run.logs:
            print(format_log_record(record), file=out)
    for line in run.output:
        print(line, file=out)
    for problem in run.problems:
        print(f"protocol problem: {problem}", file=out)
    print(f"state: {run.state or 'no terminal message'} (exit code {run.exit_code})", file=out)
    for key, value in run.xcoms_pushed.items():
        print(f"xcom {key}: {json.dumps(value, ensure_ascii=False)}", file=out)
    out.flush()
