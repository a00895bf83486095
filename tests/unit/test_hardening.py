"""Bad input and hostile endpoints, each a one-line error that names the value and the fix.

Secrets in URLs, endpoints that are no http(s) URL, non-finite settings, a window too small,
files that are not regular files, Retry-After past the backoff cap, a silent endpoint,
thread leases, and pydantic's 422 turned into the servers' 400 one-liner.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import HumanMessage
from longcepo.cli import main as cli
from longcepo.cli import saved_options
from longcepo.cli.common import CliError, resume_command
from longcepo.documents import read_documents
from longcepo.documents.limits import read_limited
from longcepo.nodes import llm
from longcepo.nodes.budget import validate_context
from longcepo.nodes.errors import ConfigError, InputError, LLMCallError
from longcepo.nodes.redact import AccessLogRedactor, redact_url, scrub
from longcepo.runtime.leases import FileLeases, ThreadBusy
from longcepo.runtime.runs import check_entries
from longcepo.server.app import create_app
from longcepo.server.settings import ServerSettings
from longcepo.state import Context

SECRET_URL = "http://alice:pw-SECRET@127.0.0.1:9/v1?api_key=key-SECRET&model=x"


def test_urls_lose_their_credentials_and_keep_the_rest():
    shown = redact_url(SECRET_URL)
    assert "SECRET" not in shown and "alice" not in shown
    assert shown.startswith("http://***@127.0.0.1:9/v1?") and "model=x" in shown
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert "SECRET" not in scrub("failed at alice:pw-SECRET and key-SECRET", SECRET_URL)


def test_access_log_masks_secret_query_values():
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/v1/models?api_key=k-SECRET&x=1", "1.1",
                                401), None)
    AccessLogRedactor().filter(record)
    line = record.getMessage()
    assert "k-SECRET" not in line and "/v1/models?api_key=***&x=1" in line


def test_failure_messages_never_show_url_credentials(ctx):
    import httpx
    import openai

    exc = openai.APIConnectionError(request=httpx.Request("POST", SECRET_URL))
    message = llm.describe_failure(exc, dataclasses.replace(ctx, base_url=SECRET_URL))
    assert "SECRET" not in message and "127.0.0.1:9" in message


@pytest.mark.parametrize("url", ["not a url", "ftp://u:pw-SECRET@host/v1", "127.0.0.1:8000/v1",
                                 "http:///v1"])
def test_a_base_url_that_is_not_http_is_bad_input(ctx, url):
    with pytest.raises(ConfigError, match="is not an http\\(s\\) URL") as caught:
        validate_context(dataclasses.replace(ctx, base_url=url))
    assert "SECRET" not in str(caught.value)


def test_cli_refuses_a_non_http_base_url_at_once(tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text("Some text.\n")
    started = time.monotonic()
    code = cli.main(["ask", "--context-file", str(doc), "--query", "q", "--state-dir",
                     str(tmp_path), "--base-url", "ftp://u:pw-SECRET@example.org/v1"])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - started < 10
    assert "not an http(s) URL" in err and "SECRET" not in err and "Traceback" not in err


def test_non_finite_settings_are_refused(ctx, capsys):
    with pytest.raises(ConfigError, match="request_timeout must be a finite number"):
        validate_context(dataclasses.replace(ctx, request_timeout=float("inf")))
    with pytest.raises(SystemExit) as stop:
        cli.main(["ask", "--context-file", "x.md", "--query", "q", "--timeout", "inf"])
    assert stop.value.code == 2 and "finite" in capsys.readouterr().err


def test_a_window_too_small_for_anything_names_the_window_needed(ctx):
    with pytest.raises(ConfigError) as caught:
        validate_context(dataclasses.replace(ctx, max_context_window=10))
    message = str(caught.value)
    assert "max_context_window >=" in message and "<= -" not in message


def test_fifo_and_device_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.md"
    zero.symlink_to("/dev/zero")
    for path in (fifo, zero):
        outcome: list[BaseException] = []

        def read(p: Path = path, out: list[BaseException] = outcome) -> None:
            out.append(pytest.raises(InputError, read_documents, [str(p)]).value)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(10)
        assert outcome, f"reading {path} blocked"
        assert "is not a regular file" in str(outcome[0]) and str(path) in str(outcome[0])


def test_files_over_the_cap_are_refused(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("x" * 5000)
    with pytest.raises(InputError, match="over the"):
        read_limited(big, limit=4096)
    assert read_limited(big, limit=5000) == b"x" * 5000


async def test_retry_after_is_capped_by_the_backoff_cap(llm_double, ctx, caplog):
    llm_double.configure(faults=[{"fault": "http_429", "nth": [1]}], retry_after=3600)
    fast = dataclasses.replace(ctx, base_url=llm_double.base_url, retry_backoff_max=0.2,
                               max_retries=2)
    with caplog.at_level(logging.INFO, logger="longcepo.nodes.llm"):
        text, usage = await asyncio.wait_for(
            llm.invoke(fast, "plan", [HumanMessage("hello")], max_tokens=20), 30)
    assert usage.calls == 2 and usage.failed_calls == 1
    assert "capped at retry_backoff_max" in caplog.text
    assert "retry 1 in 0.20s" in caplog.text


async def test_a_silent_endpoint_is_reported_while_waiting(llm_double, ctx, caplog, monkeypatch):
    monkeypatch.setattr(llm, "SILENCE_NOTE_S", 0.3)
    llm._silence_noted.clear()
    llm_double.configure(faults=[{"fault": "hang"}])
    silent = dataclasses.replace(ctx, base_url=llm_double.base_url, request_timeout=1.5,
                                 max_retries=0)
    with caplog.at_level(logging.WARNING, logger="longcepo.nodes.llm"), \
            pytest.raises(LLMCallError, match="did not answer within 1.5s"):
        await llm.invoke(silent, "plan", [HumanMessage("hello")], max_tokens=20)
    assert "no reply from" in caplog.text and "--timeout" in caplog.text


def test_saved_options_and_resume_line_keep_url_credentials_out(tmp_path):
    args = argparse.Namespace(state_dir=str(tmp_path), thread_id="t-1", base_url=SECRET_URL,
                              no_plan=False)
    saved_options.save(args)
    stored = saved_options.settings_path(str(tmp_path), "t-1").read_text()
    assert "SECRET" not in stored and "alice" not in stored
    assert "SECRET" not in resume_command(args)
    later = argparse.Namespace(state_dir=str(tmp_path), thread_id="t-1", base_url=None,
                               no_plan=False)
    with pytest.raises(CliError, match="pass --base-url with them again"):
        saved_options.restore(later)
    later.base_url = SECRET_URL  # given again: the resume proceeds with it
    saved_options.restore(later)
    assert later.base_url == SECRET_URL


async def test_a_thread_lease_is_held_once(tmp_path):
    leases = FileLeases(Path(tmp_path))
    held = await leases.acquire("t-1")
    with pytest.raises(ThreadBusy, match="already running") as caught:
        await leases.acquire("t-1")
    assert caught.value.http_status == 409 and caught.value.retry_after > 0
    other = await leases.acquire("t-2")
    await held.release()
    await held.release()  # idempotent
    again = await leases.acquire("t-1")
    await again.release()
    await other.release()


def test_document_entries_are_checked_before_the_schema():
    with pytest.raises(InputError, match=r"documents\[0\] is not an ingested-document entry"):
        check_entries([{"id": "a"}])
    check_entries([{"doc_id": "a", "key": "k", "n_chunks": 1, "chars": 9, "first": 0}])


def test_langserve_bad_input_is_a_400_one_liner_not_pydantics_list(tmp_path):
    settings = ServerSettings(context=Context(base_url="http://127.0.0.1:9/v1", api_key="k"),
                              state_dir=tmp_path, api_key=None)
    with TestClient(create_app(settings)) as client:
        for body in ({"input": {"documents": [{"id": "a"}], "query": "q"}},
                     {"input": {"context": "doc", "query": "q", "documents": 5}}):
            reply = client.post("/longcepo/invoke", json=body)
            assert reply.status_code == 400, reply.text
            message = reply.json()["error"]["message"]
            assert isinstance(message, str) and "\n" not in message and "documents" in message


def test_cli_refuses_a_thread_another_process_is_running(tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text("Some text.\n")

    async def run_while_held() -> int:
        held = await FileLeases(tmp_path).acquire("busy-1")
        try:
            return await asyncio.to_thread(cli.main, [
                "ask", "--context-file", str(doc), "--query", "q", "--thread-id", "busy-1",
                "--state-dir", str(tmp_path), "--base-url", "http://127.0.0.1:9/v1"])
        finally:
            await held.release()

    code = asyncio.run(run_while_held())
    err = capsys.readouterr().err
    assert code == 2 and "'busy-1' is already running" in err and "Traceback" not in err


@pytest.mark.parametrize(("error", "words"), [
    (sqlite3.OperationalError("database or disk is full"), "the disk is full"),
    (psycopg.OperationalError("could not extend file: No space left on device"),
     "the shared database failed")])
def test_broken_state_mid_run_is_a_503_json_error(tmp_path, monkeypatch, error, words):
    from longcepo.server import openai_api

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(openai_api, "stream_run", broken)
    settings = ServerSettings(context=Context(base_url="http://127.0.0.1:9/v1", api_key="k"),
                              state_dir=tmp_path, api_key=None)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        reply = client.post("/v1/chat/completions", json={"model": "longcepo-m", "messages": [
            {"role": "user", "content": "A document.<CONTEXT_END>What is it?"}]})
    assert reply.status_code == 503, reply.text
    assert words in reply.json()["error"]["message"]


@pytest.mark.parametrize("route", ["/longcepo/invoke", "/v1/chat/completions"])
def test_a_running_thread_is_409_with_retry_after_on_both_apis(tmp_path, route):
    settings = ServerSettings(context=Context(base_url="http://127.0.0.1:9/v1", api_key="k"),
                              state_dir=tmp_path, api_key=None)
    body = ({"input": {"context": "A document.", "query": "What is it?"}}
            if route.startswith("/longcepo") else
            {"model": "longcepo-m", "stream": True, "messages": [
                {"role": "user", "content": "A document.<CONTEXT_END>What is it?"}]})
    with TestClient(create_app(settings)) as client:
        held = asyncio.run(FileLeases(tmp_path).acquire("t-run"))
        try:
            reply = client.post(route, json=body, headers={"X-Thread-Id": "t-run"})
        finally:
            asyncio.run(held.release())
    assert reply.status_code == 409, reply.text
    assert reply.headers["retry-after"] == "5"
    assert "'t-run' is already running" in reply.json()["error"]["message"]


def test_broken_state_mid_stream_ends_with_an_error_event(tmp_path, monkeypatch):
    from longcepo.server import openai_api

    async def broken(*args, **kwargs):
        yield {"event": "stage", "stage": "map"}
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(openai_api, "stream_run", broken)
    settings = ServerSettings(context=Context(base_url="http://127.0.0.1:9/v1", api_key="k"),
                              state_dir=tmp_path, api_key=None)
    with TestClient(create_app(settings)) as client:
        reply = client.post("/v1/chat/completions", json={
            "model": "longcepo-m", "stream": True, "messages": [
                {"role": "user", "content": "A document.<CONTEXT_END>What is it?"}]})
    assert reply.status_code == 200
    assert "saving the run's state failed (database or disk is full)" in reply.text
    assert reply.text.rstrip().endswith("data: [DONE]")


async def test_python_api_refuses_a_thread_another_process_is_running(tmp_path, ctx):
    from longcepo.runtime import api

    held = await FileLeases(tmp_path).acquire("api-1")
    try:
        with pytest.raises(ThreadBusy):
            await api.resume("api-1", state_dir=tmp_path, base_url=ctx.base_url, api_key="k")
    finally:
        await held.release()
