"""Wiring and entry points of longcepo.

from graph import graph
result = await graph.ainvoke({"context": text, "query": "..."}, context=Context(...))
"""

from graph.engine import compile_engine
from graph.main import build_graph
from graph.studio import engine as engine_graph
from graph.studio import graph

__all__ = ["build_graph", "compile_engine", "engine_graph", "graph"]
