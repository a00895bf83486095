"""LLM-as-judge accuracy: a second model decides whether an answer matches a gold answer."""

from __future__ import annotations

import re
from dataclasses import replace

from langchain_core.messages import HumanMessage, SystemMessage
from longcepo.evaluation import prompts
from longcepo.evaluation.datasets import Item
from longcepo.nodes import llm
from longcepo.state import Context

_VERDICT = re.compile(r"verdict\W*(in)?correct", re.I)
_WORD = re.compile(r"\b(in)?correct\b", re.I)


def judge_context(base: Context, model: str, base_url: str | None = None,
                  api_key: str | None = None) -> Context:
    """The judge's `Context`: the run's endpoint settings unless given, always temperature 0."""
    return replace(base, model=model, base_url=base_url or base.base_url,
                   api_key=api_key or base.api_key, seed=0)


def parse_verdict(text: str) -> float | None:
    """1.0 for CORRECT, 0.0 for INCORRECT, None when the reply says neither."""
    match = _VERDICT.search(text) or _WORD.search(text)
    if match is None:
        return None
    return 0.0 if match.group(1) else 1.0


async def judge(ctx: Context, item: Item, prediction: str) -> tuple[float | None, dict[str, int]]:
    """The judge's verdict on one answer, and the usage of asking it."""
    prompt = prompts.JUDGE.format(question=item.question, golds="\n".join(item.answers),
                                  prediction=prediction or "(empty)")
    verdict, _, usage = await llm.ask(
        ctx, "judge", [SystemMessage(prompts.JUDGE_SYSTEM), HumanMessage(prompt)], parse_verdict,
        max_tokens=64, temperature=0.0, reminder=prompts.JUDGE_REMINDER)
    return verdict, usage.as_state()["judge"]
