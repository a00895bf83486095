"""`longcepo optimize-prompt`: tune one prompt for a model and dataset, OPRO-style."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from dataclasses import asdict, replace
from typing import Any

from longcepo.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    CliError,
    add_model_options,
    context_from_args,
    fail,
    non_negative_int,
    positive,
    say,
)
from longcepo.cli.local import local_endpoint
from longcepo.evaluation.datasets import Item, load_dataset
from longcepo.evaluation.judge import judge_context
from longcepo.evaluation.opro import Outcome, Scored, Search, optimize, split_items
from longcepo.evaluation.strategies import PIPELINES
from longcepo.evaluation.trim import trim_item
from longcepo.local import LocalModelError, LocalServerError
from longcepo.nodes.errors import ConfigError, InputError, LLMCallError
from longcepo.runtime.prompt_file import PROMPT_KEYS, write_prompt_file
from longcepo.state import Context

EXAMPLES = """examples:
  longcepo optimize-prompt --dataset ../shared/data/hotpotqa_long_16k.jsonl.gz \\
      --dev 20 --test 20 --steps 5 --candidates 4 --out prompts/hotpotqa.json \\
      --base-url http://127.0.0.1:8000/v1 --model llama-3.3-70b
  longcepo ask --prompts prompts/hotpotqa.json --context-file doc.md --query "..."
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `optimize-prompt` subcommand's options."""
    parser.add_argument("--dataset", required=True, metavar="PATH", help="JSONL(.gz) dataset")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="prompt file to write (JSON); a .report.json goes beside it")
    parser.add_argument("--field", default="system_prompt", choices=PROMPT_KEYS,
                        help="the prompt to optimize (system_prompt)")
    parser.add_argument("--strategy", default="longcepo", choices=PIPELINES,
                        help="pipeline that scores a prompt (longcepo)")
    parser.add_argument("--metric", choices=("f1", "em", "acc", "judge"),
                        help="score to maximize (f1 for short answers, acc for multiple choice)")
    parser.add_argument("--steps", type=positive(int), default=3, help="search steps (3)")
    parser.add_argument("--candidates", type=positive(int), default=4,
                        help="new prompts proposed per step (4)")
    parser.add_argument("--keep", type=positive(int), default=8,
                        help="best prompts shown to the optimizer each step (8)")
    parser.add_argument("--dev", type=positive(int), default=10, help="dev items scored (10)")
    parser.add_argument("--test", type=positive(int), default=10,
                        help="held-out items, scored only after the search (10)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the dev/test split")
    parser.add_argument("--limit", type=positive(int), help="read only the first N items")
    parser.add_argument("--trim-tokens", type=positive(int), metavar="N",
                        help="drop distractor passages until each context is about N tokens")
    parser.add_argument("--optimizer-model", help="model proposing prompts (default: --model)")
    parser.add_argument("--optimizer-base-url", help="its endpoint (default: --base-url)")
    parser.add_argument("--optimizer-api-key", help="its API key (default: --api-key)")
    parser.add_argument("--optimizer-format-retries", type=non_negative_int, default=3,
                        help="re-asks when a proposal has no <PROMPT> block (3)")
    parser.add_argument("--judge-model", help="judge for --metric judge")
    add_model_options(parser)


def _report(outcome: Outcome, search: Search, args: argparse.Namespace, dev: list[str],
            test: list[str]) -> dict[str, Any]:
    return {
        "field": search.field, "strategy": search.strategy, "metric": search.metric,
        "model": args.model, "dataset": args.dataset, "trim_tokens": args.trim_tokens,
        "best": {"dev": outcome.best.score, "held_out": outcome.best_test,
                 "step": outcome.best.step, "prompt": outcome.best.prompt},
        "default": {"dev": outcome.default.score, "held_out": outcome.default_test},
        "dev_items": dev, "held_out_items": test,
        "history": [asdict(s) for s in outcome.history], "skipped": outcome.skipped,
    }


def _items(args: argparse.Namespace) -> list[Item]:
    items = load_dataset(args.dataset, args.limit)
    if args.trim_tokens:
        encoding = Context().tokenizer_encoding
        items = [trim_item(i, args.trim_tokens, encoding) for i in items]
    return items


async def _search(args: argparse.Namespace, ctx: Context, search: Search,
                  items: list[Item]) -> dict[str, Any]:
    search.metric = args.metric or ("acc" if items[0].kind == "mc" else "f1")
    dev, test = split_items(items, args.dev, args.test, args.split_seed)
    optimizer = replace(ctx, model=args.optimizer_model or ctx.model,
                        base_url=args.optimizer_base_url or ctx.base_url,
                        api_key=args.optimizer_api_key or ctx.api_key,
                        max_format_retries=args.optimizer_format_retries)

    def on_step(step: int, best: Scored, new: list[Scored]) -> None:
        scores = ", ".join(f"{100 * s.score:.1f}" for s in new) or "none usable"
        print(f"step {step}/{search.steps}: new {scores}; best so far {100 * best.score:.1f} "
              f"(step {best.step})", flush=True)

    outcome = await optimize(search, ctx, optimizer, dev, test, on_step=on_step)
    return _report(outcome, search, args, [i.item_id for i in dev], [i.item_id for i in test])


def main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run `optimize-prompt` with parsed arguments."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        items = _items(args)
        samples = [i.context for i in items[:4]]
        with local_endpoint(args, samples, say) as (defaults, forced):
            ctx = context_from_args(args, defaults, **forced)
            search = Search(args.field, args.strategy, steps=args.steps,
                            candidates=args.candidates, keep=args.keep,
                            concurrency=ctx.max_concurrency,
                            judge_ctx=judge_context(ctx, args.judge_model) if args.judge_model
                            else None)
            if args.metric == "judge" and search.judge_ctx is None:
                raise ConfigError("--metric judge needs --judge-model")
            report = asyncio.run(_search(args, ctx, search, items))
    except (InputError, ConfigError, TypeError, CliError, LocalModelError,
            LocalServerError) as exc:
        return fail(EXIT_BAD_INPUT, str(exc))
    except LLMCallError as exc:
        return fail(EXIT_FAILED, str(exc))
    except KeyboardInterrupt:
        return fail(EXIT_INTERRUPTED, "interrupted; nothing was written")
    out = write_prompt_file(args.out, {args.field: report["best"]["prompt"]})
    report_path = out.with_suffix(".report.json")
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")
    best, default = report["best"], report["default"]
    print(f"{report['metric']} on {len(report['held_out_items'])} held-out items: best prompt "
          f"{100 * best['held_out']:.1f} (dev {100 * best['dev']:.1f}, step {best['step']}), "
          f"default {100 * default['held_out']:.1f} (dev {100 * default['dev']:.1f})")
    print(f"prompt file: {out}\nreport: {report_path}")
    return 0
