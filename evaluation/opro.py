"""OPRO-style prompt optimization (Yang et al., 2023) for one `Context` prompt field.

Each step shows the optimizer model the best prompts so far with their dev scores, asks it for
K new ones, scores each on the dev split and keeps the best. Only after the search are the
winner and the default scored on the held-out split, which the search never sees.
"""

from __future__ import annotations

import asyncio
import random
import re
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from longcepo.evaluation import prompts
from longcepo.evaluation.datasets import Item
from longcepo.evaluation.judge import judge
from longcepo.evaluation.metrics import score
from longcepo.evaluation.strategies import Answerer, strategy_context
from longcepo.nodes import llm
from longcepo.nodes.budget import check_templates, validate_context
from longcepo.nodes.errors import ConfigError, InputError
from longcepo.state import PROMPT_FIELDS, Context

_PROPOSAL = re.compile(r"<\s*PROMPT\s*>(.*?)(?:<\s*/\s*PROMPT\s*>|$)", re.S | re.I)
EXAMPLES_SHOWN = 3


@dataclass(frozen=True)
class Scored:
    """A prompt, its mean dev score (0-1) and the step that proposed it (0: the default)."""

    prompt: str
    score: float
    step: int


@dataclass
class Search:
    """What the optimizer does: which field, with which strategy and metric, how long."""

    field: str
    strategy: str = "longcepo"
    metric: str = "f1"
    steps: int = 3
    candidates: int = 4
    keep: int = 8
    concurrency: int = 4
    judge_ctx: Context | None = None


@dataclass
class Outcome:
    """The search's result: the winner and the default on both splits, and every candidate."""

    best: Scored
    default: Scored
    best_test: float
    default_test: float
    history: list[Scored] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def split_items(items: Sequence[Item], dev: int, test: int, seed: int = 0
                ) -> tuple[list[Item], list[Item]]:
    """Disjoint dev and held-out splits drawn with a seed."""
    if dev + test > len(items):
        raise InputError(f"--dev {dev} plus --test {test} needs {dev + test} items but the "
                         f"dataset gave {len(items)}; lower them or raise --limit")
    shuffled = list(items)
    random.Random(f"split:{seed}").shuffle(shuffled)
    return shuffled[:dev], shuffled[dev:dev + test]


def parse_proposal(text: str) -> str | None:
    """The prompt between `<PROMPT>` tags (closing tag optional); None if there is none."""
    match = _PROPOSAL.search(text)
    proposal = match.group(1).strip() if match else ""
    return proposal or None


def meta_prompt(search: Search, model: str, kept: Sequence[Scored], examples: Sequence[Item]
                ) -> str:
    """The optimizer's prompt: the kept prompts worst first, with scores, and a few questions."""
    shown = "\n\n".join(prompts.SCORED_PROMPT.format(prompt=s.prompt, score=100 * s.score)
                        for s in sorted(kept, key=lambda s: s.score))
    lines = "\n".join(f"- {i.question} (answer: {i.answers[0]})" for i in examples)
    names = PROMPT_FIELDS.get(search.field, ())
    rule = (prompts.PLACEHOLDER_RULE.format(names=", ".join("{" + n + "}" for n in names))
            if names else "")
    return prompts.OPTIMIZER.format(field=search.field, model=model,
                                    role=prompts.ROLES.get(search.field, ""), metric=search.metric,
                                    scored_prompts=shown, examples=lines, placeholders=rule)


class Scorer:
    """Mean metric of a prompt on a split of items."""

    def __init__(self, search: Search, base: Context, answerer: Answerer | None = None) -> None:
        self.search, self.base = search, base
        self.answerer = answerer or Answerer()

    async def __call__(self, prompt: str, items: Sequence[Item]) -> float:
        """Answer every item with `prompt` in the searched field and average the metric."""
        changes: dict[str, Any] = {self.search.field: prompt}
        ctx = replace(strategy_context(self.search.strategy, self.base), **changes)
        validate_context(ctx)
        gate = asyncio.Semaphore(self.search.concurrency)

        async def one(item: Item) -> float:
            async with gate:
                outcome = await self.answerer.answer(self.search.strategy, item, ctx)
                if self.search.metric == "judge":
                    if self.search.judge_ctx is None:
                        raise ConfigError("--metric judge needs --judge-model")
                    verdict, _ = await judge(self.search.judge_ctx, item, outcome.answer)
                    return verdict or 0.0
                return score(item.kind, outcome.answer, item.answers).get(self.search.metric, 0.0)

        return statistics.fmean(await asyncio.gather(*(one(i) for i in items)))


async def propose(optimizer: Context, meta: str, count: int, step: int
                  ) -> list[tuple[str | None, str]]:
    """`count` proposals with the optimizer's raw replies, at temperature 1.

    Each call gets its own seed when a seed is set, so the proposals differ.
    """

    async def one(i: int) -> tuple[str | None, str]:
        ctx = optimizer if optimizer.seed is None else replace(
            optimizer, seed=optimizer.seed + 100 * step + i)
        proposal, raw, _ = await llm.ask(
            ctx, "optimize", [SystemMessage(prompts.OPTIMIZER_SYSTEM), HumanMessage(meta)],
            parse_proposal, max_tokens=max(512, optimizer.max_output_tokens), temperature=1.0,
            reminder=prompts.OPTIMIZER_REMINDER)
        return proposal, raw

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def _usable(search: Search, proposal: str | None, pool: Sequence[Scored]) -> str | None:
    """Why a proposal is skipped, or None when it can be scored."""
    if proposal is None:
        return "no <PROMPT> block in the reply"
    if any(proposal == s.prompt for s in pool):
        return "a repeat of a prompt already scored"
    try:
        check_templates({search.field: proposal})
    except ConfigError as exc:
        return str(exc)
    return None


async def optimize(search: Search, base: Context, optimizer: Context, dev: Sequence[Item],
                   test: Sequence[Item], *, scorer: Scorer | None = None,
                   on_step: Callable[[int, Scored, list[Scored]], Awaitable[None] | None]
                   | None = None) -> Outcome:
    """Run the search on `dev`, then score the winner and the default on `test`."""
    scorer = scorer or Scorer(search, base)
    default_prompt = str(getattr(base, search.field))
    default = Scored(default_prompt, await scorer(default_prompt, dev), 0)
    pool, skipped = [default], []
    for step in range(1, search.steps + 1):
        kept = sorted(pool, key=lambda s: -s.score)[: search.keep]
        meta = meta_prompt(search, base.model, kept, dev[:EXAMPLES_SHOWN])
        new: list[Scored] = []
        for proposal, raw in await propose(optimizer, meta, search.candidates, step):
            reason = _usable(search, proposal, [*pool, *new])
            if reason is not None or proposal is None:
                excerpt = " ".join(raw.split())[:160]
                skipped.append(f"step {step}: {reason} (reply began: {excerpt!r})")
                continue
            new.append(Scored(proposal, await scorer(proposal, dev), step))
        pool += new
        if on_step is not None:
            waiting = on_step(step, best_of(pool), new)
            if waiting is not None:
                await waiting
    best = best_of(pool)
    best_test = await scorer(best.prompt, test)
    default_test = best_test if best is default else await scorer(default_prompt, test)
    return Outcome(best, default, best_test, default_test, pool, skipped)


def best_of(pool: Sequence[Scored]) -> Scored:
    """The highest dev score; the earliest wins a tie, so the default holds unless beaten."""
    return max(pool, key=lambda s: s.score)
