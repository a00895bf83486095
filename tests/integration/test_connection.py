"""The direct path's own HTTP/1.1 client against loopback servers that script every byte.

Real sockets on 127.0.0.1: replies framed each way HTTP allows (Content-Length, chunked with
extensions and trailers, read to close), split into one-byte writes, compressed, preceded by
an interim reply; servers that close, hang, refuse or answer garbage; TLS with a CA of the
test's own; and a forward proxy, which sends the call through httpx instead.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import ssl
import subprocess
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from longcepo.nodes import endpoint, llm
from longcepo.nodes.connection import Target, connect, request_head
from longcepo.state import Context

COMPLETION = {"id": "x", "object": "chat.completion", "model": "m",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "Oslo"},
                           "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}}
BODY = json.dumps(COMPLETION).encode()
HANG = b"<hang>"
CLOSE = b"<close>"


def reply(body: bytes = BODY, status: str = "200 OK", headers: tuple[str, ...] = (),
          version: str = "HTTP/1.1", length: bool = True) -> bytes:
    """The raw bytes of a reply."""
    lines = [f"{version} {status}", "Content-Type: application/json", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int = 7) -> bytes:
    """`body` in chunks of `size`, with a chunk extension and a trailer."""
    out = b"".join(f"{len(body[i:i + size]):x};ext=1\r\n".encode() + body[i:i + size] + b"\r\n"
                   for i in range(0, len(body), size))
    return out + b"0\r\nX-Trailer: yes\r\n\r\n"


@dataclass
class Scripted:
    """A loopback server answering each request with the next script: pieces of raw bytes.

    A piece `HANG` stops answering; `CLOSE` closes the connection. `requests` keeps each
    request's head and body; `connections` counts accepted connections.
    """

    scripts: list[list[bytes]]
    byte_by_byte: bool = False
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None
    tls: ssl.SSLContext | None = None

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://{'localhost' if self.tls else '127.0.0.1'}:{port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                found = re.search(rb"content-length: *(\d+)", head, re.I)
                body = await reader.readexactly(int(found.group(1)) if found else 0)
                self.requests.append((head, body))
                for piece in self.scripts.pop(0):
                    if piece == HANG:
                        await asyncio.sleep(3600)
                    if piece == CLOSE:
                        writer.close()
                        return
                    for part in ([piece[i:i + 1] for i in range(len(piece))]
                                 if self.byte_by_byte else [piece]):
                        writer.write(part)
                        await writer.drain()
                        if self.byte_by_byte:
                            await asyncio.sleep(0)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


def context(url: str, **changes: object) -> Context:
    settings: dict[str, object] = {"request_timeout": 5.0, **changes}
    return Context(base_url=url, api_key="k", model="m", **settings)  # type: ignore[arg-type]


async def ask(ctx: Context) -> tuple[str, int | None, int | None]:
    """One call on the direct path, as a node makes it."""
    return await endpoint.complete(ctx, [SystemMessage("s"), HumanMessage("Capital of Norway?")],
                                   {"max_tokens": 5, "temperature": 0.0}, {"X-Longcepo-Stage": "map"})


async def run(work: Awaitable[object]) -> object:
    """Await `work`, then close the run's connections as a run's end does."""
    try:
        return await work
    finally:
        await endpoint.close_endpoints()


async def several(ctx: Context, n: int) -> list[tuple[str, int | None, int | None]]:
    """`n` calls, one after another."""
    return [await ask(ctx) for _ in range(n)]


async def test_a_keep_alive_connection_carries_every_framing_in_turn():
    gz = gzip.compress(BODY)
    scripts = [[reply()], [reply(chunked(BODY), headers=("Transfer-Encoding: chunked",),
                                 length=False)],
               [reply(gz, headers=("Content-Encoding: gzip",))],
               [b"HTTP/1.1 100 Continue\r\n\r\n" + reply()]]
    for byte_by_byte in (False, True):
        async with Scripted([list(s) for s in scripts], byte_by_byte=byte_by_byte) as server:
            ctx = context(server.url)

            assert await run(several(ctx, 4)) == [("Oslo", 7, 1)] * 4
            assert server.connections == 1  # one connection carried all four
        head, body = server.requests[0]
        assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert b"\r\nAuthorization: Bearer k\r\n" in head and b"X-Longcepo-Stage: map" in head
        assert f"Content-Length: {len(body)}".encode() in head
        sent = json.loads(body)
        assert sent["model"] == "m" and sent["messages"][1]["content"] == "Capital of Norway?"


async def test_a_connection_that_ends_or_falls_out_of_step_is_never_reused():
    scripts = [[reply(version="HTTP/1.0", length=False), CLOSE],
               [reply(headers=("Connection: close",)), CLOSE],
               [reply() + b"HTTP/1.1 200 OK\r\n"],  # bytes after the reply: out of step
               [reply()]]
    async with Scripted(scripts) as server:
        ctx = context(server.url)

        assert await run(several(ctx, 4)) == [("Oslo", 7, 1)] * 4
        assert server.connections == 4


async def test_concurrent_calls_open_one_connection_each_and_reuse_them():
    async with Scripted([[reply()] for _ in range(6)]) as server:
        ctx = context(server.url)

        async def waves() -> list[list[tuple[str, int | None, int | None]]]:
            return [await asyncio.gather(ask(ctx), ask(ctx), ask(ctx)) for _ in range(2)]

        assert await run(waves()) == [[("Oslo", 7, 1)] * 3] * 2
        assert server.connections == 3


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed():
    async with Scripted([[reply(), CLOSE], [reply()]]) as server:
        ctx = context(server.url)

        async def two() -> tuple[str, int | None, int | None]:
            await ask(ctx)
            await asyncio.sleep(0.05)  # the close arrives while the connection is idle
            return await ask(ctx)

        assert await run(two()) == ("Oslo", 7, 1)
        assert server.connections == 2


@pytest.mark.parametrize(("script", "says"), [
    ([reply()[:60], CLOSE], "closed the connection before replying in full"),
    ([b"SMTP ready\r\n\r\n"], "not an HTTP/1.x status line"),
    ([reply(headers=("Content-Encoding: br",))], "unsupported content-encoding"),
    ([reply(b"zz", headers=("Content-Encoding: gzip",))], "malformed reply"),
])
async def test_a_broken_reply_is_a_connection_error_the_retry_layer_knows(script, says):
    async with Scripted([script]) as server:
        ctx = context(server.url)
        with pytest.raises(openai.APIConnectionError) as caught:
            await run(ask(ctx))
        assert says in str(caught.value.__cause__)
        assert llm._retryable(caught.value)


async def test_a_reply_that_never_comes_times_out_and_its_connection_is_dropped():
    async with Scripted([[HANG], [reply()]]) as server:
        ctx = context(server.url, request_timeout=0.3)

        async def two() -> tuple[str, int | None, int | None]:
            with pytest.raises(openai.APITimeoutError):
                await ask(ctx)
            return await ask(ctx)

        assert await run(two()) == ("Oslo", 7, 1)
        assert server.connections == 2  # the timed-out connection was not reused


async def test_nobody_listening_reads_as_connection_refused(ctx):
    with pytest.raises(openai.APIConnectionError) as caught:
        await run(ask(ctx))
    assert "connection refused" in llm.describe_failure(caught.value, ctx)


async def test_error_statuses_become_the_openai_exceptions_with_their_headers():
    body = json.dumps({"error": {"message": "slow down", "type": "rate"}}).encode()
    async with Scripted([[reply(body, "429 Too Many Requests", ("Retry-After: 2",))]]) as server:
        ctx = context(server.url)
        with pytest.raises(openai.RateLimitError) as caught:
            await run(ask(ctx))
        assert caught.value.body == {"message": "slow down", "type": "rate"}
        assert llm._retry_after(caught.value) == 2.0


def test_headers_that_would_split_the_request_are_refused():
    target = Target.parse("http://127.0.0.1:8000/v1/chat/completions?x=1")
    assert target.path == "/v1/chat/completions?x=1" and target.authority == "127.0.0.1:8000"
    with pytest.raises(ValueError, match="characters HTTP does not allow"):
        request_head(target, {"Authorization": "Bearer k\r\nX-Evil: 1"}, 0)
    with pytest.raises(ValueError, match="outside Latin-1"):
        request_head(target, {"Authorization": "Bearer ключ"}, 0)
    assert b"Host: example.com\r\n" in request_head(Target.parse("https://example.com/v1"), {}, 0)


def test_the_servers_event_loop_uvloop_works_the_same():
    import uvloop  # uvicorn runs `longcepo serve` on it; its transports are not asyncio's

    async def main() -> None:
        scripts = [[reply()], [reply(chunked(BODY), headers=("Transfer-Encoding: chunked",),
                                     length=False)]]
        async with Scripted(scripts) as server:
            assert await run(several(context(server.url), 2)) == [("Oslo", 7, 1)] * 2
            assert server.connections == 1

    uvloop.run(main())


async def test_the_sent_event_is_set_once_the_request_is_written():
    async with Scripted([[HANG]]) as server:
        conn = await connect(Target.parse(server.url), None)
        sent = asyncio.Event()
        pending = asyncio.ensure_future(conn.exchange(server.url, request_head(
            Target.parse(server.url), {}, 2_000_000), b"x" * 2_000_000, sent))
        await asyncio.wait_for(sent.wait(), 5)  # 2 MB handed to the kernel while no reply came
        assert not pending.done()
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert not conn.open  # cancelled mid-exchange: never reused


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made with the openssl command."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


async def test_https_verifies_the_server_against_the_trusted_certificates(tls_files, monkeypatch):
    cert, key = tls_files
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    endpoint._tls.cache_clear()
    try:
        async with Scripted([[reply()]], tls=server_tls) as server:
            ctx = context(server.url, max_retries=0)
            with pytest.raises(openai.APIConnectionError) as caught:  # not trusted yet
                await run(ask(ctx))
            assert isinstance(caught.value.__cause__.__cause__, ssl.SSLCertVerificationError)
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # as httpx honours it
            endpoint._tls.cache_clear()
            assert await run(ask(ctx)) == ("Oslo", 7, 1)
    finally:
        endpoint._tls.cache_clear()


async def test_an_endpoint_behind_a_proxy_is_called_through_it(monkeypatch):
    async with Scripted([[reply()]]) as proxy, Scripted([[reply()]]) as direct:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.removesuffix("/v1"))
        monkeypatch.setenv("NO_PROXY", "")
        ctx = context("http://model.internal:8000/v1")
        assert await run(ask(ctx)) == ("Oslo", 7, 1)
        assert proxy.requests[0][0].startswith(
            b"POST http://model.internal:8000/v1/chat/completions HTTP/1.1")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # bypassed: straight to the server
        ctx = context(direct.url)
        assert await run(ask(ctx)) == ("Oslo", 7, 1)
        assert len(proxy.requests) == 1 and len(direct.requests) == 1
