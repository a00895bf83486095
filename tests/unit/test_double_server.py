"""The double over real loopback HTTP, driven by the official openai client and ChatOpenAI."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from longcepo.nodes.tokens import count_tokens
from longcepo.prompts import map_chunk, plan
from longcepo.prompts.render import NO_EARLIER_QUESTIONS, NO_SUMMARIES_AFTER, NO_SUMMARIES_BEFORE
from longcepo.prompts.system import QA_SYSTEM

from llm_double import DoubleConfig, LLMDouble
from llm_double.__main__ import config_from_args, parse_args
from llm_double.process import DoubleProcess, start_double_process

FACT = "The mentor of Ilvana Varga is Osvin Pellam."
QUESTION = "What is the mentor of Ilvana Varga?"


def map_messages(chunk: str = FACT, question: str = QUESTION) -> list[dict[str, str]]:
    prompt = map_chunk.TEMPLATE.format(
        summaries_before=NO_SUMMARIES_BEFORE,
        chunk=chunk,
        summaries_after=NO_SUMMARIES_AFTER,
        qa_history=NO_EARLIER_QUESTIONS,
        question=question,
    )
    return [{"role": "system", "content": QA_SYSTEM}, {"role": "user", "content": prompt}]


def plan_messages() -> list[dict[str, str]]:
    prompt = plan.TEMPLATE.format(question=QUESTION, max_sub_questions=3)
    return [{"role": "user", "content": prompt}]


_OPEN_CLIENTS: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS.pop().close()


def client(
    double: LLMDouble | DoubleProcess,
    *,
    api_key: str = "x",
    max_retries: int = 0,
    timeout: float = 10,
) -> openai.OpenAI:
    api = openai.OpenAI(
        base_url=double.base_url, api_key=api_key, max_retries=max_retries, timeout=timeout
    )
    _OPEN_CLIENTS.append(api)
    return api


def aclient(double: LLMDouble) -> openai.AsyncOpenAI:
    """Use as `async with aclient(double) as api:` so it closes on the test's loop."""
    return openai.AsyncOpenAI(base_url=double.base_url, api_key="x", max_retries=0)


# -- completions -----------------------------------------------------------------------------------


def test_plain_completion_with_usage(llm_double: LLMDouble) -> None:
    messages = map_messages()
    response = client(llm_double).chat.completions.create(model="any", messages=messages)
    content = response.choices[0].message.content or ""
    assert "Answer: Osvin Pellam" in content and response.choices[0].finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.prompt_tokens == sum(count_tokens(m["content"]) for m in messages)
    assert response.usage.completion_tokens == count_tokens(content)
    record = llm_double.log[-1]
    assert record["stage"] == "map" and record["outcome"] == "ok"
    assert record["prompt_tokens"] == response.usage.prompt_tokens


