"""First node: check the configuration and the request, and move the document into the store.

The document leaves graph state here (`context` is cleared), so later checkpoints stay small.
"""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Overwrite
from longcepo.nodes import store as chunk_store
from longcepo.nodes.budget import check_question, validate_context
from longcepo.nodes.errors import InputError
from longcepo.nodes.ingest import ingest, known_documents
from longcepo.nodes.inputs import split_request
from longcepo.nodes.progress import emit
from longcepo.state import Context, LongCePOState, ProgressEvent


async def prepare(state: LongCePOState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Validate, split the request, chunk and store the documents, and reset the outputs."""
    ctx = runtime.context
    validate_context(ctx)
    store = chunk_store.resolve(runtime.store)
    pre_ingested = state.get("documents") and not state.get("context") and not state.get("message")
    if pre_ingested:
        query = (state.get("query") or "").strip()
    else:
        context, query = split_request(state, ctx.delimiter)
    if not query:
        raise InputError("the query is empty; ask a question about the document")
    check_question(ctx, query)
    if pre_ingested:
        documents = await known_documents(store, state["documents"])
    else:
        documents = await ingest(store, ctx, context)
    n_chunks = chunk_store.total_chunks(documents)
    emit(runtime, ProgressEvent.INGESTED, documents=len(documents), chunks=n_chunks)
    cleared: dict[str, Any] = {"context": ""}
    if state.get("message"):
        cleared["message"] = ""
    return {
        **cleared,
        "query": query,
        "run_key": uuid.uuid4().hex,
        "documents": documents,
        "answer": "",
        "normalized_query": "",
        "sub_questions": [],
        "qa_history": [],
        "pass_index": -1,
        "supporting_chunks": Overwrite([]),
        "usage": Overwrite({}),
        "notes": Overwrite([]),
    }
