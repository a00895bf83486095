"""`longcepo serve`'s OpenAI-compatible routes, through the official `openai` client."""

from __future__ import annotations

import httpx
import openai
import pytest

from llm_double import corpus
from tests.integration.servers import SMALL, start_serve

MODEL = "longcepo-llm-double"


@pytest.fixture(scope="module")
def server(double, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openai")
    served = start_serve(tmp, "--base-url", double.base_url, "--api-key", "upstream-key-1234",
                         "--state-dir", str(tmp / "state"), "--model", "llm-double", *SMALL)
    yield served
    served.stop()


@pytest.fixture
def client(server, double):
    double.reset()
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0,
                         timeout=120)


@pytest.fixture(scope="module")
def task():
    return corpus.chain_task(3_000, hops=2, seed=3)


def message(doc, delimiter="<CONTEXT_END>"):
    return [{"role": "user", "content": f"{doc.text}{delimiter}{doc.task.question}"}]


def test_models_are_the_upstream_models_with_the_prefix(client):
    assert [m.id for m in client.models.list()] == [MODEL]


def test_completion_answers_and_counts_every_upstream_token(client, double, task):
    reply = client.chat.completions.create(model=MODEL, messages=message(task))
    assert reply.choices[0].message.content == task.task.gold
    assert reply.choices[0].finish_reason == "stop" and reply.model == MODEL
    upstream = [e for e in double.log if e["outcome"] == "ok"]
    assert {e["stage"] for e in upstream} >= {"normalize", "plan", "summary", "map", "reduce"}
    assert reply.usage.prompt_tokens == sum(e["prompt_tokens"] for e in upstream)
    assert reply.usage.completion_tokens == sum(e["completion_tokens"] for e in upstream)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    extra = reply.model_extra["longcepo"]
    assert extra["thread_id"] and extra["supporting_chunks"]
    assert {e["model"] for e in upstream} == {"llm-double"}


def test_stream_sends_progress_then_the_answer_then_usage(client, task):
    chunks = list(client.chat.completions.create(
        model=MODEL, messages=message(task), stream=True,
        stream_options={"include_usage": True}))
    progress = [c.choices[0].delta.model_extra.get("reasoning_content") for c in chunks
                if c.choices and c.choices[0].delta.model_extra.get("reasoning_content")]
    content = [(i, c.choices[0].delta.content) for i, c in enumerate(chunks)
               if c.choices and c.choices[0].delta.content]
    assert "".join(text for _, text in content) == task.task.gold
    assert any("chunks" in line for line in progress) and any("read chunk" in p for p in progress)
    first_progress = next(i for i, c in enumerate(chunks)
                          if c.choices and c.choices[0].delta.model_extra.get("reasoning_content"))
    assert first_progress < content[0][0], "progress comes before the answer"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_optional_fields_reach_the_upstream(client, double, task):
    reply = client.chat.completions.create(model=MODEL, messages=message(task, "@@END@@"),
                                           temperature=0.0, max_tokens=150,
                                           extra_body={"delimiter": "@@END@@"})
    assert reply.choices[0].message.content == task.task.gold
    calls = [e for e in double.log if e["outcome"] == "ok"]
    assert {e["temperature"] for e in calls} == {0.0}
    assert {e["max_tokens"] for e in calls if e["stage"] != "summary"} == {150}


def test_same_thread_replays_the_answer_without_upstream_calls(client, double, task):
    headers = {"X-Thread-Id": "openai-replay"}
    first = client.chat.completions.create(model=MODEL, messages=message(task),
                                           extra_headers=headers)
    calls = len(double.log)
    again = client.chat.completions.create(model=MODEL, messages=message(task),
                                           extra_headers=headers)
    assert again.choices[0].message.content == first.choices[0].message.content
    assert len(double.log) == calls and again.usage.total_tokens == first.usage.total_tokens


@pytest.mark.parametrize("kwargs, status, words", [
    ({"model": MODEL, "messages": [{"role": "user", "content": "no delimiter here"}]},
     400, "does not contain the delimiter"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "<CONTEXT_END>q?"}]},
     400, "context is empty"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "a<CONTEXT_END>q?"}]},
     404, "longcepo-<base model>"),
    ({"model": MODEL, "messages": [{"role": "system", "content": "a<CONTEXT_END>q?"}]},
     400, "no user message"),
    ({"model": MODEL, "messages": []}, 400, "messages"),
])
def test_bad_requests_get_a_clear_4xx_and_no_upstream_call(client, double, kwargs, status, words):
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(**kwargs)
    assert raised.value.status_code == status and words in raised.value.message
    assert double.log == []


def test_bad_json_is_a_400_not_a_500(server, double):
    double.reset()
    reply = httpx.post(f"{server.url}/v1/chat/completions", content=b'{"model": "longcepo-x",',
                       headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["error"]["message"]
    assert double.log == []


OPTILLM = {"optillm_approach": "longcepo"}


def test_optillm_clients_name_the_approach_with_a_plain_model(client, double, task):
    """optillm's clients send the approach in the body and the upstream model as it is."""
    reply = client.chat.completions.create(
        model="llm-double", extra_body=OPTILLM, temperature=0.3, top_p=0.9,
        messages=[{"role": "system", "content": "Answer briefly."}, *message(task)])
    assert reply.choices[0].message.content == task.task.gold and reply.model == "llm-double"
    upstream = [e for e in double.log if e["outcome"] == "ok"]
    assert upstream and {e["model"] for e in upstream} == {"llm-double"}
    assert {e["temperature"] for e in upstream if e["stage"] == "map"} == {0.3}
    assert reply.usage.prompt_tokens == sum(e["prompt_tokens"] for e in upstream)
    double.reset()
    with client.chat.completions.create(model="llm-double", extra_body=OPTILLM,
                                        messages=message(task), stream=True) as stream:
        content = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert content.strip() == task.task.gold


@pytest.mark.parametrize("model, body, status, words", [
    ("llm-double", {"optillm_approach": "moa"}, 400, "'longcepo' or leave it out"),
    ("llm-double", {}, 404, "optillm_approach 'longcepo'"),
])
def test_other_approaches_and_bare_models_are_refused(client, double, model, body, status, words):
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model=model, extra_body=body,
                                       messages=[{"role": "user", "content": "a<CONTEXT_END>q?"}])
    assert raised.value.status_code == status and words in raised.value.message
    assert double.log == []
