"""The one door for LLM calls.

Model factory, bounded retries with backoff, the concurrency bound, usage accounting, format
retries and the per-run call cache all live here.

Retries live here only: the direct path (`nodes/endpoint.py`) never retries, ChatOpenAI runs
with `max_retries=0` and the graph has no `RetryPolicy`, so one failing request costs at most
`max_retries + 1` HTTP attempts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import re
import sys
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.messages import BaseMessage, HumanMessage
from longcepo.nodes import endpoint, structured
from longcepo.nodes.connection import ConnectionFailed
from longcepo.nodes.errors import LLMCallError
from longcepo.nodes.redact import redact_url, scrub
from longcepo.nodes.request import json_note, reminded, sampling
from longcepo.nodes.store import CallCache
from longcepo.nodes.tokens import count_tokens
from longcepo.prompts.reminders import REMINDERS
from longcepo.state import Context

if TYPE_CHECKING:  # the chat-model classes load only when a model is used (0.1 s)
    from langchain_core.language_models import BaseChatModel

log = logging.getLogger(__name__)
T = TypeVar("T")

_override: ContextVar[BaseChatModel | None] = ContextVar("longcepo_chat_model", default=None)
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]]
_slots = weakref.WeakKeyDictionary()
_RETRY_STATUS = {408, 409, 425, 429}


@contextmanager
def override_chat_model(model: BaseChatModel) -> Iterator[None]:
    """Route every call made inside the block to `model` (the seam tests use)."""
    token = _override.set(model)
    try:
        yield
    finally:
        _override.reset(token)


def chat_model(ctx: Context) -> BaseChatModel:
    """The LangChain chat model for this run: the override, or the run's endpoint's model."""
    if (model := _override.get()) is not None:
        return model
    return endpoint.endpoint(ctx).chat()


async def close_clients() -> None:
    """Close this event loop's connection pools at the end of a run."""
    await endpoint.close_endpoints()


async def _complete(
    ctx: Context, stage: str, messages: Sequence[BaseMessage], config: dict[str, Any],
    params: dict[str, Any],
) -> tuple[str, int | None, int | None]:
    """(text, prompt tokens, completion tokens) as the endpoint reported them, if it did.

    A plain HTTP request (`endpoint.complete`) unless a model is overridden or callbacks
    listen; then the LangChain model, whose callbacks make the traced, streamed LLM run.
    """
    headers = endpoint.stage_headers(stage)
    if _override.get() is None and not endpoint.callbacks_listen():
        return await endpoint.complete(ctx, messages, params, headers)
    reply = await chat_model(ctx).ainvoke(
        list(messages), config=config, extra_headers=headers, **params  # type: ignore[arg-type]
    )
    text = reply.content if isinstance(reply.content, str) else str(reply.content)
    meta = getattr(reply, "usage_metadata", None) or {}
    return text, meta.get("input_tokens"), meta.get("output_tokens")


def _slot(limit: int) -> asyncio.Semaphore:
    per_loop = _slots.setdefault(asyncio.get_running_loop(), {})
    if limit not in per_loop:
        per_loop[limit] = asyncio.Semaphore(limit)
    return per_loop[limit]


@dataclass
class Usage:
    """Counters of one stage; `as_state()` gives the reducer-ready delta."""

    stage: str
    calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    format_retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    structured_calls: int = 0
    structured_refusals: int = 0

    def add(self, other: Usage) -> None:
        """Accumulate another attempt's counters."""
        self.calls += other.calls
        self.cached_calls += other.cached_calls
        self.failed_calls += other.failed_calls
        self.format_retries += other.format_retries
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.structured_calls += other.structured_calls
        self.structured_refusals += other.structured_refusals

    def as_state(self) -> dict[str, dict[str, int]]:
        """`{stage: counters}` for the `usage` channel."""
        return {
            self.stage: {
                "calls": self.calls,
                "cached_calls": self.cached_calls,
                "failed_calls": self.failed_calls,
                "format_retries": self.format_retries,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "structured_calls": self.structured_calls,
                "structured_refusals": self.structured_refusals,
            }
        }


