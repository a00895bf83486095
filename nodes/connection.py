"""One keep-alive HTTP/1.1 connection to the model endpoint: a JSON POST, then its reply.

Why not httpx here: on the direct path a call spent about 2.0 ms of CPU in httpx (request and
response models, cookies, anyio streams, httpcore's pool bookkeeping) against 0.2 ms for the
same exchange on an asyncio protocol (`bench/overhead.py`): 0.35 s of a 256K-token question's
196 calls. A chat completion needs little of HTTP: one POST with a Content-Length body, and a
reply framed by Content-Length, chunked transfer coding or the connection's close, perhaps
gzip-compressed, over TCP or TLS. Endpoints reached through a proxy (`HTTP_PROXY`,
`HTTPS_PROXY`, `ALL_PROXY`, minus `NO_PROXY`) keep going through httpx (`endpoint.py`).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import zlib
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit


class ConnectionFailed(OSError):
    """The exchange failed on the wire (refused, reset, closed early, malformed reply)."""


@dataclass(frozen=True)
class Target:
    """Where a URL's requests go: scheme, host, port, and the request line's path."""

    secure: bool
    host: str
    port: int
    path: str
    authority: str  # the Host header

    @classmethod
    def parse(cls, url: str) -> Target:
        """The target of an http(s) URL; anything else is a ValueError."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        default = port == (443 if secure else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(secure, host, port, path, shown if default else f"{shown}:{port}")


@dataclass
class Reply:
    """A complete reply: status, headers (lower-case names, last value wins), decoded body."""

    url: str
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        """The body as UTF-8 text (undecodable bytes replaced), as error messages show it."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; ValueError if it is not."""
        return json.loads(self.content)


def request_head(target: Target, headers: dict[str, str], length: int) -> bytes:
    """The request line and headers of a JSON POST; refuses header injection."""
    lines = [f"POST {target.path} HTTP/1.1", f"Host: {target.authority}",
             "Accept: application/json", "Accept-Encoding: gzip, deflate",
             "Content-Type: application/json", f"Content-Length: {length}"]
    for name, value in headers.items():
        if any(c in name + value for c in "\r\n\0") or not name or ":" in name:
            raise ValueError(f"header {name!r} holds characters HTTP does not allow")
        lines.append(f"{name}: {value}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("a request header (the API key?) holds characters outside Latin-1, "
                         "which HTTP headers cannot carry") from None


