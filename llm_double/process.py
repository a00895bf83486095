"""The double as a separate process (`python -m llm_double`), controlled over HTTP.

For crash tests and benchmarks: the process under test can be SIGKILLed while the double keeps
its log and state, and the double never competes with it for the GIL.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

_REPO_ROOT = Path(__file__).resolve().parents[1]


class DoubleProcess:
    """A double running as `python -m llm_double`, controlled over its `/_double/` routes."""

    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self.url = base_url.rsplit("/v1", 1)[0]

    @property
    def pid(self) -> int:
        """The double's process id."""
        return self.process.pid

    def _call(self, method: str, route: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}/_double/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings in the running process (same keywords as `DoubleConfig`)."""
        result: dict[str, Any] = self._call("POST", "configure", changes)
        return result

    def stats(self) -> dict[str, Any]:
        """Request totals, as `LLMDouble.stats()`."""
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def log(self) -> list[dict[str, Any]]:
        """The in-memory request log of the process."""
        result: list[dict[str, Any]] = self._call("GET", "log")
        return result

    def reset(self) -> None:
        """Forget the log, totals, prefix cache and fault counters."""
        self._call("POST", "reset", {})

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in `timeout`; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> DoubleProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_double_process(*args: str, timeout: float = 30.0) -> DoubleProcess:
    """Start `python -m llm_double --port 0 ARGS...` and return once it listens.

    It runs in its own session (signals to the test's process group do not reach it) and exits
    by itself when the starting process is gone, so a crashed test run leaves nothing behind.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "llm_double",
        "--port",
        "0",
        "--exit-with-parent",
        str(os.getpid()),
        *args,
    ]
    process = subprocess.Popen(
        command,
        cwd=_REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline().strip()
            if line.startswith("http"):
                return DoubleProcess(process, line)
        if process.poll() is not None:
            break
    process.kill()
    process.wait()
    raise RuntimeError(f"llm_double process did not start (exit code {process.returncode})")
