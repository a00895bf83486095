"""Wiring of the map/collapse/reduce engine: one question over the whole document.

setup -> summarize_chunk* -> dispatch_map -> map_chunk* -> collect_map
      -> (plan_collapse -> merge_pair*)* -> reduce
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from longcepo.nodes.collapse import merge_pair, plan_collapse, route_collapse
from longcepo.nodes.map import collect_map, map_chunk
from longcepo.nodes.reduce import reduce
from longcepo.nodes.setup import dispatch_map, route_map, route_summaries, setup
from longcepo.nodes.summarize import summarize_chunk
from longcepo.state import Context, EngineInput, EngineOutput, EngineState


def build_engine() -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled engine graph, to embed as a node or compile alone."""
    builder = StateGraph(EngineState, context_schema=Context, input_schema=EngineInput,
                         output_schema=EngineOutput)
    builder.add_node("setup", setup)
    builder.add_node("summarize_chunk", summarize_chunk)  # type: ignore[call-overload]  # Send target
    builder.add_node("dispatch_map", dispatch_map)
    builder.add_node("map_chunk", map_chunk)  # type: ignore[arg-type]  # Send target
    builder.add_node("collect_map", collect_map)
    builder.add_node("plan_collapse", plan_collapse)
    builder.add_node("merge_pair", merge_pair)  # type: ignore[arg-type]  # Send target
    builder.add_node("reduce", reduce)
    builder.add_edge(START, "setup")
    builder.add_conditional_edges("setup", route_summaries, ["summarize_chunk", "dispatch_map"])
    builder.add_edge("summarize_chunk", "dispatch_map")
    builder.add_conditional_edges("dispatch_map", route_map, ["map_chunk"])
    builder.add_edge("map_chunk", "collect_map")
    builder.add_edge("collect_map", "plan_collapse")
    builder.add_conditional_edges("plan_collapse", route_collapse, ["merge_pair", "reduce"])
    builder.add_edge("merge_pair", "plan_collapse")
    builder.add_edge("reduce", END)
    return builder


def compile_engine(**kwargs: Any) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled engine, named for traces."""
    return build_engine().compile(name="longcepo_engine", **kwargs)
