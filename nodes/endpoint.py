"""The connection to the model endpoint: one run's connection pools, two ways to call it.

When something listens for chat-model callbacks (LangSmith tracing, `astream_events`, a
LangServe or Studio stream), a call goes through LangChain's `BaseChatOpenAI`, so every call
is a traced, named LLM run. Otherwise it is one plain HTTP request of the OpenAI chat protocol:
LangChain's wrapper cost about 4.8 ms of CPU per call on top of the openai client's 4.5 ms
(`bench/overhead.py`), and importing the openai package alone took 0.8 s of the 2.8 s before
the first request. Errors still surface as the openai package's exceptions (imported then),
so retries and messages treat both paths alike. `override_chat_model` in `nodes/llm.py`
replaces both.
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

import httpx
from langchain_core.messages import BaseMessage
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tracers.context import tracing_v2_callback_var
from langsmith import utils as langsmith_utils
from longcepo.state import Context

if TYPE_CHECKING:
    from langchain_openai.chat_models.base import BaseChatOpenAI

OPENAI_URL = "https://api.openai.com/v1"
_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}
SHARD_CONNECTIONS = 16


@dataclass
class Endpoint:
    """One run's connection pools and the clients over them.

    The direct path spreads calls over shards of at most SHARD_CONNECTIONS connections:
    httpcore scans every pooled connection, and with a quadratic term when they are idle, each
    time a request starts or ends, which at 64 connections in one pool cost about 1.5 s of CPU
    per 256K-token question. The LangChain model gets a pool of its own, made only when used.
    """

    ctx: Context
    pools: list[httpx.AsyncClient]
    busy: list[int] = field(default_factory=list)
    chat_pool: httpx.AsyncClient | None = None
    _chat: BaseChatOpenAI | None = field(default=None, repr=False)

    def shard(self) -> int:
        """The shard with the most free connections; the caller counts itself in `busy`."""
        free = [pool_size(self.ctx, i) - n for i, n in enumerate(self.busy)]
        return free.index(max(free))

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


def shards(ctx: Context) -> int:
    """How many pools the direct path spreads `max_concurrency` connections over."""
    return -(-ctx.max_concurrency // SHARD_CONNECTIONS)


def pool_size(ctx: Context, index: int) -> int:
    """Connections of shard `index`: the shards split `max_concurrency` exactly."""
    base, extra = divmod(ctx.max_concurrency, shards(ctx))
    return base + (index < extra)


def http_pool(ctx: Context, size: int) -> httpx.AsyncClient:
    """A connection pool that keeps all of its `size` connections alive between waves.

    httpx keeps only 20 idle connections by default: at a higher concurrency every wave
    closed the surplus and opened new ones, and a burst of fresh connections against a server
    with a small listen backlog failed and was retried.
    """
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
        return httpx.create_ssl_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def endpoint(ctx: Context) -> Endpoint:
    """This event loop's endpoint for the run's model, address, key, timeout and concurrency.

    A run opens at most `max_concurrency` connections for its direct calls, reused by every
    stage.
    """
    per_loop = _endpoints.setdefault(asyncio.get_running_loop(), {})
    key = (ctx.model, ctx.base_url, ctx.api_key, ctx.request_timeout, ctx.max_concurrency)
    if key not in per_loop:
        pools = [http_pool(ctx, pool_size(ctx, i)) for i in range(shards(ctx))]
        per_loop[key] = Endpoint(ctx, pools, [0] * len(pools))
    return per_loop[key]


async def close_endpoints() -> None:
    """Close this event loop's pools at the end of a run, so its sockets go at once."""
    for ep in _endpoints.pop(asyncio.get_running_loop(), {}).values():
        for pool in [*ep.pools, *([ep.chat_pool] if ep.chat_pool else [])]:
            await pool.aclose()


def callbacks_listen() -> bool:
    """Whether a chat model's callbacks would reach anyone: tracing or a handler in the run."""
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


def status_error(response: httpx.Response) -> Exception:
    """The openai package's exception for an HTTP error reply, as its client builds it."""
    openai = _openai()
    text = response.text.strip()
    body: Any = text
    try:
        body = json.loads(text)
        message = f"Error code: {response.status_code} - {body}"
    except ValueError:
        message = text or f"Error code: {response.status_code}"
    data = body.get("error", body) if isinstance(body, dict) else body
    classes = {400: openai.BadRequestError, 401: openai.AuthenticationError,
               403: openai.PermissionDeniedError, 404: openai.NotFoundError,
               409: openai.ConflictError, 422: openai.UnprocessableEntityError,
               429: openai.RateLimitError}
    cls = classes.get(response.status_code)
    if cls is None:
        cls = openai.InternalServerError if response.status_code >= 500 else openai.APIStatusError
    error: Exception = cls(message, response=response, body=data)
    return error


def _payload(ctx: Context, messages: Sequence[BaseMessage], params: dict[str, Any]
             ) -> dict[str, Any]:
    # `extra_body` (a `response_format`) joins the body itself, as the openai client does
    extra = params.get("extra_body") or {}
    return {"model": ctx.model,
            "messages": [{"role": _ROLES.get(m.type, m.type), "content": m.content}
                         for m in messages],
            **{k: v for k, v in params.items() if k != "extra_body"}, **extra}


async def complete(
    ctx: Context, messages: Sequence[BaseMessage], params: dict[str, Any],
    extra_headers: dict[str, str],
) -> tuple[str, int | None, int | None]:
    """One chat completion as a plain HTTP request: (text, prompt tokens, completion tokens)."""
    ep = endpoint(ctx)
    index = ep.shard()
    url = (ctx.base_url or OPENAI_URL).rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {ctx.api_key or 'not-needed'}", **extra_headers}
    ep.busy[index] += 1
    try:
        response = await ep.pools[index].post(url, json=_payload(ctx, messages, params),
                                              headers=headers)
    except httpx.TimeoutException as exc:
        raise _openai().APITimeoutError(request=exc.request) from exc
    except httpx.TransportError as exc:
        raise _openai().APIConnectionError(request=exc.request) from exc
    finally:
        ep.busy[index] -= 1
    if response.status_code >= 400:
        raise status_error(response)
    try:
        reply = response.json()
        choices = reply.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content") or ""
        usage = reply.get("usage") or {}
    except (ValueError, AttributeError, TypeError) as exc:
        raise _openai().APIResponseValidationError(
            response=response, body=response.text, message=f"not a chat completion: {exc}"
        ) from None
    return str(text), usage.get("prompt_tokens"), usage.get("completion_tokens")
