"""Fitting prompts into the context window, and checking a `Context` before any call.

Token counts of the parts are summed, which slightly over-counts the joined prompt; MARGIN
absorbs chat-template overhead and the format reminder a retry appends.
"""

from __future__ import annotations

import logging
import math
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from longcepo.nodes.errors import ConfigError, InputError
from longcepo.nodes.redact import redact_url
from longcepo.nodes.render import finding_text, history_text
from longcepo.nodes.tokens import ENCODINGS, count_tokens
from longcepo.prompts.reminders import REMINDERS
from longcepo.state import PROMPT_FIELDS, STRUCTURED_OUTPUT, Context, Finding, QAPair

log = logging.getLogger(__name__)
MIN_CHUNK_TOKENS = 64
"""Below this a window cannot hold a useful chunk: say which window is needed instead."""
MARGIN = 32 + max(len(r) for r in REMINDERS.values()) // 3


Count = Callable[[str], int]
"""A token counter for the checks: the run's encoding, or an upper bound of it."""


def utf8_bytes(text: str) -> int:
    """An upper bound of the token count in any encoding: every token is at least one byte.

    Every check here only fails when counts grow, so a check that passes with these bounds
    passes with the exact counts too; the CLI uses that to send its first call before the
    tokenizer has loaded (`runtime/head_start.py`).
    """
    return len(text.encode())


def tokens(ctx: Context, text: str) -> int:
    """Token count under the run's encoding."""
    return count_tokens(text, ctx.tokenizer_encoding)


def template_tokens(ctx: Context, stage: str, *, with_system: bool = True,
                    count: Count | None = None, **filled: str) -> int:
    """Tokens of a stage's prompt with the given sections filled and the rest empty."""
    placeholders = PROMPT_FIELDS[f"{stage}_prompt"]
    values = {name: filled.get(name, "") for name in placeholders}
    text = ctx.prompt(stage).format(**values)
    n = count or (lambda t: tokens(ctx, t))
    return n(text) + (n(ctx.system_prompt) if with_system else 0) + MARGIN


@dataclass
class MapFit:
    """What fits beside one chunk: neighbour summaries by side, and the kept QA history."""

    before: list[str]
    after: list[str]
    history: list[QAPair]
    dropped_summaries: int
    dropped_history: int


def fit_map(
    ctx: Context,
    fixed: int,
    before: Sequence[str],
    after: Sequence[str],
    history: Sequence[QAPair],
) -> MapFit:
    """Keep what fits: drop the farthest summaries first, then the oldest QA history.

    `before` is ordered far to near, `after` near to far; `fixed` counts everything else.
    """
    room = ctx.max_context_window - ctx.max_output_tokens - fixed
    sized_before = [(s, tokens(ctx, s) + 1) for s in before]
    sized_after = [(s, tokens(ctx, s) + 1) for s in after]
    kept = list(history)
    used = sum(n for _, n in (*sized_before, *sized_after)) + tokens(ctx, history_text(kept))
    dropped_summaries = dropped_history = 0
    while used > room and (sized_before or sized_after):
        if len(sized_after) >= len(sized_before):
            used -= sized_after.pop()[1]
        else:
            used -= sized_before.pop(0)[1]
        dropped_summaries += 1
    while used > room and kept:
        old = tokens(ctx, history_text(kept))
        kept.pop(0)
        used -= old - tokens(ctx, history_text(kept))
        dropped_history += 1
    return MapFit(
        [s for s, _ in sized_before], [s for s, _ in sized_after], kept,
        dropped_summaries, dropped_history,
    )


def fit_history(ctx: Context, stage: str, question: str, history: Sequence[QAPair]) -> list[QAPair]:
    """The newest QA history that leaves room in a collapse or reduce prompt for its findings.

    Room is kept for two findings of full output size, which one merge needs.
    """
    kept = list(history)
    while kept:
        fixed = template_tokens(ctx, stage, question=question, qa_history=history_text(kept))
        if fixed + 3 * ctx.max_output_tokens <= ctx.max_context_window:
            break
        kept.pop(0)
    return kept


def findings_budget(ctx: Context, question: str, history: Sequence[QAPair]) -> int:
    """Tokens left for findings in the reduce prompt."""
    fixed = template_tokens(ctx, "reduce", question=question, qa_history=history_text(history))
    return ctx.max_context_window - ctx.max_output_tokens - fixed


def findings_tokens(ctx: Context, findings: Sequence[Finding]) -> list[int]:
    """Rendered size of each finding, separators included."""
    return [tokens(ctx, finding_text(f)) + 2 for f in findings]


def _check_template(name: str, template: str, needed: Sequence[str]) -> None:
    try:
        found = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ConfigError(
            f"{name} is not a valid format string ({exc}); escape braces as {{{{ }}}}"
        ) from None
    missing, unknown = set(needed) - found, found - set(needed)
    if missing or unknown:
        raise ConfigError(
            f"{name} must use exactly the placeholders {{{'}, {'.join(needed)}}}; "
            f"missing: {sorted(missing) or 'none'}, unknown: {sorted(unknown) or 'none'}"
        )


