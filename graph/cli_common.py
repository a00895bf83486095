"""Pieces every `longcepo` subcommand shares: option types, model options, errors."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from graph.api import make_context
from graph.prompt_file import load_prompt_file
from nodes.budget import validate_context
from state import Context

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


class CliError(Exception):
    """A problem with the command line or its files: one line, exit code 2."""


def positive(kind: type) -> Any:
    """An argparse type accepting numbers above zero."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def non_negative_int(text: str) -> int:
    """An argparse type accepting whole numbers from zero."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return int(text)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options that build the run's `Context`: the endpoint, the window and the budgets."""
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (env OPENAI_BASE_URL)")
    parser.add_argument("--model", help="model name at the endpoint (env LONGCEPO_MODEL); "
                        "'local' runs the bundled model offline with llama.cpp")
    parser.add_argument("--model-path", metavar="GGUF",
                        help="run this GGUF file locally with llama.cpp (implies --model local)")
    parser.add_argument("--api-key", help="API key (env OPENAI_API_KEY)")
    parser.add_argument("--chunk-size", type=positive(int), help="tokens per chunk (4096)")
    parser.add_argument("--window", type=positive(int), dest="max_context_window",
                        help="the model's context window in tokens (8192)")
    parser.add_argument("--max-output-tokens", type=positive(int),
                        help="output cap per call (1024)")
    parser.add_argument("--summary-tokens", type=positive(int), dest="max_output_tokens_summary",
                        help="output cap of chunk summaries (300)")
    parser.add_argument("--neighbors", type=non_negative_int, dest="num_neighbor_summaries",
                        help="neighbour summaries before and after each chunk (5)")
    parser.add_argument("--concurrency", type=positive(int), dest="max_concurrency",
                        help="LLM calls in flight at once (16)")
    parser.add_argument("--temperature", type=float, help="temperature of every stage (0.7)")
    parser.add_argument("--seed", type=int, help="sampling seed, for repeatable runs")
    parser.add_argument("--timeout", type=positive(float), dest="request_timeout",
                        help="seconds per LLM call (120)")
    parser.add_argument("--retries", type=non_negative_int, dest="max_retries",
                        help="retries of a failed HTTP call (6)")
    parser.add_argument("--format-retries", type=non_negative_int, dest="max_format_retries",
                        help="re-asks when a reply ignores the output protocol (3)")
    parser.add_argument("--max-document-tokens", type=positive(int),
                        help="refuse documents longer than this many tokens (no limit)")
    parser.add_argument("--no-plan", action="store_true",
                        help="answer in one pass, without a plan")
    parser.add_argument("--prompts", metavar="FILE",
                        help="JSON/TOML file of prompt fields to use, e.g. from optimize-prompt")


SETTING_OPTIONS = {
    "model": "--model", "model_path": "--model-path", "base_url": "--base-url",
    "state_dir": "--state-dir", "chunk_size": "--chunk-size",
    "max_context_window": "--window", "max_output_tokens": "--max-output-tokens",
    "num_neighbor_summaries": "--neighbors", "max_concurrency": "--concurrency",
    "temperature": "--temperature", "seed": "--seed", "request_timeout": "--timeout",
    "max_retries": "--retries", "max_document_tokens": "--max-document-tokens",
    "max_format_retries": "--format-retries", "max_output_tokens_summary": "--summary-tokens",
    "prompts": "--prompts",
}
"""Options a resumed run needs again to rebuild the same `Context` (never the API key)."""


def resume_command(args: argparse.Namespace) -> str:
    """The command that continues this run, with the settings it was started with."""
    parts = ["longcepo", "ask", "--resume", str(args.thread_id)]
    for name, option in SETTING_OPTIONS.items():
        value = getattr(args, name, None)
        if value is not None:
            parts += [option, shlex.quote(f"{value:g}" if isinstance(value, float) else str(value))]
    if getattr(args, "no_plan", False):
        parts.append("--no-plan")
    return " ".join(parts)


def context_from_args(args: argparse.Namespace, defaults: dict[str, Any] | None = None,
                      **forced: Any) -> Context:
    """The run's `Context`: `forced` settings, then the options given, then `defaults`."""
    settings: dict[str, Any] = {
        name: getattr(args, name, None)
        for name in ("base_url", "model", "api_key", "chunk_size", "max_context_window",
                     "max_output_tokens", "max_output_tokens_summary", "num_neighbor_summaries",
                     "max_concurrency", "seed", "request_timeout", "max_retries",
                     "max_document_tokens", "max_format_retries")
    }
    if getattr(args, "temperature", None) is not None:
        for stage in ("normalize", "plan", "summary", "map", "collapse", "reduce"):
            settings[f"temperature_{stage}"] = args.temperature
    if getattr(args, "no_plan", False):
        settings["use_plan"] = False
    given = {k: v for k, v in settings.items() if v is not None}
    if getattr(args, "prompts", None):
        given.update(load_prompt_file(args.prompts))
    ctx = make_context(**{**(defaults or {}), **given, **forced})
    validate_context(ctx)
    return ctx


def say(line: str) -> None:
    """One progress line on stderr, where it never mixes with results on stdout."""
    print(line, file=sys.stderr, flush=True)


def fail(code: int, message: str) -> int:
    """Print one error line (no traceback) and return the exit code."""
    print(f"longcepo: error: {message}", file=sys.stderr)
    return code
