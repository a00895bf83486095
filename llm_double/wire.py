"""Just enough HTTP/1.1 on asyncio streams: requests in, responses and chunked streams out.

Written by hand rather than taken from a framework so the double can drop a connection without
a byte, leave a request unanswered, and stay well under a millisecond per call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

MAX_HEAD_BYTES = 64 * 1024


class BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.1 request this server understands."""


@dataclass
class HttpRequest:
    """One parsed request; header names are lower case."""

    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        """HTTP/1.1 keeps the connection unless the client says close."""
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """Read one request; None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest("connection closed inside the request head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise BadRequest("request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise BadRequest(f"bad request line {lines[0]!r}") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
    return HttpRequest(method.upper(), target.split("?", 1)[0], version, headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _head(status: int, headers: Iterable[tuple[str, str]], keep_alive: bool) -> bytes:
    reason = HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response(
    status: int,
    payload: Any,
    *,
    keep_alive: bool = True,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A complete JSON response."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    all_headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        *headers,
    ]
    return _head(status, all_headers, keep_alive) + body


def stream_head(*, keep_alive: bool = True) -> bytes:
    """Status line and headers of a server-sent-events response in chunked encoding."""
    headers = [
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Cache-Control", "no-cache"),
        ("Transfer-Encoding", "chunked"),
    ]
    return _head(200, headers, keep_alive)


def sse_chunk(payload: Any) -> bytes:
    """One `data:` event wrapped as one HTTP chunk."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    raw = f"data: {data}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(raw), raw)


LAST_CHUNK = b"0\r\n\r\n"
