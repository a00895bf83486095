"""Pieces every `longcepo` subcommand shares: option types, model options, errors."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import MISSING, Field, fields
from typing import Any

from longcepo.runtime.commands import program
from longcepo.state import STAGES, Context

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


class CliError(Exception):
    """A problem with the command line or its files: one line, exit code 2."""


def positive(kind: type) -> Any:
    """An argparse type accepting finite numbers above zero."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def non_negative_int(text: str) -> int:
    """An argparse type accepting whole numbers from zero."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return int(text)


def cli_fields() -> list[Field[Any]]:
    """The `Context` fields that have a command-line option (`metadata["cli"]`)."""
    return [f for f in fields(Context) if f.metadata.get("cli")]


def _option_type(f: Field[Any]) -> Any:
    """The argparse type of a field: its annotation, bounded by its `minimum`."""
    kind = {"int": int, "float": float}.get(str(f.type).split(" |")[0], str)
    minimum = f.metadata.get("minimum")
    if kind is str:
        return None
    if minimum == 0 and kind is int:
        return non_negative_int
    return positive(kind) if minimum == 1 else kind


def _metavar(f: Field[Any]) -> str | None:
    """N for counts, SEC for seconds, else the option's last word (URL, KEY, MODEL)."""
    if f.metadata.get("choices"):
        return None
    kind = str(f.type).split(" |")[0]
    if kind in ("int", "float"):
        return "SEC" if f.name.endswith("timeout") else "N"
    return str(f.metadata["cli"]).rsplit("-", 1)[-1].upper()


def _option_help(f: Field[Any]) -> str:
    """The field's description, its default (from the `Context`) and its variable."""
    text = f.metadata["description"].rstrip(".")
    text = text[0].lower() + text[1:]
    default = f.metadata.get("env_fallback") if f.default is MISSING else f.default
    hints = [f"env {f.metadata['env']}"] if f.metadata.get("env") else []
    if default is not None and f.name != "api_key":
        hints.append(f"{default:g}" if isinstance(default, float) else str(default))
    return text + (f" ({', '.join(hints)})" if hints else "")


EXTRA_HELP = {"model": "; 'local' runs the bundled model offline with llama.cpp"}


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options that build the run's `Context`, derived from its fields, plus the shortcuts."""
    for f in cli_fields():
        parser.add_argument(f.metadata["cli"], dest=f.name, type=_option_type(f),
                            choices=f.metadata.get("choices"), metavar=_metavar(f),
                            help=_option_help(f) + EXTRA_HELP.get(f.name, ""))
    parser.add_argument("--model-path", metavar="GGUF",
                        help="run this GGUF file locally with llama.cpp (implies --model local)")
    parser.add_argument("--temperature", type=float, metavar="T",
                        help=f"temperature of every stage ({Context.temperature_map:g})")
    parser.add_argument("--no-plan", action="store_true",
                        help="answer in one pass, without a plan")
    parser.add_argument("--prompts", metavar="FILE",
                        help="JSON/TOML file of prompt fields to use, e.g. from optimize-prompt")


SETTING_OPTIONS = {
    "model": "--model", "model_path": "--model-path", "base_url": "--base-url",
    "state_dir": "--state-dir",
    **{f.name: f.metadata["cli"] for f in cli_fields() if f.name != "api_key"},
    "temperature": "--temperature", "prompts": "--prompts",
}
"""Options a resumed run needs again to rebuild the same `Context` (never the API key)."""


def resume_command(args: argparse.Namespace) -> str:
    """The command that continues this run, with the settings it was started with.

    Credentials in the base URL show as `***`: the user types them again, as the API key.
    """
    from longcepo.nodes.redact import redact_url

    parts = [program(), "ask", "--resume", str(args.thread_id)]
    for name, option in SETTING_OPTIONS.items():
        value = getattr(args, name, None)
        if name == "base_url" and value is not None:
            value = redact_url(value)  # credentials stay out of terminals and logs
        if value is not None:
            parts += [option, shlex.quote(f"{value:g}" if isinstance(value, float) else str(value))]
    if getattr(args, "no_plan", False):
        parts.append("--no-plan")
    return " ".join(parts)


def context_from_args(args: argparse.Namespace, defaults: dict[str, Any] | None = None, *,
                      check: bool = True, **forced: Any) -> Context:
    """The run's `Context`: `forced` settings, then the options given, then `defaults`.

    `check=False` leaves `validate_context` to the caller (`ask` checks after its first call
    is out, see `cli/ask.py`).
    """
    from longcepo.nodes.budget import validate_context
    from longcepo.runtime.prompt_file import load_prompt_file

    settings: dict[str, Any] = {f.name: getattr(args, f.name, None) for f in cli_fields()}
    if getattr(args, "temperature", None) is not None:
        for stage in STAGES:
            settings[f"temperature_{stage}"] = args.temperature
    if getattr(args, "no_plan", False):
        settings["use_plan"] = False
    given = {k: v for k, v in settings.items() if v is not None}
    if getattr(args, "prompts", None):
        given.update(load_prompt_file(args.prompts))
    ctx = Context.from_settings(**{**(defaults or {}), **given, **forced})
    if check:
        validate_context(ctx)
    return ctx


def say(line: str) -> None:
    """One progress line on stderr, where it never mixes with results on stdout."""
    print(line, file=sys.stderr, flush=True)


def fail(code: int, message: str) -> int:
    """Print one error line (no traceback) and return the exit code."""
    print(f"longcepo: error: {message}", file=sys.stderr)
    return code
