"""Progress on stderr for the long-running commands, only when stderr is a terminal.

One line rewritten in place (``\\r``), ended by a newline when the run is over, so a log or a
pipe never sees it and a terminal keeps the last count on screen.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

Progress = Callable[[int, int], None]


class Meter:
    """``meter(done, total)`` rewrites ``<command>: <done>/<total> <what>``; ``end()`` closes it."""

    def __init__(self, command: str, what: str, stream: TextIO | None = None) -> None:
        self._command = command
        self._what = what
        self._stream = stream if stream is not None else sys.stderr
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        self._last = f"{self._command}: {done}/{total} {self._what}"
        print(f"\r{self._last}", end="", file=self._stream, flush=True)
        self._shown = True

    def note(self, text: str) -> None:
        """Print ``text`` as a line of its own above the meter, then draw the meter again."""
        if self._shown:
            print("\r\x1b[K", end="", file=self._stream)  # erase the meter's line
        print(text, file=self._stream, flush=True)
        if self._shown:
            print(self._last, end="", file=self._stream, flush=True)

    def end(self) -> None:
        if self._shown:
            print(file=self._stream)
            self._shown = False
        self._last = ""


def meter(command: str, what: str) -> Meter | None:
    """A ``Meter`` when stderr is a terminal, else None (nothing to print)."""
    return Meter(command, what) if sys.stderr.isatty() else None
