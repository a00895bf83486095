"""Faults over real HTTP: the graph survives a misbehaving endpoint and counts what it paid for.

The double runs in its own process (so a busy test process cannot make a healthy reply late)
and injects, per request: 20% HTTP 500, 10% 429 with Retry-After, 5% hangs (cut by a short
`request_timeout`) and 5% malformed replies. Draws hash the seed, the prompt and how often that
prompt was seen, so a retry gets a fresh draw and the whole test is reproducible.

Designed failure probability (for a random seed): an HTTP call fails for good only if all
`max_retries + 1` = 13 attempts hit a transport fault, p = 0.35**13 = 1.2e-6; a reply is
malformed with p = 0.05 / 0.65 = 0.077 once it gets through, so a parser fallback needs
`max_format_retries + 1` = 6 malformed replies in a row, p = 0.077**6 = 2.1e-7. With about 550
calls in the 20 runs the suite fails by chance with p < 1e-3.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Iterator

import pytest
from longcepo.graph import graph
from longcepo.nodes.errors import LLMCallError
from longcepo.state import Context

from llm_double.corpus import SyntheticDocument, chain_task, needle_task
from llm_double.process import DoubleProcess, start_double_process

RUNS = 20
MAX_RETRIES = 12
TRANSPORT_FAULTS = ("http_500", "http_429", "hang")
RATES = ("http_500=0.2", "http_429=0.1", "hang=0.05", "malformed=0.05")


@pytest.fixture(scope="module")
def faulty() -> Iterator[DoubleProcess]:
    args = [a for rate in RATES for a in ("--fault-rate", rate)]
    with start_double_process(*args, "--retry-after", "0.05", "--seed", "7") as double:
        yield double


def make_context(base_url: str, **changes: object) -> Context:
    settings: dict = dict(base_url=base_url, api_key="test", model="llm-double", chunk_size=1024,
                          max_context_window=4096, max_output_tokens=256,
                          max_output_tokens_summary=120, num_neighbor_summaries=2,
                          max_retries=MAX_RETRIES, max_format_retries=5, request_timeout=2.0,
                          retry_backoff=0.02, retry_backoff_max=0.2, max_concurrency=32)
    return Context(**{**settings, **changes})


def task(i: int) -> SyntheticDocument:
    if i % 2:
        return chain_task(6000, hops=2, seed=100 + i)
    return needle_task(6000, seed=100 + i, distractors=2)


def settled_log(double: DoubleProcess, expected: int, timeout: float = 10.0) -> list[dict]:
    """The double's log once `expected` requests are in (a hang is logged when the client hangs
    up, which can trail the run by a moment)."""
    deadline = time.monotonic() + timeout
    log = double.log()
    while len(log) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        log = double.log()
    return log


def total(results: list[dict], field: str, stage: str | None = None) -> int:
    return sum(u[field] for r in results for s, u in r["usage"].items()
               if stage is None or s == stage)


async def test_twenty_runs_complete_correctly_under_faults(
    faulty: DoubleProcess, caplog: pytest.LogCaptureFixture
) -> None:
    faulty.reset()
    ctx = make_context(faulty.base_url)
    docs = [task(i) for i in range(RUNS)]
    caplog.set_level(logging.WARNING)

    async def run(doc: SyntheticDocument) -> dict:
        return await graph.ainvoke({"context": doc.text, "query": doc.task.question},
                                   context=ctx, config={"max_concurrency": 128})

    results = await asyncio.gather(*(run(d) for d in docs))

    assert [r["answer"].strip() for r in results] == [d.task.gold for d in docs]
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]

    calls = total(results, "calls")
    log = settled_log(faulty, calls)
    outcomes = collections.Counter(r["outcome"] for r in log)
    assert all(outcomes[f] > 0 for f in (*TRANSPORT_FAULTS, "malformed")), outcomes

    # usage counts every attempt the endpoint saw, failed and re-asked ones included
    assert calls == len(log)
    assert total(results, "failed_calls") == sum(outcomes[f] for f in TRANSPORT_FAULTS)
    for stage, served in collections.Counter(r["stage"] for r in log).items():
        assert total(results, "calls", stage) == served, stage
    answered = [r for r in log if r["outcome"] in ("ok", "malformed")]
    assert total(results, "prompt_tokens") == sum(r["prompt_tokens"] for r in answered)
    assert total(results, "completion_tokens") == sum(r["completion_tokens"] for r in answered)
    # every malformed map, collapse or reduce reply was re-asked (none slipped through)
    for stage in ("map", "collapse", "reduce"):
        malformed = sum(1 for r in log if r["stage"] == stage and r["outcome"] == "malformed")
        assert total(results, "format_retries", stage) == malformed, stage

    # retries stay bounded: no request was sent more than max_retries + 1 times
    attempts = collections.Counter(r["digest"] for r in log)
    assert max(attempts.values()) <= MAX_RETRIES + 1
    successes = total(results, "calls") - total(results, "failed_calls")
    assert len(log) <= successes * (MAX_RETRIES + 1)


@pytest.fixture
def scripted(faulty: DoubleProcess) -> Iterator[DoubleProcess]:
    """The same double with the random faults off, for tests that script their own."""
    faulty.configure(fault_rates={})
    faulty.reset()
    try:
        yield faulty
    finally:
        faulty.configure(faults=[], fault_rates=dict(r.split("=") for r in RATES))


@pytest.mark.parametrize("fault", ["malformed", "empty"])
@pytest.mark.parametrize("stage", ["normalize", "plan", "summary", "map", "reduce"])
async def test_one_bad_reply_in_any_stage_is_re_asked(
    scripted: DoubleProcess, stage: str, fault: str
) -> None:
    """A 3-hop question, so a bad normalize or plan reply that slipped through would show."""
    scripted.configure(faults=[{"stage": stage, "nth": 1, "fault": fault}])
    doc = chain_task(6000, hops=3, seed=4)
    result = await graph.ainvoke({"context": doc.text, "query": doc.task.question},
                                 context=make_context(scripted.base_url))
    assert result["answer"].strip() == doc.task.gold
    assert result["sub_questions"] == list(doc.task.sub_questions)
    # a chatty normalize reply still holds the question, and a rambling summary is still a
    # summary: those are used as they are; every other bad reply is asked again
    usable = fault == "malformed" and stage in ("normalize", "summary")
    assert result["usage"][stage]["format_retries"] == (0 if usable else 1)
    assert [r["outcome"] for r in scripted.log()].count(fault) == 1


async def test_a_call_that_always_fails_stops_after_max_retries(scripted: DoubleProcess) -> None:
    scripted.configure(faults=[{"stage": "reduce", "fault": "http_500"}])
    ctx = make_context(scripted.base_url, max_retries=3)
    doc = needle_task(3000, seed=3)
    with pytest.raises(LLMCallError, match=r"reduce: .*HTTP 500.*after 4 attempts"):
        await graph.ainvoke({"context": doc.text, "query": doc.task.question}, context=ctx)
    reduces = collections.Counter(r["digest"] for r in scripted.log() if r["stage"] == "reduce")
    assert list(reduces.values()) == [4]
