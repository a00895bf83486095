"""The `longcepo` command line: one module per subcommand, imported only when it runs.

longcepo ask --context-file report.md --query "Who signed the contract?"
longcepo ask --resume 3f2a...            # continue a failed or interrupted run
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from importlib import import_module
from types import ModuleType
from typing import Any

COMMANDS = {
    "ask": ("longcepo.cli.ask", "answer a question over documents"),
    "serve": ("longcepo.cli.serve", "serve the graph over HTTP (LangServe and OpenAI routes)"),
    "eval": ("longcepo.cli.evaluate", "measure answer quality on a dataset"),
    "optimize-prompt": ("longcepo.cli.optimize", "tune a prompt for a model and dataset (OPRO)"),
}
"""name -> (module, one-line help). `longcepo --help` reads only this table."""

EXAMPLES = """examples:
  longcepo ask --model local --context-file examples/brenholm.md \\
      --query "In which village was the engineer who designed the Greyholm Dam born?" -v
  longcepo ask --context-file contract.md --query "When does the lease end?" \\
      --base-url http://127.0.0.1:8000/v1 --model llama-3.3-70b
  longcepo ask --resume 3f2a9c...
  longcepo serve --base-url http://127.0.0.1:8000/v1 --model llama-3.3-70b --port 8080
  longcepo COMMAND --help      the options and more examples of one command
"""


def runnable_examples(text: str | None) -> str | None:
    """Help examples with the command as it can be started from here.

    `.venv/bin/longcepo` when the script is not on PATH, so they can be pasted as they are.
    """
    if not text:
        return text
    from longcepo.runtime.commands import program

    name = program()
    if name == "longcepo":
        return text
    command_start = r"(?m)(^\s+|^\s+\S+=\S+ )longcepo (?=[a-zA-Z-])"
    return re.sub(command_start, lambda m: m.group(1) + name + " ", text)


def command_module(name: str) -> ModuleType:
    """The module that implements subcommand `name`."""
    return import_module(COMMANDS[name][0])


class _Version(argparse.Action):
    """`--version`, reading the installed version only when asked (importlib.metadata: 40 ms)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        import longcepo

        print(f"longcepo {longcepo.__version__}")
        parser.exit()


def build_parser(
    only: str | None = None,
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and each fully built subcommand parser: all of them, or just `only`'s."""
    parser = argparse.ArgumentParser(
        prog="longcepo", epilog=runnable_examples(EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Answer questions over documents of any length with a small-window model.")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="show program's version number and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    built = {}
    for name, (_, help_line) in COMMANDS.items():
        if only is None or name == only:
            module = command_module(name)
            built[name] = sub.add_parser(
                name, help=help_line, epilog=runnable_examples(getattr(module, "EXAMPLES", None)),
                description=getattr(module, "DESCRIPTION", help_line[0].upper() + help_line[1:]),
                formatter_class=argparse.RawDescriptionHelpFormatter)
            module.add_arguments(built[name])
        else:
            sub.add_parser(name, help=help_line)
    return parser, built


def _chosen_command(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first argument that is one), if any."""
    for arg in argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `longcepo` script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = _chosen_command(argv)
    parser, commands = build_parser(only=chosen or "")
    args = parser.parse_args(argv)
    from longcepo.cli.startup import resume_collection
    from longcepo.runtime.tracing import bounded_tracing

    if args.command != "ask":  # ask resumes once its graph has loaded
        resume_collection()
    with bounded_tracing():
        return int(command_module(args.command).main(args, commands[args.command]))


def entry() -> None:
    """The `longcepo` script: lean imports (`cli/startup.py`), `main`, then exit at once.

    Tearing down LangGraph's and LangChain's modules took 0.5-1 s after the answer was
    printed. Every command has closed what it opened by the time `main` returns (checkpoints,
    connections, the local server) and traces are flushed within a bound, so only the standard
    streams and logging are left to flush.
    """
    from longcepo.cli.startup import defer_package_inits, pause_collection

    defer_package_inits()
    pause_collection()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # a closed or broken stdout: the answer may not have arrived
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    entry()
