"""Wall time against the critical-path bound under the double's latency model.

Each request costs `LATENCY + PER_PROMPT_TOKEN * prompt + PER_COMPLETION_TOKEN * completion`
seconds while holding one of the double's slots (unlimited, or 8). The product runs with a
`max_concurrency` above any fan-out, so the server's slots are the only limit.

The run is cut into sequential LLM rounds from the double's log (a round starts with the first
request that arrives after every request of the round before it has finished). The bound with
unlimited slots is the sum over rounds of the longest service time; with k slots a round also
needs at least (its total service time) / k.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from longcepo.graph import graph

from bench.common import context, double, make_question, write

log = logging.getLogger(__name__)
LATENCY = 0.1
PER_PROMPT_TOKEN = 5e-5  # 20K prompt tokens/s of prefill
PER_COMPLETION_TOKEN = 5e-3  # 200 tokens/s of decoding
SIZES = (16_000, 64_000, 256_000)
SLOTS = (None, 8)
KIND = "chain2"


def rounds(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group requests into sequential rounds by arrival and finish times."""
    out: list[list[dict[str, Any]]] = []
    end = float("-inf")
    for e in sorted(entries, key=lambda e: e["ts"]):
        finish = e["ts"] + e["latency_s"]
        if not out or e["ts"] >= end:
            out.append([e])
            end = finish
        else:
            out[-1].append(e)
            end = max(end, finish)
    return out


def bounds(groups: list[list[dict[str, Any]]], slots: int | None) -> dict[str, float]:
    """Critical-path bound, and the bound that also counts the slots, in seconds."""
    service = [[e["latency_s"] - e.get("queue_s", 0.0) for e in g] for g in groups]
    critical = sum(max(s) for s in service)
    capacity = sum(max(max(s), sum(s) / slots) for s in service) if slots else critical
    return {"critical_path_s": round(critical, 3), "capacity_bound_s": round(capacity, 3)}


async def one(base_url: str, tokens: int) -> tuple[float, bool]:
    q = make_question(KIND, tokens, seed=tokens % 89)
    ctx = context(base_url, max_concurrency=1024)
    started = time.perf_counter()
    result = await graph.ainvoke({"context": q.text, "query": q.question}, context=ctx,
                                 config={"max_concurrency": 4096})
    return time.perf_counter() - started, result["answer"].strip() == q.gold


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """Measure every size with unlimited slots and with 8; write walltime.json."""
    rows = []
    args = ["--approx-tokens", "--latency", str(LATENCY), "--latency-per-prompt-token",
            str(PER_PROMPT_TOKEN), "--latency-per-completion-token", str(PER_COMPLETION_TOKEN)]
    for slots in SLOTS:
        with double(*args, "--slots", str(slots or 0)) as d:
            for tokens in sizes:
                d.reset()
                wall, correct = asyncio.run(one(d.base_url, tokens))
                entries = d.log()
                groups = rounds(entries)
                row = {"tokens": tokens, "slots": slots, "wall_s": round(wall, 3),
                       "correct": correct, "requests": len(entries), "rounds": len(groups),
                       "round_sizes": [len(g) for g in groups],
                       "max_in_flight": d.stats()["max_in_flight"], **bounds(groups, slots)}
                row["wall_over_bound"] = round(wall / row["capacity_bound_s"], 3)
                rows.append(row)
                log.info("walltime %d slots=%s: %.2fs, bound %.2fs", tokens, slots, wall,
                         row["capacity_bound_s"])
    payload = {"kind": KIND, "latency_model": {"latency_s": LATENCY,
                                               "per_prompt_token_s": PER_PROMPT_TOKEN,
                                               "per_completion_token_s": PER_COMPLETION_TOKEN},
               "context": "defaults, max_concurrency 1024", "runs": rows}
    write("walltime", payload)
    return payload
