"""The evaluation loop: every (item, strategy variant, run) answered once, recorded at once.

Answers run `concurrency` at a time; because `nodes.llm` bounds calls per limit value, the same
number also caps LLM calls in flight across all items. Finished answers are skipped, so
running the same command again continues where a killed or failed run stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from longcepo.evaluation.datasets import Item
from longcepo.evaluation.judge import judge
from longcepo.evaluation.metrics import score
from longcepo.evaluation.plots import write_plots
from longcepo.evaluation.progress import Bar
from longcepo.evaluation.results import ResultStore, record_key
from longcepo.evaluation.strategies import Answerer, Outcome, strategy_context
from longcepo.evaluation.summary import markdown, summarize
from longcepo.nodes.budget import validate_context
from longcepo.nodes.errors import LongcepoError
from longcepo.nodes.tokens import count_tokens
from longcepo.runtime.commands import install_hint
from longcepo.state import Context

log = logging.getLogger(__name__)
UNPINNED = frozenset({"base_url", "api_key", "max_concurrency", "request_timeout", "max_retries",
                      "retry_backoff", "retry_backoff_max"})


@dataclass(frozen=True)
class Variant:
    """A strategy with its ablation overrides, as labelled in every output."""

    strategy: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """`longcepo`, or `longcepo[use_plan=False]` for an ablation."""
        if not self.overrides:
            return self.strategy
        return f"{self.strategy}[{','.join(f'{k}={v}' for k, v in self.overrides)}]"

    def context(self, base: Context, run: int) -> Context:
        """The strategy's `Context` for one run; a fixed seed moves with the run number."""
        ctx = replace(strategy_context(self.strategy, base), **dict(self.overrides))
        if ctx.seed is not None:
            ctx = replace(ctx, seed=ctx.seed + 1000 * run)
        validate_context(ctx)
        return ctx


@dataclass(frozen=True)
class Job:
    """One answer to produce."""

    item: Item
    variant: Variant
    run: int

    @property
    def key(self) -> str:
        """Its identity in `results.jsonl`."""
        return record_key(self.item.dataset, self.item.item_id, self.variant.label, self.run)


def pinned_settings(ctx: Context, **extra: Any) -> dict[str, Any]:
    """What must match for results to be comparable: model, budgets, prompts (by hash), trim."""
    out: dict[str, Any] = {}
    for f in fields(ctx):
        if f.name in UNPINNED:
            continue
        value = getattr(ctx, f.name)
        if f.name.endswith("_prompt"):
            value = hashlib.sha256(str(value).encode()).hexdigest()[:16]
        out[f.name] = value
    return {**out, **extra}


def settings_label(settings: dict[str, Any]) -> str:
    """The line every output carries: model, window, and whether contexts were trimmed."""
    trim = settings.get("trim_tokens")
    shortened = (f"contexts TRIMMED to about {trim} tokens (distractor passages dropped, gold "
                 "passages kept; --trim-tokens)" if trim else "full contexts (not trimmed)")
    model = f"`{settings['model']}`"
    if settings.get("local_model"):
        model += f" (`{settings['local_model']}` through llama.cpp)"
    return (f"Model {model}, window {settings['max_context_window']}, chunk "
            f"{settings['chunk_size']}, output cap {settings['max_output_tokens']}; {shortened}.")


def plan_jobs(items: Sequence[Item], variants: Sequence[Variant], runs: int) -> list[Job]:
    """Run 0 of everything first, so an interrupted evaluation still covers every item."""
    return [Job(item, variant, run) for run in range(runs) for item in items
            for variant in variants]


async def answer_job(job: Job, base: Context, answerer: Answerer, judge_ctx: Context | None,
                     settings: dict[str, Any]) -> dict[str, Any]:
    """Answer, score and account for one job; a failure becomes the record's `error`."""
    item = job.item
    start = time.monotonic()
    error = None
    try:
        ctx = job.variant.context(base, job.run)
        outcome = await answerer.answer(job.variant.strategy, item, ctx)
    except LongcepoError as exc:
        outcome, error = Outcome("", {}), str(exc)
    except Exception as exc:  # noqa: BLE001 - kept in the record; the run goes on
        log.exception("%s failed unexpectedly", job.key)
        outcome, error = Outcome("", {}), f"{type(exc).__name__}: {exc}"
    wall = time.monotonic() - start
    usage = outcome.usage
    record: dict[str, Any] = {
        "key": job.key, "dataset": item.dataset, "item_id": item.item_id, "kind": item.kind,
        "strategy": job.variant.strategy, "variant": job.variant.label, "run": job.run,
        "model": settings["model"], "trim_tokens": settings.get("trim_tokens"),
        "context_tokens": count_tokens(item.context, base.tokenizer_encoding),
        "question": item.question, "answer": outcome.answer, "golds": list(item.answers),
        "scores": {} if error else score(item.kind, outcome.answer, item.answers),
        "judge": None, "usage": usage,
        "calls": sum(c.get("calls", 0) for c in usage.values()),
        "prompt_tokens": sum(c.get("prompt_tokens", 0) for c in usage.values()),
        "completion_tokens": sum(c.get("completion_tokens", 0) for c in usage.values()),
        "wall_s": round(wall, 3), "notes": outcome.notes, "info": outcome.info, "error": error,
    }
    record["tokens"] = record["prompt_tokens"] + record["completion_tokens"]
    if judge_ctx is not None and item.kind == "qa" and not error:
        try:
            record["judge"], record["judge_usage"] = await judge(judge_ctx, item, outcome.answer)
        except LongcepoError as exc:
            record["error"] = f"judge: {exc}"
    return record


def _progress_note(record: dict[str, Any]) -> str:
    if record["error"]:
        return f"{record['dataset']}/{record['variant']}: error"
    shown = " ".join(f"{k} {v:.2f}" for k, v in record["scores"].items())
    return f"{record['dataset']}/{record['variant']} run {record['run']}: {shown}"


async def evaluate(jobs: Sequence[Job], store: ResultStore, base: Context, *,
                   concurrency: int, answerer: Answerer | None = None,
                   judge_ctx: Context | None = None, quiet: bool = False) -> list[dict[str, Any]]:
    """Answer every job not finished in `store`; return the records written now."""
    answerer = answerer or Answerer()
    pending = [j for j in jobs if not store.finished(j.key)]
    bar = Bar(len(jobs), done=len(jobs) - len(pending), quiet=quiet)
    gate = asyncio.Semaphore(concurrency)
    written: list[dict[str, Any]] = []

    async def run(job: Job) -> None:
        async with gate:
            record = await answer_job(job, base, answerer, judge_ctx, store.settings)
        store.add(record)
        written.append(record)
        bar.advance(_progress_note(record), failed=bool(record["error"]))

    try:
        await asyncio.gather(*(run(j) for j in pending))
    finally:
        bar.close()
    return written


def write_summary(store: ResultStore) -> tuple[Path, list[Path]]:
    """`summary.md` and the plots from every record in the folder."""
    label = settings_label(store.settings)
    rows = summarize(store.records.values())
    plots = write_plots(rows, store.folder, label.replace("`", ""))
    text = markdown(rows, label)
    if plots:
        text += "\n## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in plots) + "\n"
    else:
        text += f"\nNo plots: matplotlib is not installed (`{install_hint('eval')}`).\n"
    path = store.folder / "summary.md"
    path.write_text(text, encoding="utf-8")
    return path, plots
