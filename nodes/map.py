"""Map stage: read one chunk with its neighbours' summaries and the QA history so far.

The neighbour window is exactly n summaries before and n after the chunk (within its
document), never the chunk's own; what does not fit the window is dropped farthest first.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from longcepo.nodes import llm, structured
from longcepo.nodes import store as chunk_store
from longcepo.nodes.budget import fit_map, template_tokens
from longcepo.nodes.progress import emit
from longcepo.nodes.protocols import NO_INFO, own_text, parse_finding, salvage_answer
from longcepo.nodes.render import history_text, summaries_text, summary_line
from longcepo.nodes.setup import pass_info
from longcepo.prompts import render as fmt
from longcepo.state import ChunkTask, Context, EngineState, Finding, ProgressEvent

log = logging.getLogger(__name__)


def neighbor_window(local: int, n_chunks: int, n: int) -> tuple[list[int], list[int]]:
    """Local indexes of the n chunks before (far to near) and n after (near to far)."""
    before = list(range(max(0, local - n), local))
    after = list(range(local + 1, min(n_chunks, local + 1 + n)))
    return before, after


async def map_chunk(task: ChunkTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """Extract what this chunk says about the question, or drop it as `[NO INFORMATION]`."""
    ctx = runtime.context
    store = chunk_store.resolve(runtime.store)
    info = await pass_info(store, task["run_key"], task["pass_index"])
    gid = task["chunk"]
    doc, local = chunk_store.locate(info["documents"], gid)
    (chunk,) = await chunk_store.load_chunks(store, doc["key"], [local])
    before, after = neighbor_window(local, doc["n_chunks"], ctx.num_neighbor_summaries)
    gids = [doc["first"] + i for i in (*before, *after)]
    found = await chunk_store.load_summaries(store, task["run_key"], info["scope"], gids)
    lines_before = [summary_line(doc["first"] + i, found[doc["first"] + i])
                    for i in before if doc["first"] + i in found]
    lines_after = [summary_line(doc["first"] + i, found[doc["first"] + i])
                   for i in after if doc["first"] + i in found]
    question, chunk_text = info["question"], chunk["text"].strip()
    # the chunk's size was counted once at ingest; the rest of the template is memoized
    fixed = template_tokens(ctx, "map", question=question) + int(chunk["tokens"])
    fit = fit_map(ctx, fixed, lines_before, lines_after, info["qa_history"])
    if fit.dropped_summaries or fit.dropped_history:
        log.info("map chunk %d: dropped %d neighbour summaries and %d QA pairs to fit the window",
                 gid, fit.dropped_summaries, fit.dropped_history)
    prompt = ctx.map_prompt.format(
        summaries_before=summaries_text(fit.before, fmt.NO_SUMMARIES_BEFORE),
        chunk=chunk_text,
        summaries_after=summaries_text(fit.after, fmt.NO_SUMMARIES_AFTER),
        qa_history=history_text(fit.history),
        question=question,
    )
    own = own_text(ctx, "map")
    parsed, raw, usage = await llm.ask(
        ctx, "map", [SystemMessage(ctx.system_prompt), HumanMessage(prompt)],
        lambda text: parse_finding(text, [gid], own),
        max_tokens=ctx.max_output_tokens,
        cache=chunk_store.CallCache(store, task["run_key"]),
        metadata={"pass_index": task["pass_index"], "chunk": gid, "doc_id": doc["doc_id"]},
        schema=structured.schema("map", ctx.max_output_tokens),
    )
    delta = usage.as_state()
    delta["map"].update(dropped_summaries=fit.dropped_summaries,
                        dropped_history=fit.dropped_history, protocol_fallbacks=0)
    results: list[Finding] = []
    if parsed is None:
        delta["map"]["protocol_fallbacks"] = 1
        answer = salvage_answer(raw, own)
        if answer:
            results.append(Finding(sources=[gid], extracted=answer, rationale="",
                                   answer=answer, confidence=0.0))
    elif parsed != NO_INFO:
        results.append(parsed)  # type: ignore[arg-type]
    emit(runtime, ProgressEvent.MAP_DONE, chunk=gid, relevant=bool(results))
    return {"map_results": results, "usage": delta}


def collect_map(state: EngineState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Order the findings by chunk and set the collapse round limit: ceil(log2 N)."""
    findings = sorted(state.get("map_results") or [], key=lambda f: f["sources"][0])
    counts = (state.get("usage") or {}).get("map", {})
    notes = []
    if counts.get("protocol_fallbacks"):
        notes.append(
            f"map (pass {state['pass_index']}): {counts['protocol_fallbacks']} chunk replies "
            "ignored the four-field protocol after re-asks; their text was kept with confidence 0"
        )
    if counts.get("dropped_summaries") or counts.get("dropped_history"):
        notes.append(
            f"map (pass {state['pass_index']}): dropped {counts.get('dropped_summaries', 0)} "
            f"neighbour summaries and {counts.get('dropped_history', 0)} QA pairs to fit the window"
        )
    emit(runtime, ProgressEvent.MAPPED, relevant=len(findings),
         chunks=chunk_store.total_chunks(state["documents"]))
    limit = math.ceil(math.log2(len(findings))) if len(findings) > 1 else 0
    return {"findings": findings, "collapse_round": 0, "collapse_limit": limit,
            "collapse_pairs": [], "merged": None, "notes": notes}
