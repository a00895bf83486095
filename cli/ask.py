"""`longcepo ask`: answer a question over files, with progress, checkpoints and resume."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from longcepo.cli import saved_options as cli_saved_options
from longcepo.cli.common import (
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
from longcepo.cli.local import local_endpoint, local_requested
from longcepo.cli.progress import Progress, clock
from longcepo.documents import read_documents
from longcepo.env import default_state_dir
from longcepo.local import LocalModelError, LocalServerError
from longcepo.local.server import terminate_as_interrupt
from longcepo.nodes.errors import (
    ConfigError,
    InputError,
    LLMCallError,
    LongcepoError,
    StateError,
)
from longcepo.runtime.commands import program
from longcepo.runtime.leases import ThreadBusy
from longcepo.state import Context, Document

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
  a PDF, a web page or stdin; -v cites sources with their pages (contract.pdf p. 17-18):
    longcepo ask --context-file contract.pdf --query "When does the lease end?" -v
    curl -s https://example.com/report.html | longcepo ask --context-file - --query "..."
  the whole result (answer, plan, sub-answers, sources, usage, notes) as JSON:
    longcepo ask --context-file big.txt --query "..." --json > answer.json
"""


def add_arguments(ask: argparse.ArgumentParser) -> None:
    """The `ask` subcommand's options."""
    ask.add_argument("--context-file", action="append", metavar="PATH",
                     help="a PDF, Word (.docx), HTML or text file, a folder of them, an "
                          "http(s) URL, or - for stdin; repeat for more documents")
    ask.add_argument("--pdf-password", metavar="PASSWORD",
                     help="password of encrypted PDFs (never saved with the run)")
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


async def run(args: argparse.Namespace, ctx: Context, documents: list[Document] | None,
              progress: Progress) -> dict[str, Any]:
    """Stream the run, feeding progress, and return the final output.

    A new run's normalize call goes out first, and its plan call when that reply is in; the
    tokenizer and LangGraph load meanwhile (`runtime/head_start.py`). The exact check of the
    settings comes after the first call only when a bound proved it will pass.
    """
    from longcepo.nodes.budget import validate_context
    from longcepo.nodes.endpoint import close_endpoints
    from longcepo.runtime.head_start import send_normalize

    try:
        if documents is not None and await send_normalize(ctx, args.query, documents):
            await asyncio.to_thread(_check_and_load, ctx)  # on a thread: the call leaves now
        else:
            validate_context(ctx)
        return await _stream(args, ctx, documents, progress)
    finally:
        await close_endpoints()


def _check_and_load(ctx: Context) -> None:
    """The exact settings check (it loads the tokenizer), then LangGraph and the graph.

    Meanwhile the event loop reads the early replies and sends the plan call; each of its
    steps waits for this CPU-bound thread to yield the GIL, every 5 ms by default. With a
    0.5 ms interval for this stretch a 16K question finished about 0.1 s sooner.
    """
    from longcepo.nodes.budget import validate_context

    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, 0.0005))
    try:
        validate_context(ctx)
        importlib.import_module("longcepo.runtime.api")
    finally:
        sys.setswitchinterval(interval)


async def _stream(args: argparse.Namespace, ctx: Context, documents: list[Document] | None,
                  progress: Progress) -> dict[str, Any]:
    from longcepo.cli.startup import resume_collection
    from longcepo.runtime.api import output_of, run_config, sqlite_graph, store_input
    from longcepo.runtime.leases import FileLeases, hold

    resume_collection()  # everything the run needs is loaded: freeze it, collect the rest

    thread_id = args.thread_id
    async with (hold(FileLeases(_state_folder(args)), thread_id),
                sqlite_graph(args.state_dir) as graph):
        config = run_config(thread_id, ctx.max_concurrency)
        payload = None
        if documents is not None:
            payload = await store_input(graph, ctx, documents, args.query)
        else:
            state = await graph.aget_state(config)
            if not state.values:
                where = args.state_dir or "~/.longcepo"
                raise CliError(f"no run with thread id {thread_id} in {where}")
            progress.resume_from(state.values)
        async for _, _, event in graph.astream(payload, config, context=ctx,
                                               stream_mode=["custom"], subgraphs=True,
                                               durability="sync"):
            progress.event(event)  # type: ignore[arg-type]  # custom mode: our dicts
        final = await graph.aget_state(config)
    return {**output_of(final.values), "thread_id": thread_id}


