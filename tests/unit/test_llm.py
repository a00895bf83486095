"""The LLM door: bounded retries at one layer, backoff, usage, the per-run call cache."""

import dataclasses
import time

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langgraph.store.memory import InMemoryStore
from longcepo.nodes import llm
from longcepo.nodes.errors import LLMCallError
from longcepo.nodes.store import CallCache

from tests.fakes import make_model

REQ = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def status_error(cls, code, headers=None):
    return cls("upstream says no", response=httpx.Response(code, request=REQ, headers=headers),
               body=None)


def scripted(errors, text="Answer: ok"):
    """Raise the given errors in turn, then answer."""
    pending = list(errors)

    def responder(stage, messages, kw):
        if pending:
            raise pending.pop(0)
        return text

    return responder


async def test_transient_errors_are_retried_and_counted(ctx):
    errors = [status_error(openai.InternalServerError, 500),
              status_error(openai.RateLimitError, 429), openai.APITimeoutError(request=REQ)]
    model = make_model(scripted(errors))
    with llm.override_chat_model(model):
        text, usage = await llm.invoke(ctx, "map", [HumanMessage("q")], max_tokens=10)
    assert text == "Answer: ok"
    assert (usage.calls, usage.failed_calls) == (4, 3)
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


async def test_retries_are_bounded(ctx):
    errors = [status_error(openai.InternalServerError, 503) for _ in range(20)]
    model = make_model(scripted(errors))
    quick = dataclasses.replace(ctx, max_retries=3)
    with llm.override_chat_model(model), pytest.raises(LLMCallError, match="after 4 attempts"):
        await llm.invoke(quick, "reduce", [HumanMessage("q")], max_tokens=10)
    assert len(model.calls) == 4


@pytest.mark.parametrize("error, match", [
    (status_error(openai.AuthenticationError, 401), "rejected the API key"),
    (status_error(openai.NotFoundError, 404), "unknown at"),
    (status_error(openai.BadRequestError, 400), "HTTP 400"),
])
async def test_errors_that_retrying_cannot_fix_fail_at_once(ctx, error, match):
    model = make_model(scripted([error] * 5))
    secret = dataclasses.replace(ctx, api_key="sk-very-secret")
    with llm.override_chat_model(model), pytest.raises(LLMCallError, match=match) as raised:
        await llm.invoke(secret, "plan", [HumanMessage("q")], max_tokens=10)
    assert len(model.calls) == 1
    assert "sk-very-secret" not in str(raised.value)


async def test_retry_after_is_honoured(ctx):
    model = make_model(scripted([status_error(openai.RateLimitError, 429, {"retry-after": "0.4"})]))
    start = time.monotonic()
    with llm.override_chat_model(model):
        await llm.invoke(ctx, "map", [HumanMessage("q")], max_tokens=10)
    assert time.monotonic() - start >= 0.4


async def test_backoff_grows_between_retries(ctx, monkeypatch):
    delays = []

    async def fake_sleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr(llm.asyncio, "sleep", fake_sleep)
    errors = [status_error(openai.InternalServerError, 500) for _ in range(4)]
    slow = dataclasses.replace(ctx, retry_backoff=1.0, retry_backoff_max=3.0)
    with llm.override_chat_model(make_model(scripted(errors))):
        await llm.invoke(slow, "map", [HumanMessage("q")], max_tokens=10)
    assert len(delays) == 4
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and max(delays) <= 3.0


async def test_call_cache_answers_a_repeated_request_without_sending_it(ctx):
    model = make_model(scripted([]))
    cache = CallCache(InMemoryStore(), "run-1")
    with llm.override_chat_model(model):
        first = await llm.invoke(ctx, "map", [HumanMessage("q")], max_tokens=10, cache=cache)
        second = await llm.invoke(ctx, "map", [HumanMessage("q")], max_tokens=10, cache=cache)
        other_run = await llm.invoke(ctx, "map", [HumanMessage("q")], max_tokens=10,
                                     cache=CallCache(cache._store, "run-2"))
    assert first[0] == second[0] == other_run[0]
    assert len(model.calls) == 2, "the same run reuses the reply; another run samples anew"
    assert (second[1].calls, second[1].cached_calls, second[1].prompt_tokens) == (0, 1, 0)


async def test_format_retries_are_bounded_and_change_the_request(ctx):
    model = make_model(lambda stage, messages, kw: "no protocol here")
    cold = dataclasses.replace(ctx, temperature_reduce=0.0, seed=7)
    with llm.override_chat_model(model):
        parsed, raw, usage = await llm.ask(cold, "reduce", [HumanMessage("q")],
                                           lambda t: None, max_tokens=10)
    assert parsed is None and raw == "no protocol here"
    assert usage.calls == cold.max_format_retries + 1 == len(model.calls)
    assert usage.format_retries == cold.max_format_retries
    seeds = [c["kwargs"]["seed"] for c in model.calls]
    temps = [c["kwargs"]["temperature"] for c in model.calls]
    assert seeds == [7, 8, 9, 10] and temps[0] == 0.0 and all(t > 0 for t in temps[1:])
    assert "Answer:" in str(model.calls[1]["messages"][-1].content)
