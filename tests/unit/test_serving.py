"""The serving pieces without HTTP: run lifecycle per thread, request settings, the OpenAI wire
format, the serializer and the run limiter."""

import asyncio
import dataclasses

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Overwrite, Send
from longcepo.graph.main import build_graph
from longcepo.nodes.errors import ConfigError, InputError
from longcepo.nodes.llm import override_chat_model
from longcepo.runtime.runs import RunConflict, run_to_end
from longcepo.server.guards import RunLimiter
from longcepo.server.langserve_routes import GraphSerializer, is_run_path
from longcepo.server.openai_wire import ChatRequest, Narrator, usage_of
from longcepo.server.settings import ServerSettings, context_for

from tests.fakes import make_model
from tests.unit.scripted import document, reader


@pytest.fixture
def settings(ctx):
    return ServerSettings(context=dataclasses.replace(ctx, api_key="upstream-secret"))


async def test_a_thread_starts_replays_and_refuses_a_different_request(ctx):
    graph = build_graph(checkpointer=InMemorySaver(), store=InMemoryStore())
    text = document(900, {450: "The code of Alpha is 1111.\n"})
    ask = {"context": text, "query": "What is the code of Alpha?"}
    model = make_model(reader)
    with override_chat_model(model):
        first = await run_to_end(graph, ctx, ask, "t1")
        calls = len(model.calls)
        again = await run_to_end(graph, ctx, ask, "t1")
        empty = await run_to_end(graph, ctx, {}, "t1")
        other = await run_to_end(graph, ctx, {**ask, "query": "What is the code of Beta?"}, "t1")
    assert first["answer"] == again["answer"] == empty["answer"] == "1111"
    assert len(model.calls) > calls, "a new question on a finished thread is a new run"
    assert other["answer"] != "1111"
    state = await graph.aget_state({"configurable": {"thread_id": "t1"}})
    assert "text" not in str(state.values.get("documents")) and not state.values["context"]


async def test_an_unfinished_thread_refuses_another_request_and_resumes_the_same(ctx):
    graph = build_graph(checkpointer=InMemorySaver(), store=InMemoryStore())
    text = document(900, {450: "The code of Alpha is 1111.\n"})
    ask = {"context": text, "query": "What is the code of Alpha?"}
    broken = {"on": True}

    def responder(stage, messages, kwargs):
        if stage == "reduce" and broken["on"]:
            raise RuntimeError("upstream down")
        return reader(stage, messages, kwargs)

    with override_chat_model(make_model(responder)), pytest.raises(Exception, match="reduce"):
        await run_to_end(graph, dataclasses.replace(ctx, max_retries=0), ask, "t2")
    with pytest.raises(RunConflict, match="unfinished run"):
        await run_to_end(graph, ctx, {**ask, "query": "What is the code of Beta?"}, "t2")
    broken["on"] = False
    model = make_model(responder)
    with override_chat_model(model):
        out = await run_to_end(graph, ctx, ask, "t2")
    assert out["answer"] == "1111" and "summary" not in model.stages()
    with pytest.raises(InputError, match="no run on thread"):
        await run_to_end(graph, ctx, {}, "never-started")


def test_request_settings_cannot_touch_the_upstream(settings):
    ctx = context_for(settings, {"chunk_size": 256, "temperature_map": 0.0, "thread_id": "x"})
    assert ctx.chunk_size == 256 and ctx.temperature_map == 0.0
    assert ctx.api_key == "upstream-secret" and ctx.base_url == settings.context.base_url
    with pytest.raises(ConfigError, match="set by the server"):
        context_for(settings, {"api_key": "mine"})
    with pytest.raises(ConfigError, match="chunk_size"):
        context_for(settings, {"chunk_size": "big"})
    with pytest.raises(ConfigError, match="chunk_sise"):
        context_for(settings, {"chunk_sise": 5})


def test_chat_request_fields_map_onto_the_context():
    chat = ChatRequest.model_validate({
        "model": "longcepo-llama-3.3-70b", "temperature": 0.2, "max_tokens": 300, "seed": 4,
        "top_p": 0.9, "delimiter": "###", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "doc###"}, {"type": "text",
                                                                                "text": "q?"}]}]})
    settings = chat.context_settings()
    assert settings["model"] == "llama-3.3-70b" and settings["max_output_tokens"] == 300
    assert settings["temperature_reduce"] == settings["temperature_plan"] == 0.2
    assert settings["delimiter"] == "###" and settings["seed"] == 4 and settings["top_p"] == 0.9
    assert chat.user_text() == "doc###q?"


def test_usage_and_progress_lines():
    out = {"usage": {"map": {"prompt_tokens": 10, "completion_tokens": 2},
                     "reduce": {"prompt_tokens": 5, "completion_tokens": 1}}}
    assert usage_of(out) == {"prompt_tokens": 15, "completion_tokens": 3, "total_tokens": 18}
    narrator = Narrator()
    assert "4 chunks" in narrator.line({"event": "ingested", "documents": 1, "chunks": 4})
    assert narrator.line({"event": "pass_start", "index": 0, "passes": 3, "question": "Q?",
                          "final": False}) == "Sub-question 1/2: Q?"
    assert narrator.line({"event": "map_done", "chunk": 2}) == "  read chunk 1/4"
    assert narrator.line({"event": "mapped", "relevant": 1}) is None


def test_serializer_writes_langgraph_objects_and_hides_the_key(settings):
    from langgraph.runtime import Runtime

    data = GraphSerializer().dumps({"sends": [Send("map_chunk", {"chunk": 3})],
                                    "usage": Overwrite({}), "ctx": settings.context,
                                    "runtime": Runtime(context=settings.context)})
    assert b'"send":"map_chunk"' in data and b'"chunk":3' in data
    assert b"upstream-secret" not in data and b'"chunk_size":512' in data


def test_run_paths():
    assert is_run_path("/longcepo/invoke") and is_run_path("/longcepo/c/abc/stream_events")
    assert not is_run_path("/longcepo/input_schema") and not is_run_path("/v1/models")


async def test_run_limiter_queues_then_refuses():
    limiter = RunLimiter(max_runs=1, max_queue=1, timeout=0.3)
    assert await limiter.acquire()
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    assert limiter.waiting == 1
    assert not await limiter.acquire(), "queue full: refused at once"
    limiter.release()
    assert await waiting, "the queued request gets the freed slot"
    assert not await limiter.acquire(), "waited past the timeout"
    limiter.release()
    assert await limiter.acquire() and limiter.running == 1
