"""Wiring of the method: the main graph, the map/collapse/reduce engine, the Studio export.

    from longcepo.graph import graph
    result = await graph.ainvoke({"context": text, "query": "..."}, context=Context(...))

`graph` and `engine_graph` are compiled on first use, never at import.
"""

from __future__ import annotations

from typing import Any

from longcepo.graph.engine import compile_engine
from longcepo.graph.main import build_graph

__all__ = ["build_graph", "compile_engine", "engine_graph", "graph"]


def __getattr__(name: str) -> Any:
    """Compile the exported graphs on first use (`langgraph dev` imports `studio` directly)."""
    if name not in ("graph", "engine_graph"):
        raise AttributeError(f"module 'longcepo.graph' has no attribute {name!r}")
    from longcepo.graph import studio

    return studio.graph if name == "graph" else studio.engine
