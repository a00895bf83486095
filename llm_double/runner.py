"""`LLMDouble`: a `DoubleServer` on its own event loop in a background thread.

Sync and async tests and in-process benchmarks all talk to it over loopback HTTP, exactly as
to a real endpoint, without sharing an event loop with the code under test.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from llm_double.config import DoubleConfig
from llm_double.server import DoubleServer

logger = logging.getLogger(__name__)


class LLMDouble:
    """A `DoubleServer` on its own event loop in a daemon thread.

    Usage::

        with LLMDouble(latency=0.01, slots=4) as double:
            client = OpenAI(base_url=double.base_url, api_key="x")
            ...
            double.configure(faults=[{"stage": "map", "nth": 3, "fault": "http_500"}])
            double.log, double.stats()
    """

    def __init__(
        self,
        config: DoubleConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **settings: Any,
    ) -> None:
        base = config or DoubleConfig()
        self.server = DoubleServer(base.updated(**settings) if settings else base)
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, for `OpenAI(base_url=...)` and `ChatOpenAI(base_url=...)`."""
        return self.server.base_url

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self.server.port

    @property
    def config(self) -> DoubleConfig:
        """The current settings."""
        return self.server.config

    @property
    def log(self) -> list[dict[str, Any]]:
        """The live list of request records (see `RequestLog.append` for the fields)."""
        return self.server.requests.entries

    def start(self) -> LLMDouble:
        """Start the server thread and wait until it listens."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.server.start(self._host, self._port))
            except BaseException as exc:  # handed to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="llm-double", daemon=True)
        self._thread.start()
        if not ready.wait(30) or failure:
            cause = failure[0] if failure else None
            raise RuntimeError("the LLM double did not start") from cause
        logger.info("LLM double listening at %s", self.base_url)
        return self

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run `fn` on the server's loop and return its result (thread-safe)."""
        if self._loop is None or not self._loop.is_running():
            return fn(*args, **kwargs)

        async def call() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    def configure(self, **changes: Any) -> DoubleConfig:
        """Change latency, slots, faults, models, key or log path while running."""
        result: DoubleConfig = self._call(self.server.configure, **changes)
        return result

    def reset(self) -> None:
        """Forget the log, totals, prefix cache and fault counters."""
        self._call(self.server.reset)

    def stats(self) -> dict[str, Any]:
        """Request totals by outcome and stage, token sums, cacheable fraction, queue peaks."""
        result: dict[str, Any] = self._call(self.server.stats)
        return result

    def stop(self) -> None:
        """Stop the server (releasing hanging requests) and join its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self.server.close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> LLMDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
