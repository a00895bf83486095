"""Cost per question (calls and tokens by stage), the cacheable prefix and the uncached tokens.

The product's default Context (chunk 4096 in an 8192 window, 5 neighbour summaries) against a
zero-latency double that counts tokens exactly (cl100k) and hashes 16-token blocks for prefix
caching, as vLLM's automatic prefix caching does.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

from longcepo.graph import graph
from longcepo.nodes.tokens import count_tokens
from longcepo.state import STAGES

from bench.common import context, double, make_question, usage_total, write

log = logging.getLogger(__name__)
SIZES = (16_000, 64_000, 256_000)
KINDS = ("needle", "chain2", "chain3")


async def one(base_url: str, kind: str, tokens: int) -> dict[str, Any]:
    q = make_question(kind, tokens, seed=tokens % 97)
    started = time.perf_counter()
    result = await graph.ainvoke({"context": q.text, "query": q.question},
                                 context=context(base_url), config={"max_concurrency": 64})
    return {"kind": kind, "tokens": tokens, "chars": len(q.text),
            "doc_tokens": count_tokens(q.text),
            "correct": result["answer"].strip() == q.gold, "passes": q.sub_questions + 1,
            "wall_s": round(time.perf_counter() - started, 3), "usage": result["usage"],
            "calls": usage_total(result["usage"], "calls"),
            "prompt_tokens": usage_total(result["usage"], "prompt_tokens"),
            "completion_tokens": usage_total(result["usage"], "completion_tokens"),
            "notes": result["notes"]}


def prefix_by_stage(entries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Prompt and cached-prefix tokens per stage from the double's request log."""
    prompt: collections.Counter[str] = collections.Counter()
    cached: collections.Counter[str] = collections.Counter()
    for e in entries:
        prompt[e["stage"]] += e["prompt_tokens"]
        cached[e["stage"]] += e["cached_prefix_tokens"]
    return {s: {"prompt_tokens": prompt[s], "cached_prefix_tokens": cached[s],
                "cacheable_fraction": round(cached[s] / prompt[s], 4) if prompt[s] else 0.0}
            for s in STAGES if prompt[s]}


def run(sizes: tuple[int, ...] = SIZES, kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """Run every (size, kind) once with a fresh prefix cache; write cost.json and prefix.json."""
    runs, prefix = [], []
    with double() as d:
        for tokens in sizes:
            for kind in kinds:
                d.reset()
                row = asyncio.run(one(d.base_url, kind, tokens))
                stats = d.stats()
                row["double"] = {k: stats[k] for k in ("requests", "prompt_tokens",
                                                       "completion_tokens")}
                runs.append(row)
                prefix.append({"kind": kind, "tokens": tokens, "passes": row["passes"],
                               "cacheable_fraction": round(stats["cacheable_fraction"], 4),
                               "prompt_tokens": stats["prompt_tokens"],
                               "cached_prefix_tokens": stats["cached_prefix_tokens"],
                               "doc_tokens": row["doc_tokens"],
                               "uncached_prompt_tokens": stats["uncached_prompt_tokens"],
                               "uncached_over_document": round(
                                   stats["uncached_prompt_tokens"] / row["doc_tokens"], 3),
                               "by_stage": prefix_by_stage(d.log())})
                log.info("cost %s %d: %d calls, %.1fs", kind, tokens, row["calls"],
                         row["wall_s"])
    total_prompt = sum(p["prompt_tokens"] for p in prefix)
    total_cached = sum(p["cached_prefix_tokens"] for p in prefix)
    write("prefix", {"block_size": 16, "runs": prefix,
                     "cacheable_fraction_all": round(total_cached / total_prompt, 4)})
    write("cost", {"context": "defaults: chunk_size 4096, window 8192, max_output_tokens 1024, "
                              "summary 300, 5 neighbour summaries", "runs": runs})
    return {"runs": runs, "prefix": prefix}
