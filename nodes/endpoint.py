"""The connection to the model endpoint: one run's connections, two ways to call it.

When something listens for chat-model callbacks (LangSmith tracing, `astream_events`, a
LangServe or Studio stream), a call goes through LangChain's `BaseChatOpenAI`, so every call
is a traced, named LLM run. Otherwise it is one plain HTTP request of the OpenAI chat protocol
on a keep-alive connection of the run's own (`connection.py`): LangChain's wrapper cost about
4.8 ms of CPU per call on top of the openai client's 4.5 ms (`bench/overhead.py`), and
importing the openai package alone took 0.8 s of the 2.8 s before the first request. Errors
still surface as the openai package's exceptions (imported then), so retries and messages
treat both paths alike. `override_chat_model` in `nodes/llm.py` replaces both.

`send_early` sends a call before the code that wants its reply has loaded (the CLI's
normalize call, while LangGraph imports); `complete` then takes that reply instead of asking
again. Nothing here imports LangChain or httpx at module level, so the CLI can send that call
after 0.2 s instead of 1.5 s.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from longcepo.env import proxied
from longcepo.nodes.connection import (
    Connection,
    ConnectionFailed,
    Reply,
    Target,
    connect,
    request_head,
)
from longcepo.state import Context

if TYPE_CHECKING:
    import httpx
    from langchain_core.messages import BaseMessage
    from langchain_openai.chat_models.base import BaseChatOpenAI

OPENAI_URL = "https://api.openai.com/v1"
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


@dataclass
class Early:
    """A request already sent; the first `complete` with this URL, body and headers takes it.

    `sent` is set once the request is written (or has failed): the CLI waits for it before it
    starts importing on another thread, which would otherwise hold up the connection.
    """

    url: str
    body: dict[str, Any]
    headers: dict[str, str]
    reply: asyncio.Task[Reply]
    sent: asyncio.Event


@dataclass
class Endpoint:
    """One run's connections and the clients over them.

    The direct path keeps one connection per call in flight, opened when a call finds none
    idle: never more than `max_concurrency`, each kept alive for the run's later waves. (With
    httpx, one pool per connection: httpcore scans every connection of a pool, with a
    quadratic term, whenever a request starts or ends, and 64 connections in one pool cost
    about 1.5 s of CPU per 256K-token question.) An endpoint behind a proxy is called through
    httpx, which speaks the proxy protocols; the LangChain model gets an httpx pool of its
    own. Both are made only when used.
    """

    ctx: Context
    target: Target | None = field(init=False)  # None: through a proxy, with httpx
    idle: list[Connection] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    proxy_pool: httpx.AsyncClient | None = None
    chat_pool: httpx.AsyncClient | None = None
    early: list[Early] = field(default_factory=list)
    _chat: BaseChatOpenAI | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        url = _url(self.ctx)  # the checked base_url: always http(s)
        self.target = None if proxied(url) else Target.parse(url)

    async def acquire(self, target: Target) -> Connection:
        """An open idle connection to `target`, the most recently used first; else a new one."""
        while self.idle:
            conn = self.idle.pop()
            if conn.open:
                return conn
        conn = await connect(target, _tls(True) if target.secure else None)
        self.connections = [c for c in self.connections if c.open]
        self.connections.append(conn)
        return conn

    def release(self, conn: Connection) -> None:
        """Give a connection back after a complete exchange; a closed one is forgotten."""
        if conn.open:
            self.idle.append(conn)

    def take_early(self, url: str, body: dict[str, Any], headers: dict[str, str]
                   ) -> asyncio.Task[Reply] | None:
        """The reply of an early request identical to this one, at most once."""
        for i, e in enumerate(self.early):
            if e.url == url and e.body == body and e.headers == headers:
                return self.early.pop(i).reply
        return None

    def chat(self) -> BaseChatOpenAI:
        """The LangChain chat model over a pool of its own.

        `BaseChatOpenAI`, not `ChatOpenAI`: the latter renames `max_tokens` to
        `max_completion_tokens`, which llama.cpp's Python server ignores, so a small model
        that repeats itself would generate until its context is full. Every
        OpenAI-compatible server honours `max_tokens`.
        """
        if self._chat is None:
            from langchain_openai.chat_models.base import BaseChatOpenAI

            self.chat_pool = http_pool(self.ctx, self.ctx.max_concurrency)
            self._chat = BaseChatOpenAI(
                model=self.ctx.model,
                base_url=self.ctx.base_url,
                api_key=self.ctx.api_key or "not-needed",  # type: ignore[arg-type]
                timeout=self.ctx.request_timeout,
                max_retries=0,
                use_responses_api=False,
                http_async_client=self.chat_pool,
            )
        return self._chat


_endpoints: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                      dict[tuple[Any, ...], Endpoint]]
_endpoints = weakref.WeakKeyDictionary()


def http_pool(ctx: Context, size: int) -> httpx.AsyncClient:
    """An httpx pool that keeps all of its `size` connections alive between waves.

    httpx keeps only 20 idle connections by default: at a higher concurrency every wave
    closed the surplus and opened new ones, and a burst of fresh connections against a server
    with a small listen backlog failed and was retried.
    """
    import httpx

    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size,
                          keepalive_expiry=60.0)
    secure = not (ctx.base_url or "").startswith("http://")
    return httpx.AsyncClient(timeout=ctx.request_timeout, limits=limits, verify=_tls(secure))


@cache
def _tls(secure: bool) -> ssl.SSLContext:
    """One TLS context per process, shared by every pool.

    httpx builds one per client by default, loading the CA bundle each time: about 0.1 s on a
    busy machine, so a run with several pools spent seconds before its first request. A
    plain-http endpoint never uses TLS and gets an empty context that costs nothing to make.
    """
    if secure:
        import httpx  # its context: certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR

        return httpx.create_ssl_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def endpoint(ctx: Context) -> Endpoint:
    """This event loop's endpoint for the run's model, address, key, timeout and concurrency.

    A run opens at most `max_concurrency` connections for its direct calls (plus one for an
    early call), reused by every stage.
    """
    per_loop = _endpoints.setdefault(asyncio.get_running_loop(), {})
    key = (ctx.model, ctx.base_url, ctx.api_key, ctx.request_timeout, ctx.max_concurrency)
    if key not in per_loop:
        per_loop[key] = Endpoint(ctx)
    return per_loop[key]


async def close_endpoints() -> None:
    """Close this event loop's pools at the end of a run, so its sockets go at once.

    An early reply nobody took (the run stopped before its first call) is dropped.
    """
    for ep in _endpoints.pop(asyncio.get_running_loop(), {}).values():
        for e in ep.early:
            e.reply.cancel()
        await asyncio.gather(*(e.reply for e in ep.early), return_exceptions=True)
        for conn in ep.connections:
            conn.close()
        for pool in (ep.proxy_pool, ep.chat_pool):
            if pool is not None:
                await pool.aclose()


def callbacks_listen() -> bool:
    """Whether a chat model's callbacks would reach anyone: tracing or a handler in the run."""
    from langchain_core.runnables.config import var_child_runnable_config
    from langchain_core.tracers.context import tracing_v2_callback_var
    from langsmith import utils as langsmith_utils

    if tracing_v2_callback_var.get() is not None or langsmith_utils.tracing_is_enabled():
        return True
    callbacks = (var_child_runnable_config.get() or {}).get("callbacks")
    if callbacks is None:
        return False
    if isinstance(callbacks, list):
        return bool(callbacks)
    return bool(getattr(callbacks, "handlers", None))


