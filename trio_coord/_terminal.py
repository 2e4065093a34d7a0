"""The terminal frame's single owner, shared by the trio side and the watchdog thread.

Theory of operation
===================

A task ends with exactly one terminal frame, and the 1.3.2 supervisor keeps
the *last* ``TaskState`` it receives, so a second terminal frame is not
harmless: it can overwrite a delivered ``SucceedTask`` with a failure. Two
parties may want to send one: the trio side (the task's own outcome, or the
failure it reports for a task that ignored cancellation past the grace
period), and the watchdog thread (a task that blocks the event loop after a
signal). Both go through one :class:`TerminalGate`:

* :meth:`TerminalGate.claim` moves the gate from ``NONE`` to ``WRITING``
  under a lock and names the owner. Only the party whose claim succeeded may
  write a terminal frame, and a claim only succeeds once: after the first
  byte of a terminal frame may have left, nothing else is ever sent as a
  terminal, by anyone.
* The owner then records ``WRITTEN`` (the whole frame was handed to the
  operating system) and ``ACKNOWLEDGED`` (the supervisor's ``[id, nil, nil]``
  reply arrived). Phases only move forward.

The exit-code contract follows from the phase the gate ends in
(:meth:`TerminalGate.exit_code`): ``WRITTEN`` or ``ACKNOWLEDGED`` exit 0 (the
state is in the frame; a supervisor that read the frame but whose reply was
lost has the state, and one that went away cannot use an exit code either);
``NONE`` or ``WRITING`` (nothing sent, or a frame that may be cut short)
exit 1, so that the supervisor derives the state from the exit code.

:func:`write_frame_blocking` is how a thread other than trio's writes a
terminal frame: on a duplicate of the comm socket's descriptor, bounded, with
the frame id the trio side reserved for it in advance (``next_id`` is never
called off the trio thread).
"""

from __future__ import annotations

import enum
import os
import socket
import threading
from typing import Final

from ._framing import encode_request, frame_prefix
from ._messages import TerminalMessage

__all__ = ["TerminalGate", "TerminalPhase", "write_frame_blocking"]


class TerminalPhase(enum.IntEnum):
    """How far the one terminal frame got (phases only move forward)."""

    NONE = 0
    WRITING = 1
    WRITTEN = 2
    ACKNOWLEDGED = 3


#: The phases after which the process exits 0.
DELIVERED: Final = frozenset({TerminalPhase.WRITTEN, TerminalPhase.ACKNOWLEDGED})


class TerminalGate:
    """Decides who sends the one terminal frame; thread-safe, never blocks for long.

    Every method takes an internal lock held only for a few attribute
    updates, so it is safe to call from the trio thread and from the
    watchdog thread (not from a signal handler).
    """

    __slots__ = ("_lock", "_message", "_owner", "_phase")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._phase = TerminalPhase.NONE
        self._owner: str | None = None
        self._message: TerminalMessage | None = None

    @property
    def phase(self) -> TerminalPhase:
        """The current phase."""
        return self._phase

    @property
    def owner(self) -> str | None:
        """Who claimed the terminal frame (``None`` before a claim)."""
        return self._owner

    @property
    def message(self) -> TerminalMessage | None:
        """The terminal message claimed for (``None`` before a claim)."""
        return self._message

    def claim(self, owner: str, message: TerminalMessage) -> bool:
        """Become the only sender of the terminal frame; ``False`` if someone already is."""
        with self._lock:
            if self._phase is not TerminalPhase.NONE:
                return False
            self._phase = TerminalPhase.WRITING
            self._owner = owner
            self._message = message
            return True

    def release(self, owner: str) -> None:
        """Give a claim back: ``owner`` wrote no byte of its frame (it could not be encoded).

        Raises:
            RuntimeError: ``owner`` does not hold the claim, or has written.
        """
        with self._lock:
            if self._owner != owner or self._phase is not TerminalPhase.WRITING:
                raise RuntimeError(f"{owner} cannot release a terminal claim it does not hold ({self})")
            self._phase = TerminalPhase.NONE
            self._owner = None
            self._message = None

    def advance(self, owner: str, phase: TerminalPhase) -> None:
        """Record that ``owner``'s frame reached ``phase`` (never moves backwards).

        Raises:
            RuntimeError: ``owner`` does not hold the claim.
        """
        with self._lock:
            if self._owner != owner:
                raise RuntimeError(f"{owner} does not own the terminal frame ({self})")
            if phase > self._phase:
                self._phase = phase

    def exit_code(self) -> int:
        """0 once a terminal frame was written whole, else 1 (see the module docstring)."""
        return 0 if self._phase in DELIVERED else 1

    def __repr__(self) -> str:
        return f"TerminalGate(phase={self._phase.name}, owner={self._owner!r})"


def write_frame_blocking(fd: int, frame_id: int, message: TerminalMessage, timeout: float = 1.0) -> None:
    """Write one request frame from a thread that is not trio's (blocking, bounded).

    Uses a duplicate of the socket descriptor ``fd``, so trio's non-blocking
    socket object is left untouched.

    Raises:
        OSError: the socket is closed or broken, or the write took longer
            than ``timeout`` seconds (the frame may then be cut short).
        LocalProtocolError: the message cannot be encoded (nothing written).
    """
    payload = encode_request(frame_id, message.to_wire())
    with socket.socket(fileno=os.dup(fd)) as raw:
        raw.settimeout(timeout)
        raw.sendall(frame_prefix(len(payload)) + payload)
