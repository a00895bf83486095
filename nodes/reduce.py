"""Reduce stage: weigh the findings and answer one question, with provenance."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from longcepo.nodes import llm, structured
from longcepo.nodes import store as chunk_store
from longcepo.nodes.budget import fit_history
from longcepo.nodes.progress import emit
from longcepo.nodes.protocols import (
    is_no_information,
    own_text,
    parse_answer,
    salvage_answer,
)
from longcepo.nodes.render import findings_text, history_text
from longcepo.state import (
    Context,
    DocumentEntry,
    EngineState,
    Finding,
    ProgressEvent,
    SupportingChunk,
)

NO_INFORMATION_ANSWER = "No information"


async def supporting(
    store: Any, documents: list[DocumentEntry], findings: list[Finding], pass_index: int
) -> list[SupportingChunk]:
    """The chunks behind the findings: document ids, character spans and pages if any."""
    by_doc: dict[int, list[int]] = defaultdict(list)
    for gid in sorted({s for f in findings for s in f["sources"]}):
        doc, local = chunk_store.locate(documents, gid)
        by_doc[documents.index(doc)].append(local)
    out: list[SupportingChunk] = []
    for pos, locals_ in by_doc.items():
        doc = documents[pos]
        records = await chunk_store.load_chunks(store, doc["key"], locals_)
        for i, record in zip(locals_, records, strict=True):
            chunk = SupportingChunk(doc_id=doc["doc_id"], chunk=i, start=record["start"],
                                    end=record["end"], passes=[pass_index])
            if record.get("pages"):
                chunk["pages"] = list(record["pages"])
            out.append(chunk)
    return out


async def reduce(state: EngineState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer from the findings (and the QA history); "No information" when there is nothing."""
    ctx = runtime.context
    store = chunk_store.resolve(runtime.store)
    findings, question = state["findings"], state["question"]
    history = fit_history(ctx, "reduce", question, state["qa_history"])
    if not findings and not history:
        emit(runtime, ProgressEvent.ANSWER, pass_index=state["pass_index"],
             answer=NO_INFORMATION_ANSWER)
        return {"answer": NO_INFORMATION_ANSWER, "supporting_chunks": []}
    prompt = ctx.reduce_prompt.format(findings=findings_text(findings),
                                      qa_history=history_text(history), question=question)
    own = own_text(ctx, "reduce")
    answer, raw, usage = await llm.ask(
        ctx, "reduce", [SystemMessage(ctx.system_prompt), HumanMessage(prompt)],
        lambda text: parse_answer(text, own),
        max_tokens=ctx.max_output_tokens, cache=chunk_store.CallCache(store, state["run_key"]),
        metadata={"pass_index": state["pass_index"]},
        schema=structured.schema("reduce", ctx.max_output_tokens),
    )
    notes = []
    if answer is None:
        if findings:
            answer = max(findings, key=lambda f: f["confidence"] or 0)["answer"]
            how = "the most confident finding's answer was used"
        else:
            answer = salvage_answer(raw, own) or NO_INFORMATION_ANSWER
            how = "its last paragraph was used as the answer"
        notes.append(f"reduce (pass {state['pass_index']}): no 'Answer:' after "
                     f"{ctx.max_format_retries} re-asks; {how}")
    support = [] if is_no_information(answer) else await supporting(
        store, state["documents"], findings, state["pass_index"])
    emit(runtime, ProgressEvent.ANSWER, pass_index=state["pass_index"], answer=answer)
    return {"answer": answer, "supporting_chunks": support, "usage": usage.as_state(),
            "notes": notes}
