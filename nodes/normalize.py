"""Query normalization: one call that keeps only the question, without answering it."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from longcepo.nodes import llm
from longcepo.nodes.protocols import parse_question
from longcepo.nodes.request import normalize_request
from longcepo.state import Context, LongCePOState


async def normalize(state: LongCePOState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Strip format instructions and answer options from the query (skipped without a plan)."""
    ctx, query = runtime.context, state["query"]
    if not ctx.use_plan:
        return {"normalized_query": query, "summary_question": query}
    prompt, max_tokens = normalize_request(ctx, query)
    question, _, usage = await llm.ask(
        ctx, "normalize", [HumanMessage(prompt)], parse_question, max_tokens=max_tokens
    )
    notes = []
    if question is None:
        question = query
        notes.append("normalize: the reply held no question; the raw query was used instead")
    return {"normalized_query": question, "summary_question": question,
            "usage": usage.as_state(), "notes": notes}
