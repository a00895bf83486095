"""Progress display for the CLI, fed by the graph's custom stream events (stderr only).

On a terminal one line is redrawn in place, at least every second even while a call is in
flight: the pass, the stage, a bar, elapsed time and an ETA, cut to the terminal's width so it
never wraps. Elsewhere (a log file, CI) a plain line is written at least every few seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

BAR_WIDTH = 24
PLAIN_EVERY = 5.0
"""Seconds between plain lines in a log; the ticker keeps gaps under twice this."""
REDRAW_EVERY = 1.0
"""Seconds between redraws of the terminal line while nothing finishes."""
ETA_MIN_TASKS = 3
"""Finished tasks before an ETA is shown: one or two measured calls mislead."""
IN_FLIGHT_CAP = 0.9
"""The bar never shows a running task as more than this far along."""
KINDS = ("summary", "map", "merge", "reduce")


def clock(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` past an hour."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def terminal_columns(stream: TextIO) -> int:
    """Columns of the terminal behind `stream` (80 when it cannot be told)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


class Rates:
    """Seconds per finished task, by kind, from the gaps between completions.

    Each completion is charged the time since the previous one, so the figures are wall time
    per task at the run's real concurrency, and they add up to the work time.
    """

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(KINDS, 0.0)
        self.count = dict.fromkeys(KINDS, 0)

    def add(self, kind: str, seconds: float) -> None:
        """Charge one finished task of `kind`."""
        self.seconds[kind] += max(0.0, seconds)
        self.count[kind] += 1

    @property
    def total(self) -> int:
        """Tasks measured so far."""
        return sum(self.count.values())

    def per_task(self, kind: str) -> float | None:
        """Seconds per task of `kind`; the mean of all kinds until one is measured."""
        if self.count.get(kind):
            return self.seconds[kind] / self.count[kind]
        if self.total:
            return sum(self.seconds.values()) / self.total
        return None


