"""The local server's lifecycle, with the LLM double standing in for llama.cpp's server.

The same code starts llama.cpp for `--model local`; these checks run without the compiled
extra, so every install tests them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from longcepo.local.server import LocalServer, LocalServerError, free_port

from tests.integration.local_harness import gone

REPO = Path(__file__).resolve().parents[2]


def double_server(port: int) -> LocalServer:
    command = [sys.executable, "-m", "llm_double", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return LocalServer(command, f"http://127.0.0.1:{port}", env=env, start_timeout=60)


def test_starts_answers_and_stops():
    port = free_port()
    with double_server(port) as server:
        pid = server.pid
        assert pid is not None and psutil.pid_exists(pid)
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        models = server.get("/v1/models")
        assert models is not None and models["data"]
    assert gone(pid)
    assert server.pid is None
    server.stop()  # idempotent


def test_a_server_that_dies_at_start_fails_with_its_output():
    server = LocalServer([sys.executable, "-c", "import sys; print('no model here'); sys.exit(3)"],
                         f"http://127.0.0.1:{free_port()}", start_timeout=30)
    with pytest.raises(LocalServerError) as raised:
        server.start()
    assert "exited with code 3" in str(raised.value) and "no model here" in str(raised.value)


def test_a_server_that_never_answers_is_stopped_after_the_timeout():
    server = LocalServer([sys.executable, "-c", "import time; time.sleep(60)"],
                         f"http://127.0.0.1:{free_port()}", start_timeout=1)
    with pytest.raises(LocalServerError, match="did not answer within 1s"):
        server.start()
    assert server.process is None


STUBBORN = """
import http.server, signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_sigterm_that_is_ignored_is_followed_by_sigkill():
    port = free_port()
    server = LocalServer([sys.executable, "-c", STUBBORN, str(port)], f"http://127.0.0.1:{port}",
                         ready_path="/", start_timeout=30).start()
    pid = server.pid
    began = time.monotonic()
    server.stop(grace=0.5)
    assert gone(pid) and time.monotonic() - began < 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_the_server_dies_with_an_owner_killed_by_sigkill(tmp_path):
    owner = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from tests.integration.test_local_server import double_server
        from longcepo.local.server import free_port
        server = double_server(free_port()).start()
        print(server.pid, flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", owner], stdout=subprocess.PIPE, text=True,
                            cwd=REPO)
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    assert psutil.pid_exists(pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert gone(pid), "the server outlived its owner"