async def test_streaming_completion_with_usage(llm_double: LLMDouble) -> None:
    async with aclient(llm_double) as api:
        plain = await api.chat.completions.create(model="m", messages=plan_messages())
        stream = await api.chat.completions.create(
            model="m",
            messages=plan_messages(),
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, usage, finish = [], None, None
        async for chunk in stream:
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
            if chunk.usage:
                usage = chunk.usage
    assert "".join(pieces) == plain.choices[0].message.content and finish == "stop"
    assert usage is not None and plain.usage is not None
    assert usage.completion_tokens == plain.usage.completion_tokens
    assert usage.prompt_tokens == plain.usage.prompt_tokens
    assert [r["stream"] for r in llm_double.log] == [False, True]


def test_max_tokens_cuts_the_reply(llm_double: LLMDouble) -> None:
    response = client(llm_double).chat.completions.create(
        model="m", messages=plan_messages(), max_tokens=5
    )
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 5


def test_keep_alive_reuses_one_connection(llm_double: LLMDouble) -> None:
    with httpx.Client(base_url=llm_double.base_url) as http:
        for _ in range(3):
            r = http.post("/chat/completions", json={"model": "m", "messages": plan_messages()})
            assert r.status_code == 200
        assert r.headers["connection"] == "keep-alive"
    with httpx.Client(base_url=llm_double.base_url) as http:
        http.post("/chat/completions", json={"model": "m", "messages": plan_messages()})
    assert llm_double.stats()["connections_opened"] == 2  # one per client
    llm_double.reset()
    assert llm_double.stats()["connections_opened"] == 0


def test_chat_openai_end_to_end(llm_double: LLMDouble) -> None:
    model = ChatOpenAI(
        model="m",
        base_url=llm_double.base_url,
        api_key="x",
        max_retries=0,
        default_headers={"X-Longcepo-Stage": "map"},
        stream_usage=True,
    )
    message = model.invoke(map_messages())
    assert "Answer: Osvin Pellam" in str(message.content)
    assert message.usage_metadata is not None and message.usage_metadata["input_tokens"] > 0
    streamed = "".join(str(c.content) for c in model.stream(map_messages()))
    assert streamed == message.content
    assert [r["stage"] for r in llm_double.log] == ["map", "map"]


# -- models and keys -------------------------------------------------------------------------------


def test_models_and_unknown_model(llm_double: LLMDouble) -> None:
    api = client(llm_double)
    assert [m.id for m in api.models.list()] == ["llm-double"]
    llm_double.configure(models=["llama-3.3-70b"])
    assert [m.id for m in api.models.list()] == ["llama-3.3-70b"]
    with pytest.raises(openai.NotFoundError) as err:
        api.chat.completions.create(model="gpt-9", messages=plan_messages())
    assert err.value.code == "model_not_found"
    assert err.value.body["type"] == "invalid_request_error"


def test_required_api_key(llm_double: LLMDouble) -> None:
    llm_double.configure(api_key="secret")
    with pytest.raises(openai.AuthenticationError):
        client(llm_double).chat.completions.create(model="m", messages=plan_messages())
    good = client(llm_double, api_key="secret")
    assert good.chat.completions.create(model="m", messages=plan_messages()).choices
    assert [r["outcome"] for r in llm_double.log] == ["rejected", "ok"]


# -- faults ----------------------------------------------------------------------------------------


def test_http_500(llm_double: LLMDouble) -> None:
    llm_double.configure(faults=[{"fault": "http_500"}])
    with pytest.raises(openai.InternalServerError):
        client(llm_double).chat.completions.create(model="m", messages=plan_messages())
    assert llm_double.log[-1]["outcome"] == "http_500"


def test_http_429_with_retry_after(llm_double: LLMDouble) -> None:
    llm_double.configure(fault_sequence=["http_429"], retry_after=1)
    with pytest.raises(openai.RateLimitError) as err:
        client(llm_double).chat.completions.create(model="m", messages=plan_messages())
    assert err.value.response.headers["retry-after"] == "1"


def test_drop_is_a_connection_error(llm_double: LLMDouble) -> None:
    llm_double.configure(faults=[{"fault": "drop"}])
    with pytest.raises(openai.APIConnectionError):
        client(llm_double).chat.completions.create(model="m", messages=plan_messages())
    assert llm_double.log[-1]["outcome"] == "drop"


def test_hang_times_out_and_is_released(llm_double: LLMDouble) -> None:
    llm_double.configure(faults=[{"fault": "hang"}])
    with pytest.raises(openai.APITimeoutError):
        client(llm_double, timeout=0.2).chat.completions.create(model="m", messages=plan_messages())
    deadline = time.monotonic() + 5
    while not llm_double.log and time.monotonic() < deadline:
        time.sleep(0.01)  # the server notices the closed connection
    assert llm_double.log[-1]["outcome"] == "hang"


def test_stop_releases_hanging_requests() -> None:
    double = LLMDouble(faults=[{"fault": "hang"}]).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client(double, timeout=30).chat.completions.create(model="m", messages=plan_messages())
        except openai.APIError as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    double.stop()
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - started < 5
    assert isinstance(errors[0], openai.APIConnectionError)


@pytest.mark.parametrize("fault", ["malformed", "empty"])
def test_malformed_and_empty_content(llm_double: LLMDouble, fault: str) -> None:
    llm_double.configure(faults=[{"stage": "map", "fault": fault}])
    api = client(llm_double)
    content = (
        api.chat.completions.create(model="m", messages=map_messages()).choices[0].message.content
    )
    if fault == "empty":
        assert content == ""
    else:
        assert content and "Answer:" not in content and "Extracted Information" not in content
    ok = api.chat.completions.create(model="m", messages=plan_messages()).choices[0].message.content
    assert ok is not None and plan.OPEN_TAG in ok  # other stages untouched


def test_nth_rule_hits_only_that_request_of_the_stage(llm_double: LLMDouble) -> None:
    llm_double.configure(faults=[{"stage": "map", "nth": 2, "fault": "http_500"}])
    api = client(llm_double)
    outcomes = []
    for messages in (map_messages(), plan_messages(), map_messages(), map_messages()):
        try:
            api.chat.completions.create(model="m", messages=messages)
            outcomes.append("ok")
        except openai.InternalServerError:
            outcomes.append("500")
    assert outcomes == ["ok", "ok", "500", "ok"]


def test_client_retries_through_a_scripted_fault(llm_double: LLMDouble) -> None:
    llm_double.configure(fault_sequence=["http_429", "http_429"], retry_after=0.01)
    api = client(llm_double, max_retries=2)
    assert api.chat.completions.create(model="m", messages=plan_messages()).choices
    assert [r["outcome"] for r in llm_double.log] == ["http_429", "http_429", "ok"]


def test_fault_rates_are_seeded_and_order_independent() -> None:
    prompts = [
        map_messages(question=f"What is the mentor of Ilvana Varga{'?' * (i + 1)}")
        for i in range(30)
    ]

    def outcomes(order: list[int]) -> dict[int, str]:
        with LLMDouble(fault_rates={"http_500": 0.5}, seed=7) as double:
            api = client(double)
            got = {}
            for i in order:
                try:
                    api.chat.completions.create(model="m", messages=prompts[i])
                    got[i] = "ok"
                except openai.InternalServerError:
                    got[i] = "500"
            return got

    forward = outcomes(list(range(30)))
    assert outcomes(list(reversed(range(30)))) == forward
    assert 5 < list(forward.values()).count("500") < 25


# -- latency, queueing, prefix cache, log -------------------------------------------------------


async def test_slots_queue_requests_in_order(llm_double: LLMDouble) -> None:
    llm_double.configure(latency=0.1, slots=1)
    started = time.monotonic()
    async with aclient(llm_double) as api:
        await asyncio.gather(
            *(api.chat.completions.create(model="m", messages=plan_messages()) for _ in range(2))
        )
    assert time.monotonic() - started >= 0.19
    first, second = sorted(llm_double.log, key=lambda r: r["queue_s"])
    assert first["queue_s"] < 0.05 and second["queue_s"] >= 0.07
    assert llm_double.stats()["max_in_flight"] == 1


def test_per_token_latency(llm_double: LLMDouble) -> None:
    llm_double.configure(latency_per_prompt_token=0.0002)
    client(llm_double).chat.completions.create(model="m", messages=map_messages())
    record = llm_double.log[-1]
    assert record["latency_s"] >= record["prompt_tokens"] * 0.0002


def test_prefix_cache_counts_a_shared_prefix(llm_double: LLMDouble) -> None:
    shared = " ".join(f"word{i}" for i in range(600))
    api = client(llm_double)
    usages = []
    for tail in ("first ending", "second ending"):
        messages = [
            {"role": "system", "content": QA_SYSTEM},
            {"role": "user", "content": f"{shared}\n{tail}"},
        ]
        usage = api.chat.completions.create(model="m", messages=messages).usage
        assert usage is not None
        usages.append(usage)
    shared_tokens = count_tokens(QA_SYSTEM) + count_tokens(shared)
    first, second = (r["cached_prefix_tokens"] for r in llm_double.log)
    assert first == 0
    assert second % 16 == 0 and shared_tokens - 32 <= second <= shared_tokens + 2
    assert usages[1].prompt_tokens_details is not None
    assert usages[1].prompt_tokens_details.cached_tokens == second
    stats = llm_double.stats()
    assert stats["cached_prefix_tokens"] == second
    assert stats["cacheable_fraction"] == pytest.approx(second / stats["prompt_tokens"])
    assert stats["uncached_prompt_tokens"] == stats["prompt_tokens"] - second


def test_request_log_jsonl(llm_double: LLMDouble, tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    llm_double.configure(log_path=str(path), fault_sequence=[None, "http_500"])
    api = client(llm_double)
    api.chat.completions.create(model="m", messages=plan_messages())
    with pytest.raises(openai.InternalServerError):
        api.chat.completions.create(model="m", messages=map_messages())
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["stage"], r["outcome"]) for r in lines] == [("plan", "ok"), ("map", "http_500")]
    for key in (
        "ts",
        "prompt_tokens",
        "completion_tokens",
        "cached_prefix_tokens",
        "latency_s",
        "digest",
    ):
        assert key in lines[0]
    assert lines == llm_double.log


