"""The graph under LangServe at /longcepo: `RemoteRunnable` and raw HTTP, against the double."""

from __future__ import annotations

import collections
import json

import httpx
import pytest
from langserve import RemoteRunnable

from llm_double import LLMDouble, corpus
from tests.integration.servers import SMALL, start_serve

UPSTREAM_KEY = "sk-upstream-DO-NOT-LEAK-42"


@pytest.fixture(scope="module")
def double():
    with LLMDouble(api_key=UPSTREAM_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def server(double, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("langserve")
    served = start_serve(tmp, "--base-url", double.base_url, "--api-key", UPSTREAM_KEY,
                         "--state-dir", str(tmp / "state"), *SMALL)
    yield served
    served.stop()


@pytest.fixture
def remote(server, double):
    double.reset()
    double.configure(faults=[])
    return RemoteRunnable(f"{server.url}/longcepo", timeout=120)


@pytest.fixture(scope="module")
def task():
    return corpus.needle_task(2_500, seed=11)


def request(task):
    return {"context": task.text, "query": task.task.question}


def fields_of(schema):
    """Top-level properties of a JSON schema, following a root `$ref`."""
    if "$ref" in schema:
        schema = schema["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema["properties"]


def test_invoke_and_batch(remote, task):
    out = remote.invoke(request(task))
    assert out["answer"] == task.task.gold and out["supporting_chunks"]
    other = corpus.needle_task(1_500, seed=12)
    both = remote.batch([request(task), {"message": f"{other.text}<CONTEXT_END>{other.task.question}"}])
    assert [b["answer"] for b in both] == [task.task.gold, other.task.gold]


def test_stream_gives_progress_then_the_result(remote, task):
    events = list(remote.stream(request(task)))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "ingested" and kinds[-1] == "result"
    assert "map_done" in kinds and "pass_start" in kinds
    assert events[-1]["output"]["answer"] == task.task.gold


async def test_stream_events_name_every_llm_call_by_stage(remote, task):
    stages = collections.Counter()
    async for event in remote.astream_events(request(task), version="v2"):
        if event["event"] == "on_chat_model_start":
            stages[event["name"]] += 1
            assert event["metadata"]["longcepo_stage"] == event["name"]
    assert set(stages) == {"normalize", "plan", "summary", "map", "reduce"}


def test_raw_http_invoke_stream_events_and_schemas(server, task):
    base = f"{server.url}/longcepo"
    with httpx.Client(timeout=120) as http:
        out = http.post(f"{base}/invoke", json={"input": request(task)})
        assert out.status_code == 200 and out.json()["output"]["answer"] == task.task.gold
        with http.stream("POST", f"{base}/stream_events",
                         json={"input": request(task), "config": {"configurable": {"seed": 7}}}) as s:
            text = "".join(s.iter_text())
        assert s.status_code == 200
        assert "event: error" not in text and "event: end" in text
        assert '"send"' in text, "Send objects from the fan-out are serialized"
        assert UPSTREAM_KEY not in text
        schemas = {name: http.get(f"{base}/{name}").json()
                   for name in ("input_schema", "output_schema", "config_schema")}
        assert {"context", "query", "message"} <= set(fields_of(schemas["input_schema"]))
        assert {"answer", "supporting_chunks", "usage"} <= set(fields_of(schemas["output_schema"]))
        configurable = schemas["config_schema"]["$defs"]["Configurable"]["properties"]
        assert {"thread_id", "chunk_size", "temperature_map"} <= set(configurable)
        assert not {"api_key", "base_url"} & set(configurable)
        assert "Maximum tokens per document chunk" in configurable["chunk_size"]["description"]
        assert http.get(f"{base}/playground/").status_code == 200


def test_thread_header_checkpoints_and_an_empty_input_resumes(remote, server, double, task):
    # reduce fails until the fault is lifted: the run stops after the map stage
    double.configure(faults=[{"stage": "reduce", "fault": "http_500"}])
    headers = {"X-Thread-Id": "langserve-resume"}
    failed = httpx.post(f"{server.url}/longcepo/invoke", json={"input": request(task)},
                        headers=headers, timeout=120)
    assert failed.status_code == 502 and "HTTP 500" in failed.json()["detail"]
    before = collections.Counter(e["stage"] for e in double.log if e["outcome"] == "ok")
    double.configure(faults=[])
    double.reset()
    resumed = httpx.post(f"{server.url}/longcepo/invoke", json={"input": {}}, headers=headers,
                         timeout=120)
    assert resumed.status_code == 200
    assert resumed.json()["output"]["answer"] == task.task.gold
    after = collections.Counter(e["stage"] for e in double.log if e["outcome"] == "ok")
    assert before["map"] > 0 and "summary" not in after and "plan" not in after
    assert after["map"] == before["map"], "only the final pass maps again"
    # the finished thread replays its output with no upstream call at all
    double.reset()
    again = remote.invoke({}, config={"configurable": {"thread_id": "langserve-resume"}})
    assert again["answer"] == task.task.gold and double.log == []


@pytest.mark.parametrize("route", ["invoke", "stream", "stream_events", "batch"])
def test_bad_input_is_a_400_with_a_message_before_any_stream(server, double, route):
    double.reset()
    def body(item, **extra):
        return {"inputs": [item], **extra} if route == "batch" else {"input": item, **extra}

    reply = httpx.post(f"{server.url}/longcepo/{route}", json=body({"message": "no delimiter"}),
                       timeout=30)
    assert reply.status_code == 400 and "delimiter" in reply.json()["detail"]
    text = httpx.post(f"{server.url}/longcepo/{route}", json=body("just text"), timeout=30)
    assert text.status_code == 400 and "must be an object" in text.json()["detail"]
    bad_json = httpx.post(f"{server.url}/longcepo/{route}", content=b"{oops",
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["detail"]
    secret = httpx.post(f"{server.url}/longcepo/{route}", timeout=30, json=body(
        {"message": "a<CONTEXT_END>q?"}, config={"configurable": {"base_url": "http://x"}}))
    assert secret.status_code == 400 and "set by the server" in secret.json()["detail"]
    assert double.log == []


def test_upstream_key_never_reaches_logs_or_errors(server, double, tmp_path):
    wrong = start_serve(tmp_path, "--base-url", double.base_url, "--api-key",
                        "sk-wrong-SECRET-77", "--state-dir", str(tmp_path / "s"), *SMALL)
    try:
        reply = httpx.post(f"{wrong.url}/longcepo/invoke", timeout=60,
                           json={"input": {"message": "A text.<CONTEXT_END>What?"}})
        assert reply.status_code == 502 and "rejected the API key" in reply.json()["detail"]
        assert "sk-wrong-SECRET-77" not in reply.text
    finally:
        wrong.stop()
    assert "sk-wrong-SECRET-77" not in wrong.log()
    assert UPSTREAM_KEY not in server.log()
    assert json.dumps(double.log)  # the double saw requests, so the runs did reach it
