"""`longcepo eval`: answer a dataset with each strategy, score it, and write results and plots."""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import MISSING, Field, fields, replace
from itertools import product
from pathlib import Path
from typing import Any

from longcepo.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    CliError,
    add_model_options,
    context_from_args,
    fail,
    positive,
    say,
)
from longcepo.cli.local import local_endpoint
from longcepo.evaluation.datasets import Item, load_dataset
from longcepo.evaluation.judge import judge_context
from longcepo.evaluation.results import ResultStore
from longcepo.evaluation.runner import Variant, evaluate, pinned_settings, plan_jobs, write_summary
from longcepo.evaluation.strategies import STRATEGIES, Answerer
from longcepo.evaluation.trim import trim_item
from longcepo.local import LocalModelError, LocalServerError
from longcepo.nodes.errors import ConfigError, InputError
from longcepo.state import Context

ABLATIONS = ("use_plan", "num_neighbor_summaries", "summary_scope")
NOT_SETTABLE = ("base_url", "api_key", "model")
SAMPLE_ITEMS = 4
"""Contexts a local model's token ratio is measured on."""
EXAMPLES = """examples:
  longcepo eval --dataset ../shared/data/hotpotqa_long_16k.jsonl.gz --strategy all --runs 5 \\
      --base-url http://127.0.0.1:8000/v1 --model llama-3.3-70b --out eval/hotpotqa
  longcepo eval --dataset musique.jsonl.gz --strategy longcepo --set use_plan=false  (ablation)
  longcepo eval --dataset musique.jsonl.gz --strategy longcepo \\
      --set structured_output=on --set structured_output=off  (JSON replies against text)
  longcepo eval --dataset hotpotqa.jsonl.gz --strategy all --limit 5 --trim-tokens 4000
  longcepo eval --dataset hotpotqa.jsonl.gz --strategy all --limit 5 --trim-tokens 4000 \
      --model local --window 2048 --chunk-size 1024   (the bundled model, offline)
Running the same command again continues: finished answers are kept, failed ones retried.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `eval` subcommand's options."""
    parser.add_argument("--dataset", action="append", required=True, metavar="PATH",
                        help="HotpotQA/MuSiQue or LongBench v2 JSONL(.gz); repeat for more")
    parser.add_argument("--strategy", action="append", required=True, metavar="S",
                        help=f"{', '.join(STRATEGIES)} or all; comma-separated or repeated")
    parser.add_argument("--limit", type=positive(int), help="first N items of each dataset")
    parser.add_argument("--runs", type=positive(int), default=1,
                        help="runs per item, for mean ± std and majority vote (1)")
    parser.add_argument("--out", default="eval-results", metavar="DIR",
                        help="results folder; running again into it resumes (eval-results)")
    parser.add_argument("--trim-tokens", type=positive(int), metavar="N",
                        help="drop distractor passages until each context is about N tokens")
    parser.add_argument("--full-window", type=positive(int), metavar="N",
                        help="full_context: cut the context in the middle to fit N tokens")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        dest="overrides", help="ablation: set a Context field, e.g. "
                        "use_plan=false, num_neighbor_summaries=0; labelled in every output; "
                        "a field set twice runs one variant per value")
    parser.add_argument("--judge-model", help="also score short answers with this LLM judge")
    parser.add_argument("--judge-base-url", help="judge endpoint (default: --base-url)")
    parser.add_argument("--judge-api-key", help="judge API key (default: --api-key)")
    add_model_options(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def parse_value(text: str) -> Any:
    """`true`/`false`, `none`, numbers, or text, for `--set`."""
    lowered = text.strip().lower()
    if lowered in ("true", "false", "on", "off", "yes", "no"):
        return lowered in ("true", "on", "yes")
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _override(pair: str, known: dict[str, Field[Any]]) -> tuple[str, Any]:
    """One `FIELD=VALUE`, checked against the field's type and its choices."""
    name, sep, raw = pair.partition("=")
    name = name.strip()
    if not sep or name not in known or name in NOT_SETTABLE:
        allowed = ", ".join(n for n in known if n not in NOT_SETTABLE)
        raise CliError(f"--set {pair!r}: expected FIELD=VALUE with FIELD one of: {allowed}")
    default, choices = known[name].default, known[name].metadata.get("choices")
    value = raw.strip() if isinstance(default, str) else parse_value(raw)
    if choices and value not in choices:
        raise CliError(f"--set {name}: expected one of {', '.join(choices)}, got {raw!r}")
    if (default is not MISSING and default is not None and value is not None
            and isinstance(default, bool) != isinstance(value, bool)):
        raise CliError(f"--set {name}: expected {type(default).__name__}, got {raw!r}")
    return name, float(value) if isinstance(default, float) and isinstance(value, int) else value


def parse_overrides(pairs: list[str]) -> list[dict[str, Any]]:
    """`--set FIELD=VALUE` pairs as the variants to run, each a dict of settings.

    A field set more than once gives one variant per value (`--set structured_output=on --set
    structured_output=off` compares the two in one command); several such fields, every
    combination.
    """
    known = {f.name: f for f in fields(Context)}
    values: dict[str, list[Any]] = {}
    for pair in pairs:
        name, value = _override(pair, known)
        if value not in values.setdefault(name, []):
            values[name].append(value)
    return [dict(zip(values, combo, strict=True)) for combo in product(*values.values())]


def strategies(raw: list[str]) -> list[str]:
    """The strategies asked for, in the canonical order."""
    names = {s.strip() for chunk in raw for s in chunk.split(",") if s.strip()}
    if "all" in names:
        names = set(STRATEGIES)
    unknown = sorted(names - set(STRATEGIES))
    if unknown or not names:
        raise CliError(f"unknown strategy {', '.join(unknown) or '(none)'}; choose from: "
                       f"{', '.join(STRATEGIES)} or all")
    return [s for s in STRATEGIES if s in names]


def load_items(args: argparse.Namespace, encoding: str) -> list[Item]:
    """Every dataset's first `--limit` items, trimmed when asked."""
    items: list[Item] = []
    for path in args.dataset:
        loaded = load_dataset(path, args.limit)
        if args.trim_tokens:
            loaded = [trim_item(i, args.trim_tokens, encoding) for i in loaded]
        items += loaded
    return items


def split_ablations(ctx: Context, overrides: dict[str, Any]) -> tuple[Context, dict[str, Any]]:
    """Move ablation settings from the base `Context` into the variant label."""
    defaults: dict[str, Any] = {f.name: f.default for f in fields(Context) if f.name in ABLATIONS}
    moved = {k: getattr(ctx, k) for k in ABLATIONS if getattr(ctx, k) != defaults[k]}
    base = replace(ctx, **{k: defaults[k] for k in moved})
    return base, {**moved, **overrides}


def _run(args: argparse.Namespace) -> tuple[ResultStore, int]:
    names = strategies(args.strategy)
    items = load_items(args, Context().tokenizer_encoding)
    samples = [i.context for i in items[:SAMPLE_ITEMS]]
    with local_endpoint(args, samples, say) as (defaults, forced):
        ctx = context_from_args(args, defaults, **forced)
        combos = [split_ablations(ctx, c) for c in parse_overrides(args.overrides)]
        base = combos[0][0]
        variants = [Variant(s, tuple(sorted(overrides.items())))
                    for _, overrides in combos for s in names]
        for variant in variants:
            variant.context(base, 0)  # refuse a bad ablation before any call
        judge_ctx = (judge_context(base, args.judge_model, args.judge_base_url,
                                   args.judge_api_key) if args.judge_model else None)
        local = {"local_model": args.local_model} if getattr(args, "local_model", None) else {}
        settings = pinned_settings(base, trim_tokens=args.trim_tokens,
                                   full_window=args.full_window, judge_model=args.judge_model,
                                   **local)
        store = ResultStore(Path(args.out), settings)
        jobs = plan_jobs(items, variants, args.runs)
        written = asyncio.run(evaluate(jobs, store, base, concurrency=base.max_concurrency,
                                       answerer=Answerer(args.full_window), judge_ctx=judge_ctx,
                                       quiet=args.quiet))
    failed = sum(1 for j in jobs if not store.finished(j.key))
    logging.getLogger(__name__).info("%d answers written", len(written))
    return store, failed


def main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run `eval` with parsed arguments."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        store, failed = _run(args)
    except (CliError, InputError, ConfigError, TypeError, LocalModelError,
            LocalServerError) as exc:
        return fail(EXIT_BAD_INPUT, str(exc))
    except KeyboardInterrupt:
        return fail(EXIT_INTERRUPTED, "interrupted; finished answers are kept. Run the same "
                                      "command again to continue")
    summary, plots = write_summary(store)
    print(summary.read_text(encoding="utf-8").split("\n## ")[0].strip())
    print(f"\nresults: {store.path}\nsummary: {summary}" +
          "".join(f"\nplot: {p}" for p in plots))
    if failed:
        return fail(EXIT_FAILED, f"{failed} answers failed (see 'error' in {store.path}); run "
                                 "the same command again to retry them")
    return 0
