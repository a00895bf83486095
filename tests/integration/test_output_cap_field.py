"""The output cap reaches the server under the field it reads.

ChatOpenAI sends `max_completion_tokens`; llama-cpp-python's server ignores that name and
generates to the end of its window, so local runs send `max_tokens` instead.
"""

from __future__ import annotations

import logging

import pytest
from langchain_core.messages import HumanMessage

from nodes import llm
from state import Context
from tests.integration.recording_proxy import RecordingProxy


@pytest.mark.parametrize("field, absent", [("max_completion_tokens", "max_tokens"),
                                           ("max_tokens", "max_completion_tokens")])
async def test_cap_is_sent_in_the_configured_field(llm_double, field, absent):
    with RecordingProxy(llm_double.base_url.removesuffix("/v1")) as proxy:
        ctx = Context(base_url=f"{proxy.url}/v1", api_key="k", max_tokens_field=field)
        await llm.invoke(ctx, "summary", [HumanMessage("<passage>\nSome text.\n</passage>")],
                         max_tokens=17)
    (request,) = proxy.requests()
    assert request[field] == 17 and absent not in request


async def test_a_server_that_ignores_the_cap_is_reported_once(caplog):
    from tests.fakes import make_model

    model = make_model(lambda stage, messages, kw: "words " * 100)  # ignores any cap
    ctx = Context(base_url="http://127.0.0.1:9/v1", api_key="k", max_tokens_field="max_tokens")
    llm._warned_caps.clear()
    caplog.set_level(logging.WARNING, logger="nodes.llm")
    with llm.override_chat_model(model):
        for _ in range(2):
            await llm.invoke(ctx, "summary", [HumanMessage("x")], max_tokens=17)
    warnings = [r.getMessage() for r in caplog.records if "output cap of 17" in r.getMessage()]
    assert len(warnings) == 1
    assert "ignores 'max_tokens'; set max_tokens_field='max_completion_tokens'" in warnings[0]
