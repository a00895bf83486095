"""The run's connection pools and the direct path's choices, without a server."""


import json

import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables.config import var_child_runnable_config
from longcepo import env
from longcepo.nodes import endpoint
from longcepo.nodes.connection import Reply

URL = "http://127.0.0.1:9/v1/chat/completions"


@pytest.mark.parametrize(("variables", "url", "proxied"), [
    ({}, "http://10.0.0.5:8000/v1/chat/completions", False),
    ({"HTTPS_PROXY": "http://proxy:3128"}, "http://10.0.0.5:8000/v1/chat/completions", False),
    ({"https_proxy": "http://proxy:3128"}, "https://api.example.com/v1/chat/completions", True),
    ({"ALL_PROXY": "http://proxy:3128"}, "http://10.0.0.5:8000/v1/chat/completions", True),
    ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "10.0.0.5"},
     "http://10.0.0.5:8000/v1/chat/completions", False),
    ({"HTTP_PROXY": "http://proxy:3128", "no_proxy": ".internal"},
     "http://model.internal/v1/chat/completions", False),
])
def test_calls_go_through_httpx_exactly_when_a_proxy_applies(monkeypatch, variables, url,
                                                             proxied):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert env.proxied(url) is proxied


@pytest.mark.parametrize(("status", "cls"), [
    (400, openai.BadRequestError), (401, openai.AuthenticationError),
    (404, openai.NotFoundError), (429, openai.RateLimitError),
    (503, openai.InternalServerError), (418, openai.APIStatusError),
])
def test_error_replies_become_the_openai_exceptions(status, cls):
    body = {"error": {"message": "no", "type": "x"}}
    exc = endpoint.status_error(Reply(URL, status, {"retry-after": "2"},
                                      json.dumps(body).encode()))
    assert type(exc) is cls and exc.status_code == status
    assert exc.body == body["error"] and exc.message.startswith(f"Error code: {status} - ")
    assert exc.response.headers["retry-after"] == "2"  # the retry loop reads it


def test_a_text_error_reply_keeps_its_text():
    exc = endpoint.status_error(Reply(URL, 502, {}, b"bad gateway"))
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


@pytest.mark.parametrize("values", [
    {}, {"LANGSMITH_TRACING": "true"}, {"LANGSMITH_TRACING": "false"},
    {"LANGCHAIN_TRACING_V2": "true", "LANGSMITH_TRACING": "false"},
    {"LANGSMITH_TRACING_V2": "false", "LANGCHAIN_TRACING_V2": "true"},
    {"LANGSMITH_TRACING_V2": "  ", "LANGCHAIN_TRACING": "true"},
    {"LANGSMITH_TRACING": "True"}, {"LANGCHAIN_TRACING": "true", "LANGSMITH_TRACING": "x"},
])
def test_tracing_switch_is_read_as_langsmith_reads_it(monkeypatch, values):
    from langsmith import utils as ls_utils
    from longcepo.env import TRACING_SWITCHES, tracing_requested

    for name in TRACING_SWITCHES:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    ls_utils.get_env_var.cache_clear()  # LangSmith memoizes what it read
    try:
        assert tracing_requested() is (ls_utils.tracing_is_enabled() is True)
    finally:
        ls_utils.get_env_var.cache_clear()
