"""A stand-in LangSmith endpoint on loopback that records the runs a client sends.

It answers `GET /info` and takes `POST /runs/multipart` (plain or zstd-compressed), `/runs`
and `/runs/batch`, merging every post and patch into one record per run id.
"""

from __future__ import annotations

import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Capture:
    """Runs received so far, by id; `requests` counts posts per path."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.requests: dict[str, int] = {}
        self.raw: list[bytes] = []
        self.lock = threading.Lock()

    def merge(self, run_id: str, fields: dict[str, Any]) -> None:
        with self.lock:
            self.runs.setdefault(run_id, {"id": run_id}).update(fields)

    def take_multipart(self, content_type: str, body: bytes) -> None:
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition") or ""
            kind, run_id, *field = name.split(".")
            if kind not in ("post", "patch"):
                continue
            value = json.loads(part.get_payload(decode=True) or b"null")
            self.merge(run_id, {field[0]: value} if field else value)

    def take_json(self, path: str, body: bytes) -> None:
        payload = json.loads(body)
        if path.endswith("/batch"):
            for run in [*payload.get("post", []), *payload.get("patch", [])]:
                self.merge(str(run["id"]), run)
        elif isinstance(payload, dict) and "id" in payload:
            self.merge(str(payload["id"]), payload)

    def tree(self) -> dict[str | None, list[dict[str, Any]]]:
        """Runs grouped by parent run id."""
        children: dict[str | None, list[dict[str, Any]]] = {}
        with self.lock:
            for run in self.runs.values():
                parent = run.get("parent_run_id")
                children.setdefault(str(parent) if parent else None, []).append(run)
        return children


def serve_capture() -> tuple[ThreadingHTTPServer, Capture]:
    """Start a capture server on a free loopback port; `server.server_address` has the port."""
    capture = Capture()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.startswith("/info"):
                self._reply(200, {"version": "capture", "instance_flags": {}})
            else:
                self._reply(404, {"detail": "not found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "zstd":
                import zstandard

                body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
            path = self.path.split("?")[0]
            with capture.lock:
                capture.requests[path] = capture.requests.get(path, 0) + 1
                capture.raw.append(body)
            if path.endswith("/runs/multipart"):
                capture.take_multipart(self.headers["Content-Type"], body)
            elif path.endswith(("/runs", "/runs/batch")):
                capture.take_json(path, body)
            self._reply(202, {})

        do_PATCH = do_POST

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, capture