class Progress:
    """A one-line bar with an ETA on a terminal; plain lines otherwise.

    The ETA counts the tasks still ahead in the whole run (summaries once, then a map call
    per chunk and a reduce per pass, and collapse merges once they are announced) at the
    measured seconds per task of each kind, less the time the running task has already had.
    """

    def __init__(self, stream: TextIO | None = None, verbose: bool = False, quiet: bool = False,
                 columns: Callable[[], int] | None = None):
        self.out = stream or sys.stderr
        self.tty = self.out.isatty()
        self.verbose, self.quiet = verbose, quiet
        self._columns = columns or (lambda: terminal_columns(self.out))
        self.start = self._now()
        self.work_start: float | None = None
        self.last_done: float | None = None
        self.rates = Rates()
        self.chunks = self.passes = self.pass_index = 0
        self.stage, self.done, self.total = "starting", 0, 0
        self.tasks_done = 0
        self.summaries_left = 0
        self.maps_done = 0
        self.reduce_done = False
        self.merges_left = 0
        self._last_line = self.start  # a log gets its first status line after PLAIN_EVERY
        self._drawn = False
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    # -- estimates ---------------------------------------------------------------------------

    def _left_by_kind(self) -> dict[str, int] | None:
        if not self.passes:
            return None
        later = max(0, self.passes - self.pass_index - 1)
        return {"summary": self.summaries_left,
                "map": max(0, self.chunks - self.maps_done) + later * self.chunks,
                "merge": self.merges_left,
                "reduce": (0 if self.reduce_done else 1) + later}

    def tasks_left(self) -> int | None:
        """Tasks still ahead in the run, or None before the plan is known."""
        left = self._left_by_kind()
        return None if left is None else sum(left.values())

    def _current_kind(self) -> str:
        return {"summaries": "summary", "collapse": "merge"}.get(self.stage, self.stage)

    def _in_flight(self) -> float:
        """Seconds the task now running has had (since the last one finished)."""
        since = self.last_done if self.last_done is not None else self.work_start
        return 0.0 if since is None else max(0.0, self._now() - since)

    def seconds_left(self) -> float | None:
        """Estimated seconds to the end, or None until the estimate means something."""
        left = self._left_by_kind()
        if left is None or self.rates.total < ETA_MIN_TASKS or self.work_start is None:
            return None
        estimate = 0.0
        for kind, count in left.items():
            estimate += count * (self.rates.per_task(kind) or 0.0)
        # count down while a task runs, but never past what that one task should take
        running = self.rates.per_task(self._current_kind()) or 0.0
        return max(0.0, estimate - min(self._in_flight(), running))

    def eta(self) -> str:
        """Time left, `--:--` until a few tasks have been measured."""
        left = self.seconds_left()
        return "--:--" if left is None else clock(left)

    def _bar_fraction(self) -> float:
        if not self.total:
            return 0.0
        done = float(self.done)
        if self.done < self.total and self.work_start is not None:
            per_task = self.rates.per_task(self._current_kind())
            if per_task:
                done += min(IN_FLIGHT_CAP, self._in_flight() / per_task)
        return min(1.0, done / self.total)

    def line(self, bar_width: int = BAR_WIDTH) -> str:
        """The status line: pass, stage, bar, counts, elapsed time and ETA."""
        head = f"pass {self.pass_index + 1}/{self.passes}" if self.passes else "preparing"
        count = f"{self.done}/{self.total}" if self.total else ""
        bar = ""
        if bar_width > 0:
            filled = int(bar_width * self._bar_fraction())
            bar = f" [{'#' * filled}{'.' * (bar_width - filled)}]"
        return (f"{head} {self.stage:<9}{bar} {count:>7}  elapsed "
                f"{clock(self._now() - self.start)}  eta {self.eta()}")

    # -- output ------------------------------------------------------------------------------

    def _fitted(self) -> str:
        """The line in one column less than the terminal, so it never wraps.

        The bar shrinks first (and goes below 6 columns); the counts, clock and ETA are cut
        only when even the bare line does not fit.
        """
        width = max(1, self._columns() - 1)
        text = self.line()
        if len(text) <= width:
            return text
        room = BAR_WIDTH - (len(text) - width)
        text = self.line(room if room >= 6 else 0)
        return text if len(text) <= width else text[:width]

    def _show(self, force: bool = False) -> None:
        if self.quiet:
            return
        with self._lock:
            if self.tty:
                self.out.write("\r\033[K" + self._fitted())
                self._drawn = True
                self.out.flush()
            elif force or self._now() - self._last_line >= PLAIN_EVERY:
                self.out.write(self.line() + "\n")
                self.out.flush()
                self._last_line = self._now()

    def tick(self) -> None:
        """Redraw on a terminal; in a log, write a line if none was written lately."""
        self._show()

    def start_ticker(self, every: float = REDRAW_EVERY) -> None:
        """Keep the clock and bar moving from a daemon thread until `close`."""
        if self.quiet or self._ticker is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(every):
                self.tick()

        self._ticker = threading.Thread(target=loop, name="longcepo-progress", daemon=True)
        self._ticker.start()

    def say(self, text: str) -> None:
        """A line above the bar (setup, verbose details, notes)."""
        if self.quiet:
            return
        with self._lock:
            if self.tty and self._drawn:
                self.out.write("\r\033[K")
            self.out.write(text + "\n")
            self.out.flush()
            if self._drawn:
                self._show()

    def close(self) -> None:
        """Stop the ticker and clear the bar line so what follows starts on a clean line."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2 * REDRAW_EVERY)
            self._ticker = None
        with self._lock:
            if self.tty and not self.quiet and self._drawn:
                self.out.write("\r\033[K")
                self.out.flush()
            self._drawn = False

    # -- resume ------------------------------------------------------------------------------

    def resume_from(self, values: Mapping[str, Any]) -> None:
        """Rebuild pass, chunk and plan counters from a checkpointed run's state."""
        with self._lock:
            self._resume_from(values)
        self._show()

    def _resume_from(self, values: Mapping[str, Any]) -> None:
        self.chunks = sum(int(d.get("n_chunks", 0)) for d in values.get("documents") or [])
        subs = values.get("sub_questions")
        if subs is None:
            self.stage = "planning"
            return
        self.passes = len(subs) + 1
        self.pass_index = max(0, int(values.get("pass_index", 0) or 0))
        # summaries are made in the first pass; map_done events say when they are over
        self.summaries_left = self.chunks if self.pass_index == 0 else 0
        self.work_start = self.last_done = self._now()
        self._set_stage("resuming", self.chunks)

    # -- events ------------------------------------------------------------------------------

    def _set_stage(self, stage: str, total: int) -> None:
        if stage != self.stage:
            self.stage, self.done, self.total = stage, 0, total

    def _task_done(self, kind: str) -> None:
        now = self._now()
        since = self.last_done if self.last_done is not None else self.work_start
        if since is not None:
            self.rates.add(kind, now - since)
        self.last_done = now
        self.done += 1
        self.tasks_done += 1

    def event(self, event: dict[str, Any]) -> None:
        """Update from one custom stream event."""
        kind = event.get("event")
        handler = getattr(self, f"_on_{kind}", None)
        with self._lock:
            if handler is not None:
                handler(event)
            self._show()

    def _on_ingested(self, event: dict[str, Any]) -> None:
        self.chunks = self.summaries_left = int(event["chunks"])
        self.stage = "planning"
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
        if self.work_start is None:
            self.work_start = self._now()
        self._set_stage("summaries" if self.summaries_left else "map", self.chunks)
        if self.verbose:
            label = ("final question" if event["final"]
                     else f"sub-question {event['index'] + 1}/{event['passes'] - 1}")
            self.say(f"{label}: {event['question']}")

    def _on_summary_done(self, event: dict[str, Any]) -> None:
        self._set_stage("summaries", self.chunks)
        self.summaries_left = max(0, self.summaries_left - 1)
        self._task_done("summary")

    def _on_map_done(self, event: dict[str, Any]) -> None:
        self.summaries_left = 0
        self._set_stage("map", self.chunks)
        self.maps_done += 1
        self._task_done("map")

    def _on_mapped(self, event: dict[str, Any]) -> None:
        self._set_stage("reduce", 1)
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
        self._task_done("merge")
        if not self.merges_left:
            self._set_stage("reduce", 1)

    def _on_answer(self, event: dict[str, Any]) -> None:
        self.reduce_done = True
        self.stage, self.done, self.total = "reduce", 0, 1
        self._task_done("reduce")

    def _on_pass_done(self, event: dict[str, Any]) -> None:
        if self.verbose and not event["final"]:
            self.say(f"  answer {event['index'] + 1}: {event['answer']}")
