"""A progress bar for evaluation runs: one line on a terminal, a line every few seconds else."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def clock(seconds: float) -> str:
    """`m:ss`."""
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Bar:
    """Answers done out of the total, errors, elapsed time and an ETA from the rate so far."""

    def __init__(self, total: int, done: int = 0, stream: TextIO | None = None,
                 quiet: bool = False, every: float = 5.0) -> None:
        self.out = stream or sys.stderr
        self.tty = self.out.isatty()
        self.total, self.skipped, self.done, self.errors = total, done, 0, 0
        self.quiet, self.every = quiet, every
        self.start = time.monotonic()
        self.last = ""
        self._shown = 0.0

    def _line(self) -> str:
        width = 24
        finished = self.skipped + self.done
        filled = int(width * finished / self.total) if self.total else width
        elapsed = time.monotonic() - self.start
        left = self.total - finished
        eta = clock(elapsed / self.done * left) if self.done else "--:--"
        return (f"eval [{'#' * filled}{'.' * (width - filled)}] {finished}/{self.total}  "
                f"errors {self.errors}  elapsed {clock(elapsed)}  eta {eta}  {self.last}")

    def advance(self, note: str, failed: bool = False) -> None:
        """One answer finished; `note` is shown after the bar (e.g. its score)."""
        self.done += 1
        self.errors += failed
        self.last = note
        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            self.out.write("\r\033[K" + self._line())
            self.out.flush()
        elif now - self._shown >= self.every or self.skipped + self.done == self.total:
            self.out.write(self._line() + "\n")
            self.out.flush()
            self._shown = now

    def close(self) -> None:
        """End the bar's line."""
        if self.tty and not self.quiet:
            self.out.write("\n")
            self.out.flush()
