"""The bundled local model end to end: llama.cpp really serves SmolLM2-135M on loopback.

Marked `local` (select with `-m local`); CI installs the [local] extra and runs them. The demo
run takes minutes on 2 cores (it is the product's own demo, run once), so it is also `slow`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from longcepo.cli import main as cli
from longcepo.prompts.reminders import JSON_AGAIN

from tests.integration.local_harness import (
    DEMO_ARGS,
    EXAMPLE,
    QUESTION,
    REPO,
    gone,
    llama_servers,
    recorded_local_server,
    require_local_model,
)

pytestmark = pytest.mark.local


def usage_of(result: dict) -> list[dict]:
    return list(result["usage"].values())
GOLD = "Vellmar"
STAGES_EXPECTED = {"normalize", "plan", "summary", "map", "reduce"}


@pytest.fixture(autouse=True)
def _needs_the_extra():
    require_local_model()


@pytest.mark.slow
def test_demo_completes_fills_every_field_and_counts_usage_exactly(monkeypatch, tmp_path, capsys):
    with recorded_local_server(monkeypatch) as seen:
        code = cli.main(["ask", "--model", "local", "--context-file", str(EXAMPLE),
                         "--query", QUESTION, *DEMO_ARGS, "--state-dir", str(tmp_path), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        replies, requests = seen["proxy"].completions(), seen["proxy"].requests()
    result = json.loads(out)

    # every output field is filled
    assert result["answer"].strip() and result["normalized_query"].strip()
    assert result["sub_questions"] and all(q.strip() for q in result["sub_questions"])
    assert [p["question"] for p in result["qa_history"]] == result["sub_questions"]
    assert all(p["answer"].strip() for p in result["qa_history"])
    assert result["supporting_chunks"] and result["thread_id"]
    assert STAGES_EXPECTED <= set(result["usage"])
    # the bundled model ignores the text protocols, so its replies are constrained to a JSON
    # schema in llama.cpp's form: every one is well formed, none needs a re-ask
    constrained = [r for r in requests if "response_format" in r]
    assert constrained and all(r["response_format"]["type"] == "json_object"
                               and r["response_format"]["schema"]["properties"]
                               for r in constrained)
    assert sum(s["structured_calls"] for s in usage_of(result)) == len(constrained)
    assert not any("protocol" in n for n in result["notes"])

    # the usage the graph reports is exactly what llama.cpp returned, attempt by attempt
    usage = result["usage"].values()
    assert sum(s["calls"] for s in usage) == len(replies)
    assert sum(s["failed_calls"] for s in usage) == 0
    assert sum(s["prompt_tokens"] for s in usage) == sum(r["usage"]["prompt_tokens"]
                                                         for r in replies)
    assert sum(s["completion_tokens"] for s in usage) == sum(r["usage"]["completion_tokens"]
                                                             for r in replies)
    assert sum(s["format_retries"] for s in usage) == sum(1 for r in requests if r["seed"] > 0)

    # greedy and seeded; the cap reaches llama.cpp (as max_tokens) and holds; a re-ask differs
    for request, reply in zip(requests, replies, strict=True):
        assert "max_completion_tokens" not in request
        assert reply["usage"]["completion_tokens"] <= request["max_tokens"] <= 256
        first = request["seed"] == 0
        assert (request["temperature"] == 0) == first
        if not first:
            last = request["messages"][-1]["content"]
            assert last.count("Reply again") + last.count(JSON_AGAIN) == 1

    # the server is gone
    assert gone(seen["pid"]) and not llama_servers()
    print(f"\nbundled model's answer: {result['answer']!r} (gold: {GOLD})")


def test_same_request_repeats_exactly(tmp_path, capsys):
    """Temperature 0 and a fixed seed: two runs give the same answer, usage and notes."""
    excerpt = tmp_path / "excerpt.md"
    excerpt.write_text(EXAMPLE.read_text()[:5000])
    results = []
    for run in ("a", "b"):
        code = cli.main(["ask", "--model", "local", "--context-file", str(excerpt), "--query",
                         "When was the Greyholm Dam opened?", "--no-plan", "--neighbors", "0",
                         *DEMO_ARGS,
                         "--state-dir", str(tmp_path / run), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        results.append({k: v for k, v in json.loads(out).items() if k != "thread_id"})
    assert results[0] == results[1]
    assert not llama_servers()


def _start_cli(tmp_path: Path, *extra: str,
               seen: list[str] | None = None) -> tuple[subprocess.Popen[str], int]:
    """Start the CLI with the local model; return it once its server is up, with the pid.

    `seen` collects the stderr lines read until then.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), "LANGSMITH_TRACING": "false"}
    command = [sys.executable, "-m", "longcepo", "ask", "--model", "local",
               "--context-file", str(EXAMPLE), "--query", QUESTION, *DEMO_ARGS,
               "--state-dir", str(tmp_path), "--thread-id", "LOCAL1", *extra]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if seen is not None:
            seen.append(line)
        found = re.search(r"llama\.cpp server ready .*\(pid (\d+),", line)
        if found:
            return proc, int(found.group(1))
    proc.wait()
    raise AssertionError(f"the server never came up (exit {proc.returncode})")


