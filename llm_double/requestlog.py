"""The request log: one record per request, in memory and optionally as JSONL, plus totals.

Totals are kept as records arrive so `stats()` stays cheap in a benchmark of many thousand
calls, even with the in-memory list switched off.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import IO, Any


class RequestLog:
    """Records of answered, failed and refused chat requests."""

    def __init__(self, path: str | None = None, keep: bool = True) -> None:
        self.entries: list[dict[str, Any]] = []
        self.keep = keep
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self.path: str | None = None
        self.reopen(path)
        self._reset_totals()

    def _reset_totals(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.stages: Counter[str] = Counter()
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cached_prefix_tokens = 0

    def reopen(self, path: str | None) -> None:
        """Write further records to `path` (appending), or to no file if None."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path = path
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open on purpose

    def append(self, entry: dict[str, Any]) -> None:
        """Add one record; written to the JSONL file at once so a killed run keeps its log."""
        with self._lock:
            if self.keep:
                self.entries.append(entry)
            self.outcomes[entry["outcome"]] += 1
            self.stages[entry["stage"]] += 1
            self.prompt_tokens += entry.get("prompt_tokens", 0)
            self.completion_tokens += entry.get("completion_tokens", 0)
            self.cached_prefix_tokens += entry.get("cached_prefix_tokens", 0)
            if self._file is not None:
                self._file.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self._file.flush()

    def totals(self) -> dict[str, Any]:
        """Counts by outcome and stage, token sums, cached and uncached prompt tokens.

        Uncached tokens are what a prefix-caching server computes and a hosted API bills in full.
        """
        with self._lock:
            prompt = self.prompt_tokens
            return {
                "requests": sum(self.outcomes.values()),
                "outcomes": dict(self.outcomes),
                "stages": dict(self.stages),
                "prompt_tokens": prompt,
                "completion_tokens": self.completion_tokens,
                "cached_prefix_tokens": self.cached_prefix_tokens,
                "uncached_prompt_tokens": prompt - self.cached_prefix_tokens,
                "cacheable_fraction": self.cached_prefix_tokens / prompt if prompt else 0.0,
            }

    def clear(self) -> None:
        """Forget records and totals (the JSONL file keeps what was written)."""
        with self._lock:
            self.entries.clear()
            self._reset_totals()

    def close(self) -> None:
        """Close the JSONL file."""
        self.reopen(None)
