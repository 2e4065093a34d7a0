"""Fenced code blocks of the Markdown pages, and shell transcripts in them (shared by the docs tests).

No third-party imports: the e2e session's tutorial test uses this module too.

A ``console`` block is a transcript: ``$ command`` lines, each followed by the
output it shows. :func:`assert_shown` checks that output against what the
command printed: each shown line must match a later printed line than the one
before; ``...`` stands for any lines (alone on a line) or any text (inside a
line); clock times and durations are not compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Block", "Step", "assert_shown", "blocks", "shown_in", "transcript"]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    info: str
    body: str

    def __str__(self) -> str:
        return f"{self.page.name}:{self.line} ({self.info or 'no language'})"


_FENCE = re.compile(
    r"^(?P<fence>`{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.MULTILINE | re.DOTALL
)


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page (MyST directives such as ``{literalinclude}`` excluded)."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        info = match["info"].strip()
        if info.startswith("{"):
            continue
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(page, line, info.split()[0] if info else "", match["body"]))
    return found


_CLOCK = re.compile(r"\b\d\d:\d\d:\d\d\.\d{3}\b")
_DURATION = re.compile(r"\bin \d+(\.\d+)?s\b")


def _normal(line: str) -> str:
    return _DURATION.sub("in N.NNs", _CLOCK.sub("HH:MM:SS.mmm", line.rstrip()))


def _pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in _normal(expected).split("...")))


def shown_in(expected: list[str], actual: str) -> str | None:
    """``None`` when each expected line matches a later actual line than the one before
    ("..." lines skip); otherwise the first expected line that does not."""
    lines = [_normal(line) for line in actual.splitlines()]
    position = 0
    for wanted in expected:
        if wanted.strip() == "...":
            continue
        pattern = _pattern(wanted)
        while position < len(lines) and not pattern.fullmatch(lines[position]):
            position += 1
        if position >= len(lines):
            return wanted
        position += 1
    return None


def assert_shown(expected: list[str], actual: str, where: str) -> None:
    """Fail, naming the line, unless :func:`shown_in` finds every expected line in order."""
    missing = shown_in(expected, actual)
    assert missing is None, f"{where}: {missing!r} not in the output (in order):\n{actual}"


@dataclass
class Step:
    command: str
    output: list[str]


def transcript(block: Block) -> list[Step]:
    steps: list[Step] = []
    for line in block.body.splitlines():
        if line.startswith("$ "):
            steps.append(Step(line[2:], []))
        else:
            assert steps, f"{block}: output before the first $ command"
            steps[-1].output.append(line)
    return steps
