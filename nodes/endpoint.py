"""The connection to the model endpoint: one pooled HTTP client per run, two ways to call it.

When something listens for chat-model callbacks (LangSmith tracing, `astream_events`, a
LangServe or Studio stream), a call goes through LangChain's `BaseChatOpenAI`, so every call
is a traced, named LLM run. Otherwise it goes to the openai client directly: LangChain's
wrapper cost about 4.8 ms of CPU per call on top of the openai client's 4.5 ms, about 1 s per
256K-token question (`bench/overhead.py`). Both share the run's connection pool, and
`override_chat_model` in `nodes/llm.py` still replaces both.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import openai
from langchain_core.messages import BaseMessage
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tracers.context import tracing_v2_callback_var
from langsmith import utils as langsmith_utils
from longcepo.state import Context

if TYPE_CHECKING:
    from langchain_openai.chat_models.base import BaseChatOpenAI

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
    clients: list[openai.AsyncOpenAI]
    busy: list[int] = field(default_factory=list)
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

            pool = http_pool(self.ctx, self.ctx.max_concurrency)
            self.pools.append(pool)
            self._chat = BaseChatOpenAI(
                model=self.ctx.model,
                base_url=self.ctx.base_url,
                api_key=self.ctx.api_key or "not-needed",  # type: ignore[arg-type]
                timeout=self.ctx.request_timeout,
                max_retries=0,
                use_responses_api=False,
                http_async_client=pool,
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
    return httpx.AsyncClient(timeout=ctx.request_timeout, limits=limits)


def endpoint(ctx: Context) -> Endpoint:
    """This event loop's endpoint for the run's model, address, key, timeout and concurrency.

    A run opens at most `max_concurrency` connections for its direct calls, reused by every
    stage.
    """
    per_loop = _endpoints.setdefault(asyncio.get_running_loop(), {})
    key = (ctx.model, ctx.base_url, ctx.api_key, ctx.request_timeout, ctx.max_concurrency)
    if key not in per_loop:
        pools = [http_pool(ctx, pool_size(ctx, i)) for i in range(shards(ctx))]
        # openai accepts httpx's client as well as its own httpx2 one (its annotation says only
        # the latter); LangChain's model takes httpx's too
        clients = [openai.AsyncOpenAI(base_url=ctx.base_url,
                                      api_key=ctx.api_key or "not-needed",
                                      timeout=ctx.request_timeout, max_retries=0,
                                      http_client=pool)  # type: ignore[arg-type]
                   for pool in pools]
        per_loop[key] = Endpoint(ctx, pools, clients, [0] * len(pools))
    return per_loop[key]


async def close_endpoints() -> None:
    """Close this event loop's pools at the end of a run, so its sockets go at once."""
    for ep in _endpoints.pop(asyncio.get_running_loop(), {}).values():
        for pool in ep.pools:
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


async def complete(
    ctx: Context, messages: Sequence[BaseMessage], params: dict[str, Any],
    extra_headers: dict[str, str],
) -> tuple[str, int | None, int | None]:
    """One chat completion straight through the openai client: (text, prompt, completion)."""
    ep = endpoint(ctx)
    index = ep.shard()
    ep.busy[index] += 1
    try:
        reply = await ep.clients[index].chat.completions.create(
            model=ctx.model,
            messages=[{"role": _ROLES.get(m.type, m.type),  # type: ignore[misc]
                       "content": m.content} for m in messages],
            extra_headers=extra_headers,
            **params,
        )
    finally:
        ep.busy[index] -= 1
    text = (reply.choices[0].message.content or "") if reply.choices else ""
    usage = reply.usage
    if usage is None:
        return text, None, None
    return text, usage.prompt_tokens, usage.completion_tokens
