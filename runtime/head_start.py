"""Send a run's first two calls (normalize, then plan) before LangGraph has loaded.

`longcepo ask` spends about a second of CPU importing LangGraph, LangChain and LangSmith
before its graph can make a call. The normalize call depends only on the query and the
settings, and the plan call only on the normalize reply, so the CLI sends the first at once
and the second the moment that reply arrives, while the rest loads. The nodes send the same
requests later (`nodes.request` builds both sides) and `nodes.endpoint` hands each node the
reply that is already there: one request either way, counted once, in the node.

A call is sent early only when its node will certainly make exactly that call over the
direct HTTP path: a new run with a plan; settings, a query and documents the run accepts
(checked with byte counts where they suffice, so the tokenizer loads while the call is out);
no LangSmith tracing (a traced call goes through LangChain's model); and
for the plan, a normalize reply the node will accept as it is (not an error, and a question
it can parse; otherwise the node asks again and the plan waits for it). A request the run
refuses must cost no call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from longcepo.env import tracing_requested
from longcepo.nodes import endpoint, structured
from longcepo.nodes.budget import check_question, utf8_bytes, validate_context
from longcepo.nodes.connection import Reply
from longcepo.nodes.errors import ConfigError, InputError
from longcepo.nodes.inputs import as_documents
from longcepo.nodes.protocols import parse_question
from longcepo.nodes.request import json_note, normalize_request, plan_request, reminded, sampling
from longcepo.state import Context, Document

log = logging.getLogger(__name__)
WRITE_WAIT_S = 1.0
"""How long the CLI waits for the first request to be written before it loads the rest."""


def _within_limit(ctx: Context, documents: Sequence[Document]) -> bool:
    """Whether the documents surely fit `max_document_tokens` without tokenizing them.

    A token holds at least one byte of UTF-8, so text of at most that many bytes fits. Longer
    text is counted by the run itself, which may refuse it; then nothing was sent early.
    """
    if ctx.max_document_tokens is None:
        return True
    return sum(utf8_bytes(d["text"]) for d in documents) <= ctx.max_document_tokens


def _accepted(ctx: Context, query: str, documents: Sequence[Document]) -> bool:
    """Whether the run accepts these settings, query and documents (it checks them again).

    Byte counts first: they bound token counts from above, so passing with them means passing
    exactly, without waiting for the tokenizer (0.2 s). Tight settings that fail the bound are
    checked with the tokenizer.
    """
    try:
        as_documents(list(documents))
    except InputError:
        return False
    for count in (utf8_bytes, None):
        try:
            validate_context(ctx, count=count)
            check_question(ctx, query, count=count)
        except (ConfigError, InputError):
            continue
        return True
    return False


async def send_normalize(ctx: Context, query: str, documents: Sequence[Document]) -> bool:
    """Send the run's normalize call if the run will make it; whether it was sent.

    Returns once the request is written (at most `WRITE_WAIT_S`), so that CPU-bound work the
    caller starts next cannot hold it up. Its reply, once it is one the normalize node
    accepts, sends the plan call. Call this on the event loop the graph will run on: the
    replies wait in that loop's endpoint.
    """
    query = query.strip()
    if not ctx.use_plan or not query or tracing_requested():
        return False
    if not (_accepted(ctx, query, documents) and _within_limit(ctx, documents)):
        return False  # the run may refuse this request; it must do so before any call
    prompt, max_tokens = normalize_request(ctx, query)
    early = endpoint.send_early(ctx, [("human", prompt)],
                                sampling(ctx, "normalize", max_tokens=max_tokens),
                                endpoint.stage_headers("normalize"))
    # a done-callback runs before any coroutine awaiting the reply resumes, so the plan call
    # is on its way before the normalize node can ask for it
    early.reply.add_done_callback(lambda done: _send_plan(ctx, done))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(early.sent.wait(), WRITE_WAIT_S)
    log.debug("normalize sent ahead of the graph")
    return True


def _send_plan(ctx: Context, reply: asyncio.Task[Reply]) -> None:
    """Send the plan call the plan node will make after this normalize reply, if any."""
    if reply.cancelled() or reply.exception() is not None:
        return  # the node meets the same error and retries; the plan waits for it
    try:
        text, _, _ = endpoint.reply_text(reply.result())
    except Exception:  # noqa: BLE001 - an error reply: the node handles it the same way
        return
    question = parse_question(text)
    if question is None:
        return  # the node re-asks for a question; its plan prompt is not known yet
    prompt, max_tokens, schema = plan_request(ctx, question)
    point = structured.endpoint(ctx)
    forms = point.candidates() if structured.wanted(ctx, "plan") else []
    if forms:  # the node's first attempt: JSON under the schema, in the best form untried
        prompt = reminded(prompt, json_note("plan", 0))
        params = sampling(ctx, "plan", max_tokens=max_tokens,
                          response_format=structured.response_format(forms[0], "plan", schema))
    else:
        params = sampling(ctx, "plan", max_tokens=max_tokens)
    endpoint.send_early(ctx, [("human", prompt)], params, endpoint.stage_headers("plan"))
    log.debug("plan sent ahead of the graph")
