"""LangSmith tracing of a CLI run, checked at a local capture endpoint; a dead endpoint must not
hold the CLI's exit."""

from __future__ import annotations

import collections
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_double import LLMDouble, corpus, grammar
from tests.integration.langsmith_capture import serve_capture
from tests.integration.servers import REPO, child_env, free_port

UPSTREAM_KEY = "sk-upstream-TRACE-SECRET-9"
QUESTION = grammar.chain_question(["badge number"], "Ilvana Varga")
# a small window, so the many findings below need the collapse stage
ARGS = ["--chunk-size", "200", "--window", "1100", "--max-output-tokens", "150",
        "--neighbors", "1", "--concurrency", "4"]


@pytest.fixture(scope="module")
def double():
    with LLMDouble(api_key=UPSTREAM_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> Path:
    """The same fact every other paragraph: every chunk finds it, so findings need collapsing."""
    fact = grammar.fact_sentence("badge number", "Ilvana Varga", "4471")
    paragraphs = []
    for i, paragraph in enumerate(corpus.haystack_paragraphs(4_000, seed=3)):
        paragraphs += [paragraph, fact] if i % 2 == 0 else [paragraph]
    path = tmp_path_factory.mktemp("doc") / "doc.md"
    path.write_text("\n\n".join(paragraphs))
    return path


def ask(double, document, tmp_path, endpoint: str | None, args=ARGS, question=QUESTION):
    env = child_env(OPENAI_API_KEY=UPSTREAM_KEY)
    if endpoint:
        env.update(LANGSMITH_TRACING="true", LANGSMITH_ENDPOINT=endpoint,
                   LANGSMITH_API_KEY="ls-capture-key")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "longcepo", "ask", "--context-file", str(document), "--query",
         question, "--base-url", double.base_url, "--state-dir", str(tmp_path / "state"), "-q",
         *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answer = process.stdout.readline()
    answered = time.monotonic()
    _, err = process.communicate(timeout=120)
    ended = time.monotonic()
    assert process.returncode == 0, err
    return answer.strip(), answered - started, ended - answered, err


def test_every_llm_call_is_traced_under_the_run_with_its_stage(double, document, tmp_path):
    server, capture = serve_capture()
    double.reset()
    try:
        answer, _, _, _ = ask(double, document, tmp_path,
                              f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
    assert answer == "4471"
    runs = capture.runs.values()
    roots = [r for r in runs if not r.get("parent_run_id")]
    assert [r["name"] for r in roots] == ["longcepo"]
    root = roots[0]
    llm = [r for r in runs if r.get("run_type") == "llm"]
    paid = [e for e in double.log if e["outcome"] == "ok"]
    assert len(llm) == len(paid), "every upstream call is one traced LLM run"
    names = collections.Counter(r["name"] for r in llm)
    assert names == collections.Counter(e["stage"] for e in paid)
    assert set(names) == {"normalize", "plan", "summary", "map", "collapse", "reduce"}
    by_id = {r["id"]: r for r in runs}
    for run in llm:
        meta = run["extra"]["metadata"]
        assert meta["longcepo_stage"] == run["name"] and f"longcepo:{run['name']}" in run["tags"]
        assert run["trace_id"] == root["id"]
        parent = run
        while parent.get("parent_run_id"):
            parent = by_id[str(parent["parent_run_id"])]
        assert parent is root, "the call hangs in the run's tree"
        if run["name"] in ("summary", "map"):
            assert isinstance(meta["chunk"], int) and isinstance(meta["pass_index"], int)
        if run["name"] == "collapse":
            assert meta["chunks"] and isinstance(meta["pass_index"], int)
        if run["name"] == "reduce":
            assert isinstance(meta["pass_index"], int)
    mapped = collections.defaultdict(set)
    for run in llm:
        if run["name"] == "map":
            mapped[run["extra"]["metadata"]["pass_index"]].add(run["extra"]["metadata"]["chunk"])
    n_chunks = names["summary"]
    assert {p: len(c) for p, c in mapped.items()} == {0: n_chunks, 1: n_chunks}
    assert not any(UPSTREAM_KEY.encode() in body for body in capture.raw), "the key is not traced"


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_a_dead_endpoint_costs_the_exit_only_a_few_seconds(double, document, tmp_path, kind):
    listener = None
    if kind == "refused":
        endpoint = f"http://127.0.0.1:{free_port()}"
    else:  # accepts connections (the kernel does) but never answers
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    needle = corpus.needle_task(1_500, seed=8)
    small = tmp_path / "needle.md"
    small.write_text(needle.text)
    try:
        answer, _, exit_delay, err = ask(double, small, tmp_path, endpoint,
                                         ["--chunk-size", "512", "--window", "2048", "--max-output-tokens", "200"],
                                         needle.task.question)
    finally:
        if listener:
            listener.close()
    assert answer == needle.task.gold
    # the bounded flush waits 3 s; unbounded it was 22 s (refused) and over 8 min (silent)
    print(f"{kind}: exit {exit_delay:.2f}s after the answer")
    assert exit_delay < 6.0, f"exit took {exit_delay:.1f}s after the answer"
    if kind == "silent":
        assert "LangSmith traces could not be sent within 3s" in err
    else:
        assert "Failed to" in err, "langsmith reports the refused connection"
