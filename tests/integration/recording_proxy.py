"""A loopback HTTP proxy that forwards to an upstream server and keeps every JSON reply.

Tests put it between longcepo and the llama.cpp server to compare the usage the server really
returned with the usage the graph reports.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordingProxy:
    """Forward `/v1/...` to `upstream`; `replies` holds (path, request, response) of each POST."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.replies: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self, body: bytes | None) -> None:
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body, method=self.command,
                    headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=900) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                except OSError as exc:  # upstream gone: say so, as a gateway would
                    status = 502
                    payload = json.dumps({"error": {"message": f"upstream: {exc}"}}).encode()
                if body is not None and status == 200:
                    with proxy._lock:
                        proxy.replies.append((self.path, json.loads(body), json.loads(payload)))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                self._forward(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, to use in place of the upstream's address."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def completions(self) -> list[dict[str, Any]]:
        """The chat-completion replies, in arrival order."""
        with self._lock:
            return [reply for path, _, reply in self.replies if path.endswith("/chat/completions")]

    def requests(self) -> list[dict[str, Any]]:
        """The chat-completion requests, in arrival order."""
        with self._lock:
            return [req for path, req, _ in self.replies if path.endswith("/chat/completions")]

    def __enter__(self) -> RecordingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
