"""Durable runs: SQLite checkpoints stay small, and a run resumes through the Python API."""

import collections
from pathlib import Path

from longcepo.nodes.llm import override_chat_model
from longcepo.runtime import api

from tests.fakes import make_model
from tests.unit.scripted import document, reader


async def test_two_megabyte_document_keeps_checkpoint_under_three_times_its_size(tmp_path, ctx):
    lines = 2_000_000 // 70
    text = document(lines, {lines // 3: "The code of Alpha is 1111.\n",
                            2 * lines // 3: "The code of Beta is 2222.\n"})
    size = len(text.encode())
    assert size >= 1_900_000
    settings = {"base_url": ctx.base_url, "api_key": "k", "chunk_size": 1500,
                "max_context_window": 4096, "max_output_tokens": 300,
                "max_output_tokens_summary": 80, "num_neighbor_summaries": 2}
    model = make_model(reader)
    with override_chat_model(model):
        out = await api.ask(text, "What are the code of Alpha and Beta?", state_dir=tmp_path,
                            **settings)
    assert "1111" in out["answer"] and "2222" in out["answer"]
    checkpoint = Path(tmp_path, "checkpoints.sqlite")
    ckpt_bytes = sum(p.stat().st_size for p in tmp_path.glob("checkpoints.sqlite*"))
    assert checkpoint.exists()
    assert ckpt_bytes < 3 * size, f"checkpoints take {ckpt_bytes} bytes for a {size}-byte document"


async def test_resume_through_the_api_repeats_no_finished_call(tmp_path, ctx):
    text = document(1500, {700: "The code of Beta is 2222.\n"})
    broken = {"on": True}

    def responder(stage, messages, kw):
        if stage == "reduce" and broken["on"]:
            import httpx
            import openai
            raise openai.APITimeoutError(request=httpx.Request("POST", "http://x"))
        return reader(stage, messages, kw)

    settings = {"base_url": ctx.base_url, "api_key": "k", "chunk_size": 512,
                "max_context_window": 2048, "max_output_tokens": 200,
                "max_output_tokens_summary": 60, "max_retries": 0}
    model = make_model(responder)
    import pytest
    from longcepo.nodes.errors import LLMCallError
    with override_chat_model(model), pytest.raises(LLMCallError, match="did not answer"):
        await api.ask(text, "What is the code of Beta?", thread_id="th", state_dir=tmp_path,
                      **settings)
    before = collections.Counter(model.stages())
    broken["on"] = False
    model2 = make_model(responder)
    with override_chat_model(model2):
        out = await api.resume("th", state_dir=tmp_path, **settings)
    assert out["answer"] == "2222" and out["thread_id"] == "th"
    after = collections.Counter(model2.stages())
    n_chunks = before["summary"]
    assert before["map"] == n_chunks, "the sub-question's map finished before reduce failed"
    # resumed: the failed reduce, then the final pass; nothing finished is asked again
    assert after == {"reduce": 2, "map": n_chunks}


async def test_finished_run_leaves_only_shared_chunks_in_the_store(ctx):
    from langgraph.store.memory import InMemoryStore
    from longcepo.graph import build_graph

    store = InMemoryStore()
    g = build_graph(store=store)
    text = document(600, {300: "The code of Beta is 2222.\n"})
    with override_chat_model(make_model(reader)):
        out = await g.ainvoke({"context": text, "query": "What is the code of Beta?"}, context=ctx)
    assert out["answer"] == "2222"
    left = {item.namespace[1] for item in await store.asearch(("longcepo",), limit=10_000)}
    assert left == {"chunks"}, f"scratch records left behind: {left}"