@dataclass
class _Parse:
    """Incremental reply parser: head, then body by its framing."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    head_done: bool = False
    length: int | None = None  # Content-Length; None with chunked or read-to-close
    chunked: bool = False
    keep_alive: bool = True
    body: bytearray = field(default_factory=bytearray)
    next_chunk: int | None = None  # chunked: size of the chunk being read; None: reading a size
    trailers: bool = False


class Connection(asyncio.Protocol):
    """One connection; `exchange` sends a request and returns its reply, one at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.open = False
        self._buffer = bytearray()
        self._parse: _Parse | None = None
        self._done: asyncio.Future[Reply] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._url = ""

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport; with no write buffer allowance, a pause means bytes wait."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.open = True
        self.transport.set_write_buffer_limits(high=0)

    def pause_writing(self) -> None:
        """Bytes are waiting in user space: `exchange` reports `sent` only once they leave."""
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        """Everything written reached the kernel."""
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def data_received(self, data: bytes) -> None:
        """Parse as far as the bytes go; a malformed reply fails the exchange."""
        if self._parse is None:  # bytes nobody asked for: the connection is out of step
            self.close()
            return
        self._buffer += data
        try:
            self._advance()
        except (ValueError, zlib.error) as exc:
            self._fail(ConnectionFailed(f"malformed reply from the endpoint: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed: ends a read-to-close body, fails an exchange still waiting for its reply."""
        self.open = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        p = self._parse
        if p is not None and p.head_done and p.length is None and not p.chunked:
            try:
                self._finish()  # read-to-close framing: the close ends the body
            except (ValueError, zlib.error) as bad:
                self._fail(ConnectionFailed(f"malformed reply from the endpoint: {bad}"))
            return
        error = ConnectionFailed("the endpoint closed the connection before replying in full")
        if exc is not None:
            error.__cause__ = exc
        self._fail(error)

    # the exchange
    async def exchange(self, url: str, head: bytes, body: bytes,
                       sent: asyncio.Event | None = None) -> Reply:
        """Send one request and wait for its whole reply; the caller bounds the time."""
        if not self.open or self.transport is None or self._parse is not None or self._buffer:
            raise ConnectionFailed("the connection is closed, busy or out of step")
        done: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._url, self._parse, self._done = url, _Parse(), done
        try:
            self.transport.writelines((head, body))
            if sent is not None:
                if self._drained is not None and not self._drained.done():
                    await asyncio.shield(self._drained)
                sent.set()
            return await done
        except BaseException:
            self.close()  # cancelled or failed mid-exchange: its state is unknown
            raise
        finally:
            self._parse = self._done = None

    def close(self) -> None:
        """Close now; the connection is never reused."""
        self.open = False
        if self.transport is not None:
            self.transport.close()

    # parsing
    def _fail(self, error: BaseException) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(error)
        self.close()

    def _advance(self) -> None:
        p = self._parse
        assert p is not None
        while not p.head_done:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > 65536:
                    raise ValueError("reply headers exceed 64 KiB")
                return
            self._head(bytes(self._buffer[:end]).decode("latin-1"))
            del self._buffer[:end + 4]
            if 100 <= p.status < 200:  # an interim reply; the real one follows
                self._parse = p = _Parse()
        if p.chunked:
            self._chunks(p)
        elif p.length is not None:
            take = min(p.length - len(p.body), len(self._buffer))
            p.body += self._buffer[:take]
            del self._buffer[:take]
            if len(p.body) == p.length:
                self._finish()
        else:
            p.body += self._buffer
            self._buffer.clear()

    def _head(self, text: str) -> None:
        p = self._parse
        assert p is not None
        status_line, *lines = text.split("\r\n")
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise ValueError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        p.status = int(rest[:3])
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"malformed header line: {line[:80]!r}")
            p.headers[name.strip().lower()] = value.strip()
        connection = p.headers.get("connection", "").lower()
        p.keep_alive = "close" not in connection and (version != "HTTP/1.0"
                                                      or "keep-alive" in connection)
        p.head_done = True
        if "chunked" in p.headers.get("transfer-encoding", "").lower():
            p.chunked = True
        elif "content-length" in p.headers:
            p.length = int(p.headers["content-length"])
        elif p.status in (204, 304):
            p.length = 0
        else:
            p.keep_alive = False  # the body ends when the server closes

    def _chunks(self, p: _Parse) -> None:
        buf = self._buffer
        while True:
            if p.trailers:  # after the last chunk: trailer lines up to an empty one
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                del buf[:end + 2]
                if end == 0:
                    self._finish()
                    return
                continue
            if p.next_chunk is None:
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buf[:end]).split(b";")[0].strip(), 16)
                del buf[:end + 2]
                if size == 0:
                    p.trailers = True
                    continue
                p.next_chunk = size
            if len(buf) < p.next_chunk + 2:
                return
            p.body += buf[:p.next_chunk]
            del buf[:p.next_chunk + 2]
            p.next_chunk = None

    def _finish(self) -> None:
        p, done = self._parse, self._done
        assert p is not None and done is not None
        content = bytes(p.body)
        encoding = p.headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            content = zlib.decompress(content, 47)  # 47: a gzip or zlib header, detected
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported content-encoding {encoding!r}")
        self._parse = None  # bytes after the reply find no exchange and close the connection
        if not p.keep_alive or self._buffer:
            self.close()
        if not done.done():
            done.set_result(Reply(self._url, p.status, p.headers, content))


async def connect(target: Target, tls: ssl.SSLContext | None) -> Connection:
    """Open a connection (TLS for https); failures raise `ConnectionFailed` from the cause."""
    loop = asyncio.get_running_loop()
    try:
        _, conn = await loop.create_connection(
            Connection, target.host, target.port, ssl=tls if target.secure else None,
            server_hostname=target.host if target.secure else None)
    except OSError as exc:
        raise ConnectionFailed(f"cannot connect to {target.authority}: {exc}") from exc
    return conn
