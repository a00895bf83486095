"""A task keeps its call slot through its format re-asks, so a re-ask follows its own prompt."""

import asyncio

from langchain_core.messages import HumanMessage

from nodes import llm
from state import Context
from tests.fakes import make_model


async def test_reasks_follow_their_first_ask_under_a_limit_of_one():
    order = []

    def responder(stage, messages, kwargs):
        text = str(messages[-1].content)
        order.append(text.split()[0] + (" re-ask" if "Reply again" in text else ""))
        return "not the protocol"

    ctx = Context(base_url="http://127.0.0.1:9/v1", api_key="k", max_concurrency=1,
                  max_format_retries=1)
    with llm.override_chat_model(make_model(responder, delay=0.01)):
        results = await asyncio.gather(*(
            llm.ask(ctx, "summary", [HumanMessage(f"{name} text")], lambda t: None,
                    max_tokens=10)
            for name in ("A", "B", "C")))
    assert order == ["A", "A re-ask", "B", "B re-ask", "C", "C re-ask"]
    assert all(parsed is None and usage.format_retries == 1 for parsed, _, usage in results)


async def test_the_limit_still_holds_across_tasks():
    running, peak = 0, 0

    async def responder_delay():
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    ctx = Context(base_url="http://127.0.0.1:9/v1", api_key="k", max_concurrency=2)

    async def one():
        async with llm.call_slot(ctx):
            await responder_delay()
            async with llm.call_slot(ctx):  # nested: the same slot, not a second one
                await responder_delay()

    await asyncio.gather(*(one() for _ in range(6)))
    assert peak == 2
