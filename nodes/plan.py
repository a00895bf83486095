"""Planning: one call that lists sub-questions, parsed leniently, with bounded format retries."""

from __future__ import annotations

from functools import partial
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from longcepo.nodes import llm
from longcepo.nodes.progress import emit
from longcepo.nodes.protocols import own_text, parse_sub_questions
from longcepo.nodes.request import plan_request
from longcepo.state import Context, LongCePOState, ProgressEvent


async def plan(state: LongCePOState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Produce the sub-questions; fall back to the normalized query alone if none parse."""
    ctx, question = runtime.context, state["normalized_query"]
    if not ctx.use_plan:
        return {"sub_questions": []}
    prompt, max_tokens, schema = plan_request(ctx, question)
    parse = partial(parse_sub_questions, cap=ctx.max_sub_questions,
                    template=own_text(ctx, "plan"))
    subs, _, usage = await llm.ask(
        ctx, "plan", [HumanMessage(prompt)], parse, max_tokens=max_tokens, schema=schema
    )
    notes = []
    if subs is None:
        subs = [question]
        notes.append(
            f"plan: no <SUB-QUESTIONS> list after {ctx.max_format_retries} re-asks; "
            "the normalized query is the only sub-question"
        )
    emit(runtime, ProgressEvent.PLAN, sub_questions=subs)
    return {"sub_questions": subs, "usage": usage.as_state(), "notes": notes}
