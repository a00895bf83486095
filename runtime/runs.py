"""One served run: check the request, pre-ingest it, then start, resume or replay its thread.

A thread id works as an idempotency key. The same request sent again on the same thread
resumes the unfinished run (on any replica sharing the database) or returns the finished
answer without a single LLM call; an empty request on a thread resumes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, get_type_hints

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from longcepo.nodes.budget import check_question, validate_context
from longcepo.nodes.errors import InputError, LongcepoError
from longcepo.nodes.inputs import as_documents, split_request
from longcepo.runtime.api import output_of, run_config, store_input
from longcepo.runtime.leases import Leases, hold
from longcepo.state import Context, DocumentEntry, ProgressEvent

INPUT_KEYS = ("context", "query", "message", "documents")


class RunConflict(LongcepoError):
    """The thread has an unfinished run for a different request (HTTP 409)."""

    http_status = 409
    kind = "conflict"


def is_resume_request(request: Mapping[str, Any] | None) -> bool:
    """An input with none of the input fields asks to continue the thread's run."""
    return not request or not any(request.get(k) for k in INPUT_KEYS)


def check_request(request: Mapping[str, Any] | None, ctx: Context) -> None:
    """Refuse a bad request before any work: a bad config, a missing delimiter, empty text.

    Cheap on purpose (no chunking), so servers can answer 4xx before a stream starts.
    """
    validate_context(ctx)
    if request is None or is_resume_request(request):
        return
    if not isinstance(request, Mapping):
        raise InputError("the input must be an object with 'context' and 'query', or 'message'")
    if request.get("documents") and not request.get("context") and not request.get("message"):
        query = request.get("query")
        if not isinstance(query, str) or not query.strip():
            raise InputError("the query is empty; ask a question about the document")
        check_entries(request["documents"])
        return
    context, query = split_request(request, ctx.delimiter)
    if not query:
        raise InputError("the query is empty; ask a question about the document")
    as_documents(context)
    check_question(ctx, query)


def check_entries(entries: Any) -> None:
    """`documents` must be manifest entries of ingested documents, as a run's output gives."""
    fields = get_type_hints(DocumentEntry)
    if not isinstance(entries, list):
        raise InputError("'documents' must be a list of ingested-document entries; to send "
                         "text, use 'context' (a string or a list of {'id', 'text'})")
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or any(
                not isinstance(entry.get(name), kind)
                for name, kind in fields.items()):
            raise InputError(f"documents[{i}] is not an ingested-document entry (it needs "
                             f"{', '.join(fields)}); to send text, use 'context' with "
                             "{'id', 'text'} documents")


def _same_request(values: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    keys = [d.get("key") for d in values.get("documents") or []]
    return (values.get("query") == payload["query"]
            and keys == [d["key"] for d in payload["documents"]])


async def plan_run(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    ctx: Context,
    request: Mapping[str, Any] | None,
    config: RunnableConfig,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(input to run, finished output): input None with no output means resume.

    The documents go into the store first, so the thread's checkpoints hold only ids.
    """
    state = await graph.aget_state(config)
    thread = config["configurable"]["thread_id"]
    if request is None or is_resume_request(request):
        if not state.values:
            raise InputError(f"no run on thread {thread!r} to resume; send context and query")
        return (None, None) if state.next else (None, output_of(state.values))
    check_request(request, ctx)
    if request.get("documents") and not request.get("context") and not request.get("message"):
        payload = {"documents": request["documents"], "query": str(request["query"]).strip()}
    else:
        context, query = split_request(request, ctx.delimiter)
        payload = await store_input(graph, ctx, context, query)
    if state.values and _same_request(state.values, payload):
        return (None, None) if state.next else (None, output_of(state.values))
    if state.next:
        raise RunConflict(
            f"thread {thread!r} has an unfinished run for another request; resume it with the "
            "same request (or an empty one), or use a new thread id"
        )
    return payload, None


async def stream_run(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    ctx: Context,
    request: Mapping[str, Any] | None,
    thread_id: str,
    config: RunnableConfig | None = None,
    *,
    leases: Leases | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Progress events (`{"event": ...}`) and, last, `{"event": "result", "output": ...}`.

    `config` may carry callbacks (LangServe's event streams, tracing); checkpoints are written
    at every step (`durability="sync"`), so a killed process loses only calls in flight.
    With `leases`, the thread's lease is held from planning to the result (`ThreadBusy` if
    another run holds it); callers that take the lease themselves pass none.
    """
    base = run_config(thread_id, ctx.max_concurrency)
    merged: RunnableConfig = {**(config or {}), **base,
                              "configurable": {**(config or {}).get("configurable", {}),
                                               **base["configurable"]}}
    async with hold(leases, thread_id):
        payload, finished = await plan_run(graph, ctx, request, merged)
        if finished is None:
            async for _, _, event in graph.astream(payload, merged, context=ctx,
                                                   stream_mode=["custom"], subgraphs=True,
                                                   durability="sync"):
                yield event  # type: ignore[misc]  # custom mode: our dicts
            final = await graph.aget_state(merged)
            finished = output_of(final.values)
        yield {"event": ProgressEvent.RESULT, "output": finished, "thread_id": thread_id}


async def run_to_end(
    graph: CompiledStateGraph[Any, Any, Any, Any],
    ctx: Context,
    request: Mapping[str, Any] | None,
    thread_id: str,
    config: RunnableConfig | None = None,
    *,
    leases: Leases | None = None,
) -> dict[str, Any]:
    """The final output of `stream_run`, progress dropped."""
    result: dict[str, Any] = {}
    async for event in stream_run(graph, ctx, request, thread_id, config, leases=leases):
        if event.get("event") == ProgressEvent.RESULT:
            result = dict(event["output"])
    return result
