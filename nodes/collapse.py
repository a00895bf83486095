"""Collapse stage: merge adjacent findings in parallel rounds until they fit the reduce window.

Each round merges only as many adjacent pairs as the budget needs, but at least enough that
the rounds left can still halve the rest to one: at most ceil(log2 N) rounds for N findings.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import Send
from longcepo.nodes import llm, structured
from longcepo.nodes import store as chunk_store
from longcepo.nodes.budget import findings_budget, findings_tokens, fit_history, tokens
from longcepo.nodes.progress import emit
from longcepo.nodes.protocols import NO_INFO, own_text, parse_finding
from longcepo.nodes.render import findings_text, history_text
from longcepo.nodes.setup import pass_info
from longcepo.state import Context, EngineState, Finding, MergeTask, ProgressEvent

FINDING_OVERHEAD = 32  # header and field labels around a reply of at most max_output_tokens


def choose_pairs(sizes: list[int], budget: int, rounds_left: int, max_size: int) -> list[int]:
    """Start indexes of the adjacent pairs (0-1, 2-3, ...) to merge this round.

    A merge is expected to shrink a pair to its larger member; pairs that save most go first.
    Whatever the merges really return (at most `max_size` tokens each), `cap` of them fit the
    budget, so keeping n <= cap * 2**rounds_left guarantees the rounds suffice.
    """
    n = len(sizes)
    candidates = list(range(0, n - 1, 2))
    excess = sum(sizes) - budget
    if excess <= 0 or not candidates:
        return []
    cap = max(1, budget // max(1, max_size))
    must = max(0, n - cap * 2 ** max(rounds_left - 1, 0))
    by_saving = sorted(candidates, key=lambda i: -min(sizes[i], sizes[i + 1]))
    chosen: list[int] = []
    saved = 0
    for i in by_saving:
        if saved >= excess and len(chosen) >= must:
            break
        chosen.append(i)
        saved += min(sizes[i], sizes[i + 1])
    return sorted(chosen)


def _apply_merges(findings: list[Finding], merged: list[dict[str, Any]]) -> list[Finding]:
    by_start = {m["at"]: m["finding"] for m in merged}
    out: list[Finding] = []
    i = 0
    while i < len(findings):
        if i in by_start:
            out.append(by_start[i])
            i += 2
        else:
            out.append(findings[i])
            i += 1
    return out


def _trim_to_budget(ctx: Context, findings: list[Finding], budget: int) -> list[Finding]:
    """Last resort once the rounds are spent: keep the most confident findings that fit."""
    ranked = sorted(zip(findings, findings_tokens(ctx, findings), strict=True),
                    key=lambda p: -(p[0]["confidence"] or 0))
    kept, used = [], 0
    for finding, size in ranked:
        if used + size <= budget:
            kept.append(finding)
            used += size
    return sorted(kept, key=lambda f: f["sources"][0])


def plan_collapse(state: EngineState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Apply the last round's merges, then plan the next round or hand over to reduce."""
    ctx = runtime.context
    findings = _apply_merges(list(state["findings"]), state.get("merged") or [])
    history = fit_history(ctx, "reduce", state["question"], state["qa_history"])
    budget = findings_budget(ctx, state["question"], history)
    sizes = findings_tokens(ctx, findings)
    rounds_left = state["collapse_limit"] - state["collapse_round"]
    notes: list[str] = []
    pairs: list[int] = []
    if sum(sizes) > budget and rounds_left > 0:
        max_size = ctx.max_output_tokens + FINDING_OVERHEAD
        pairs = choose_pairs(sizes, budget, rounds_left, max_size)
        emit(runtime, ProgressEvent.COLLAPSE_ROUND, round=state["collapse_round"] + 1,
             merges=len(pairs), findings=len(findings))
    elif sum(sizes) > budget:
        kept = _trim_to_budget(ctx, findings, budget)
        notes.append(f"collapse: findings still exceeded the reduce window after "
                     f"{state['collapse_round']} rounds; kept the {len(kept)} most confident")
        findings = kept
    return {"findings": findings, "merged": None, "collapse_pairs": pairs,
            "collapse_round": state["collapse_round"] + bool(pairs), "notes": notes}


def route_collapse(state: EngineState) -> list[Send] | str:
    """One merge task per chosen pair, all in parallel; none left means reduce."""
    if not state["collapse_pairs"]:
        return "reduce"
    findings = state["findings"]
    return [
        Send("merge_pair", MergeTask(run_key=state["run_key"], pass_index=state["pass_index"],
                                     at=i, pair=[findings[i], findings[i + 1]]))
        for i in state["collapse_pairs"]
    ]


def merge_fallback(ctx: Context, pair: list[Finding]) -> Finding:
    """Merge without the model: keep both extracts (cut to the output cap), the surer answer."""
    best = max(pair, key=lambda f: f["confidence"] or 0)
    words = " ".join(f["extracted"] for f in pair).split()
    while words and tokens(ctx, " ".join(words)) > ctx.max_output_tokens // 2:
        words = words[: len(words) * 3 // 4]
    return Finding(sources=sorted({s for f in pair for s in f["sources"]}),
                   extracted=" ".join(words), rationale=best["rationale"],
                   answer=best["answer"], confidence=best["confidence"])


async def merge_pair(task: MergeTask, runtime: Runtime[Context]) -> dict[str, Any]:
    """Merge two adjacent findings into one in the same four-field protocol."""
    ctx = runtime.context
    store = chunk_store.resolve(runtime.store)
    info = await pass_info(store, task["run_key"], task["pass_index"])
    question, pair = info["question"], task["pair"]
    history = fit_history(ctx, "collapse", question, info["qa_history"])
    prompt = ctx.collapse_prompt.format(findings=findings_text(pair),
                                        qa_history=history_text(history), question=question)
    sources = sorted({s for f in pair for s in f["sources"]})
    parsed, _, usage = await llm.ask(
        ctx, "collapse", [SystemMessage(ctx.system_prompt), HumanMessage(prompt)],
        lambda text: parse_finding(text, sources, own_text(ctx, "collapse")),
        max_tokens=ctx.max_output_tokens,
        cache=chunk_store.CallCache(store, task["run_key"]),
        metadata={"pass_index": task["pass_index"], "chunks": sources},
        schema=structured.schema("collapse", ctx.max_output_tokens),
    )
    notes = []
    if parsed is None or parsed == NO_INFO:
        parsed = merge_fallback(ctx, pair)
        notes.append("collapse: a merge reply ignored the protocol; the pair was merged "
                     "without the model (extracts kept, the more confident answer chosen)")
    emit(runtime, ProgressEvent.MERGE_DONE, at=task["at"])
    return {"merged": [{"at": task["at"], "finding": parsed}], "usage": usage.as_state(),
            "notes": notes}