def _openai() -> Any:
    import openai

    return openai


def _httpx_request(url: str) -> httpx.Request:
    import httpx

    return httpx.Request("POST", url)


def _httpx_response(reply: Reply) -> httpx.Response:
    """The reply as the httpx response the openai exceptions carry (body already decoded)."""
    import httpx

    framing = {"content-encoding", "content-length", "transfer-encoding"}
    headers = {k: v for k, v in reply.headers.items() if k not in framing}
    return httpx.Response(reply.status_code, headers=headers, content=reply.content,
                          request=_httpx_request(reply.url))


def status_error(reply: Reply) -> Exception:
    """The openai package's exception for an HTTP error reply, as its client builds it."""
    openai = _openai()
    text = reply.text.strip()
    body: Any = text
    try:
        body = json.loads(text)
        message = f"Error code: {reply.status_code} - {body}"
    except ValueError:
        message = text or f"Error code: {reply.status_code}"
    data = body.get("error", body) if isinstance(body, dict) else body
    classes = {400: openai.BadRequestError, 401: openai.AuthenticationError,
               403: openai.PermissionDeniedError, 404: openai.NotFoundError,
               409: openai.ConflictError, 422: openai.UnprocessableEntityError,
               429: openai.RateLimitError}
    cls = classes.get(reply.status_code)
    if cls is None:
        cls = openai.InternalServerError if reply.status_code >= 500 else openai.APIStatusError
    error: Exception = cls(message, response=_httpx_response(reply), body=data)
    return error


def stage_headers(stage: str) -> dict[str, str]:
    """Headers naming the pipeline stage, so servers and logs can tell the calls apart."""
    return {"X-Longcepo-Stage": stage}


