"""What a call sends, as plain data: sampling parameters, the normalize and plan prompts.

Light on purpose (no LangChain): the CLI builds its first two calls from here while LangGraph
is still loading (`runtime/head_start.py`), and the nodes build theirs from the same
functions, so the requests are identical and an early reply is the node's reply.
"""

from __future__ import annotations

from typing import Any

from longcepo.nodes import structured
from longcepo.prompts.reminders import JSON_AGAIN, JSON_NOTES
from longcepo.state import Context

NORMALIZE_MAX_TOKENS = 256
"""A normalized query is one line: a longer reply would only be the model rambling."""


def sampling(ctx: Context, stage: str, *, max_tokens: int, attempt: int = 0,
             temperature: float | None = None,
             response_format: dict[str, Any] | None = None) -> dict[str, Any]:
    """The request parameters of one attempt at a stage's call.

    A format re-ask (`attempt` > 0) moves the seed and lifts a zero temperature: the same
    request at temperature 0 would only repeat the malformed reply.
    """
    if temperature is None:
        temperature = ctx.temperature(stage)
    if attempt:
        temperature = max(temperature, min(1.0, 0.3 * attempt))
    params: dict[str, Any] = {"temperature": temperature, "top_p": ctx.top_p,
                              "max_tokens": max_tokens}
    if ctx.seed is not None:
        params["seed"] = ctx.seed + attempt
    if response_format is not None:
        params["extra_body"] = {"response_format": response_format}
    return params


def normalize_request(ctx: Context, query: str) -> tuple[str, int]:
    """The normalize call's prompt and output cap for a (stripped) query."""
    return (ctx.normalize_prompt.format(query=query),
            min(ctx.max_output_tokens, NORMALIZE_MAX_TOKENS))


def plan_request(ctx: Context, question: str) -> tuple[str, int, dict[str, Any]]:
    """The plan call's prompt, output cap and JSON schema for a normalized question."""
    prompt = ctx.plan_prompt.format(question=question, max_sub_questions=ctx.max_sub_questions)
    return (prompt, ctx.max_output_tokens,
            structured.schema("plan", ctx.max_output_tokens, ctx.max_sub_questions))


def reminded(text: str, reminder: str) -> str:
    """A prompt with a format reminder after it (never the bad reply: it could overflow)."""
    return f"{text}\n\n{reminder}"


def json_note(stage: str, attempt: int) -> str:
    """What follows a prompt whose reply is asked as JSON; a re-ask says it again, firmer."""
    return JSON_NOTES[stage] if not attempt else JSON_AGAIN + JSON_NOTES[stage]
