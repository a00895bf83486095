"""The loop over engine passes: one per sub-question, then one for the original query."""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from nodes.progress import emit
from state import Context, LongCePOState, QAPair


def next_pass(state: LongCePOState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Point the engine at the next sub-question, or at the original query after the last."""
    index = state["pass_index"] + 1
    subs = state["sub_questions"]
    question = subs[index] if index < len(subs) else state["query"]
    emit(runtime, "pass_start", index=index, passes=len(subs) + 1, question=question,
         final=index >= len(subs))
    return {"pass_index": index, "question": question}


def record_answer(state: LongCePOState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Append a sub-question's answer to the QA history that conditions later passes."""
    index, subs = state["pass_index"], state["sub_questions"]
    emit(runtime, "pass_done", index=index, passes=len(subs) + 1, question=state["question"],
         answer=state["answer"], final=index >= len(subs))
    if index >= len(subs):
        return {}
    pair = QAPair(question=state["question"], answer=state["answer"])
    return {"qa_history": [*state["qa_history"], pair]}


def route_after_pass(state: LongCePOState) -> Literal["next_pass", "__end__"]:
    """Loop until the original query has had its pass."""
    return "next_pass" if state["pass_index"] < len(state["sub_questions"]) else "__end__"
