"""The CLI against the LLM double over real HTTP: every failure is one line that names the fix.

Each case exits non-zero without a traceback; a Ctrl-C prints the thread and the resume command.
"""

from __future__ import annotations

import gc
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from longcepo.cli import main as cli
from longcepo.local.server import free_port

from llm_double.corpus import needle_task

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--chunk-size", "512", "--window", "2048", "--max-output-tokens", "200",
         "--retries", "1"]


@pytest.fixture
def needle(tmp_path):
    doc = needle_task(3000, seed=3)
    path = tmp_path / "doc.md"
    path.write_text(doc.text)
    return path, doc.task


def ask(path, question, state, *extra):
    return cli.main(["ask", "--context-file", str(path), "--query", question,
                     "--state-dir", str(state), *SMALL, *extra])


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("longcepo: error:")]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


def test_answers_through_the_double(needle, llm_double, tmp_path, capsys):
    path, task = needle
    code = ask(path, task.question, tmp_path, "--base-url", llm_double.base_url, "--api-key", "k")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == task.gold


def test_ask_collects_again_once_its_graph_has_loaded(needle, llm_double, tmp_path, capsys):
    from longcepo.cli import startup

    path, task = needle
    startup.pause_collection()  # as the `longcepo` script starts
    try:
        assert not gc.isenabled()
        code = ask(path, task.question, tmp_path, "--base-url", llm_double.base_url)
        assert code == 0, capsys.readouterr().err
        assert gc.isenabled() and gc.get_freeze_count() > 0  # resumed, the loaded code frozen
    finally:
        startup.resume_collection()
        gc.unfreeze()


def test_connection_refused_names_the_address_and_the_fix(needle, tmp_path, capsys):
    path, task = needle
    url = f"http://127.0.0.1:{free_port()}/v1"
    code = ask(path, task.question, tmp_path, "--base-url", url, "--api-key", "k")
    line = one_error_line(capsys.readouterr().err)
    assert code == 1
    assert f"cannot reach the model at {url}: connection refused; start your server or pass " \
           "--base-url" in line


def test_wrong_api_key_is_refused_without_echoing_it(needle, llm_double, tmp_path, capsys):
    path, task = needle
    llm_double.configure(api_key="the-right-key")
    code = ask(path, task.question, tmp_path, "--base-url", llm_double.base_url,
               "--api-key", "a-wrong-key")
    err = capsys.readouterr().err
    line = one_error_line(err)
    assert code == 1
    assert "rejected the API key (401); check OPENAI_API_KEY or --api-key" in line
    assert "a-wrong-key" not in err
    assert llm_double.stats()["requests"] == 1  # a 401 is not retried


def test_unknown_model_names_the_option(needle, llm_double, tmp_path, capsys):
    path, task = needle
    llm_double.configure(models=["served-model"])
    code = ask(path, task.question, tmp_path, "--base-url", llm_double.base_url,
               "--api-key", "k", "--model", "no-such-model")
    line = one_error_line(capsys.readouterr().err)
    assert code == 1
    assert "model 'no-such-model' is unknown at" in line and "pass --model" in line


def test_document_over_the_limit_is_refused_before_any_call(needle, llm_double, tmp_path, capsys):
    path, task = needle
    code = ask(path, task.question, tmp_path, "--base-url", llm_double.base_url,
               "--api-key", "k", "--max-document-tokens", "1000")
    line = one_error_line(capsys.readouterr().err)
    assert code == 2
    assert re.search(r"the context is \d+ tokens, over the configured limit of 1000", line)
    assert "--max-document-tokens" in line
    assert llm_double.stats()["requests"] == 0


@pytest.mark.parametrize("args, message", [
    (["--model-path", "missing.gguf"], "no such model file; pass --model-path"),
    (["--model-path", "{doc}"], "not a GGUF file"),
    (["--model", "local", "--base-url", "http://127.0.0.1:9/v1"], "drop --base-url"),
])
def test_local_model_mistakes_name_the_fix(needle, tmp_path, capsys, args, message):
    path, task = needle
    args = [a.replace("{doc}", str(path)) for a in args]
    code = ask(path, task.question, tmp_path, *args)
    line = one_error_line(capsys.readouterr().err)
    assert code == 2 and message in line


ENV = {**os.environ, "PYTHONPATH": str(REPO), "LANGSMITH_TRACING": "false"}


def interrupt(double, needle, state, thread, ready):
    """Run `ask` in its own process, Ctrl-C it once `ready(double's stats)`; its (code, stderr)."""
    path, task = needle
    command = [sys.executable, "-m", "longcepo", "ask", "--context-file", str(path),
               "--query", task.question, "--state-dir", str(state), "--thread-id", thread,
               "--base-url", double.base_url, "--api-key", "k", *SMALL]
    proc = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready(double.stats()) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_ctrl_c_prints_the_thread_and_a_resume_command_that_finishes(needle, tmp_path):
    from llm_double.process import start_double_process

    _, task = needle
    with start_double_process("--latency", "0.2") as double:
        code, err = interrupt(double, needle, tmp_path, "T9", lambda s: s["requests"] >= 4)
        assert code == 130, err
        assert "Traceback" not in err and "interrupted; thread T9" in err
        resume = err.strip().splitlines()[-1].split("Continue with: ")[-1]
        assert " ask --resume T9 " in resume and "--api-key" not in resume
        assert f"--base-url {double.base_url}" in resume and "--chunk-size 512" in resume
        double.configure(latency=0.0)
        before = double.stats()["requests"]
        # the hint is run as printed, from where it was printed: it must work there
        done = subprocess.run([*shlex.split(resume), "--api-key", "k"], cwd=REPO, env=ENV,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == task.gold
        stages = [r["stage"] for r in double.log()[before:]]
        assert "normalize" not in stages  # finished steps were not redone


def test_ctrl_c_before_the_first_checkpoint_says_to_run_again(needle, tmp_path):
    """The first request is out before LangGraph has loaded: nothing exists to resume yet."""
    from llm_double.process import start_double_process

    with start_double_process("--latency", "30") as double:
        code, err = interrupt(double, needle, tmp_path, "T8", lambda s: s["max_in_flight"] >= 1)
    assert code == 130, err
    line = one_error_line(err)
    assert "before the run's first checkpoint" in line and "--resume" not in line
