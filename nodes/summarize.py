"""Summary stage: a short digest of each chunk, aware of the question, for its neighbours.

With `summary_scope="query"` (the default) summaries are made once per run for the whole
query and reused by every pass, instead of once per sub-question.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from longcepo.nodes import llm
from longcepo.nodes import store as chunk_store
from longcepo.nodes.progress import emit
from longcepo.nodes.setup import pass_info
from longcepo.state import ChunkTask, Context, ProgressEvent


def _nonempty(text: str) -> str | None:
    text = text.strip()
    return text or None


async def summarize_chunk(task: ChunkTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """Summarize one chunk and save the summary in the store (not in state)."""
    ctx = runtime.context
    store = chunk_store.resolve(runtime.store)
    info = await pass_info(store, task["run_key"], task["pass_index"])
    doc, local = chunk_store.locate(info["documents"], task["chunk"])
    (chunk,) = await chunk_store.load_chunks(store, doc["key"], [local])
    prompt = ctx.summary_prompt.format(chunk=chunk["text"].strip(),
                                       question=info["summary_question"])
    messages = [SystemMessage(ctx.system_prompt), HumanMessage(prompt)]
    summary, _, usage = await llm.ask(
        ctx, "summary", messages, _nonempty, max_tokens=ctx.max_output_tokens_summary,
        cache=chunk_store.CallCache(store, task["run_key"]),
        metadata={"pass_index": task["pass_index"], "chunk": task["chunk"],
                  "doc_id": doc["doc_id"]},
    )
    notes = []
    if summary is None:
        summary = " ".join(chunk["text"].split()[:40])
        notes.append("summary: an empty summary was replaced by the chunk's first words")
    await chunk_store.save_summary(store, task["run_key"], info["scope"], task["chunk"], summary)
    emit(runtime, ProgressEvent.SUMMARY_DONE, chunk=task["chunk"])
    return {"usage": usage.as_state(), "notes": notes}