def _payload(ctx: Context, messages: Sequence[tuple[str, Any]], params: dict[str, Any]
             ) -> dict[str, Any]:
    """The request body from (message type, content) pairs and the sampling parameters."""
    # `extra_body` (a `response_format`) joins the body itself, as the openai client does
    extra = params.get("extra_body") or {}
    return {"model": ctx.model,
            "messages": [{"role": _ROLES.get(kind, kind), "content": content}
                         for kind, content in messages],
            **{k: v for k, v in params.items() if k != "extra_body"}, **extra}


def _url(ctx: Context) -> str:
    return (ctx.base_url or OPENAI_URL).rstrip("/") + "/chat/completions"


def _request(ctx: Context, messages: Sequence[tuple[str, Any]], params: dict[str, Any],
             extra_headers: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, str]]:
    url = _url(ctx)
    headers = {"Authorization": f"Bearer {ctx.api_key or 'not-needed'}", **extra_headers}
    return url, _payload(ctx, messages, params), headers


async def _post_proxied(ep: Endpoint, url: str, body: dict[str, Any],
                        headers: dict[str, str]) -> Reply:
    import httpx

    if ep.proxy_pool is None:
        ep.proxy_pool = http_pool(ep.ctx, ep.ctx.max_concurrency)
    try:
        response = await ep.proxy_pool.post(url, json=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise TimeoutError(str(exc)) from exc
    except httpx.TransportError as exc:
        raise ConnectionFailed(str(exc) or type(exc).__name__) from exc
    return Reply(url, response.status_code,
                 {k.lower(): v for k, v in response.headers.items()}, response.content)


async def _post(ep: Endpoint, url: str, body: dict[str, Any], headers: dict[str, str],
                sent: asyncio.Event | None = None) -> Reply:
    """One request and its reply within the call's timeout; `sent` is set once it is written."""
    try:
        async with asyncio.timeout(ep.ctx.request_timeout):
            if ep.target is None:
                return await _post_proxied(ep, url, body, headers)
            # compact; ASCII escapes are 2.5x faster to encode than UTF-8 text
            data = json.dumps(body, separators=(",", ":")).encode()
            head = request_head(ep.target, headers, len(data))
            conn = await ep.acquire(ep.target)
            reply = await conn.exchange(url, head, data, sent)
            ep.release(conn)
            return reply
    finally:
        if sent:
            sent.set()


def send_early(ctx: Context, messages: Sequence[tuple[str, Any]], params: dict[str, Any],
               extra_headers: dict[str, str]) -> Early:
    """Send a call now, on this loop's endpoint; the first identical `complete` takes the reply.

    Identical means the same URL, body and headers, so a call that differs in any way is sent
    on its own and the early reply is dropped unused at `close_endpoints`. The caller may
    read the reply too (`reply_text`) and wait until the request is written (`sent`).
    """
    ep = endpoint(ctx)
    url, body, headers = _request(ctx, messages, params, extra_headers)
    sent = asyncio.Event()
    early = Early(url, body, headers, asyncio.create_task(_post(ep, url, body, headers, sent)),
                  sent)
    ep.early.append(early)
    return early


def reply_text(response: Reply) -> tuple[str, int | None, int | None]:
    """(text, prompt tokens, completion tokens) of a chat completion reply.

    Raises the openai package's exception for an error status or a body that is not one.
    """
    if response.status_code >= 400:
        raise status_error(response)
    try:
        reply = response.json()
        choices = reply.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content") or ""
        usage = reply.get("usage") or {}
    except (ValueError, AttributeError, TypeError) as exc:
        raise _openai().APIResponseValidationError(
            response=_httpx_response(response), body=response.text,
            message=f"not a chat completion: {exc}"
        ) from None
    return str(text), usage.get("prompt_tokens"), usage.get("completion_tokens")


async def complete(
    ctx: Context, messages: Sequence[BaseMessage], params: dict[str, Any],
    extra_headers: dict[str, str],
) -> tuple[str, int | None, int | None]:
    """One chat completion as a plain HTTP request: (text, prompt tokens, completion tokens)."""
    ep = endpoint(ctx)
    url, body, headers = _request(ctx, [(m.type, m.content) for m in messages], params,
                                  extra_headers)
    early = ep.take_early(url, body, headers) if ep.early else None
    try:
        response = await (early if early is not None else _post(ep, url, body, headers))
    except TimeoutError as exc:
        raise _openai().APITimeoutError(request=_httpx_request(url)) from exc
    except ConnectionFailed as exc:
        raise _openai().APIConnectionError(message=str(exc), request=_httpx_request(url)
                                           ) from exc
    return reply_text(response)
