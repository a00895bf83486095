"""Crash and resume: SIGKILL `longcepo ask` in the middle of the map stage, then `--resume`.

The real CLI runs as a subprocess with its SQLite checkpointer (`--state-dir`); the double runs
as a separate process, so its request log outlives the kill. A request is identified by its
prompt digest: the same digest served twice is a repeated call.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from llm_double.corpus import chain_task
from llm_double.process import DoubleProcess, start_double_process

CONCURRENCY = 4
KILL_AFTER = 16  # map replies before the kill, of about 25 chunks in the first pass
LATENCY = 0.2  # seconds per request: a map pass over ~25 chunks takes about 1.3 s
GRACE = 1.5 * LATENCY  # a reply sent this long before the kill may not be recorded yet
OPTIONS = ["--api-key", "test", "--model", "llm-double", "--chunk-size", "1024", "--window", "4096",
           "--max-output-tokens", "256", "--neighbors", "2", "--concurrency", str(CONCURRENCY),
           "--retries", "2", "--timeout", "30"]


def longcepo(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("longcepo")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "import sys; from graph.cli import main; sys.exit(main())", *args]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENAI_BASE_URL", None)
    env.update(LANGSMITH_TRACING="false", LANGCHAIN_TRACING_V2="false")
    return env


def wait_for_maps(double: DoubleProcess, cli: subprocess.Popen[str], count: int) -> None:
    """Block until the double has answered `count` map requests and holds the next ones."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stats = double.stats()
        if stats["stages"].get("map", 0) >= count and stats["in_flight"]:
            return
        assert cli.poll() is None, f"the CLI ended before the map stage: {cli.communicate()}"
        time.sleep(0.01)
    raise AssertionError("the map stage never started")


def drained_log(double: DoubleProcess) -> list[dict]:
    """The log once requests cut off by the kill have been logged too."""
    deadline = time.monotonic() + 10
    while double.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return double.log()


def test_sigkill_in_map_then_resume_repeats_no_finished_call(tmp_path: Path) -> None:
    doc = chain_task(24_000, hops=2, seed=21)
    path = tmp_path / "essays.md"
    path.write_text(doc.text, encoding="utf-8")
    state = tmp_path / "state"
    with start_double_process("--latency", str(LATENCY)) as double:
        common = [*OPTIONS, "--base-url", double.base_url, "--state-dir", str(state), "--json"]
        first = subprocess.Popen(
            longcepo("ask", "--context-file", str(path), "--query", doc.task.question,
                     "--thread-id", "crash-1", *common),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
        try:
            wait_for_maps(double, first, KILL_AFTER)
            os.kill(first.pid, signal.SIGKILL)
            killed_at = time.time()
        finally:
            first.kill()
            first.communicate()
        assert first.returncode == -signal.SIGKILL
        before = drained_log(double)
        resumed = subprocess.run(longcepo("ask", "--resume", "crash-1", *common),
                                 capture_output=True, text=True, env=cli_env(), timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        result = json.loads(resumed.stdout)
        after = double.log()[len(before):]

    assert result["answer"].strip() == doc.task.gold
    assert result["thread_id"] == "crash-1"
    n_chunks = collections.Counter(r["stage"] for r in before)["summary"]
    maps_before = [r for r in before if r["stage"] == "map"]
    finished = [r for r in maps_before if r["ts"] + r["latency_s"] <= killed_at]
    held = [r for r in before if r["ts"] + r["latency_s"] > killed_at]
    assert KILL_AFTER <= len(finished) < n_chunks, "the kill came in the first map pass"
    assert len(held) <= CONCURRENCY

    # In flight at the kill: requests the double still held, and replies sent just before it
    # that the CLI had not yet recorded (at most one batch: the next one had been sent).
    in_flight = {r["digest"] for r in held} | {
        r["digest"] for r in finished if r["ts"] + r["latency_s"] > killed_at - GRACE}
    repeated = [r for r in after if r["digest"] in {b["digest"] for b in before}]
    assert {r["digest"] for r in repeated} <= in_flight, "a call finished before the kill ran again"
    assert len(repeated) <= 2 * CONCURRENCY
    assert {r["stage"] for r in repeated} <= {"map"}
    # the resumed run did the rest: every pass mapped every chunk, each digest once
    maps = collections.Counter(r["digest"] for r in before + after
                               if r["stage"] == "map" and r["digest"] not in in_flight)
    assert set(maps.values()) == {1}
    passes = len(doc.task.sub_questions) + 1
    assert len(maps) + len(in_flight) == passes * n_chunks
