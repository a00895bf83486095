"""Schema-constrained replies over real HTTP: the forms an endpoint takes are found once, a
refusal falls back to the text protocols without costing the run, and usage stays exact."""

from __future__ import annotations

import collections
from collections.abc import Iterator

import pytest
from longcepo.graph import graph
from longcepo.nodes.errors import LLMCallError
from longcepo.state import Context

from llm_double import LLMDouble
from llm_double.corpus import chain_task

CONSTRAINED = ("plan", "map", "collapse", "reduce")


@pytest.fixture(scope="module")
def double() -> Iterator[LLMDouble]:
    with LLMDouble(exact_tokens=False) as d:
        yield d


@pytest.fixture
def fresh(double: LLMDouble) -> Iterator[LLMDouble]:
    double.reset()
    try:
        yield double
    finally:
        double.configure(response_formats=["json_schema", "json_object"], refusal_status=400)


def context(double: LLMDouble, **changes: object) -> Context:
    settings: dict = dict(base_url=double.base_url, api_key="test", model="llm-double",
                          chunk_size=1024, max_context_window=4096, max_output_tokens=256,
                          max_output_tokens_summary=120, num_neighbor_summaries=2,
                          retry_backoff=0.0, max_retries=2, max_concurrency=8)
    return Context(**{**settings, **changes})


async def answer(double: LLMDouble, seed: int, **changes: object) -> tuple[dict, str, list]:
    doc = chain_task(5000, hops=2, seed=seed)
    result = await graph.ainvoke({"context": doc.text, "query": doc.task.question},
                                 context=context(double, **changes))
    assert result["answer"].strip() == doc.task.gold
    return result, doc.task.gold, double.log


def assert_usage_is_what_was_served(result: dict, log: list) -> None:
    for stage, served in collections.Counter(r["stage"] for r in log).items():
        usage = result["usage"][stage]
        assert usage["calls"] == served, stage
        failed = sum(1 for r in log if r["stage"] == stage and r["status"] != 200)
        assert usage["failed_calls"] == failed, stage
        answered = [r for r in log if r["stage"] == stage and r["status"] == 200]
        assert usage["prompt_tokens"] == sum(r["prompt_tokens"] for r in answered), stage
        assert usage["completion_tokens"] == sum(r["completion_tokens"] for r in answered), stage


async def test_auto_asks_for_json_where_served_and_answers_right(fresh: LLMDouble) -> None:
    result, _, log = await answer(fresh, seed=1)
    for r in log:
        want = "json_schema" if r["stage"] in CONSTRAINED else None
        assert r.get("response_format") == want, r
    for stage in CONSTRAINED:
        if stage in result["usage"]:
            counts = result["usage"][stage]
            assert counts["structured_calls"] == counts["calls"] > 0, stage
            assert counts["format_retries"] == counts["structured_refusals"] == 0, stage
    assert result["sub_questions"] and result["notes"] == []
    assert_usage_is_what_was_served(result, log)


async def test_a_llama_cpp_like_endpoint_is_detected_once(fresh: LLMDouble) -> None:
    """json_schema answers 500 twice (a lone 500 could be a fault), then json_object is used."""
    fresh.configure(response_formats=["json_object"], refusal_status=500)
    result, _, log = await answer(fresh, seed=2)
    refused = [r for r in log if r["outcome"] == "refused"]
    assert [(r["response_format"], r["status"]) for r in refused] == [("json_schema", 500)] * 2
    later = [r.get("response_format") for r in log if r["stage"] in CONSTRAINED][2:]
    assert later and set(later) == {"json_object"}
    assert result["usage"]["plan"]["structured_refusals"] == 1
    assert sum(u["format_retries"] for u in result["usage"].values()) == 0
    assert_usage_is_what_was_served(result, log)


async def test_a_server_without_json_falls_back_to_the_text_protocols(fresh: LLMDouble) -> None:
    fresh.configure(response_formats=[], refusal_status=400)
    result, _, log = await answer(fresh, seed=3)
    refused = [r["response_format"] for r in log if r["outcome"] == "refused"]
    assert refused == ["json_schema", "json_object"], "each form tried once, for the run"
    assert all("response_format" not in r for r in log if r["outcome"] != "refused")
    assert sum(u["format_retries"] for u in result["usage"].values()) == 0
    assert sum(u.get("structured_calls", 0) for u in result["usage"].values()) == 0
    assert_usage_is_what_was_served(result, log)


async def test_on_fails_clearly_when_refused_and_off_sends_none(fresh: LLMDouble) -> None:
    fresh.configure(response_formats=[], refusal_status=400)
    doc = chain_task(3000, hops=2, seed=4)
    with pytest.raises(LLMCallError, match="refused JSON replies.*--structured-output auto or off"):
        await graph.ainvoke({"context": doc.text, "query": doc.task.question},
                            context=context(fresh, structured_output="on"))
    fresh.reset()
    await answer(fresh, seed=5, structured_output="off")
    assert all("response_format" not in r for r in fresh.log)


async def test_a_given_form_is_used_without_detection(fresh: LLMDouble) -> None:
    fresh.configure(response_formats=["json_object"], refusal_status=500)
    result, _, log = await answer(fresh, seed=6, structured_output="json_object")
    assert not [r for r in log if r["outcome"] == "refused"]
    assert {r.get("response_format") for r in log if r["stage"] in CONSTRAINED} == {"json_object"}
