"""The loop over engine passes: one per sub-question, then one for the original query."""

from __future__ import annotations

import logging
from typing import Any, Literal

from langgraph.runtime import Runtime
from longcepo.nodes import store as chunk_store
from longcepo.nodes.progress import emit
from longcepo.state import Context, LongCePOState, ProgressEvent, QAPair

log = logging.getLogger(__name__)


def next_pass(state: LongCePOState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Point the engine at the next sub-question, or at the original query after the last."""
    index = state["pass_index"] + 1
    subs = state["sub_questions"]
    question = subs[index] if index < len(subs) else state["query"]
    emit(runtime, ProgressEvent.PASS_START, index=index, passes=len(subs) + 1, question=question,
         final=index >= len(subs))
    return {"pass_index": index, "question": question}


def record_answer(state: LongCePOState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Append a sub-question's answer to the QA history that conditions later passes."""
    index, subs = state["pass_index"], state["sub_questions"]
    emit(runtime, ProgressEvent.PASS_DONE, index=index, passes=len(subs) + 1,
         question=state["question"], answer=state["answer"], final=index >= len(subs))
    if index >= len(subs):
        return {}
    pair = QAPair(question=state["question"], answer=state["answer"])
    return {"qa_history": [*state["qa_history"], pair]}


def route_after_pass(state: LongCePOState) -> Literal["next_pass", "finish"]:
    """Loop until the original query has had its pass."""
    return "next_pass" if state["pass_index"] < len(state["sub_questions"]) else "finish"


async def finish(state: LongCePOState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Drop the run's scratch records from the store once the answer stands."""
    removed = await chunk_store.forget_run(chunk_store.resolve(runtime.store), state["run_key"])
    log.debug("run %s: removed %d scratch records", state["run_key"], removed)
    return {}
