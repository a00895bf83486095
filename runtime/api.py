"""Python entry points with durable state: a SQLite checkpointer and store, resumable runs.

result = await ask(document, "Who founded the company?", base_url="http://127.0.0.1:8000/v1")
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph.state import CompiledStateGraph
from longcepo.env import default_state_dir
from longcepo.graph.main import build_graph
from longcepo.nodes import store as chunk_store
from longcepo.nodes.budget import validate_context
from longcepo.nodes.ingest import ingest
from longcepo.nodes.llm import close_clients
from longcepo.runtime.call_store import numpy_unimportable, sqlite_call_store
from longcepo.runtime.leases import FileLeases, hold
from longcepo.state import Context, Document, OutputState

with numpy_unimportable():
    from langgraph.store.sqlite.aio import AsyncSqliteStore

FAST_DURABLE = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
"""A commit survives the process being killed (not a power cut) and costs no fsync, so a
received reply reaches the call cache within milliseconds instead of queueing behind fsyncs."""


@asynccontextmanager
async def sqlite_graph(
    state_dir: str | Path | None = None,
) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    """The main graph with checkpoints, chunks and the call cache in SQLite under `state_dir`.

    Separate files (checkpoints, chunks, the call cache) so their writes never wait on each
    other.
    """
    folder = Path(state_dir) if state_dir else default_state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    async with (
        AsyncSqliteSaver.from_conn_string(str(folder / "checkpoints.sqlite")) as saver,
        AsyncSqliteStore.from_conn_string(str(folder / "store.sqlite")) as store,
    ):
        await saver.setup()
        await store.setup()
        for conn in (saver.conn, store.conn):
            await conn.executescript(FAST_DURABLE)
        with sqlite_call_store(folder) as calls:
            chunk_store.use_call_store(store, calls)
            try:
                yield build_graph(checkpointer=saver, store=store)
            finally:
                chunk_store.use_call_store(store, None)


def _leased(state_dir: str | Path | None, thread_id: str) -> AbstractAsyncContextManager[None]:
    """The thread's lease in the state folder: `ThreadBusy` if another process runs it."""
    return hold(FileLeases(Path(state_dir) if state_dir else default_state_dir()), thread_id)


make_context = Context.from_settings


def run_config(thread_id: str, max_concurrency: int) -> RunnableConfig:
    """Config for one run; LangGraph's own task limit sits above the LLM-call bound."""
    return {"configurable": {"thread_id": thread_id},
            "max_concurrency": max(64, 4 * max_concurrency), "recursion_limit": 10_000}


async def store_input(
    graph: CompiledStateGraph[Any, Any, Any, Any], ctx: Context, context: Any, query: str
) -> dict[str, Any]:
    """Chunk the documents into the graph's store first and pass only their manifest.

    Input passed to a checkpointed graph is saved about three times over (the input
    checkpoint, its writes, the first step); a manifest of ids costs nothing.
    """
    documents = await ingest(chunk_store.resolve(graph.store), ctx, context)
    return {"documents": documents, "query": query}


def output_of(values: dict[str, Any]) -> dict[str, Any]:
    """Only the output schema's fields of a final state."""
    return {k: values[k] for k in OutputState.__annotations__ if k in values}


async def ask(
    context: str | list[Document] | list[dict[str, Any]],
    query: str,
    *,
    thread_id: str | None = None,
    state_dir: str | Path | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Answer `query` over `context`; the run is checkpointed under `thread_id`.

    `context` is text, or documents as `longcepo.read_documents` returns them (PDF pages then
    appear as `pages` in `supporting_chunks`).
    """
    ctx = make_context(**settings)
    validate_context(ctx)
    thread_id = thread_id or uuid.uuid4().hex
    try:
        async with _leased(state_dir, thread_id), sqlite_graph(state_dir) as graph:
            payload = await store_input(graph, ctx, context, query)
            config = run_config(thread_id, ctx.max_concurrency)
            result = await graph.ainvoke(payload, config, context=ctx, durability="sync")
    finally:
        await close_clients()
    return {**output_of(result), "thread_id": thread_id}


async def resume(thread_id: str, *, state_dir: str | Path | None = None,
                 **settings: Any) -> dict[str, Any]:
    """Continue a failed or killed run from its last checkpoint; finished calls are not redone."""
    ctx = make_context(**settings)
    try:
        async with _leased(state_dir, thread_id), sqlite_graph(state_dir) as graph:
            config = run_config(thread_id, ctx.max_concurrency)
            result = await graph.ainvoke(None, config, context=ctx, durability="sync")
    finally:
        await close_clients()
    return {**output_of(result), "thread_id": thread_id}
