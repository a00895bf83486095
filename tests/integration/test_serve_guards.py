"""Security and limits of `longcepo serve`: bearer key, body limit, bounded runs, loopback."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from llm_double import corpus
from tests.integration.servers import SMALL, child_env, start_serve

KEY = "server-key-5150"
LIMIT_MB = 0.05  # 52 428 bytes


@pytest.fixture(scope="module")
def server(double, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("guards")
    served = start_serve(tmp, "--base-url", double.base_url, "--state-dir", str(tmp / "state"),
                         "--max-runs", "1", "--max-queue", "0", "--max-body-mb", str(LIMIT_MB),
                         *SMALL, env=child_env(LONGCEPO_API_KEY=KEY))
    yield served
    served.stop()


@pytest.fixture
def fresh(double):
    double.reset()
    double.configure(latency=0.0)
    return double


def auth(key=KEY):
    return {"Authorization": f"Bearer {key}"}


def chat_body(text="A short text.", question="What?"):
    return {"model": "longcepo-llm-double",
            "messages": [{"role": "user", "content": f"{text}<CONTEXT_END>{question}"}]}


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("POST", "/longcepo/invoke"),
    ("POST", "/longcepo/stream_events"), ("GET", "/longcepo/input_schema"),
    ("GET", "/longcepo/playground/"), ("GET", "/docs"), ("GET", "/openapi.json"),
])
@pytest.mark.parametrize("headers", [{}, auth("wrong-key"), {"Authorization": KEY}])
def test_every_route_but_health_needs_the_key(server, fresh, method, path, headers):
    body = {"input": {"message": "x<CONTEXT_END>q?"}} if path.startswith("/longcepo") else chat_body()
    reply = httpx.request(method, f"{server.url}{path}", headers=headers, timeout=30,
                          json=body if method == "POST" else None)
    assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
    assert "LONGCEPO_API_KEY" in reply.json()["error"]["message"]
    assert fresh.log == [], "no LLM call without the key"


def test_health_is_open_and_the_key_opens_the_rest(server, fresh):
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == ["longcepo-llm-double"]
    doc = corpus.needle_task(1_200, seed=2)
    reply = client.chat.completions.create(**chat_body(doc.text, doc.task.question))
    assert reply.choices[0].message.content == doc.task.gold


def test_oversized_bodies_get_413_before_parsing(server, fresh):
    big = b'{"model": "' + b"x" * int(LIMIT_MB * 1024 * 1024) + b'"'  # not even valid JSON
    declared = httpx.post(f"{server.url}/v1/chat/completions", content=big,
                          headers={**auth(), "Content-Type": "application/json"})
    assert declared.status_code == 413 and "--max-body-mb" in declared.json()["error"]["message"]

    def pieces():
        for _ in range(64):
            yield b"y" * 1024

    chunked = httpx.post(f"{server.url}/longcepo/invoke", content=pieces(),
                         headers={**auth(), "Content-Type": "application/json"})
    assert chunked.status_code == 413
    assert fresh.log == []


def test_extra_runs_get_503_while_the_slot_is_busy(server, fresh):
    fresh.configure(latency=0.4)
    doc = corpus.needle_task(1_200, seed=4)
    results: dict[str, httpx.Response] = {}

    def first() -> None:
        results["first"] = httpx.post(f"{server.url}/v1/chat/completions", headers=auth(),
                                      json=chat_body(doc.text, doc.task.question), timeout=120)

    runner = threading.Thread(target=first)
    runner.start()
    deadline = time.monotonic() + 30
    while not fresh.log and time.monotonic() < deadline:
        time.sleep(0.05)
    busy = httpx.post(f"{server.url}/longcepo/invoke", headers=auth(), timeout=30,
                      json={"input": {"message": f"{doc.text}<CONTEXT_END>{doc.task.question}"}})
    runner.join()
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert "run slots are busy" in busy.json()["error"]["message"]
    assert results["first"].status_code == 200
    fresh.configure(latency=0.0)
    after = httpx.post(f"{server.url}/v1/chat/completions", headers=auth(), timeout=120,
                       json=chat_body(doc.text, doc.task.question))
    assert after.status_code == 200, "the slot is given back"


def test_binds_loopback_by_default(server):
    assert server.url.startswith("http://127.0.0.1:")
