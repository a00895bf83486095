"""Start `longcepo serve` as a child process on a free loopback port, with its own log.

The log lets a test read what a server wrote (and check that no secret is in it).
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--chunk-size", "512", "--window", "2048", "--max-output-tokens", "200",
         "--retries", "1", "--timeout", "30"]
"""A scaled-down window so documents of a few thousand tokens make several chunks."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    env.update(LANGSMITH_TRACING="false", PYTHONPATH=str(REPO))
    env.pop("LONGCEPO_API_KEY", None)
    env.pop("LONGCEPO_POSTGRES_URI", None)
    env.update(extra)
    return env


@dataclass
class Served:
    """A `longcepo serve` child process."""

    process: subprocess.Popen[str]
    url: str
    log_path: Path
    killed: bool = field(default=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout:
            self.process.stdout.close()


def start_serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
                ready: bool = True, timeout: float = 90.0) -> Served:
    """Start `longcepo serve --port 0 ARGS` and wait until /health says ok."""
    log_path = tmp_path / f"serve-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "longcepo", "serve", "--port", "0", *args],
            cwd=REPO, env=env or child_env(), stdout=subprocess.PIPE, stderr=log_file,
            text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    url = ""
    while time.monotonic() < deadline and not url:
        if select.select([process.stdout], [], [], 0.2)[0]:
            line = process.stdout.readline()
            if line.startswith("longcepo serving on "):
                url = line.split()[-1]
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n"
                                 f"{log_path.read_text()}")
    assert url, f"server printed no address:\n{log_path.read_text()}"
    served = Served(process, url, log_path)
    while ready and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).json().get("status") == "ok":
                return served
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise AssertionError(f"server exited:\n{served.log()}")
        time.sleep(0.1)
    if ready:
        served.stop()
        raise AssertionError(f"server not ready in {timeout}s:\n{served.log()}")
    return served
