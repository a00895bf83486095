"""Failure messages name the fix and hide the API key without mangling other words."""

import httpx
import openai
from longcepo.nodes.llm import describe_failure
from longcepo.state import Context


def status_error(cls, code, message):
    request = httpx.Request("POST", "http://127.0.0.1:8000/v1/chat/completions")
    return cls(message, response=httpx.Response(code, request=request), body=None)


def test_key_is_masked_as_a_whole_token_only():
    ctx = Context(base_url="http://127.0.0.1:8000/v1", api_key="k", model="unknown-k")
    exc = status_error(openai.NotFoundError, 404, "no such model")
    message = describe_failure(exc, ctx)
    assert "model 'unknown-k' is unknown at http://127.0.0.1:8000/v1 (404)" in message


def test_an_echoed_key_is_masked():
    ctx = Context(base_url="http://127.0.0.1:8000/v1", api_key="sk-live-123456")
    exc = status_error(openai.BadRequestError, 400, "bad key 'sk-live-123456' in request")
    message = describe_failure(exc, ctx)
    assert "sk-live-123456" not in message and "'***'" in message
