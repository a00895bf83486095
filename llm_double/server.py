"""The OpenAI-compatible HTTP server of the double (asyncio; `runner.LLMDouble` hosts it).

Routing, the latency model, fault injection, prefix-cache accounting and the request log meet
here; each of those lives in its own module.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llm_double import reader, structured, wire
from llm_double.config import DoubleConfig
from llm_double.faults import FaultPlan
from llm_double.prefix_cache import PrefixCache, TokenCounter
from llm_double.requestlog import RequestLog
from llm_double.slots import SlotGate

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "llm-double"
STAGE_HEADER = "x-longcepo-stage"
_PIECE_RE = re.compile(r"\S+\s*|\s+")
_WORDS_PER_PIECE = 3
_FAULT_CHANGES = {"faults", "fault_rates", "fault_sequence", "seed"}
_CACHE_CHANGES = {"prefix_block_size", "prefix_cache_blocks", "exact_tokens"}


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    """An error payload in OpenAI's shape, which the openai client turns into exceptions."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def prompt_digest(messages: Sequence[Mapping[str, Any]]) -> str:
    """A short, stable digest of a conversation (roles and contents)."""
    h = hashlib.sha1(usedforsecurity=False)
    for m in messages:
        h.update(str(m.get("role")).encode() + b"\x00")
        h.update(reader.message_text(m).encode("utf-8", "replace") + b"\x01")
    return h.hexdigest()[:12]


