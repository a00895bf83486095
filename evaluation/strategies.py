"""The four ways to answer an item: the full method, LLM x MapReduce, and two one-call baselines.

- `longcepo`: plan, then map/collapse/reduce per sub-question and for the query;
- `mapreduce`: LLM x MapReduce, i.e. the engine alone: no plan and no neighbour summaries;
- `full_context`: the whole context in one call (cut in the middle only if `full_window` is set);
- `truncated`: the context cut in the middle to the small window, in one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.memory import InMemoryStore
from longcepo.evaluation import prompts
from longcepo.evaluation.datasets import Item
from longcepo.evaluation.trim import truncate_middle
from longcepo.graph.main import build_graph
from longcepo.nodes import llm
from longcepo.nodes.budget import MARGIN, tokens
from longcepo.nodes.errors import ConfigError
from longcepo.nodes.protocols import parse_answer, salvage_answer
from longcepo.state import Context

STRATEGIES = ("longcepo", "mapreduce", "full_context", "truncated")
PIPELINES = ("longcepo", "mapreduce")


@dataclass
class Outcome:
    """One answer with what it cost; `info` holds strategy details (e.g. tokens kept)."""

    answer: str
    usage: dict[str, dict[str, int]]
    notes: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def strategy_context(strategy: str, ctx: Context) -> Context:
    """The `Context` a strategy runs with: `mapreduce` turns the plan and summaries off."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose from: {', '.join(STRATEGIES)}")
    if strategy == "mapreduce":
        return replace(ctx, use_plan=False, num_neighbor_summaries=0)
    return ctx


class Answerer:
    """Answers items by strategy; one compiled graph and in-memory store serve every item."""

    def __init__(self, full_window: int | None = None) -> None:
        self.full_window = full_window
        self._graph: CompiledStateGraph[Any, Any, Any, Any] | None = None

    @property
    def graph(self) -> CompiledStateGraph[Any, Any, Any, Any]:
        """The pipeline graph, compiled on first use (baseline-only runs never need it)."""
        if self._graph is None:
            self._graph = build_graph(store=InMemoryStore())
        return self._graph

    async def answer(self, strategy: str, item: Item, ctx: Context) -> Outcome:
        """Answer one item with `ctx` already adjusted by `strategy_context`."""
        if strategy in PIPELINES:
            return await self._pipeline(item, ctx)
        if strategy == "truncated":
            room = direct_room(ctx, item.query, ctx.max_context_window)
            return await answer_directly(ctx, item, room)
        if self.full_window is None:
            return await answer_directly(ctx, item, None)
        return await answer_directly(ctx, item, direct_room(ctx, item.query, self.full_window))

    async def _pipeline(self, item: Item, ctx: Context) -> Outcome:
        config: Any = {"max_concurrency": max(64, 4 * ctx.max_concurrency),
                       "recursion_limit": 10_000}
        result = await self.graph.ainvoke({"context": item.context, "query": item.query},
                                          config, context=ctx)
        info = {"normalized_query": result.get("normalized_query", ""),
                "sub_questions": result.get("sub_questions", []),
                "qa_history": result.get("qa_history", []),
                "supporting_chunks": len(result.get("supporting_chunks", []))}
        return Outcome(result["answer"], result.get("usage", {}), result.get("notes", []), info)


def direct_room(ctx: Context, query: str, window: int) -> int:
    """Context tokens that fit one direct prompt in `window` beside the question and output."""
    fixed = tokens(ctx, prompts.DIRECT.format(context="", question=query))
    fixed += tokens(ctx, prompts.DIRECT_SYSTEM) + MARGIN
    room = window - ctx.max_output_tokens - fixed
    if room <= 0:
        raise ConfigError(f"a {window}-token window leaves no room for the context beside the "
                          "question and the output; raise the window or lower max_output_tokens")
    return room


async def answer_directly(ctx: Context, item: Item, room: int | None) -> Outcome:
    """One call over the (possibly middle-truncated) context; parsed like a reduce reply."""
    context = item.context if room is None else truncate_middle(item.context, room,
                                                                 ctx.tokenizer_encoding)
    prompt = prompts.DIRECT.format(context=context, question=item.query)
    own = "\n".join((prompts.DIRECT, prompts.DIRECT_SYSTEM, prompts.DIRECT_REMINDER))
    answer, raw, usage = await llm.ask(
        ctx, "direct", [SystemMessage(prompts.DIRECT_SYSTEM), HumanMessage(prompt)],
        lambda text: parse_answer(text, own), max_tokens=ctx.max_output_tokens,
        temperature=ctx.temperature_reduce, reminder=prompts.DIRECT_REMINDER)
    notes = []
    if answer is None:
        answer = salvage_answer(raw, own)
        notes.append(f"direct: no 'Answer:' after {ctx.max_format_retries} re-asks; its last "
                     "paragraph was used as the answer")
    info = {"context_tokens_sent": tokens(ctx, context)}
    return Outcome(answer, usage.as_state(), notes, info)