def describe(doc: Document) -> str:
    """What was read: 'pdf, 40 pages, 61,204 characters'."""
    meta = doc.get("metadata") or {}
    parts = [str(meta.get("format", "text"))]
    if meta.get("pages"):
        parts.append(f"{meta['pages']} pages")
    parts.append(f"{len(doc['text']):,} characters")
    if meta.get("title"):
        parts.append(f"title {meta['title']!r}")
    return ", ".join(parts)


def source_line(chunk: dict[str, Any]) -> str:
    """Where a supporting chunk sits: 'contract.pdf p. 17–18, chars 51200-59016'."""
    where = f"chars {chunk['start']}-{chunk['end']}"
    pages = chunk.get("pages")
    if pages:
        first, last = pages[0], pages[-1]
        span = f"p. {first}" if first == last else f"p. {first}\u2013{last}"
        return f"{chunk['doc_id']} {span}, {where}"
    return f"{chunk['doc_id']} {where}"


def _print_result(result: dict[str, Any], args: argparse.Namespace, progress: Progress) -> None:
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    for note in result.get("notes", []):
        progress.say(f"note: {note}")
    if args.verbose:
        for chunk in result.get("supporting_chunks", []):
            progress.say(f"source: {source_line(chunk)}")
        usage = result.get("usage", {}).values()
        calls = sum(s.get("calls", 0) for s in usage)
        retries = sum(s.get("format_retries", 0) for s in usage)
        prompt = sum(s.get("prompt_tokens", 0) for s in usage)
        completion = sum(s.get("completion_tokens", 0) for s in usage)
        progress.say(f"{calls} LLM calls ({retries} format re-asks), {prompt} prompt and "
                     f"{completion} completion tokens, {clock(time.monotonic() - progress.start)}")
        progress.say("answer:")
    print(result["answer"], flush=True)


def bundled_model_notes(args: argparse.Namespace) -> tuple[str, str] | None:
    """What to say before and after a run on the bundled demo model (None for any other).

    The 135M model runs the real pipeline offline, but its answers are not answers: a new
    user must not take them for what longcepo does with a real model.
    """
    if not local_requested(args) or args.model_path:
        return None
    real = (f"{program()} ask --base-url URL --model NAME [--api-key KEY] --context-file ... "
            "--query ...")
    before = ("note: --model local runs the bundled SmolLM2-135M, a 135M-parameter model that "
              "shows the whole pipeline running offline but cannot answer a question like "
              "this one: expect a wrong answer. For real answers point longcepo at an "
              f"OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, OpenAI...): {real}, "
              "or run a bigger GGUF with --model-path FILE.")
    after = ("note: that answer came from the bundled 135M demo model and is most likely wrong; "
             f"for real answers: {real}")
    return before, after


def _configure_logging(args: argparse.Namespace) -> None:
    # -q and --json hide progress, not warnings: a warning (say, traces dropped) still matters
    level = logging.INFO if args.verbose >= 2 else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # pypdf warns about every quirk of a PDF it still reads; our reader reports what matters
    logging.getLogger("pypdf").setLevel(logging.ERROR)


class ReadingInterrupted(Exception):
    """Ctrl-C while the documents were read: no run exists yet, so there is nothing to resume."""


def read_inputs(args: argparse.Namespace, progress: Progress) -> list[Document]:
    """The --context-file documents; -v says what each one is."""
    if args.context_file.count("-") > 1:
        raise CliError("--context-file - (stdin) can be given once")
    if "-" in args.context_file and sys.stdin.isatty():
        raise CliError("--context-file - reads stdin, which is a terminal; pipe a document in, "
                       "e.g. cat report.pdf | longcepo ask --context-file - --query ...")
    try:
        documents = read_documents(args.context_file, password=args.pdf_password,
                                   cache_dir=_state_folder(args) / "documents")
    except KeyboardInterrupt:
        raise ReadingInterrupted("interrupted while reading the documents; nothing was run "
                                 "yet") from None
    if args.verbose:
        for doc in documents:
            progress.say(f"read {doc['id']}: {describe(doc)}")
    return documents


