"""The run's connection pools and the direct path's choices, without a server."""

import dataclasses

import httpx
import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables.config import var_child_runnable_config
from longcepo.nodes import endpoint

REQ = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


@pytest.mark.parametrize("concurrency", [1, 15, 16, 17, 64, 100, 1024])
def test_shards_split_the_concurrency_exactly(ctx, concurrency):
    ctx = dataclasses.replace(ctx, max_concurrency=concurrency)
    sizes = [endpoint.pool_size(ctx, i) for i in range(endpoint.shards(ctx))]
    assert sum(sizes) == concurrency  # never more connections than the bound
    assert max(sizes) <= endpoint.SHARD_CONNECTIONS and min(sizes) >= max(sizes) - 1


def test_a_call_goes_to_the_shard_with_most_free_connections(ctx):
    ctx = dataclasses.replace(ctx, max_concurrency=40)  # shards of 14, 13, 13
    ep = endpoint.Endpoint(ctx, pools=[], busy=[14, 12, 3])
    assert ep.shard() == 2
    ep.busy = [10, 13, 13]
    assert ep.shard() == 0


@pytest.mark.parametrize(("status", "cls"), [
    (400, openai.BadRequestError), (401, openai.AuthenticationError),
    (404, openai.NotFoundError), (429, openai.RateLimitError),
    (503, openai.InternalServerError), (418, openai.APIStatusError),
])
def test_error_replies_become_the_openai_exceptions(status, cls):
    body = {"error": {"message": "no", "type": "x"}}
    exc = endpoint.status_error(httpx.Response(status, json=body, request=REQ,
                                               headers={"retry-after": "2"}))
    assert type(exc) is cls and exc.status_code == status
    assert exc.body == body["error"] and exc.message.startswith(f"Error code: {status} - ")
    assert exc.response.headers["retry-after"] == "2"  # the retry loop reads it


def test_a_text_error_reply_keeps_its_text():
    exc = endpoint.status_error(httpx.Response(502, text="bad gateway", request=REQ))
    assert isinstance(exc, openai.InternalServerError) and exc.message == "bad gateway"


class _Listener(BaseCallbackHandler):
    pass


def test_the_direct_path_only_when_no_callbacks_listen(monkeypatch):
    monkeypatch.delenv("LANGSMITH_TRACING", raising=False)
    monkeypatch.delenv("LANGCHAIN_TRACING_V2", raising=False)
    assert not endpoint.callbacks_listen()
    token = var_child_runnable_config.set({"callbacks": [_Listener()]})
    try:
        assert endpoint.callbacks_listen()  # astream_events, a LangServe stream
    finally:
        var_child_runnable_config.reset(token)
    token = var_child_runnable_config.set({"callbacks": []})
    try:
        assert not endpoint.callbacks_listen()
    finally:
        var_child_runnable_config.reset(token)
