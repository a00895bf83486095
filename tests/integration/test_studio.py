"""LangGraph Studio's local server (`langgraph dev`) loads langgraph.json offline and runs the
graph against the double; driven through the official `langgraph_sdk` client."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from llm_double import corpus
from tests.integration.servers import REPO, child_env, free_port

CLI = Path(os.environ.get("VIRTUAL_ENV") or REPO / ".venv") / "bin" / "langgraph"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("studio") / "langgraph-dev.log"
    command = [str(CLI if CLI.exists() else "langgraph"), "dev", "--no-browser", "--no-reload",
               "--host", "127.0.0.1", "--port", str(port), "--config", "langgraph.json"]
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                   env=child_env(LANGGRAPH_NO_VERSION_CHECK="true"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"langgraph dev exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"langgraph dev not ready:\n{log.read_text()}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def small_context(double):
    return {"base_url": double.base_url, "api_key": "x", "chunk_size": 512,
            "max_context_window": 2048, "max_output_tokens": 200}


async def test_both_graphs_appear_with_readable_schemas(studio):
    client = get_client(url=studio)
    assistants = {a["graph_id"]: a for a in await client.assistants.search()}
    assert set(assistants) == {"longcepo", "longcepo_engine"}
    main = await client.assistants.get_schemas(assistants["longcepo"]["assistant_id"])
    assert {"context", "query", "message"} <= set(main["input_schema"]["properties"])
    assert {"answer", "supporting_chunks", "usage", "notes"} <= set(
        main["output_schema"]["properties"])
    settings = main["context_schema"]["properties"]
    assert "Maximum tokens per document chunk." == settings["chunk_size"]["description"]
    engine = await client.assistants.get_schemas(assistants["longcepo_engine"]["assistant_id"])
    assert {"question", "context"} <= set(engine["input_schema"]["properties"])
    assert "answer" in engine["output_schema"]["properties"]
    graph = await client.assistants.get_graph(assistants["longcepo"]["assistant_id"])
    assert {"prepare", "normalize", "plan", "engine", "record_answer"} <= {
        n["id"] for n in graph["nodes"]}


async def test_a_thread_runs_streams_and_keeps_its_history(studio, double):
    double.reset()
    doc = corpus.needle_task(2_000, seed=5)
    client = get_client(url=studio)
    thread = await client.threads.create()
    modes: dict[str, int] = {}
    progress = []
    async for part in client.runs.stream(
            thread["thread_id"], "longcepo",
            input={"context": doc.text, "query": doc.task.question},
            context=small_context(double), stream_mode=["updates", "custom", "values"],
            stream_subgraphs=True):
        mode = part.event.split("|")[0]  # "custom|engine:<task id>" inside the subgraph
        modes[mode] = modes.get(mode, 0) + 1
        if mode == "custom":
            progress.append(part.data["event"])
        assert part.event != "error", part.data
    assert modes.get("updates") and modes.get("values")
    assert {"ingested", "plan", "pass_start", "map_done"} <= set(progress)
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"]["answer"] == doc.task.gold and state["next"] == []
    assert state["values"]["context"] == "", "the text left graph state after prepare"
    history = await client.threads.get_history(thread["thread_id"], limit=100)
    steps = [h["metadata"].get("step") for h in history]
    assert len(history) >= 6 and max(steps) == steps[0]
    assert {e["stage"] for e in double.log} >= {"normalize", "plan", "summary", "map", "reduce"}


async def test_the_engine_runs_alone(studio, double):
    doc = corpus.needle_task(1_500, seed=6)
    client = get_client(url=studio)
    result = await client.runs.wait(None, "longcepo_engine", context=small_context(double),
                                    input={"context": doc.text, "question": doc.task.question})
    assert result["answer"] == doc.task.gold
