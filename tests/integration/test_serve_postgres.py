"""Two replicas, one PostgreSQL: a run killed mid-map on one finishes on the other.

The double runs as its own process, so its request log survives the SIGKILL and tells which
calls were already paid for.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import threading
import time

import httpx
import psycopg

from llm_double import corpus
from llm_double.process import start_double_process
from tests.integration.servers import REPO, SMALL, child_env

THREAD = "replicated-run-1"


def chat(url: str, doc, timeout: float = 180) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", timeout=timeout,
                      headers={"X-Thread-Id": THREAD},
                      json={"model": "longcepo-llm-double", "messages": [
                          {"role": "user", "content": f"{doc.text}<CONTEXT_END>{doc.task.question}"}]})


def test_a_run_killed_mid_map_resumes_on_another_replica(serve, postgres_uri):
    doc = corpus.chain_task(4_000, hops=2, seed=21)
    with start_double_process("--latency", "0.25") as double:
        args = ["--base-url", double.base_url, *SMALL, "--concurrency", "2"]
        env = child_env(LONGCEPO_POSTGRES_URI=postgres_uri)
        first = serve(*args, env=env)
        second = serve(*args, "--postgres-uri", postgres_uri)
        assert first.url != second.url

        outcome: list[object] = []

        def doomed_request() -> None:
            try:
                outcome.append(chat(first.url, doc))
            except httpx.HTTPError as exc:
                outcome.append(exc)

        doomed = threading.Thread(target=doomed_request)
        doomed.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            maps = [e for e in double.log() if e["stage"] == "map" and e["outcome"] == "ok"]
            if len(maps) >= 3:
                break
            time.sleep(0.05)
        first.process.send_signal(signal.SIGKILL)
        killed_at = time.time()
        first.process.wait(10)
        doomed.join(30)
        assert isinstance(outcome[0], httpx.HTTPError), "the first replica died mid-request"
        before = double.log()
        assert 3 <= sum(e["stage"] == "map" for e in before), "killed in the map stage"
        assert not any(e["stage"] == "reduce" for e in before), "killed before any reduce"

        reply = chat(second.url, doc)
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"] == doc.task.gold
        after = double.log()[len(before):]

    settled = {e["digest"] for e in before
               if e["outcome"] == "ok" and e["ts"] < killed_at - 0.5}
    repeated = [e for e in after if e["digest"] in {b["digest"] for b in before}]
    assert not settled & {e["digest"] for e in after}, "a finished call was paid for twice"
    assert len(repeated) <= 2, "at most the calls in flight at the kill are repeated"
    print(f"before kill: {len(before)} calls ({len(settled)} settled); after: {len(after)} "
          f"calls, {len(repeated)} repeated")
    stages_after = collections.Counter(e["stage"] for e in after)
    assert stages_after["normalize"] == stages_after["plan"] == 0
    # both replicas wrote to the one database: checkpoints and the chunk store
    with psycopg.connect(postgres_uri) as conn:
        threads = conn.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall()
        chunks = conn.execute("SELECT count(*) FROM store WHERE prefix LIKE 'longcepo.chunks.%'"
                              ).fetchone()
    assert threads == [(THREAD,)] and chunks[0] > 2


def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "longcepo", "serve", "--port", "0",
         "--base-url", "http://127.0.0.1:9/v1",
         "--postgres-uri", "postgresql://nobody:pw-SECRET@127.0.0.1:9/none"],
        cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot connect to PostgreSQL at 127.0.0.1:9/none" in done.stderr
    assert "pw-SECRET" not in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