class DoubleServer:
    """The asyncio HTTP server. Use it from one event loop; `LLMDouble` hosts it on a thread."""

    def __init__(self, config: DoubleConfig | None = None) -> None:
        self.config = config or DoubleConfig()
        self.faults = FaultPlan(self.config)
        self.gate = SlotGate(self.config.slots)
        self.cache = PrefixCache(self.config.prefix_block_size, self.config.prefix_cache_blocks)
        self.tokens = TokenCounter(self.config.exact_tokens, self.config.prefix_block_size)
        self.requests = RequestLog(self.config.log_path, keep=self.config.keep_log)
        self.host = "127.0.0.1"
        self.port = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections_opened = 0
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, with `/v1`."""
        return f"http://{self.host}:{self.port}/v1"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on `host:port` (port 0: a free one, read back into `self.port`)."""
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(
            self._connection, host, port, limit=wire.MAX_HEAD_BYTES
        )
        sock = self._server.sockets[0].getsockname()
        self.host, self.port = sock[0], sock[1]

    async def close(self) -> None:
        """Stop listening, release hanging requests and close every connection."""
        if self._stopping is not None:
            self._stopping.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self.requests.close()

    def configure(self, **changes: Any) -> DoubleConfig:
        """Change settings now; fault counters restart when any fault setting changes."""
        old, new = self.config, self.config.updated(**changes)
        self.config = new
        if _FAULT_CHANGES & changes.keys():
            self.faults = FaultPlan(new)
        else:
            self.faults.config = new
        if new.slots != old.slots:
            self.gate.resize(new.slots)
        if _CACHE_CHANGES & changes.keys():
            self.cache = PrefixCache(new.prefix_block_size, new.prefix_cache_blocks)
            self.tokens = TokenCounter(new.exact_tokens, new.prefix_block_size)
        if new.log_path != old.log_path:
            self.requests.reopen(new.log_path)
        self.requests.keep = new.keep_log
        return new

    def reset(self) -> None:
        """Forget the log, totals, prefix cache and fault counters; keep the settings."""
        self.requests.clear()
        self.cache.clear()
        self.faults = FaultPlan(self.config)
        self.max_in_flight = self.in_flight
        self.connections_opened = 0

    def stats(self) -> dict[str, Any]:
        """Totals of the request log plus live queue and cache numbers."""
        return {
            **self.requests.totals(),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "connections_opened": self.connections_opened,
            "queued": self.gate.waiting,
            "prefix_cache_blocks": len(self.cache),
        }

    # -- connections -------------------------------------------------------------------------

    async def _connection(self, rd: asyncio.StreamReader, wr: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        counted = False  # a client's connections only: the /_double/ control routes are not
        try:
            while True:
                try:
                    request = await wire.read_request(rd)
                except wire.BadRequest as exc:
                    wr.write(
                        wire.response(
                            400, error_body(str(exc), "invalid_request_error"), keep_alive=False
                        )
                    )
                    break
                if request is not None and not counted and not request.path.startswith("/_"):
                    counted = True
                    self.connections_opened += 1
                if request is None or not await self._route(request, rd, wr):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # the server is closing; ending quietly keeps asyncio's stream callback quiet
        finally:
            self._connections.discard(task)
            wr.close()

    async def _route(
        self, req: wire.HttpRequest, rd: asyncio.StreamReader, wr: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must close."""
        path = req.path.rstrip("/")
        if req.method == "POST" and path.endswith("/chat/completions"):
            return await self._chat(req, rd, wr)
        if req.method == "GET" and (path.endswith("/models") or "/models/" in path):
            return await self._send(wr, req, *self._models(path))
        if path.startswith("/_double/"):
            return await self._send(wr, req, *self._control(req, path))
        if path in ("/health", "/v1/health"):
            return await self._send(wr, req, 200, {"status": "ok"})
        body = error_body(f"no route {req.method} {req.path}", "invalid_request_error")
        return await self._send(wr, req, 404, body)

    async def _send(
        self,
        wr: asyncio.StreamWriter,
        req: wire.HttpRequest,
        status: int,
        payload: Any,
        headers: Sequence[tuple[str, str]] = (),
    ) -> bool:
        wr.write(wire.response(status, payload, keep_alive=req.keep_alive, headers=headers))
        await wr.drain()
        return req.keep_alive

    def _models(self, path: str) -> tuple[int, Any]:
        names = self.config.models or (DEFAULT_MODEL,)
        cards = {
            n: {"id": n, "object": "model", "created": 0, "owned_by": "llm-double"} for n in names
        }
        if "/models/" in path:
            name = path.split("/models/", 1)[1]
            if name in cards or self.config.models is None:
                return 200, cards.get(name) or {**cards[DEFAULT_MODEL], "id": name}
            return 404, self._unknown_model(name)
        return 200, {"object": "list", "data": list(cards.values())}

    @staticmethod
    def _unknown_model(name: str) -> dict[str, Any]:
        return error_body(
            f"The model `{name}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )

    def _control(self, req: wire.HttpRequest, path: str) -> tuple[int, Any]:
        """Settings, stats and log over HTTP, for a double running in another process."""
        try:
            if path == "/_double/configure" and req.method == "POST":
                return 200, self.configure(**(req.json() or {})).to_dict()
            if path == "/_double/reset" and req.method == "POST":
                self.reset()
                return 200, {"reset": True}
            if path == "/_double/stats":
                return 200, self.stats()
            if path == "/_double/log":
                return 200, self.requests.entries
            if path == "/_double/config":
                return 200, self.config.to_dict()
        except (TypeError, ValueError, KeyError) as exc:
            return 400, error_body(str(exc), "invalid_request_error")
        return 404, error_body(f"no control route {path}", "invalid_request_error")

    # -- chat completions ----------------------------------------------------------------------

    def _admit(self, req: wire.HttpRequest) -> tuple[dict[str, Any], None] | tuple[None, Any]:
        """(parsed body, None), or (None, (status, error)) for a request refused outright."""
        cfg = self.config
        if cfg.api_key is not None and req.headers.get("authorization") != f"Bearer {cfg.api_key}":
            return None, (
                401,
                error_body(
                    "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
                ),
            )
        try:
            body = req.json()
            messages = body["messages"]
            if not isinstance(messages, list) or not messages:
                raise ValueError("messages must be a non-empty list")
        except (ValueError, KeyError, TypeError) as exc:
            return None, (400, error_body(f"invalid body: {exc}", "invalid_request_error"))
        model = str(body.get("model", ""))
        if cfg.models is not None and model not in cfg.models:
            return None, (404, self._unknown_model(model))
        return body, None

    async def _chat(
        self, req: wire.HttpRequest, rd: asyncio.StreamReader, wr: asyncio.StreamWriter
    ) -> bool:
        started_wall, started = time.time(), time.perf_counter()
        body, refusal = self._admit(req)
        if body is None:
            status, error = refusal if refusal is not None else (500, {})
            self._log(started_wall, started, "rejected", "unknown", None, {}, status=status)
            return await self._send(wr, req, status, error)
        messages = body["messages"]
        hint = req.headers.get(STAGE_HEADER)
        reading = reader.read(messages, hint)
        stage = hint or reading.stage
        digest = prompt_digest(messages)
        fault = self.faults.choose(stage, digest)
        base = {
            "model": body.get("model"),
            "stream": bool(body.get("stream")),
            "detected_stage": reading.stage,
            "digest": digest,
            "temperature": body.get("temperature"),
            "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens"),
        }
        asked = structured.form_of(body.get("response_format"))
        if asked is not None:
            base["response_format"] = asked
        if asked is not None and asked not in self.config.response_formats:
            status = self.config.refusal_status
            self._log(started_wall, started, "refused", stage, None, base, status=status)
            message = f"response_format type {asked!r} is not supported here"
            return await self._send(wr, req, status, error_body(message, "invalid_request_error"))
        if fault == "http_429":
            retry = self.config.retry_after
            headers = [] if retry is None else [("Retry-After", f"{retry:g}")]
            self._log(started_wall, started, fault, stage, None, base, status=429)
            body_429 = error_body(
                "Rate limit reached (injected by the test double).",
                "requests",
                "rate_limit_exceeded",
            )
            return await self._send(wr, req, 429, body_429, headers)
        if fault == "hang":
            await self._hang(rd)
            self._log(started_wall, started, fault, stage, None, base)
            return False
        queued = time.perf_counter()
        await self.gate.acquire()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        outcome = fault or "ok"
        usage: dict[str, Any] = {}
        logged = False

        def record() -> None:
            """Log just before the last bytes go out, so a client never sees a reply first."""
            nonlocal logged
            if not logged:
                logged = True
                status = {"http_500": 500, "drop": None}.get(outcome, 200)
                self._log(started_wall, started, outcome, stage, usage, base, status=status)

        try:
            base["queue_s"] = round(time.perf_counter() - queued, 6)
            prompt_tokens, blocks = self.tokens.prompt(messages)
            cached = min(self.cache.admit(blocks), prompt_tokens)
            usage = {"prompt_tokens": prompt_tokens, "cached_prefix_tokens": cached}
            if fault in ("http_500", "drop"):
                if self.config.latency:
                    await asyncio.sleep(self.config.latency)
                record()
                if fault == "drop":
                    wr.transport.abort()
                    return False
                body_500 = error_body(
                    "The server had an error (injected by the test double).", "server_error"
                )
                return await self._send(wr, req, 500, body_500)
            text = {"malformed": reading.malformed, "empty": ""}.get(outcome, reading.text)
            if asked is not None and outcome == "ok":
                text = structured.as_json(text, structured.schema_of(body["response_format"]))
            return await self._complete(req, wr, body, text, (prompt_tokens, cached), usage, record)
        finally:
            self.in_flight -= 1
            self.gate.release()
            record()  # the client went away before the reply was done

    async def _complete(
        self,
        req: wire.HttpRequest,
        wr: asyncio.StreamWriter,
        body: Mapping[str, Any],
        text: str,
        prompt: tuple[int, int],
        usage: dict[str, Any],
        record: Callable[[], None],
    ) -> bool:
        """Send the reply after the modelled latency, as one JSON body or an SSE stream.

        `prompt` is (prompt tokens, cached prefix tokens); `usage` is filled in for the log and
        `record` called just before the reply's last bytes are written.
        """
        cfg = self.config
        prompt_tokens, cached = prompt
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        text, completion_tokens, cut = self.tokens.reply(text, int(limit) if limit else None)
        finish = "length" if cut else "stop"
        usage["completion_tokens"] = completion_tokens
        usage["finish_reason"] = finish
        prefill = cfg.latency + cfg.latency_per_prompt_token * prompt_tokens
        decode = cfg.latency_per_completion_token * completion_tokens
        usage_body = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        model = str(body.get("model") or DEFAULT_MODEL)
        head = {
            "id": f"chatcmpl-double-{next(self._ids)}",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
        }
        if not body.get("stream"):
            if prefill + decode > 0:
                await asyncio.sleep(prefill + decode)
            record()
            message = {"role": "assistant", "content": text, "refusal": None}
            payload = {
                **head,
                "object": "chat.completion",
                "usage": usage_body,
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
            }
            return await self._send(wr, req, 200, payload)
        if prefill > 0:
            await asyncio.sleep(prefill)
        options = body.get("stream_options") or {}
        await self._stream(
            wr,
            req,
            head,
            text,
            finish,
            decode,
            usage_body if options.get("include_usage") else None,
            record,
        )
        return req.keep_alive

    async def _stream(
        self,
        wr: asyncio.StreamWriter,
        req: wire.HttpRequest,
        head: dict[str, Any],
        text: str,
        finish: str,
        decode_s: float,
        usage: dict[str, Any] | None,
        record: Callable[[], None],
    ) -> None:
        """Write the reply as OpenAI chunk events, spreading decode time over the pieces."""
        words = _PIECE_RE.findall(text)
        pieces = [
            "".join(words[i : i + _WORDS_PER_PIECE]) for i in range(0, len(words), _WORDS_PER_PIECE)
        ]
        extra = {"usage": None} if usage is not None else {}

        def event(delta: dict[str, Any], reason: str | None = None) -> bytes:
            return wire.sse_chunk(
                {
                    **head,
                    "object": "chat.completion.chunk",
                    **extra,
                    "choices": [
                        {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
                    ],
                }
            )

        wr.write(wire.stream_head(keep_alive=req.keep_alive))
        wr.write(event({"role": "assistant", "content": ""}))
        pause = decode_s / len(pieces) if pieces else 0.0
        for piece in pieces:
            if pause > 0:
                await wr.drain()
                await asyncio.sleep(pause)
            wr.write(event({"content": piece}))
        record()
        wr.write(event({}, finish))
        if usage is not None:
            wr.write(
                wire.sse_chunk(
                    {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
                )
            )
        wr.write(wire.sse_chunk("[DONE]"))
        wr.write(wire.LAST_CHUNK)
        await wr.drain()

    async def _hang(self, rd: asyncio.StreamReader) -> None:
        """Wait until the client gives up (closes the connection) or the server stops."""
        assert self._stopping is not None
        waiters = [asyncio.ensure_future(rd.read(1)), asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    def _log(
        self,
        wall: float,
        started: float,
        outcome: str,
        stage: str,
        usage: Mapping[str, Any] | None,
        base: Mapping[str, Any],
        status: int | None = None,
    ) -> None:
        usage = usage or {}
        self.requests.append(
            {
                "ts": round(wall, 6),
                "stage": stage,
                "outcome": outcome,
                "status": status,
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": usage.get("completion_tokens", 0),
                "cached_prefix_tokens": usage.get("cached_prefix_tokens", 0),
                "latency_s": round(time.perf_counter() - started, 6),
                **base,
                **({"finish_reason": usage["finish_reason"]} if "finish_reason" in usage else {}),
            }
        )
