"""Graphs exported for LangGraph Studio (`langgraph dev`) and plain Python use.

They carry no checkpointer or store: the LangGraph server supplies its own, and a plain
`await graph.ainvoke(...)` keeps chunks in process memory.
"""

from longcepo.graph.engine import compile_engine
from longcepo.graph.main import build_graph

graph = build_graph()
engine = compile_engine()