def _check_numbers(ctx: Context) -> None:
    positive = ("chunk_size", "max_context_window", "max_output_tokens",
                "max_output_tokens_summary", "max_concurrency", "max_sub_questions",
                "request_timeout")
    for name in positive:
        if getattr(ctx, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(ctx, name)!r}")
    for name in ("num_neighbor_summaries", "max_format_retries", "max_retries",
                 "retry_backoff", "retry_backoff_max"):
        if getattr(ctx, name) < 0:
            raise ConfigError(f"{name} must not be negative, got {getattr(ctx, name)!r}")
    for f in fields(ctx):
        if f.name.startswith("temperature_") and not 0 <= getattr(ctx, f.name) <= 2:
            raise ConfigError(f"{f.name} must be within [0, 2], got {getattr(ctx, f.name)!r}")
    if not 0 < ctx.top_p <= 1:
        raise ConfigError(f"top_p must be within (0, 1], got {ctx.top_p!r}")
    if ctx.tokenizer_encoding not in ENCODINGS:
        raise ConfigError(
            f"tokenizer_encoding {ctx.tokenizer_encoding!r} is not available offline; "
            f"use one of: {', '.join(ENCODINGS)}"
        )
    if not ctx.model.strip():
        raise ConfigError("model is empty; set LONGCEPO_MODEL or pass a model name")
    if ctx.structured_output not in STRUCTURED_OUTPUT:
        raise ConfigError(f"structured_output must be one of {', '.join(STRUCTURED_OUTPUT)}, "
                          f"got {ctx.structured_output!r}")
    if not ctx.delimiter:
        raise ConfigError("delimiter is empty; the default is <CONTEXT_END>")
    for f in fields(ctx):
        value = getattr(ctx, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{f.name} must be a finite number, got {value!r}")
    _check_base_url(ctx.base_url)
    if ctx.base_url is None and not ctx.api_key:
        raise ConfigError(
            "no API key for api.openai.com: pass --api-key or set OPENAI_API_KEY (in Python: "
            "api_key), or point --base-url (OPENAI_BASE_URL) at your own OpenAI-compatible server"
        )


def _check_base_url(base_url: str | None) -> None:
    """An endpoint that is no http(s) URL is bad input, refused before any retry."""
    if base_url is None:
        return
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base_url {redact_url(base_url)!r} is not an http(s) URL; pass the endpoint's "
            "address, e.g. --base-url http://127.0.0.1:8000/v1"
        )


def _check_window(ctx: Context, count: Count | None) -> None:
    window = ctx.max_context_window
    summary_room = ctx.max_output_tokens_summary if ctx.num_neighbor_summaries else 0
    map_fixed = template_tokens(ctx, "map", count=count)
    spare = window - ctx.chunk_size - ctx.max_output_tokens - map_fixed - summary_room
    if spare + ctx.chunk_size < MIN_CHUNK_TOKENS:
        fixed = map_fixed + summary_room + ctx.max_output_tokens
        raise ConfigError(
            f"a {window}-token window cannot hold the map template ({map_fixed}), a neighbour "
            f"summary ({summary_room}) and the output ({ctx.max_output_tokens}) with any "
            f"useful chunk; use max_context_window >= {fixed + ctx.chunk_size} (for "
            f"chunk_size {ctx.chunk_size}), or lower max_output_tokens"
        )
    if spare < 0:
        raise ConfigError(
            f"chunk_size {ctx.chunk_size} leaves no room in the {window}-token window for the "
            f"map template ({map_fixed}), a neighbour summary ({summary_room}) and the output "
            f"({ctx.max_output_tokens}); use chunk_size <= {ctx.chunk_size + spare} or a "
            "larger max_context_window"
        )
    summary_need = (ctx.chunk_size + template_tokens(ctx, "summary", count=count)
                    + ctx.max_output_tokens_summary)
    if ctx.num_neighbor_summaries and summary_need > window:
        raise ConfigError(
            f"a summary prompt needs {summary_need} tokens but the window is {window}; lower "
            "chunk_size or max_output_tokens_summary"
        )
    for stage in ("collapse", "reduce"):
        need = template_tokens(ctx, stage, count=count) + 3 * ctx.max_output_tokens
        if need > window:
            raise ConfigError(
                f"the {stage} prompt needs {need} tokens for two findings and its output but "
                f"the window is {window}; lower max_output_tokens"
            )


def check_templates(prompts: Mapping[str, str]) -> None:
    """Refuse prompt templates that are not format strings with exactly their placeholders."""
    for name, text in prompts.items():
        if name in PROMPT_FIELDS:
            _check_template(name, text, PROMPT_FIELDS[name])


def validate_context(ctx: Context, *, count: Count | None = None) -> None:
    """Refuse a configuration that cannot work, before the first LLM call.

    `count` replaces the run's tokenizer (say, by `utf8_bytes`): what passes with an upper
    bound passes exactly too.
    """
    _check_numbers(ctx)
    check_templates({name: getattr(ctx, name) for name in PROMPT_FIELDS})
    _check_window(ctx, count)


def check_question(ctx: Context, question: str, *, count: Count | None = None) -> None:
    """Refuse a query too long to leave any room for the document in a map prompt."""
    n = count(question) if count else tokens(ctx, question)
    room = ctx.max_context_window - ctx.chunk_size - ctx.max_output_tokens
    room -= template_tokens(ctx, "map", count=count)
    if n > room:
        raise InputError(
            f"the query is {n} tokens, but a map prompt leaves room for {room}; shorten the query "
            "or lower chunk_size"
        )
