"""Progress events on the graph's custom stream, for the CLI and servers to show."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from longcepo.state import ProgressEvent


def emit(runtime: Runtime[Any], event: ProgressEvent, **fields: Any) -> None:
    """Write `{"event": event, ...}` to the custom stream; a no-op when nobody listens."""
    writer = getattr(runtime, "stream_writer", None)
    if writer is not None:
        writer({"event": event, **fields})