def test_ctrl_c_stops_the_server_and_prints_the_resume_command(tmp_path):
    before: list[str] = []
    proc, pid = _start_cli(tmp_path, seen=before)
    assert psutil.pid_exists(pid)
    assert proc.stderr is not None
    for line in proc.stderr:  # interrupt once the graph is at work
        before.append(line)
        if "read 1 document(s)" in line:
            break
    assert any("cannot answer a question like this one" in line and "--base-url URL" in line
               for line in before), "the demo says up front that the tiny model cannot answer"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted; thread LOCAL1" in err
    assert "longcepo ask --resume LOCAL1 --model local" in err
    assert gone(pid), "the llama.cpp server outlived the interrupted run"


def test_an_error_after_the_server_started_stops_it(tmp_path):
    proc, pid = _start_cli(tmp_path, "--max-document-tokens", "1000")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "over the configured limit of 1000" in err
    assert "Traceback" not in err
    assert gone(pid), "the llama.cpp server outlived the failed run"


def test_eval_and_optimize_prompt_run_the_bundled_model_offline(tmp_path, capsys):
    """`--model local` serves the GGUF for `eval` and `optimize-prompt` too, then stops it."""
    data = REPO.parent / "shared" / "data" / "hotpotqa_long_16k.jsonl.gz"
    if not data.exists():
        pytest.skip(f"needs the shared evaluation data at {data}")
    local = ["--model", "local", "--window", "2048", "--chunk-size", "1024",
             "--max-output-tokens", "32", "--format-retries", "0"]
    out = tmp_path / "eval"
    code = cli.main(["eval", "--dataset", str(data), "--limit", "1", "--trim-tokens", "600",
                     "--strategy", "truncated,full_context", "--out", str(out), "-q", *local])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "llama.cpp server ready" in captured.err
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["strategy"] for r in rows) == ["full_context", "truncated"]
    assert all(r["usage"]["direct"]["calls"] == 1 and not r.get("error") for r in rows)
    settings = json.loads((out / "settings.json").read_text())
    assert settings["local_model"] and settings["temperature_map"] == 0.0
    assert "through llama.cpp" in (out / "summary.md").read_text()
    assert not llama_servers()

    prompts = tmp_path / "p.json"
    code = cli.main(["optimize-prompt", "--dataset", str(data), "--limit", "2",
                     "--trim-tokens", "600", "--strategy", "mapreduce", "--dev", "1",
                     "--test", "1", "--steps", "1", "--candidates", "1",
                     "--optimizer-format-retries", "0", "--out", str(prompts), *local])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(prompts.read_text())["system_prompt"].strip()
    assert not llama_servers()
