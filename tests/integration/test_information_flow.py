"""Information flow end to end: the real graph talks to the LLM double over HTTP (ChatOpenAI).

The double answers each stage only from what its prompt holds, so a planted fact reaches the
answer only if the graph really carries it from chunk to map to collapse to reduce, and a later
hop only if the earlier sub-answer arrives in the QA history. Windows are scaled down (valid
Contexts, checked by `validate_context`) so a 256K-token document takes seconds, not minutes.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import replace

import pytest
from longcepo.graph import graph
from longcepo.nodes.budget import validate_context
from longcepo.nodes.chunking import chunk_spans
from longcepo.nodes.tokens import get_encoding
from longcepo.state import Context

from llm_double import LLMDouble
from llm_double.corpus import SyntheticDocument, chain_task, needle_task, split_task

DOC_ID = "essays.txt"

# (document tokens, chunk_size, window, max_output_tokens): about 16-64 chunks per document.
SIZES = {
    "16K": (16_000, 1024, 4096, 256),
    "64K": (64_000, 2048, 4096, 256),
    "256K": (256_000, 4096, 8192, 512),
}
TASKS = ("needle", "chain2", "chain3", "split")


@pytest.fixture(scope="module")
def double() -> Iterator[LLMDouble]:
    """One instant, faultless double for the module; approximate token counts keep it cheap."""
    with LLMDouble(exact_tokens=False) as d:
        yield d


def make_context(base_url: str, size: str) -> Context:
    _, chunk, window, output = SIZES[size]
    ctx = Context(base_url=base_url, api_key="test", model="llm-double", chunk_size=chunk,
                  max_context_window=window, max_output_tokens=output,
                  max_output_tokens_summary=120, num_neighbor_summaries=2, retry_backoff=0.0,
                  max_retries=0, max_concurrency=16)
    validate_context(ctx)
    return ctx


def make_task(kind: str, tokens: int, chunk_size: int, seed: int) -> SyntheticDocument:
    if kind == "needle":
        return needle_task(tokens, seed=seed, distractors=3)
    if kind.startswith("chain"):
        return chain_task(tokens, hops=int(kind[-1]), seed=seed, distractors=3)
    enc = get_encoding()
    return split_task(tokens, seed=seed, distractors=3,
                      chunker=lambda text: chunk_spans(text, enc, chunk_size))


def assert_supported(result: dict, doc: SyntheticDocument, doc_id: str = DOC_ID) -> None:
    """Each planted fact's offset lies inside a reported span of its document."""
    spans = [(c["start"], c["end"]) for c in result["supporting_chunks"] if c["doc_id"] == doc_id]
    for fact in doc.task.facts:
        assert any(s <= fact.start and fact.end <= e for s, e in spans), (
            f"fact {fact.text!r} at {fact.start} is in no supporting chunk: {spans}")
    # provenance is specific: chunks holding only distractors or essay text are not named
    assert len(spans) <= len(doc.task.facts)


def assert_usage_matches_log(result: dict, log: list[dict]) -> None:
    """What the run reports per stage equals what the endpoint actually served."""
    served = collections.Counter(r["stage"] for r in log)
    reported = {stage: u["calls"] for stage, u in result["usage"].items() if u["calls"]}
    assert reported == dict(served)
    assert sum(u["prompt_tokens"] for u in result["usage"].values()) == sum(
        r["prompt_tokens"] for r in log)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("kind", TASKS)
async def test_planted_facts_reach_the_answer(double: LLMDouble, size: str, kind: str) -> None:
    tokens, chunk_size, _, _ = SIZES[size]
    ctx = make_context(double.base_url, size)
    doc = make_task(kind, tokens, chunk_size, seed=len(size) + TASKS.index(kind))
    double.reset()
    result = await graph.ainvoke(
        {"context": [{"id": DOC_ID, "text": doc.text}], "query": doc.task.question},
        context=ctx, config={"max_concurrency": 64})

    assert result["answer"].strip() == doc.task.gold
    assert result["sub_questions"] == list(doc.task.sub_questions)
    # every later hop was answerable only through the earlier answers in the QA history
    assert [qa["answer"] for qa in result["qa_history"]] == list(doc.task.sub_answers)
    assert_supported(result, doc)
    assert result["notes"] == []
    assert_usage_matches_log(result, double.log)
    n_chunks = len(chunk_spans(doc.text, get_encoding(), chunk_size))
    assert n_chunks >= 12
    assert result["usage"]["map"]["calls"] == n_chunks * (len(doc.task.sub_questions) + 1)
    assert result["usage"]["summary"]["calls"] == n_chunks


async def test_facts_in_separate_documents_keep_their_document_ids(double: LLMDouble) -> None:
    """A 3-hop chain whose facts lie in two documents; spans refer to the right one."""
    ctx = make_context(double.base_url, "64K")
    doc = chain_task(64_000, hops=3, seed=11, depths=[0.2, 0.7, 0.4], distractors=2)
    cut = doc.text.index("\n\n", len(doc.text) // 2) + 2
    documents = [{"id": "first.md", "text": doc.text[:cut]},
                 {"id": "second.md", "text": doc.text[cut:]}]
    first = replace(doc, task=replace(doc.task, facts=tuple(
        f for f in doc.task.facts if f.start < cut)))
    second = replace(doc, task=replace(doc.task, facts=tuple(
        replace(f, start=f.start - cut, end=f.end - cut) for f in doc.task.facts
        if f.start >= cut)))
    assert first.task.facts and second.task.facts

    result = await graph.ainvoke({"context": documents, "query": doc.task.question},
                                 context=ctx, config={"max_concurrency": 64})

    assert result["answer"].strip() == doc.task.gold
    assert_supported(result, first, "first.md")
    assert_supported(result, second, "second.md")


async def test_without_the_qa_history_a_later_hop_stays_unanswered(double: LLMDouble) -> None:
    """The control: with planning off, the 2-hop question has no earlier answer to build on.

    No single chunk states both hops, so the double finds nothing; the graph must say so
    rather than guess. This shows the chain tests above pass only through the QA history.
    """
    ctx = replace(make_context(double.base_url, "16K"), use_plan=False)
    doc = chain_task(16_000, hops=2, seed=5, depths=[0.2, 0.8])
    result = await graph.ainvoke({"context": doc.text, "query": doc.task.question},
                                 context=ctx, config={"max_concurrency": 64})
    assert result["answer"] == "No information"
    assert result["supporting_chunks"] == []
