"""Wiring of the main LongCePO graph.

prepare -> normalize -> plan -> (next_pass -> engine -> record_answer)* -> finish
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from longcepo.graph.engine import compile_engine
from longcepo.nodes.normalize import normalize
from longcepo.nodes.passes import finish, next_pass, record_answer, route_after_pass
from longcepo.nodes.plan import plan
from longcepo.nodes.prepare import prepare
from longcepo.state import Context, InputState, LongCePOState, OutputState


def build_graph(
    checkpointer: BaseCheckpointSaver[Any] | None = None, store: BaseStore | None = None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the main graph; pass a checkpointer to make runs resumable by thread id."""
    builder = StateGraph(LongCePOState, context_schema=Context, input_schema=InputState,
                         output_schema=OutputState)
    builder.add_node("prepare", prepare)
    builder.add_node("normalize", normalize)
    builder.add_node("plan", plan)
    builder.add_node("next_pass", next_pass)
    builder.add_node("engine", compile_engine())
    builder.add_node("record_answer", record_answer)
    builder.add_node("finish", finish)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "normalize")
    builder.add_edge("normalize", "plan")
    builder.add_edge("plan", "next_pass")
    builder.add_edge("next_pass", "engine")
    builder.add_edge("engine", "record_answer")
    builder.add_conditional_edges("record_answer", route_after_pass, ["next_pass", "finish"])
    builder.add_edge("finish", END)
    return builder.compile(checkpointer=checkpointer, store=store, name="longcepo")
