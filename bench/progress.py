"""How truthful `longcepo ask`'s progress is: the ETA against the real end, and log cadence.

The CLI runs as a child with stderr on a pipe (a log, not a terminal) against the double with a
latency model shaped like a small local model: one call at a time, time per prompt and per
completion token. Each stderr line is stamped when it arrives. Reported: when the first ETA
appears (share of the run), its error and the median error of every ETA shown against the
real end, and the longest silence between lines.
"""

from __future__ import annotations

import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import MODEL, double, make_question, write

log = logging.getLogger(__name__)
STATUS = re.compile(r"elapsed (\d+):(\d\d)\s+eta (--:--|(\d+):(\d\d))")
LATENCY = ("--latency", "0.3", "--latency-per-prompt-token", "0.0004",
           "--latency-per-completion-token", "0.01", "--slots", "1")
ASK = ["--chunk-size", "1024", "--window", "2048", "--max-output-tokens", "256",
       "--concurrency", "1"]


def _run(base_url: str, question: Any, folder: Path) -> tuple[float, list[tuple[float, str]]]:
    document = folder / "doc.txt"
    document.write_text(question.text)
    env = {**os.environ, "LANGSMITH_TRACING": "false"}
    command = [sys.executable, "-m", "longcepo", "ask", "--context-file", str(document),
               "--query", question.question, "--base-url", base_url, "--model", MODEL,
               "--api-key", "bench", "--state-dir", str(folder / "state"), *ASK]
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    assert process.stderr is not None
    lines = [(time.monotonic() - start, line.rstrip("\n")) for line in process.stderr]
    process.wait()
    if process.returncode:
        raise RuntimeError(f"ask failed ({process.returncode}): {lines[-3:]}")
    return time.monotonic() - start, lines


def measure(lines: list[tuple[float, str]], total: float) -> dict[str, Any]:
    """ETA errors (seconds, predicted end minus real end) and the longest gap between lines."""
    errors: list[tuple[float, float]] = []
    for at, line in lines:
        match = STATUS.search(line)
        if match and match.group(4) is not None:
            eta = int(match.group(4)) * 60 + int(match.group(5))
            errors.append((at, at + eta - total))
    stamps = [0.0, *(at for at, _ in lines), total]
    first = errors[0] if errors else None
    return {
        "run_s": round(total, 1),
        "lines": len(lines),
        "longest_gap_s": round(max(b - a for a, b in zip(stamps, stamps[1:], strict=False)), 1),
        "first_eta_at_share": round(first[0] / total, 2) if first else None,
        "first_eta_error_s": round(first[1], 1) if first else None,
        "median_abs_eta_error_s": round(statistics.median(abs(e) for _, e in errors), 1)
        if errors else None,
        "median_abs_eta_error_share": round(statistics.median(abs(e) for _, e in errors)
                                            / total, 3) if errors else None,
        "max_abs_eta_error_s": round(max(abs(e) for _, e in errors), 1) if errors else None,
        "etas_shown": len(errors),
    }


def run() -> Path:
    """Measure one multi-hop question (several chunks, two passes and more) and write JSON."""
    question = make_question("chain2", 6_000, seed=5)
    with double(*LATENCY) as served, tempfile.TemporaryDirectory() as tmp:
        total, lines = _run(served.base_url, question, Path(tmp))
    result = measure(lines, total)
    log.info("progress: %s", result)
    return write("progress", {"setup": {"double": " ".join(LATENCY), "ask": " ".join(ASK),
                                        "document_tokens": question.tokens},
                              **result})
