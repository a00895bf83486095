"""ASGI guards in front of every route: bearer key, body size, and a bound on runs in flight.

Plain ASGI (not BaseHTTPMiddleware) so streamed responses pass through untouched, and each
guard answers before the request body is parsed or any LLM call is made.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from longcepo.server import pages

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
BODY_KEY = "longcepo.body"
OPEN_PATHS = frozenset({"/health"})


def error_payload(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    """An error body both OpenAI clients (`error`) and FastAPI clients (`detail`) can read."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code},
            "detail": message}


def retry_headers(exc: BaseException) -> dict[str, str]:
    """`Retry-After` for errors that say when to come back (a busy thread)."""
    after = getattr(exc, "retry_after", None)
    return {"Retry-After": str(after)} if after else {}


async def send_error(send: Send, status: int, message: str, kind: str, code: str | None = None,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with a JSON error and nothing else."""
    body = json.dumps(error_payload(message, kind, code)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class BearerAuth:
    """With a key set, every route but /health needs `Authorization: Bearer <key>` (else 401).

    The web pages (playground, docs) and the LangServe routes they call also take the login
    cookie that `/login` sets, since a page cannot send the header; a browser asking for
    such a page without either is sent to the login form.
    """

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app, self.expected = app, (f"Bearer {key}".encode() if key else None)
        self.session = pages.session_token(key).encode() if key else None

    def _open(self, path: str) -> bool:
        return (path in OPEN_PATHS or path == pages.LOGIN_PATH
                or path.startswith(pages.ASSETS_PATH + "/"))

    def _has_session(self, scope: Scope) -> bool:
        token = pages.cookie_token(_header(scope, b"cookie"))
        return bool(token and self.session
                    and hmac.compare_digest(token.encode("latin-1", "replace"), self.session))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on only with the right key (or, for pages, the login cookie)."""
        path = scope.get("path", "")
        if self.expected is None or scope["type"] != "http" or self._open(path):
            await self.app(scope, receive, send)
            return
        given = (_header(scope, b"authorization") or "").encode("latin-1")
        if hmac.compare_digest(given, self.expected) or (
                pages.is_page_path(path) and self._has_session(scope)):
            await self.app(scope, receive, send)
            return
        if (pages.is_page_path(path) and scope.get("method") == "GET"
                and "text/html" in (_header(scope, b"accept") or "")):
            target = path if path in pages.LANDINGS else pages.PLAYGROUND
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", f"{pages.LOGIN_PATH}?next={target}".encode()),
                                    (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send_error(send, 401, "missing or wrong API key; send the header "
                         "'Authorization: Bearer <LONGCEPO_API_KEY>'",
                         "invalid_request_error", "invalid_api_key",
                         [(b"www-authenticate", b"Bearer")])


class BodyLimit:
    """Read a request body up to `limit` bytes (413 beyond), then replay it to the app.

    The body is kept in the scope (`longcepo.body`) for the run gate to check.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def _too_large(self, send: Send) -> None:
        await send_error(send, 413, f"the request body is over the limit of {self.limit} bytes; "
                         "send a shorter document or raise --max-body-mb",
                         "invalid_request_error", "body_too_large")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body within the limit and hand it on."""
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(send)
                return
            parts.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(parts)
        scope[BODY_KEY] = body
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RunLimiter:
    """At most `max_runs` runs at once; `max_queue` more may wait up to `timeout` seconds."""

    def __init__(self, max_runs: int, max_queue: int, timeout: float) -> None:
        self.max_runs, self.max_queue, self.timeout = max_runs, max_queue, timeout
        self._slots: asyncio.Semaphore | None = None
        self.running = self.waiting = 0

    async def acquire(self) -> bool:
        """Take a slot, waiting in line if allowed; False when the request must get 503."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_runs)
        if self._slots.locked() and self.waiting >= self.max_queue:
            return False
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout)
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1
        self.running += 1
        return True

    def release(self) -> None:
        """Give a slot back."""
        assert self._slots is not None
        self.running -= 1
        self._slots.release()


Check = Callable[[Scope, bytes], Awaitable[None]]
"""Raise `RequestRejected` to refuse a run request before it starts."""


class RequestRejected(Exception):
    """A run request refused by a check, with its HTTP status and message."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class RunGate:
    """For routes that start runs: check the request (4xx), then hold a run slot (or 503)."""

    def __init__(self, app: ASGIApp, limiter: RunLimiter,
                 routes: Callable[[str], Check | None]) -> None:
        self.app, self.limiter, self.routes = app, limiter, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check a run request and run it in a slot; other requests pass straight on."""
        check = self.routes(scope.get("path", "")) if scope["type"] == "http" else None
        if check is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        try:
            await check(scope, scope.get(BODY_KEY, b""))
        except RequestRejected as exc:
            await send_error(send, exc.status, exc.message, "invalid_request_error", exc.code)
            return
        if not await self.limiter.acquire():
            await send_error(send, 503, f"all {self.limiter.max_runs} run slots are busy and the "
                             "queue is full; retry later", "server_busy", "busy",
                             [(b"retry-after", b"5")])
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limiter.release()
