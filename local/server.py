"""Run llama.cpp's OpenAI-compatible server as a child process that never outlives its owner.

The server runs in its own session, so a Ctrl-C at the terminal reaches only the CLI, which
then stops it in order. On Linux the kernel also kills it when the owner dies without cleaning
up (SIGKILL), through PR_SET_PDEATHSIG.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from longcepo.local import LocalServerError

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
CACHE_BYTES = 768 << 20
"""KV states the server's prompt cache may keep: about 20 prompts of 2K tokens."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM us when the parent thread dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def server_threads() -> tuple[int, int]:
    """Threads for llama.cpp: (generating, reading prompts).

    llama.cpp's threads wait for each other at every layer. Generating one token at a time,
    that wait dominates as soon as another process wants a core (measured on 2 shared cores:
    1 token/s with 2 threads, 19 with 1), so generation leaves one core spare. Prompts are read
    in batches of hundreds of tokens, where all cores pay off.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    return max(1, cores - 1), cores


def llama_server_command(model: Path, port: int, n_ctx: int, alias: str,
                         host: str = "127.0.0.1") -> list[str]:
    """`python -m llama_cpp.server` for one model on loopback, with a prompt cache.

    The server reuses the KV state of the prompt it just read when the next one extends it (a
    re-ask, see `nodes.llm.ask`). The RAM cache keeps more of them: a chunk's map prompt in a
    later pass shares everything up to the question with the same chunk's earlier prompt, so
    only the tail is read again. Each cached prompt costs its KV state (about 40 MB for
    SmolLM2 at 2K tokens) plus n_batch x vocabulary floats (a small batch keeps that at 25 MB;
    it reads prompts as fast as 512). Per-token logits are not kept (`logits_all`): they would
    cost n_ctx x vocabulary floats, 1.6 GB for SmolLM2 at 8K.
    """
    generate, read = server_threads()
    return [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model),
        "--model_alias", alias, "--host", host, "--port", str(port), "--n_ctx", str(n_ctx),
        "--n_threads", str(generate), "--n_threads_batch", str(read), "--n_batch", "128",
        "--logits_all", "false", "--use_mlock", "false", "--cache", "true",
        "--cache_type", "ram", "--cache_size", str(CACHE_BYTES),
        "--interrupt_requests", "false", "--verbose", "false",
    ]


class LocalServer:
    """A server process started by `start()` and stopped, with its whole group, by `stop()`.

    `url` is the server's root; `base_url` its OpenAI API (`/v1`). `ready_path` is polled
    until it answers 200; a process that exits first fails the start with the tail of its log.
    """

    def __init__(self, command: Sequence[str], url: str, *, ready_path: str = "/v1/models",
                 start_timeout: float = 120.0, env: dict[str, str] | None = None) -> None:
        self.command = list(command)
        self.url = url.rstrip("/")
        self.base_url = f"{self.url}/v1"
        self.ready_path = ready_path
        self.start_timeout = start_timeout
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.started_in = 0.0

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self.process.pid if self.process else None

    def log_tail(self, lines: int = 8) -> str:
        """The last lines the server wrote, for error messages."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", errors="replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def start(self) -> LocalServer:
        """Start the process and wait until it serves requests."""
        began = time.monotonic()
        self._log = tempfile.TemporaryFile()
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        try:
            self.process = subprocess.Popen(
                self.command, stdout=self._log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, env=self.env,
                preexec_fn=preexec,  # noqa: PLW1509 - only a prctl call, no Python state
            )
        except OSError as exc:
            raise LocalServerError(f"cannot start the local model server: {exc}") from None
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        log.info("local server pid %s ready at %s in %.1fs", self.pid, self.url,
                 self.started_in)
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalServerError(
                    f"the local model server exited with code {self.process.returncode} "
                    f"before it was ready; its last output:\n{self.log_tail()}")
            if self.get(self.ready_path, timeout=2.0) is not None:
                return
            time.sleep(0.2)
        raise LocalServerError(
            f"the local model server did not answer within {self.start_timeout:g}s; its last "
            f"output:\n{self.log_tail()}")

    def get(self, path: str, timeout: float = 10.0) -> Any:
        """GET a JSON route of the server; None while it does not answer 200."""
        return self._request("GET", path, None, timeout)

    def post(self, path: str, payload: Any, timeout: float = 60.0) -> Any:
        """POST JSON to a route of the server; None unless it answers 200."""
        return self._request("POST", path, payload, timeout)

    def _request(self, method: str, path: str, payload: Any, timeout: float) -> Any:
        import urllib.error  # here: `longcepo ask` imports this module for every run (0.02 s)
        import urllib.request

        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server's process group, SIGKILL it after `grace` seconds; idempotent.

        A second Ctrl-C while waiting skips the grace period instead of leaving it running.
        """
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                _signal_group(process.pid, signal.SIGTERM)
                process.wait(grace)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                pass
            finally:
                if process.poll() is None:
                    _signal_group(process.pid, signal.SIGKILL)
                    process.wait()
        if process is not None:
            log.info("local server pid %s stopped", process.pid)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while the block runs, so cleanup code runs on both."""
    if not _main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
