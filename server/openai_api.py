"""OpenAI-compatible routes: `POST /v1/chat/completions` and `GET /v1/models`.

A drop-in for clients of the reference's proxy: model `longcepo-<base model>` (or the plain
base model with `optillm_approach: longcepo` in the body, as optillm's clients send it) with
one user message `{context}<CONTEXT_END>{query}` runs the graph against `<base model>`
upstream.
Header `X-Thread-Id` names the run's thread: sending the request again on it resumes an
interrupted run, on any replica that shares the database.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from langgraph.graph.state import CompiledStateGraph
from longcepo.nodes.errors import InputError, LongcepoError
from longcepo.runtime.leases import Lease, Leases
from longcepo.runtime.runs import check_request, stream_run
from longcepo.server.guards import RequestRejected, Scope, error_payload, retry_headers
from longcepo.server.openai_wire import (
    APPROACH,
    MODEL_PREFIX,
    ChatRequest,
    Narrator,
    chunk,
    completion,
    extras,
    usage_chunk,
)
from longcepo.server.settings import THREAD_HEADER, ServerSettings, context_for
from longcepo.state import Context, ProgressEvent
from pydantic import ValidationError
from starlette.background import BackgroundTask

log = logging.getLogger(__name__)
CHAT_PATH = "/v1/chat/completions"
PARSED_KEY = "longcepo_chat_request"
GraphSource = Callable[[], CompiledStateGraph[Any, Any, Any, Any]]


def _error(status: int, message: str, kind: str = "invalid_request_error",
           code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_payload(message, kind, code), status_code=status, headers=headers)


def parse_chat(settings: ServerSettings, raw: bytes) -> tuple[ChatRequest, Context, Any]:
    """Parse and check a chat request: (request, Context, graph input); RequestRejected if bad."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestRejected(400, f"the request body is not valid JSON ({exc})") from None
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RequestRejected(400, f"bad chat request: {problem}") from None
    if request.optillm_approach not in (None, APPROACH):
        raise RequestRejected(400, f"optillm_approach {request.optillm_approach!r} is not served "
                                   f"here; send '{APPROACH}' or leave it out")
    if not request.base_model():
        raise RequestRejected(404, f"model {request.model!r} is not served here; ask for "
                                   f"'{MODEL_PREFIX}<base model>' (see GET /v1/models), or send "
                                   f"the plain model with optillm_approach '{APPROACH}'",
                              "model_not_found")
    if settings.served_models and request.base_model() not in settings.served_models:
        raise RequestRejected(404, f"base model {request.base_model()!r} is not offered; "
                                   f"choose one of: {', '.join(settings.served_models)}",
                              "model_not_found")
    try:
        ctx = context_for(settings, None, **request.context_settings())
        graph_input = {"message": request.user_text()}
        if not graph_input["message"]:
            raise InputError("no user message; send one user message holding "
                             f"'<document>{ctx.delimiter}<question>'")
        check_request(graph_input, ctx)
    except LongcepoError as exc:
        raise RequestRejected(400, str(exc)) from None
    return request, ctx, graph_input


def chat_check(settings: ServerSettings) -> Callable[[Scope, bytes], Any]:
    """The run gate's check for chat completions; keeps the parsed request for the route."""

    async def check(scope: Scope, raw: bytes) -> None:
        scope.setdefault("state", {})[PARSED_KEY] = parse_chat(settings, raw)

    return check


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


async def _stream(events: AsyncIterator[dict[str, Any]], run_id: str, model: str,
                  include_usage: bool) -> AsyncIterator[bytes]:
    narrator = Narrator()
    yield _sse(chunk(run_id, model, {"role": "assistant", "content": ""}))
    try:
        async for event in events:
            if event.get("event") == ProgressEvent.RESULT:
                output = event["output"]
                yield _sse(chunk(run_id, model, {"content": output.get("answer", "")}))
                yield _sse(chunk(run_id, model, {}, "stop",
                                 longcepo=extras(output, event["thread_id"])))
                if include_usage:
                    yield _sse(usage_chunk(run_id, model, output))
            elif (line := narrator.line(event)) is not None:
                yield _sse(chunk(run_id, model, {"reasoning_content": line + "\n"}))
    except LongcepoError as exc:
        status, kind = exc.http_status, exc.kind
        yield _sse({"error": {"message": str(exc), "type": kind, "code": status}})
    except (sqlite3.Error, psycopg.Error) as exc:
        # the status line is long gone: the stream ends with an error event, not a traceback
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        log.error("run state failed mid-stream: %s", reason)
        yield _sse({"error": {"message": f"saving the run's state failed ({reason}); send the "
                              "same request with the same X-Thread-Id to resume",
                              "type": "server_error", "code": 503}})
    yield b"data: [DONE]\n\n"


