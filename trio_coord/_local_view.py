"""What ``python -m trio_coord run`` prints: log records as they arrive, each try, the outcome.

Colour (ANSI escapes) is used only when asked for, or in ``auto`` mode when
the output is a terminal and ``NO_COLOR`` is unset or empty
(https://no-color.org); otherwise every line is plain text, so piped output
and log files stay clean.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Final, TextIO

from .testing import TaskRun

__all__ = ["LocalView", "format_log_record", "wants_colour"]

_SKIP: Final = frozenset({"timestamp", "level", "event", "logger", "exception"})

_RESET: Final = "\x1b[0m"
_DIM: Final = "\x1b[2m"
_BOLD: Final = "\x1b[1m"
_LEVEL_STYLES: Final = {
    "DEBUG": "\x1b[2;36m",  # dim cyan
    "INFO": "\x1b[32m",  # green
    "WARNING": "\x1b[33m",  # yellow
    "WARN": "\x1b[33m",
    "ERROR": "\x1b[31m",  # red
    "EXCEPTION": "\x1b[31m",
    "CRITICAL": "\x1b[1;31m",  # bold red
}
_STATE_STYLES: Final = {
    "success": "\x1b[1;32m",
    "failed": "\x1b[1;31m",
    "up_for_retry": "\x1b[1;33m",
    "skipped": "\x1b[1;35m",
    "removed": "\x1b[1;35m",
}
_LOGGER_STYLE: Final = "\x1b[36m"  # cyan


def wants_colour(mode: str, stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Decide on colour: ``always``, ``never``, or ``auto`` (a terminal, and ``NO_COLOR`` unset or empty)."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    if environ.get("NO_COLOR", ""):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def _paint(text: str, style: str, colour: bool) -> str:
    return f"{style}{text}{_RESET}" if colour and style and text else text


def format_log_record(record: Mapping[str, object], *, colour: bool = False) -> str:
    """One log record as a readable line: time, level, logger, event, fields, then any exception."""
    timestamp = str(record.get("timestamp") or "")
    clock = timestamp[11:23] if len(timestamp) >= 23 else timestamp
    level = str(record.get("level", "")).upper()
    logger = str(record.get("logger", ""))
    parts = [
        _paint(clock, _DIM, colour),
        _paint(f"{level:<8}", _LEVEL_STYLES.get(level, ""), colour),
        _paint(f"{logger}:", _LOGGER_STYLE, colour) if logger else "",
        str(record.get("event", "")),
    ]
    line = " ".join(part for part in parts if part)
    fields = [
        f"{key}={json.dumps(value, ensure_ascii=False, default=str)}"
        for key, value in record.items()
        if key not in _SKIP
    ]
    if fields:
        line += "  " + _paint(" ".join(fields), _DIM, colour)
    exception = record.get("exception")
    if isinstance(exception, list):
        for entry in exception:
            if not isinstance(entry, dict):
                continue
            line += "\n    " + _paint(
                f"{entry.get('exc_type')}: {entry.get('exc_value')}", "\x1b[31m", colour
            )
            frames = entry.get("frames")
            if isinstance(frames, list):
                for frame in frames[-5:]:
                    if isinstance(frame, dict):
                        where = f"{frame.get('filename')}:{frame.get('lineno')}"
                        line += "\n      " + _paint(f"at {where} in {frame.get('name')}", _DIM, colour)
    return line


class LocalView:
    """Prints a local run as it happens.

    Args:
        out: where to print (flushed after every line, so a live task shows up live).
        colour: use ANSI colours.
    """

    def __init__(self, out: TextIO, *, colour: bool = False) -> None:
        self.out = out
        self.colour = colour

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def log_record(self, record: Mapping[str, object]) -> None:
        """Print one log record (the embedded supervisor's ``on_log`` callback)."""
        self._print(format_log_record(record, colour=self.colour))

    def note(self, text: str) -> None:
        """Print a line of the command's own (dimmed on a terminal)."""
        self._print(_paint(text, _DIM, self.colour))

    def try_started(self, try_number: int, tries: int) -> None:
        """Print the header of a try, when there can be more than one."""
        if tries > 1:
            self._print(_paint(f"── try {try_number} of at most {tries} ──", _BOLD, self.colour))

    def try_ended(self, run: TaskRun, *, retried: bool = False) -> None:
        """Print what the real supervisor would flag about a try, and its state if ``retried``."""
        for line in run.output:
            self._print(line)
        for problem in run.problems:
            self._print(_paint(f"protocol problem: {problem}", "\x1b[1;31m", self.colour))
        if retried:
            self._print(f"try {run.try_number}: {self._state(run.state)} (runtime exit code {run.exit_code})")

    def _state(self, state: str | None) -> str:
        text = state or "no terminal message"
        return _paint(text, _STATE_STYLES.get(text, "\x1b[1m"), self.colour)

    def outcome(self, tries: Sequence[TaskRun], command_exit_code: int) -> None:
        """Print the final state and the XComs the last try pushed.

        The line names both exit codes: the runtime's (what Airflow's supervisor
        sees: 0 whenever the task's state was reported) and this command's
        (``command_exit_code``: 0 only for a task that succeeded).
        """
        last = tries[-1]
        after = f" after {len(tries)} tries" if len(tries) > 1 else ""
        self._print(
            f"state: {self._state(last.state)}{after} "
            f"(runtime exit code {last.exit_code}; this command exits {command_exit_code})"
        )
        for key, value in last.xcoms_pushed.items():
            self._print(f"xcom {key}: {json.dumps(value, ensure_ascii=False)}")
