"""One pooled HTTP client per run: connections opened stay within the concurrency bound."""

from __future__ import annotations

import asyncio

from longcepo.graph import graph
from longcepo.nodes import endpoint, llm
from longcepo.state import Context

from llm_double import LLMDouble
from llm_double.corpus import needle_task

CONCURRENCY = 24  # above httpx's default of 20 kept-alive connections


async def test_a_run_reuses_at_most_concurrency_connections(llm_double: LLMDouble) -> None:
    """Three waves of 24+ parallel calls (summaries, two map passes) share one pool.

    With httpx's default pool, each wave kept only 20 connections alive and opened new ones.
    """
    llm_double.configure(latency=0.3)
    doc = needle_task(16_000, seed=5)
    ctx = Context(base_url=llm_double.base_url, api_key="k", model="llm-double", chunk_size=512,
                  max_context_window=2048, max_output_tokens=200, max_output_tokens_summary=60,
                  num_neighbor_summaries=2, max_concurrency=CONCURRENCY)
    try:
        out = await graph.ainvoke({"context": doc.text, "query": doc.task.question},
                                  context=ctx, config={"max_concurrency": 256})
        assert out["answer"].strip() == doc.task.gold
        stats = llm_double.stats()
        assert out["usage"]["summary"]["calls"] > CONCURRENCY  # a full wave, then more
        assert stats["max_in_flight"] == CONCURRENCY
        assert stats["connections_opened"] <= CONCURRENCY
        assert sum(u["failed_calls"] for u in out["usage"].values()) == 0
    finally:
        await llm.close_clients()
    assert asyncio.get_running_loop() not in endpoint._endpoints  # closed at the run's end
