"""Replicas on one PostgreSQL: setup that cannot deadlock, one run per thread, SIGTERM.

Real `longcepo serve` processes, a real PostgreSQL and the double as its own process, whose
request log tells how many LLM calls each scenario paid for.
"""

from __future__ import annotations

import collections
import signal
import threading
import time

import httpx
import psycopg

from llm_double import corpus
from llm_double.process import start_double_process
from tests.integration.servers import SMALL, child_env, start_serve


def chat(url: str, doc, thread: str, timeout: float = 180) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", timeout=timeout,
                      headers={"X-Thread-Id": thread},
                      json={"model": "longcepo-llm-double", "messages": [
                          {"role": "user", "content": f"{doc.text}<CONTEXT_END>{doc.task.question}"}]})


def wait_healthy(served, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{served.url}/health", timeout=2).json().get("status") == "ok":
                return
        except httpx.HTTPError:
            pass
        assert served.process.poll() is None, served.log()
        time.sleep(0.1)
    raise AssertionError(f"replica not ready:\n{served.log()}")


def test_replicas_starting_together_never_deadlock_on_schema_setup(tmp_path, postgres_uri):
    """The old discipline deadlocked: a waiter inside pg_advisory_lock is a running statement,
    and the holder's CREATE INDEX CONCURRENTLY waits for it. Here the test plays the holder:
    it takes the setup lock, lets two replicas queue for it, then builds an index
    concurrently; that must finish while they wait, and both must come up after."""
    from longcepo.runtime.persistence import _SETUP_LOCK

    env = child_env(LONGCEPO_POSTGRES_URI=postgres_uri)
    args = ["--base-url", "http://127.0.0.1:9/v1", *SMALL]
    with psycopg.connect(postgres_uri, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
        holder.execute("CREATE TABLE probe (x int)")
        replicas = [start_serve(tmp_path, *args, env=env, ready=False) for _ in range(2)]
        try:
            time.sleep(2)  # both replicas are now waiting for the setup lock
            assert all(served.process.poll() is None for served in replicas)
            holder.execute("SET statement_timeout = '20s'")
            holder.execute("CREATE INDEX CONCURRENTLY probe_x ON probe (x)")  # hung before
            holder.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
            for served in replicas:
                wait_healthy(served)
        finally:
            for served in replicas:
                served.stop()


def test_one_thread_runs_once_across_two_replicas(serve, postgres_uri):
    doc = corpus.chain_task(3_000, hops=2, seed=5)
    with start_double_process("--latency", "0.2") as double:
        args = ["--base-url", double.base_url, *SMALL, "--concurrency", "4"]
        first = serve(*args, "--postgres-uri", postgres_uri)
        second = serve(*args, "--postgres-uri", postgres_uri)
        replies: dict[str, httpx.Response] = {}
        runner = threading.Thread(target=lambda: replies.update(a=chat(first.url, doc, "t-1")))
        runner.start()
        deadline = time.monotonic() + 60
        while not double.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        busy = chat(second.url, doc, "t-1")
        runner.join(180)
        once = double.log()
        again = chat(second.url, doc, "t-1")  # finished: replayed from the checkpoint
        assert len(double.log()) == len(once)

    assert busy.status_code == 409, busy.text
    assert busy.headers["retry-after"].isdigit()
    assert "already running" in busy.json()["error"]["message"]
    assert replies["a"].status_code == 200, replies["a"].text
    assert again.status_code == 200
    for reply in (replies["a"], again):
        assert reply.json()["choices"][0]["message"]["content"] == doc.task.gold
    repeated = [d for d, n in collections.Counter(e["digest"] for e in once).items() if n > 1]
    assert not repeated, "the busy request paid for calls of its own"


def test_sigterm_stops_a_replica_in_seconds_and_its_run_resumes_elsewhere(serve, postgres_uri):
    doc = corpus.chain_task(4_000, hops=2, seed=21)
    with start_double_process("--latency", "0.25") as double:
        args = ["--base-url", double.base_url, *SMALL, "--concurrency", "2"]
        first = serve(*args, "--postgres-uri", postgres_uri, "--shutdown-grace", "1")
        second = serve(*args, "--postgres-uri", postgres_uri)
        outcome: list[object] = []

        def doomed() -> None:
            try:
                outcome.append(chat(first.url, doc, "t-term"))
            except httpx.HTTPError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=doomed)
        thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if sum(e["stage"] == "map" for e in double.log()) >= 3:
                break
            time.sleep(0.05)
        first.process.send_signal(signal.SIGTERM)
        termed = time.monotonic()
        first.process.wait(30)
        stopped_in = time.monotonic() - termed
        thread.join(30)
        before = double.log()
        reply = chat(second.url, doc, "t-term")
        after = double.log()[len(before):]

    print(f"SIGTERM to exit: {stopped_in:.2f}s; calls before {len(before)}, after {len(after)}")
    assert stopped_in < 15, f"the replica took {stopped_in:.1f}s to stop"
    assert first.process.returncode in (0, -signal.SIGTERM), first.log()  # uvicorn re-raises it
    assert "Traceback" not in first.log()
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == doc.task.gold
    stages_after = collections.Counter(e["stage"] for e in after)
    assert stages_after["normalize"] == stages_after["plan"] == 0, "the run restarted"


def test_sigterm_stops_a_replica_still_waiting_for_the_setup_lock(tmp_path, postgres_uri):
    from longcepo.runtime.persistence import _SETUP_LOCK

    env = child_env(LONGCEPO_POSTGRES_URI=postgres_uri)
    with psycopg.connect(postgres_uri, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))  # a stuck migration
        served = start_serve(tmp_path, "--base-url", "http://127.0.0.1:9/v1", *SMALL, env=env,
                             ready=False)
        try:
            time.sleep(2)
            assert served.process.poll() is None, served.log()
            served.process.send_signal(signal.SIGTERM)
            termed = time.monotonic()
            served.process.wait(30)
            stopped_in = time.monotonic() - termed
        finally:
            served.stop()
    print(f"SIGTERM while waiting for the setup lock: exit in {stopped_in:.2f}s")
    assert stopped_in < 10
    assert "stopped while waiting for another replica's schema setup" in served.log()
    assert "Traceback" not in served.log()
