"""Broken local state: a full disk, a read-only state folder, a file that is no database.

The real CLI runs as a subprocess against the double. A full disk is simulated with
RLIMIT_FSIZE (SIGXFSZ ignored, so writes fail with EFBIG as on a full disk); a read-only
folder with a read-only bind mount in a private mount namespace (tests run as root, where
chmod does not stop writes). Each case is one line, exit 2, and what was saved still works.
"""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from llm_double.corpus import needle_task
from llm_double.process import start_double_process
from tests.integration.servers import REPO, child_env

SMALL = ["--chunk-size", "512", "--window", "2048", "--max-output-tokens", "200",
         "--retries", "1", "--timeout", "30", "--api-key", "k", "--json"]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "longcepo", "ask", *args]


def run(command: list[str], file_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True,
                          timeout=300, preexec_fn=limit if file_limit else None)


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("longcepo: error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def task(tmp_path: Path):
    doc = needle_task(6000, seed=4)
    path = tmp_path / "doc.md"
    path.write_text(doc.text)
    return path, doc.task


@pytest.mark.parametrize("limit", [40_000, 400_000])
def test_a_full_disk_is_one_line_and_the_run_continues_once_space_is_back(tmp_path, task,
                                                                        limit):
    path, gold = task
    state = tmp_path / "state"
    with start_double_process() as double:
        common = ["--base-url", double.base_url, "--state-dir", str(state), *SMALL]
        full = run(cli("--context-file", str(path), "--query", gold.question,
                       "--thread-id", "full-1", *common), file_limit=limit)
        assert full.returncode == 2, full.stderr
        line = error_line(full)
        assert f"state in {state} failed" in line and "disk is full" in line
        if "continue with:" in full.stderr:
            again = run(cli("--resume", "full-1", *common))
        else:
            assert "run the same command again" in full.stderr
            again = run(cli("--context-file", str(path), "--query", gold.question,
                            "--thread-id", "full-1", *common))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["answer"].strip() == gold.gold


def test_a_file_that_is_not_a_database_is_named(tmp_path, task):
    path, gold = task
    state = tmp_path / "state"
    state.mkdir()
    (state / "store.sqlite").write_text("these are my notes, not a database\n" * 200)
    done = run(cli("--context-file", str(path), "--query", gold.question,
                   "--base-url", "http://127.0.0.1:9/v1", "--state-dir", str(state), *SMALL))
    assert done.returncode == 2
    line = error_line(done)
    assert f"{state / 'store.sqlite'} is not a longcepo state database" in line
    assert "move it aside" in line
    assert (state / "store.sqlite").read_text().startswith("these are my notes")


def test_resume_from_a_read_only_state_folder_is_one_line(tmp_path, task):
    if not shutil.which("unshare") or subprocess.run(
            ["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs unshare -m (root) for a read-only bind mount")
    path, gold = task
    state = tmp_path / "state"
    with start_double_process() as double:
        common = ["--base-url", double.base_url, "--state-dir", str(state), *SMALL]
        double.configure(faults=[{"stage": "reduce", "fault": "http_500"}])
        first = run(cli("--context-file", str(path), "--query", gold.question,
                        "--thread-id", "ro-1", *common))
        assert first.returncode == 1, first.stderr
        resume = " ".join(cli("--resume", "ro-1", *common))
        done = subprocess.run(
            ["unshare", "-m", "sh", "-c", f"mount --bind {state} {state} && "
             f"mount -o remount,ro,bind {state} && exec {resume}"],
            cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        line = error_line(done)
        assert f"cannot write the run's state in {state}" in line and "writable" in line
        double.configure(faults=[])
        again = run(cli("--resume", "ro-1", *common))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["answer"].strip() == gold.gold


def test_serve_with_a_broken_state_folder_is_one_line_and_exit_2(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "checkpoints.sqlite").write_text("not a database\n" * 100)
    done = subprocess.run([sys.executable, "-m", "longcepo", "serve", "--port", "0",
                           "--state-dir", str(state), "--base-url", "http://127.0.0.1:9/v1"],
                          cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{state / 'checkpoints.sqlite'} is not a longcepo state database" in error_line(done)