def _state_folder(args: argparse.Namespace) -> Path:
    return Path(args.state_dir) if args.state_dir else default_state_dir()


def _interrupted(args: argparse.Namespace) -> str:
    """What a Ctrl-C leaves: a run to resume, or (before its first checkpoint) nothing."""
    from longcepo.runtime.state_errors import has_checkpoint

    if args.resume or has_checkpoint(_state_folder(args), args.thread_id):
        return f"interrupted; thread {args.thread_id}. Continue with: {resume_command(args)}"
    return ("interrupted before the run's first checkpoint; nothing was saved, so run the same "
            "command again")


def _state_failure(exc: BaseException, args: argparse.Namespace) -> int:
    """Exit 2 with one line for broken local state; the resume command where it can help."""
    from longcepo.runtime.state_errors import has_checkpoint, state_error

    folder = _state_folder(args)
    problem = exc if isinstance(exc, StateError | ThreadBusy) else state_error(exc, folder)
    message = str(problem or f"cannot use the run's state in {folder}: {exc}")
    if isinstance(problem, ThreadBusy):
        pass  # the run belongs to another process: it is neither ours to resume nor to restart
    elif has_checkpoint(folder, args.thread_id):
        message += f"\nnothing saved is lost; continue with: {resume_command(args)}"
    elif not args.resume:
        message += "\nthe run had not started; run the same command again once this is fixed"
    return fail(EXIT_BAD_INPUT, message)


def main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run `ask` with parsed arguments."""
    if not args.resume and (not args.context_file or not args.query):
        parser.error("ask needs --context-file and --query (or --resume THREAD)")
    _configure_logging(args)
    args.thread_id = args.resume or args.thread_id or uuid.uuid4().hex
    progress = Progress(verbose=bool(args.verbose), quiet=args.quiet or args.json)
    progress.start_ticker()
    demo_notes: tuple[str, str] | None = None
    try:
        with terminate_as_interrupt():
            if args.resume:
                documents = None
                restored = cli_saved_options.restore(args)
                if restored and args.verbose:
                    progress.say("resuming with the run's saved options: " + ", ".join(
                        SETTING_OPTIONS.get(name, "--no-plan") for name in restored))
            else:
                documents = read_inputs(args, progress)
                cli_saved_options.save(args)
            texts = [d["text"] for d in documents or []]
            demo_notes = bundled_model_notes(args)
            if demo_notes:
                progress.say(demo_notes[0])
            with local_endpoint(args, texts, progress.say) as (defaults, forced):
                ctx = context_from_args(args, defaults, check=False, **forced)
                result = asyncio.run(run(args, ctx, documents, progress))
    except (CliError, InputError, ConfigError, TypeError, LocalModelError,
            LocalServerError) as exc:
        progress.close()
        return fail(EXIT_BAD_INPUT, str(exc))
    except LLMCallError as exc:
        progress.close()
        return fail(EXIT_FAILED, f"{exc}\nnothing finished is lost; continue with: "
                                  f"{resume_command(args)}")
    except (StateError, ThreadBusy, sqlite3.Error, OSError) as exc:
        progress.close()
        return _state_failure(exc, args)
    except LongcepoError as exc:  # a document that could not be fetched: before any run
        progress.close()
        return fail(exc.exit_code, str(exc))
    except ReadingInterrupted as exc:
        progress.close()
        return fail(EXIT_INTERRUPTED, str(exc))
    except KeyboardInterrupt:
        progress.close()
        return fail(EXIT_INTERRUPTED, _interrupted(args))
    progress.close()
    _print_result(result, args, progress)
    if demo_notes:
        progress.say(demo_notes[1])
    return 0