async def _released(events: AsyncIterator[dict[str, Any]],
                    lease: Lease | None) -> AsyncIterator[dict[str, Any]]:
    """The run's events; the thread's lease is given back when they end or are dropped."""
    try:
        async for event in events:
            yield event
    finally:
        if lease is not None:
            await lease.release()


def router(settings: ServerSettings, graph: GraphSource,
           leases: Callable[[], Leases | None] = lambda: None) -> APIRouter:
    """The `/v1` routes."""
    api = APIRouter(prefix="/v1")
    listing: dict[str, Any] = {"at": 0.0, "models": []}

    async def base_models() -> list[str]:
        if settings.served_models:
            return list(settings.served_models)
        if time.monotonic() - listing["at"] < 60 and listing["models"]:
            return list(listing["models"])
        upstream = (settings.context.base_url or "https://api.openai.com/v1").rstrip("/")
        headers = {"Authorization": f"Bearer {settings.context.api_key}"} \
            if settings.context.api_key else {}
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                reply = await client.get(f"{upstream}/models", headers=headers)
                reply.raise_for_status()
                names = [str(m["id"]) for m in reply.json()["data"]]
        except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
            log.info("upstream model list unavailable (%s); offering the default model",
                     type(exc).__name__)
            names = []
        names = names or [settings.context.model]
        listing.update(at=time.monotonic(), models=names)
        return names

    @api.get("/models")
    async def models() -> dict[str, Any]:
        """Every base model as `longcepo-<model>`."""
        return {"object": "list", "data": [
            {"id": f"{MODEL_PREFIX}{name}", "object": "model", "created": 0,
             "owned_by": "longcepo"} for name in await base_models()]}

    @api.post("/chat/completions")
    async def chat_completions(request: Request) -> Response:
        """Answer the query over the context with LongCePO."""
        parsed = getattr(request.state, PARSED_KEY, None)
        try:
            chat, ctx, graph_input = parsed or parse_chat(settings, await request.body())
        except RequestRejected as exc:
            return _error(exc.status, exc.message, code=exc.code)
        thread_id = request.headers.get(THREAD_HEADER) or uuid.uuid4().hex
        run_id = f"chatcmpl-{uuid.uuid4().hex}"
        headers = {"X-Thread-Id": thread_id}
        held = leases()
        try:
            # taken before any byte is sent, so a busy thread is a real 409, streamed or not
            lease = await held.acquire(thread_id) if held is not None else None
        except LongcepoError as exc:
            return _error(exc.http_status, str(exc), exc.kind,
                          headers={**headers, **retry_headers(exc)})
        events = _released(stream_run(graph(), ctx, graph_input, thread_id), lease)
        if chat.stream:
            include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
            # the background release covers a client gone before the stream started
            return StreamingResponse(_stream(events, run_id, chat.model, include_usage),
                                     media_type="text/event-stream", headers=headers,
                                     background=BackgroundTask(lease.release) if lease else None)
        try:
            output: dict[str, Any] = {}
            async for event in events:
                if event.get("event") == ProgressEvent.RESULT:
                    output = event["output"]
        except LongcepoError as exc:
            status, kind = exc.http_status, exc.kind
            message = str(exc)
            if status == 502:
                message += f"; send the same request with header X-Thread-Id: {thread_id} " \
                           "to resume without repeating finished calls"
            return _error(status, message, kind, headers=headers)
        return JSONResponse(completion(run_id, chat.model, output, thread_id), headers=headers)

    return api
