"""Progress display for the CLI, fed by the graph's custom stream events (stderr only).

On a terminal one line is redrawn in place: the pass, the stage, a bar, elapsed time and an
ETA. Elsewhere (a log file, CI) a plain line is written at most every few seconds.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

BAR_WIDTH = 24
PLAIN_EVERY = 5.0


def clock(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` past an hour."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """A one-line bar with an ETA on a terminal; plain lines otherwise.

    The ETA counts the chunk tasks still ahead in the whole run (summaries once, then a map
    call per chunk and a reduce per pass) at the average time per task seen so far; collapse
    merges cannot be foreseen and are counted once they start.
    """

    def __init__(self, stream: TextIO | None = None, verbose: bool = False, quiet: bool = False):
        self.out = stream or sys.stderr
        self.tty = self.out.isatty()
        self.verbose, self.quiet = verbose, quiet
        self.start = time.monotonic()
        self.work_start: float | None = None
        self.chunks = self.passes = self.pass_index = 0
        self.stage, self.done, self.total = "starting", 0, 0
        self.tasks_done = 0
        self.summaries_left = 0
        self.maps_done = 0
        self.reduce_done = False
        self.merges_left = 0
        self._last_line = 0.0
        self._drawn = False

    # -- estimates ---------------------------------------------------------------------------

    def tasks_left(self) -> int | None:
        """Tasks still ahead in the run, or None before the plan is known."""
        if not self.passes:
            return None
        this_pass = (self.summaries_left + max(0, self.chunks - self.maps_done)
                     + self.merges_left + (0 if self.reduce_done else 1))
        later = max(0, self.passes - self.pass_index - 1) * (self.chunks + 1)
        return this_pass + later

    def eta(self) -> str:
        """Time left at the pace so far, `--:--` until one task has finished."""
        left = self.tasks_left()
        if left is None or not self.tasks_done or self.work_start is None:
            return "--:--"
        pace = (time.monotonic() - self.work_start) / self.tasks_done
        return clock(pace * left)

    def line(self) -> str:
        """The status line: pass, stage, bar, counts, elapsed time and ETA."""
        filled = int(BAR_WIDTH * self.done / self.total) if self.total else 0
        head = f"pass {self.pass_index + 1}/{self.passes}" if self.passes else "preparing"
        count = f"{self.done}/{self.total}" if self.total else ""
        return (f"{head} {self.stage:<9} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                f"{count:>7}  elapsed {clock(time.monotonic() - self.start)}  eta {self.eta()}")

    # -- output ------------------------------------------------------------------------------

    def _show(self, force: bool = False) -> None:
        if self.quiet:
            return
        if self.tty:
            self.out.write("\r\033[K" + self.line())
            self._drawn = True
            self.out.flush()
        elif force or time.monotonic() - self._last_line > PLAIN_EVERY:
            self.out.write(self.line() + "\n")
            self.out.flush()
            self._last_line = time.monotonic()

    def say(self, text: str) -> None:
        """A line above the bar (setup, verbose details, notes)."""
        if self.quiet:
            return
        if self.tty and self._drawn:
            self.out.write("\r\033[K")
        self.out.write(text + "\n")
        self.out.flush()
        if self._drawn:
            self._show()

    def close(self) -> None:
        """Clear the bar line so what follows starts on a clean line."""
        if self.tty and not self.quiet and self._drawn:
            self.out.write("\r\033[K")
            self.out.flush()
        self._drawn = False

    # -- events ------------------------------------------------------------------------------

    def _set_stage(self, stage: str, total: int) -> None:
        if stage != self.stage:
            self.stage, self.done, self.total = stage, 0, total

    def _task_done(self) -> None:
        self.done += 1
        self.tasks_done += 1

    def event(self, event: dict[str, Any]) -> None:
        """Update from one custom stream event."""
        kind = event.get("event")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)
        self._show()

    def _on_ingested(self, event: dict[str, Any]) -> None:
        self.chunks = self.summaries_left = int(event["chunks"])
        self.say(f"read {event['documents']} document(s) into {self.chunks} chunks")

    def _on_plan(self, event: dict[str, Any]) -> None:
        self.passes = len(event["sub_questions"]) + 1
        if self.verbose:
            plan = "\n".join(f"  {i}. {q}" for i, q in enumerate(event["sub_questions"], 1))
            self.say(f"plan ({len(event['sub_questions'])} sub-questions, then the question "
                     f"itself):\n{plan}")

    def _on_pass_start(self, event: dict[str, Any]) -> None:
        self.pass_index, self.passes = int(event["index"]), int(event["passes"])
        self.maps_done, self.merges_left, self.reduce_done = 0, 0, False
        self.work_start = self.work_start or time.monotonic()
        self._set_stage("summaries" if self.summaries_left else "map", self.chunks)
        if self.verbose:
            label = ("final question" if event["final"]
                     else f"sub-question {event['index'] + 1}/{event['passes'] - 1}")
            self.say(f"{label}: {event['question']}")

    def _on_summary_done(self, event: dict[str, Any]) -> None:
        self._set_stage("summaries", self.chunks)
        self.summaries_left = max(0, self.summaries_left - 1)
        self._task_done()

    def _on_map_done(self, event: dict[str, Any]) -> None:
        self.summaries_left = 0
        self._set_stage("map", self.chunks)
        self.maps_done += 1
        self._task_done()

    def _on_mapped(self, event: dict[str, Any]) -> None:
        if self.verbose:
            self.say(f"  {event['relevant']} of {event['chunks']} chunks had something to say")

    def _on_collapse_round(self, event: dict[str, Any]) -> None:
        self.merges_left = int(event["merges"])
        self.stage, self.done, self.total = "collapse", 0, self.merges_left
        if self.verbose:
            self.say(f"  collapse round {event['round']}: merging {event['merges']} pair(s) of "
                     f"{event['findings']} findings to fit the window")

    def _on_merge_done(self, event: dict[str, Any]) -> None:
        self.merges_left = max(0, self.merges_left - 1)
        self._task_done()

    def _on_answer(self, event: dict[str, Any]) -> None:
        self.reduce_done = True
        self.stage, self.done, self.total = "reduce", 1, 1
        self.tasks_done += 1

    def _on_pass_done(self, event: dict[str, Any]) -> None:
        if self.verbose and not event["final"]:
            self.say(f"  answer {event['index'] + 1}: {event['answer']}")
