"""`longcepo ask`: answer a question over files, with progress, checkpoints and resume."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import uuid
from pathlib import Path
from typing import Any

from graph.api import output_of, run_config, sqlite_graph, store_input
from graph.cli_common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    CliError,
    add_model_options,
    context_from_args,
    fail,
)
from graph.cli_progress import Progress
from nodes.errors import ConfigError, InputError, LLMCallError
from state import Context

NAME = "ask"
TEXT_SUFFIXES = (".txt", ".md")
EXAMPLES = """examples:
  longcepo ask --context-file contract.md --query "When does the lease end?"
  longcepo ask --context-file docs/ --query "Which services call the billing API?" \\
      --base-url http://127.0.0.1:8000/v1 --model llama-3.3-70b
  longcepo ask --resume 3f2a9c...        continue a run that failed or was interrupted
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
    out.add_argument("-v", "--verbose", action="store_true", help="show the plan and sub-answers")
    out.add_argument("-q", "--quiet", action="store_true", help="print nothing but the answer")
    return ask


async def run(args: argparse.Namespace, ctx: Context, progress: Progress) -> dict[str, Any]:
    """Stream the run, feeding progress, and return the final output."""
    thread_id = args.thread_id
    documents = None if args.resume else read_documents(args.context_file)
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
        calls = sum(s.get("calls", 0) for s in result.get("usage", {}).values())
        tokens = sum(s.get("prompt_tokens", 0) + s.get("completion_tokens", 0)
                     for s in result.get("usage", {}).values())
        progress.say(f"{calls} LLM calls, {tokens} tokens")
    print(result["answer"])


def main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run `ask` with parsed arguments."""
    if not args.resume and (not args.context_file or not args.query):
        parser.error("ask needs --context-file and --query (or --resume THREAD)")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args.thread_id = args.resume or args.thread_id or uuid.uuid4().hex
    progress = Progress(verbose=args.verbose, quiet=args.quiet or args.json)
    try:
        ctx = context_from_args(args)
        result = asyncio.run(run(args, ctx, progress))
    except (CliError, InputError, ConfigError, TypeError) as exc:
        progress.close()
        return fail(EXIT_BAD_INPUT, str(exc))
    except LLMCallError as exc:
        progress.close()
        return fail(EXIT_FAILED, f"{exc}\nnothing finished is lost; continue with: "
                                  f"longcepo ask --resume {args.thread_id}")
    except KeyboardInterrupt:
        progress.close()
        return fail(EXIT_INTERRUPTED, f"interrupted; thread {args.thread_id}. Continue with: "
                                       f"longcepo ask --resume {args.thread_id}")
    progress.close()
    _print_result(result, args, progress)
    return 0
