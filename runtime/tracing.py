"""LangSmith tracing that can never hold a process hostage.

Tracing is on when the user sets `LANGSMITH_TRACING=true` (LangChain's own switch). By
default a failing endpoint costs seconds to minutes at exit: an endpoint that refuses
connections about 22 s of retries, one that never answers over 8 minutes. Here the client gets
short timeouts, no transport retries and daemon threads, and the exit flush waits a bounded
time; traces that cannot be sent by then are dropped with one warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from longcepo.env import env, tracing_requested

log = logging.getLogger(__name__)
FLUSH_TIMEOUT_ENV = "LONGCEPO_TRACE_FLUSH_TIMEOUT"


def flush_timeout(default: float = 3.0) -> float:
    """Seconds the exit flush may take (env LONGCEPO_TRACE_FLUSH_TIMEOUT)."""
    try:
        return max(0.0, float(env(FLUSH_TIMEOUT_ENV) or default))
    except ValueError:
        return default


def configure_client() -> None:
    """Create LangSmith's shared client with bounded timeouts, before anything traces.

    `get_cached_client` keeps the first client made, and every LangChain tracer uses it.
    """
    os.environ.setdefault("LANGSMITH_USE_DAEMON", "true")
    from langsmith.run_trees import get_cached_client
    from urllib3.util import Retry

    get_cached_client(timeout_ms=(2_000, 5_000), retry_config=Retry(total=0))


def flush(timeout: float) -> None:
    """Send what is queued, waiting at most `timeout` seconds."""
    from langsmith.run_trees import get_cached_client

    client = get_cached_client()
    client.flush(timeout=timeout)
    queue = client.tracing_queue
    if queue is not None and queue.unfinished_tasks:
        log.warning("LangSmith traces could not be sent within %.0fs and were dropped; "
                    "check LANGSMITH_ENDPOINT", timeout)


@contextmanager
def bounded_tracing(timeout: float | None = None) -> Iterator[None]:
    """Trace the block if the user asked for it, and flush for at most `timeout` at the end."""
    if not tracing_requested():
        yield
        return
    configure_client()
    try:
        yield
    finally:
        flush(flush_timeout() if timeout is None else timeout)