# -- configuration and the separate process ------------------------------------------------------


def test_cli_options_map_to_settings() -> None:
    args = parse_args(
        [
            "--latency",
            "0.05",
            "--slots",
            "8",
            "--fault-rate",
            "http_500=0.2",
            "--fault",
            '{"stage": "map", "nth": 3, "fault": "drop"}',
            "--fault-sequence",
            "none,empty",
            "--model",
            "a",
            "--log",
            "x.jsonl",
        ]
    )
    config = config_from_args(args)
    assert config.latency == 0.05 and config.slots == 8 and config.models == ("a",)
    assert config.fault_rates == {"http_500": 0.2} and config.fault_sequence == (None, "empty")
    assert config.faults[0].nth == (3,) and config.log_path == "x.jsonl"
    with pytest.raises(ValueError):
        DoubleConfig().updated(faults=[{"fault": "explode"}])


def test_separate_process_double() -> None:
    with start_double_process("--slots", "2") as double:
        api = client(double)
        assert api.chat.completions.create(model="m", messages=plan_messages()).choices
        double.configure(faults=[{"fault": "http_500"}])
        with pytest.raises(openai.InternalServerError):
            api.chat.completions.create(model="m", messages=plan_messages())
        assert double.stats()["outcomes"] == {"ok": 1, "http_500": 1}
        assert [r["outcome"] for r in double.log()] == ["ok", "http_500"]
    assert double.process.returncode == 0


def test_approximate_token_mode_keeps_cache_accounting(llm_double: LLMDouble) -> None:
    llm_double.configure(exact_tokens=False)
    shared = "x" * 4000
    api = client(llm_double)
    for tail in ("a", "b"):
        api.chat.completions.create(
            model="m", messages=[{"role": "user", "content": shared + tail}]
        )
    first, second = llm_double.log
    assert first["prompt_tokens"] == 1001 and first["cached_prefix_tokens"] == 0
    assert second["cached_prefix_tokens"] % 16 == 0 and second["cached_prefix_tokens"] >= 960
