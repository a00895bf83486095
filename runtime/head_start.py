"""Send a run's first call (normalize) before LangGraph has loaded.

`longcepo ask` spends about a second of CPU importing LangGraph, LangChain and LangSmith
before its graph can make a call. The normalize call depends only on the query and the
settings, so the CLI sends it first and loads the rest while the model works. The node sends
the same request later (`nodes.request` builds both) and `nodes.endpoint` hands it the
reply that is already there: one request either way, counted once, in the node.

It is sent only when the node will certainly make exactly this call over the direct HTTP
path: a new run with a plan, a query and documents the run accepts, and no LangSmith tracing
(a traced call goes through LangChain's model). A refused request must cost no call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from longcepo.env import tracing_requested
from longcepo.nodes import endpoint
from longcepo.nodes.budget import check_question
from longcepo.nodes.errors import InputError
from longcepo.nodes.inputs import as_documents
from longcepo.nodes.request import normalize_request, sampling
from longcepo.state import Context, Document

log = logging.getLogger(__name__)


def _within_limit(ctx: Context, documents: Sequence[Document]) -> bool:
    """Whether the documents surely fit `max_document_tokens` without tokenizing them.

    A token holds at least one byte of UTF-8, so text of at most that many bytes fits. Longer
    text is counted by the run itself, which may refuse it; then nothing was sent early.
    """
    if ctx.max_document_tokens is None:
        return True
    return sum(len(d["text"].encode()) for d in documents) <= ctx.max_document_tokens


def send_normalize(ctx: Context, query: str, documents: Sequence[Document]) -> bool:
    """Send the run's normalize call now if the run will make it; whether it was sent.

    Call it on the event loop the graph will run on: the reply waits in that loop's pools.
    """
    query = query.strip()
    if not ctx.use_plan or not query or tracing_requested():
        return False
    try:
        check_question(ctx, query)
        as_documents(list(documents))
    except InputError:
        return False  # the run refuses this request before any call; let it say so
    if not _within_limit(ctx, documents):
        return False
    prompt, max_tokens = normalize_request(ctx, query)
    endpoint.send_early(ctx, [("human", prompt)],
                        sampling(ctx, "normalize", max_tokens=max_tokens),
                        endpoint.stage_headers("normalize"))
    log.debug("normalize sent ahead of the graph")
    return True
