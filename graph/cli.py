"""The `longcepo` command line: one module per subcommand.

longcepo ask --context-file report.md --query "Who signed the contract?"
longcepo ask --resume 3f2a...            # continue a failed or interrupted run
"""

from __future__ import annotations

import argparse
import sys

from graph import cli_ask, cli_eval, cli_optimize, cli_serve
from graph.tracing import bounded_tracing

COMMANDS = {module.NAME: module for module in (cli_ask, cli_serve, cli_eval, cli_optimize)}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The argument parser, with examples in the help, and each subcommand's parser."""
    parser = argparse.ArgumentParser(
        prog="longcepo", epilog=cli_ask.EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Answer questions over documents of any length with a small-window model.")
    sub = parser.add_subparsers(dest="command", required=True)
    return parser, {name: module.register(sub) for name, module in COMMANDS.items()}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `longcepo` script."""
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    with bounded_tracing():
        return int(COMMANDS[args.command].main(args, commands[args.command]))


if __name__ == "__main__":
    sys.exit(main())
