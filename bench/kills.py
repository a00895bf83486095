"""Replies paid twice: SIGKILL `longcepo ask` at several points of the map stage, then resume.

python -m bench.kills [--kills 4] [--concurrency 16] [--latency 0.05]
python -m bench.kills --put-latency   # how long a received reply waits to be committed

For each kill, a call the resumed run sends again is "late" when the double had sent its
reply before the kill: that reply arrived (or was on the wire) and should have been kept.
The lag says how long before the kill it was sent. Writes bench/results/kills.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from llm_double.corpus import chain_task
from llm_double.process import DoubleProcess, start_double_process

RESULTS = Path(__file__).resolve().parent / "results"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "longcepo", "ask", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OPENAI_BASE_URL", None)
    env.update(LANGSMITH_TRACING="false", LANGCHAIN_TRACING_V2="false")
    return env


def _wait_maps(double: DoubleProcess, cli: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if double.stats()["stages"].get("map", 0) >= count:
            return
        if cli.poll() is not None:
            raise RuntimeError(f"the CLI ended early: {cli.communicate()}")
        time.sleep(0.005)
    raise RuntimeError("the map stage never started")


def one_kill(folder: Path, after_maps: int, concurrency: int, latency: float,
             offset: float = 0.0) -> dict[str, Any]:
    """Kill `offset` s after the `after_maps`-th map reply; resume; compare the double's logs."""
    doc = chain_task(24_000, hops=2, seed=21)
    path = folder / "doc.md"
    path.write_text(doc.text, encoding="utf-8")
    options = ["--api-key", "test", "--model", "llm-double", "--chunk-size", "1024",
               "--window", "4096", "--max-output-tokens", "256", "--neighbors", "2",
               "--concurrency", str(concurrency), "--retries", "2", "--timeout", "30",
               "--state-dir", str(folder / f"state-{after_maps}"), "--json", "-q"]
    with start_double_process("--latency", str(latency)) as double:
        thread = f"kill-{after_maps}"
        first = subprocess.Popen(_cli("--context-file", str(path), "--query", doc.task.question,
                                      "--thread-id", thread, "--base-url", double.base_url,
                                      *options),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=_env())
        try:
            _wait_maps(double, first, after_maps)
            time.sleep(offset)
            os.kill(first.pid, signal.SIGKILL)
            killed_at = time.time()
        finally:
            first.kill()
            first.communicate()
        deadline = time.monotonic() + 10
        while double.stats()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.05)
        before = double.log()
        resumed = subprocess.run(_cli("--resume", thread, "--base-url", double.base_url,
                                      *options), capture_output=True, text=True, env=_env(),
                                 timeout=600)
        after = double.log()[len(before):]
    ok = resumed.returncode == 0 and json.loads(resumed.stdout)["answer"].strip() == doc.task.gold
    sent = {e["digest"]: killed_at - (e["ts"] + e["latency_s"]) for e in before
            if e["outcome"] == "ok"}
    again = [e["digest"] for e in after if e["digest"] in sent]
    late = sorted(round(sent[d], 3) for d in again if sent[d] > 0)
    return {"after_maps": after_maps, "offset_s": offset, "calls_before": len(before),
            "calls_after": len(after),
            "resent": len(again), "resent_after_reply_sent": len(late),
            "lags_s": late, "resumed_ok": ok}


def put_latency(concurrency: int, latency: float) -> dict[str, Any]:
    """Seconds from a reply's arrival to its call-cache write returning, over one whole run."""
    import asyncio
    import statistics

    from longcepo.nodes import store
    from longcepo.runtime import api

    waits: list[float] = []
    original = store.CallCache.put

    async def timed(self: store.CallCache, key: str, value: dict[str, Any]) -> None:
        started = time.perf_counter()
        await original(self, key, value)
        waits.append(time.perf_counter() - started)

    doc = chain_task(24_000, hops=2, seed=21)
    store.CallCache.put = timed  # type: ignore[method-assign]
    try:
        with start_double_process("--latency", str(latency)) as double, \
                tempfile.TemporaryDirectory() as tmp:
            asyncio.run(api.ask(doc.text, doc.task.question, state_dir=tmp,
                                base_url=double.base_url, api_key="t", model="llm-double",
                                chunk_size=1024, max_context_window=4096,
                                max_output_tokens=256, num_neighbor_summaries=2,
                                max_concurrency=concurrency))
    finally:
        store.CallCache.put = original  # type: ignore[method-assign]
    waits.sort()
    return {"writes": len(waits), "median_s": round(statistics.median(waits), 4),
            "p90_s": round(waits[int(0.9 * len(waits))], 4), "max_s": round(waits[-1], 4)}


def main(argv: list[str] | None = None) -> int:
    """Run the kills and print one line each."""
    parser = argparse.ArgumentParser(prog="python -m bench.kills", description=__doc__)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--put-latency", action="store_true",
                        help="measure the call-cache write wait instead of killing")
    args = parser.parse_args(argv)
    if args.put_latency:
        print(json.dumps(put_latency(args.concurrency, args.latency)))  # noqa: T201
        return 0
    points = [(5 + i * 12, (0.0, 0.05, 0.1, 0.15)[i % 4]) for i in range(args.kills)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for point, offset in points:
            row = one_kill(Path(tmp), point, args.concurrency, args.latency, offset)
            rows.append(row)
            print(json.dumps(row), flush=True)  # noqa: T201 - a benchmark's report
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "kills.json").write_text(json.dumps(
        {"concurrency": args.concurrency, "latency_s": args.latency, "kills": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
