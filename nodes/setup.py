"""Engine setup: everything one pass needs, saved where its `Send` tasks can read it by id.

Map and summary tasks receive only (run_key, pass_index, chunk id); the question, history
and document manifest of the pass live in the store, written once here.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from typing import Any

from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph.types import Send
from longcepo.nodes import store as chunk_store
from longcepo.nodes.budget import validate_context
from longcepo.nodes.errors import InputError
from longcepo.nodes.ingest import ingest
from longcepo.state import ChunkTask, Context, EngineState

_PASS_CACHE: OrderedDict[tuple[int, str, int], dict[str, Any]] = OrderedDict()


async def pass_info(store: BaseStore, run_key: str, pass_index: int) -> dict[str, Any]:
    """The saved pass, memoized in-process: hundreds of tasks read the same record."""
    key = (id(store), run_key, pass_index)
    if key not in _PASS_CACHE:
        _PASS_CACHE[key] = await chunk_store.load_pass(store, run_key, pass_index)
        while len(_PASS_CACHE) > 64:
            _PASS_CACHE.popitem(last=False)
    return _PASS_CACHE[key]


def summary_scope(ctx: Context, pass_index: int) -> str:
    """Summaries of the whole query are shared by all passes; per-question ones are not."""
    return "query" if ctx.summary_scope == "query" else f"pass-{pass_index}"


async def setup(state: EngineState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Ingest when run alone, save the pass, and list the chunks still lacking a summary."""
    ctx = runtime.context
    store = chunk_store.resolve(runtime.store)
    question = (state.get("question") or "").strip()
    if not question:
        raise InputError("the engine needs a non-empty 'question'")
    out: dict[str, Any] = {}
    documents = state.get("documents")
    if not documents:
        validate_context(ctx)
        if not state.get("context"):
            raise InputError("the engine needs 'documents' from the main graph, or a 'context'")
        documents = await ingest(store, ctx, state["context"])
        out["context"] = ""
    run_key = state.get("run_key") or uuid.uuid4().hex
    pass_index = state.get("pass_index") or 0
    scope = summary_scope(ctx, pass_index)
    summary_question = question
    if ctx.summary_scope == "query" and state.get("summary_question"):
        summary_question = state["summary_question"]
    await chunk_store.save_pass(store, run_key, pass_index, {
        "question": question,
        "qa_history": list(state.get("qa_history") or []),
        "summary_question": summary_question,
        "scope": scope,
        "documents": documents,
    })
    pending: list[int] = []
    if ctx.num_neighbor_summaries > 0:
        gids = list(range(chunk_store.total_chunks(documents)))
        done = await chunk_store.load_summaries(store, run_key, scope, gids)
        pending = [g for g in gids if g not in done]
    return {**out, "documents": documents, "run_key": run_key, "pass_index": pass_index,
            "question": question, "summary_question": summary_question,
            "qa_history": list(state.get("qa_history") or []),
            "pending_summaries": pending}


def _task(state: EngineState, gid: int) -> ChunkTask:
    return ChunkTask(run_key=state["run_key"], pass_index=state["pass_index"], chunk=gid)


def route_summaries(state: EngineState) -> list[Send] | str:
    """Fan out one summary task per chunk that lacks one, or go straight to map."""
    if not state["pending_summaries"]:
        return "dispatch_map"
    return [Send("summarize_chunk", _task(state, g)) for g in state["pending_summaries"]]


def dispatch_map(state: EngineState) -> dict[str, Any]:
    """Barrier after the summaries: map starts only once every summary exists."""
    return {}


def route_map(state: EngineState) -> list[Send]:
    """Fan out one map task per chunk: the payload is ids only."""
    n = chunk_store.total_chunks(state["documents"])
    return [Send("map_chunk", _task(state, g)) for g in range(n)]
