"""Compiled graphs of longcepo.

`graph` and `engine_graph` carry no checkpointer, so `langgraph dev` (Studio) can load them;
the CLI and servers call `build_graph(checkpointer=..., store=...)`.
"""

from graph.engine import compile_engine
from graph.main import build_graph

graph = build_graph()
engine_graph = compile_engine()

__all__ = ["build_graph", "compile_engine", "engine_graph", "graph"]
