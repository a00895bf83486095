"""Progress display for the CLI, fed by the graph's custom stream events (stderr only)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """A one-line bar with an ETA on a terminal; plain lines otherwise.

    The ETA is based on the chunk calls still ahead in this run, at the rate seen so far.
    """

    def __init__(self, stream: TextIO | None = None, verbose: bool = False, quiet: bool = False):
        self.out = stream or sys.stderr
        self.tty = self.out.isatty()
        self.verbose, self.quiet = verbose, quiet
        self.start = time.monotonic()
        self.chunks = self.passes = self.pass_index = 0
        self.stage, self.done, self.total = "reading", 0, 0
        self.calls_done = 0
        self._last_line = 0.0

    def _calls_left(self) -> int:
        per_pass = self.chunks
        left_in_pass = max(0, self.total - self.done) if self.stage in ("summaries", "map") else 0
        later_passes = max(0, self.passes - self.pass_index - 1)
        return left_in_pass + later_passes * per_pass

    def _eta(self) -> str:
        elapsed = time.monotonic() - self.start
        if not self.calls_done:
            return "--:--"
        return _clock(elapsed / self.calls_done * self._calls_left())

    def _bar(self) -> str:
        width = 24
        filled = int(width * self.done / self.total) if self.total else 0
        head = f"pass {self.pass_index + 1}/{self.passes or '?'}" if self.passes else "starting"
        return (f"{head} {self.stage:<9} [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done}/{self.total}  elapsed {_clock(time.monotonic() - self.start)}"
                f"  eta {self._eta()}")

    def _show(self, force: bool = False) -> None:
        if self.quiet:
            return
        if self.tty:
            self.out.write("\r\033[K" + self._bar())
            self.out.flush()
        elif force or time.monotonic() - self._last_line > 5:
            self.out.write(self._bar() + "\n")
            self._last_line = time.monotonic()

    def say(self, text: str) -> None:
        """A line above the bar (verbose details, notes)."""
        if self.quiet:
            return
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(text + "\n")
        self._show(force=not self.tty)

    def event(self, event: dict[str, Any]) -> None:
        """Update from one custom stream event."""
        kind = event.get("event")
        if kind == "ingested":
            self.chunks = int(event["chunks"])
            self.say(f"read {event['documents']} document(s) into {self.chunks} chunks")
        elif kind == "plan":
            self.passes = len(event["sub_questions"]) + 1
            if self.verbose:
                plan = "\n".join(f"  {i}. {q}" for i, q in enumerate(event["sub_questions"], 1))
                self.say("plan:\n" + plan)
        elif kind == "pass_start":
            self.pass_index, self.passes = int(event["index"]), int(event["passes"])
            self.stage, self.done, self.total = "map", 0, self.chunks
            if self.verbose:
                label = "final question" if event["final"] else f"sub-question {event['index'] + 1}"
                self.say(f"{label}: {event['question']}")
        elif kind in ("summary_done", "map_done"):
            stage = "summaries" if kind == "summary_done" else "map"
            if stage != self.stage:
                self.stage, self.done, self.total = stage, 0, self.chunks
            self.done += 1
            self.calls_done += 1
        elif kind == "collapse_round":
            self.stage, self.done, self.total = "collapse", 0, int(event["merges"])
        elif kind == "pass_done" and self.verbose and not event["final"]:
            self.say(f"  answer: {event['answer']}")
        self._show()

    def close(self) -> None:
        """End the bar line."""
        if self.tty and not self.quiet:
            self.out.write("\r\033[K")
            self.out.flush()