def _openai() -> Any:
    """The openai package if anything loaded it, else None.

    Only its exceptions are classified here, and none can exist before it is loaded; importing
    it just to check would add 0.8 s to every start.
    """
    return sys.modules.get("openai")


class Refused(Exception):
    """The endpoint refused the request's `response_format`; `usage` counts the attempts."""

    def __init__(self, usage: Usage) -> None:
        super().__init__("response_format refused")
        self.usage = usage


def _refusal(exc: BaseException, failures: int) -> bool:
    """Whether an error answers a `response_format` the endpoint does not take.

    400/422 say so at once. llama.cpp answers its unsupported form with HTTP 500, which a
    transient fault also gives, so a 5xx counts only when the retry fails the same way.
    """
    oa = _openai()
    if oa is None or not isinstance(exc, oa.APIStatusError):
        return False
    return exc.status_code in (400, 415, 422) or (exc.status_code in (500, 501) and failures > 1)


def _retryable(exc: BaseException) -> bool:
    if (openai := _openai()) is not None:
        if isinstance(exc, openai.APIConnectionError | openai.RateLimitError):
            return True  # APITimeoutError is an APIConnectionError
        if isinstance(exc, openai.APIStatusError):
            return bool(exc.status_code in _RETRY_STATUS or exc.status_code >= 500)
    return isinstance(exc, ConnectionFailed | asyncio.TimeoutError)


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while (nxt := exc.__cause__ or exc.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        exc = nxt
    return exc


def _refused(exc: BaseException) -> bool:
    """Nobody listens at the address: worth a retry or two (a restart), not six."""
    return isinstance(_root_cause(exc), ConnectionRefusedError)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


SILENCE_NOTE_S = 20.0
_silence_noted: set[str] = set()


def _note_silence(ctx: Context, stage: str) -> asyncio.TimerHandle:
    """Say once per endpoint when a call has waited long, instead of waiting silently."""
    where = redact_url(ctx.base_url or "https://api.openai.com/v1")

    def note() -> None:
        if where not in _silence_noted:
            _silence_noted.add(where)
            log.warning("%s: no reply from %s after %.0fs; waiting up to %.0fs per attempt "
                        "(--timeout), %d retries (--retries)", stage, where, SILENCE_NOTE_S,
                        ctx.request_timeout, ctx.max_retries)

    return asyncio.get_running_loop().call_later(SILENCE_NOTE_S, note)


def describe_failure(exc: BaseException, ctx: Context) -> str:
    """A one-line account of a failed call that names the fix and never shows the API key."""
    where = redact_url(ctx.base_url or endpoint.OPENAI_URL)
    openai = _openai()
    if openai is None:
        msg = f"LLM call failed: {type(exc).__name__}: {exc}"
    elif isinstance(exc, openai.APITimeoutError):
        msg = f"the model at {where} did not answer within {ctx.request_timeout:g}s"
    elif isinstance(exc, openai.APIConnectionError):
        root = _root_cause(exc)
        reason = "connection refused" if isinstance(root, ConnectionRefusedError) else root
        msg = f"cannot reach the model at {where}: {reason}; start your server or pass --base-url"
    elif isinstance(exc, openai.AuthenticationError):
        msg = (f"the endpoint at {where} rejected the API key (401); check OPENAI_API_KEY "
               "or --api-key")
    elif isinstance(exc, openai.NotFoundError):
        msg = f"model {ctx.model!r} is unknown at {where} (404); pass --model with a served model"
    elif isinstance(exc, openai.APIStatusError):
        msg = f"the model at {where} answered HTTP {exc.status_code}: {exc.message}"
    else:
        msg = f"LLM call failed: {type(exc).__name__}: {exc}"
    msg = scrub(msg, ctx.base_url)
    if not ctx.api_key:
        return msg
    # the key as a whole token only: a short key must not mangle words that contain it
    return re.sub(rf"(?<![\w-]){re.escape(ctx.api_key)}(?![\w-])", "***", msg)


def _request_key(
    ctx: Context, stage: str, messages: Sequence[BaseMessage], params: dict[str, Any]
) -> str:
    blob = json.dumps(
        [ctx.model, ctx.base_url, stage, params, [(m.type, m.content) for m in messages]],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


async def invoke(
    ctx: Context,
    stage: str,
    messages: Sequence[BaseMessage],
    *,
    max_tokens: int,
    cache: CallCache | None = None,
    attempt: int = 0,
    metadata: dict[str, Any] | None = None,
    temperature: float | None = None,
    response_format: dict[str, Any] | None = None,
    refused: Callable[[BaseException, int], bool] | None = None,
) -> tuple[str, Usage]:
    """One completion with bounded, backed-off retries; returns its text and counted usage.

    `attempt` > 0 marks a format retry: it moves the seed and lifts a zero temperature, since
    the same request at temperature 0 would only repeat the malformed reply. `temperature`
    serves callers outside the pipeline's stages (evaluation baselines, a judge).
    `response_format` travels in the body as it is (not through the SDK's parse path, which
    throws away a reply cut at `max_tokens`). When `refused(error, failures so far)` says an
    error refuses that format, `Refused` is raised instead of retrying.
    """
    params = sampling(ctx, stage, max_tokens=max_tokens, attempt=attempt,
                      temperature=temperature, response_format=response_format)
    usage = Usage(stage)
    # the attempt is part of the key: without a seed, re-asks 1 and 2 send the same request
    # (temperature lifted to the same value), and the cache would replay the malformed reply
    key = _request_key(ctx, stage, messages, {**params, "attempt": attempt}) if cache else ""
    if cache and (hit := await cache.get(key)):
        usage.cached_calls = 1  # nothing sent: the endpoint already answered this in this run
        return str(hit["text"]), usage
    config = {
        "run_name": stage,
        "metadata": {"longcepo_stage": stage, **(metadata or {})},
        "tags": [f"longcepo:{stage}"],
    }
    for try_no in range(ctx.max_retries + 1):
        usage.calls += 1
        try:
            async with _slot(ctx.max_concurrency):
                note = _note_silence(ctx, stage)
                try:
                    text, prompt_tokens, completion_tokens = await _complete(
                        ctx, stage, messages, config, params
                    )
                finally:
                    note.cancel()
            break
        except Exception as exc:  # noqa: BLE001 - classified just below
            usage.failed_calls += 1
            if refused is not None and refused(exc, usage.failed_calls):
                raise Refused(usage) from None
            last = min(ctx.max_retries, 2) if _refused(exc) else ctx.max_retries
            if not _retryable(exc) or try_no >= last:
                raise LLMCallError(
                    f"{stage}: {describe_failure(exc, ctx)} (after {try_no + 1} attempts)"
                ) from None
            delay = _retry_after(exc)
            if delay is None:
                delay = min(ctx.retry_backoff * 2**try_no, ctx.retry_backoff_max)
                delay *= random.uniform(0.5, 1.0)
            elif delay > ctx.retry_backoff_max:
                # an endpoint asking for an hour must not stall the run past the configured cap
                log.info("%s: Retry-After %.0fs capped at retry_backoff_max %.0fs", stage,
                         delay, ctx.retry_backoff_max)
                delay = ctx.retry_backoff_max
            log.warning("%s call failed (%s); retry %d in %.2fs", stage, type(exc).__name__,
                        try_no + 1, delay)
            await asyncio.sleep(delay)
    usage.prompt_tokens += int(prompt_tokens or _count(ctx, messages))
    usage.completion_tokens += int(
        completion_tokens or count_tokens(text, ctx.tokenizer_encoding)
    )
    if cache:
        await cache.put(key, {"text": text, "prompt_tokens": usage.prompt_tokens,
                              "completion_tokens": usage.completion_tokens})
    return text, usage


def _count(ctx: Context, messages: Sequence[BaseMessage]) -> int:
    return sum(count_tokens(str(m.content), ctx.tokenizer_encoding) + 4 for m in messages)


def with_reminder(
    messages: Sequence[BaseMessage], stage: str, reminder: str | None = None
) -> list[BaseMessage]:
    """The same request with a format reminder appended to the last user message.

    The bad reply is not echoed back: it could push the prompt past the window.
    """
    *head, last = messages
    return [*head, HumanMessage(reminded(str(last.content), reminder or REMINDERS[stage]))]


async def _constrained(
    ctx: Context, stage: str, request: Sequence[BaseMessage], body: dict[str, Any],
    **kw: Any,
) -> tuple[str | None, Usage]:
    """One call asking for JSON under `body`, in the first form the endpoint takes.

    The text is None once the endpoint is known to refuse every form: send text instead.
    A refused form costs its failed attempts in `usage`, never a format re-ask. Calls in
    flight on an unknown endpoint each detect (the plan, a single call, usually does it first);
    once any call was answered in a form, its errors are plain failures with the full retries.
    """
    point = structured.endpoint(ctx)
    total = Usage(stage)
    asked = with_reminder(request, stage, json_note(stage, kw.get("attempt", 0)))

    def refused(exc: BaseException, failures: int) -> bool:
        return not point.known and _refusal(exc, failures)

    for form in point.candidates():
        fmt = structured.response_format(form, stage, body)
        try:
            text, usage = await invoke(ctx, stage, asked, response_format=fmt, refused=refused,
                                       **kw)
        except Refused as exc:
            total.add(exc.usage)
            total.structured_refusals += 1
            point.refuse(form)
            log.info("%s: the endpoint refused response_format %s", stage, form)
            continue
        total.add(usage)
        if usage.calls:
            point.accept(form)
            total.structured_calls += 1
        return text, total
    if ctx.structured_output == "on":
        where = redact_url(ctx.base_url or endpoint.OPENAI_URL)
        raise LLMCallError(
            f"{stage}: the endpoint at {where} refused JSON replies under a schema "
            f"(tried {', '.join(structured.FORMS)}); use --structured-output auto or off")
    if total.structured_refusals:
        log.warning("the endpoint refused JSON replies under a schema; using the text protocols")
    return None, total


async def ask(
    ctx: Context,
    stage: str,
    messages: Sequence[BaseMessage],
    parse: Callable[[str], T | None],
    *,
    max_tokens: int,
    cache: CallCache | None = None,
    metadata: dict[str, Any] | None = None,
    temperature: float | None = None,
    reminder: str | None = None,
    schema: dict[str, Any] | None = None,
) -> tuple[T | None, str, Usage]:
    """Call and parse, re-asking with a reminder (and a new seed) while the reply is malformed.

    Returns the parsed value, or None once `max_format_retries` re-asks are spent, with the last
    raw text so the caller can fall back on it. Callers outside the pipeline's stages pass
    their own `temperature` and `reminder`. With a `schema` (and `structured_output` not
    off) the reply is asked as JSON where the endpoint takes it and read back into the
    stage's text protocol, so `parse` judges both; a re-ask then opens the JSON note with
    `JSON_AGAIN` instead of appending the text protocol's reminder.
    """
    total = Usage(stage)
    request = list(messages)
    text = ""
    kw: dict[str, Any] = {"max_tokens": max_tokens, "cache": cache, "metadata": metadata,
                          "temperature": temperature}
    for attempt in range(ctx.max_format_retries + 1):
        reply: str | None = None
        if schema is not None and structured.wanted(ctx, stage):
            reply, usage = await _constrained(ctx, stage, messages, schema, attempt=attempt, **kw)
            total.add(usage)
        if reply is None:
            text, usage = await invoke(ctx, stage, request, attempt=attempt, **kw)
            total.add(usage)
        else:  # JSON read into the text protocol; a server that ignored the schema sent text
            text = structured.to_protocol(stage, reply) or reply
        parsed = parse(text)
        if parsed is not None:
            return parsed, text, total
        if attempt < ctx.max_format_retries:
            total.format_retries += 1
            log.info("%s reply ignored the protocol; re-asking (%d)", stage, attempt + 1)
            request = with_reminder(messages, stage, reminder)
    return None, text, total
