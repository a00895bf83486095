"""Scale: 1M to 10M-token documents through the SQLite-backed API with a zero-latency double.

Each size runs in its own process (`python -m bench.scale --worker ...`), so its peak RSS
(`ru_maxrss`) is its own. The worker reads the document from a file, ingests it into the SQLite
store (chunking plus writes) and answers one needle question the way `graph.api.ask` does,
timing ingest and the graph run apart. Checkpoint bytes are the sizes of `checkpoints.sqlite*`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from longcepo.runtime.api import run_config, sqlite_graph, store_input

from bench.common import MODEL, context, double, make_question, usage_total, write

log = logging.getLogger(__name__)
SIZES = (1_000_000, 3_000_000, 10_000_000)
KIND = "needle"


def _files_bytes(folder: Path, name: str) -> int:
    return sum(p.stat().st_size for p in folder.glob(f"{name}*"))


def _rss_mb() -> float:
    """Peak RSS of this process in MB.

    Linux's `ru_maxrss` survives `execve`, so a worker forked from a big parent would report
    the parent's size; VmHWM belongs to this process's own address space.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def worker(doc_path: str, base_url: str, state_dir: str) -> dict[str, Any]:
    """Measure one size in this process; returns the row.

    The document is read from a file, as the CLI reads it, so the peak RSS holds one copy of
    it and none of the generator's scratch.
    """
    rss_imports = _rss_mb()
    spec = json.loads(Path(doc_path).with_suffix(".json").read_text())
    started = time.perf_counter()
    text = Path(doc_path).read_text(encoding="utf-8")
    ctx = context(base_url)
    async with sqlite_graph(state_dir) as graph:
        payload = await store_input(graph, ctx, text, spec["question"])
        ingested = time.perf_counter()
        result = await graph.ainvoke(payload, run_config("scale", ctx.max_concurrency),
                                     context=ctx, durability="sync")
        finished = time.perf_counter()
    folder = Path(state_dir)
    return {
        "tokens": spec["tokens"], "doc_bytes": Path(doc_path).stat().st_size,
        "chunks": payload["documents"][0]["n_chunks"],
        "correct": result["answer"].strip() == spec["gold"],
        "calls": usage_total(result["usage"], "calls"),
        "cached_calls": usage_total(result["usage"], "cached_calls"),
        "failed_calls": usage_total(result["usage"], "failed_calls"),
        "ingest_s": round(ingested - started, 3),
        "run_s": round(finished - ingested, 3),
        "total_s": round(finished - started, 3),
        "rss_after_imports_mb": round(rss_imports, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
        "checkpoint_bytes": _files_bytes(folder, "checkpoints.sqlite"),
        "store_bytes": _files_bytes(folder, "store.sqlite"),
        "notes": result["notes"],
    }


def measure(tokens: int, base_url: str) -> dict[str, Any]:
    """Generate the document here, run it in a fresh process and add the targets."""
    q = make_question(KIND, tokens, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp, "doc.txt")
        doc.write_text(q.text, encoding="utf-8")
        doc.with_suffix(".json").write_text(json.dumps(
            {"tokens": tokens, "question": q.question, "gold": q.gold}))
        del q
        state = Path(tmp, "state")
        done = subprocess.run(
            [sys.executable, "-m", "bench.scale", "--worker", str(doc), base_url, str(state)],
            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode:
        raise RuntimeError(f"scale worker failed for {tokens}: {done.stderr[-2000:]}")
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    mb = row["doc_bytes"] / 2**20
    row["rss_target_mb"] = round(4 * mb + 300, 1)
    row["rss_ok"] = row["peak_rss_mb"] <= row["rss_target_mb"]
    row["checkpoint_over_doc"] = round(row["checkpoint_bytes"] / row["doc_bytes"], 4)
    row["checkpoint_ok"] = row["checkpoint_bytes"] <= 2 * row["doc_bytes"]
    row["us_per_token"] = round(1e6 * row["total_s"] / tokens, 3)
    row["ms_per_call"] = round(1000 * row["run_s"] / max(1, row["calls"]), 3)
    return row


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """Measure every size; write scale.json."""
    rows = []
    with double("--approx-tokens") as d:
        for tokens in sizes:
            d.reset()
            row = measure(tokens, d.base_url)
            row["double_requests"] = d.stats()["requests"]
            rows.append(row)
            log.info("scale %d: %.1fs, peak RSS %.0f MB, checkpoints %d bytes", tokens,
                     row["total_s"], row["peak_rss_mb"], row["checkpoint_bytes"])
    first, last = rows[0], rows[-1]
    payload = {"kind": KIND, "context": "defaults (chunk 4096, window 8192), model " + MODEL,
               "runs": rows,
               "time_ratio_last_first": round(last["total_s"] / first["total_s"], 3),
               "size_ratio_last_first": round(last["tokens"] / first["tokens"], 3)}
    write("scale", payload)
    return payload


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    logging.basicConfig(level=logging.WARNING)
    out = asyncio.run(worker(sys.argv[2], sys.argv[3], sys.argv[4]))
    sys.stdout.write(json.dumps(out) + "\n")
