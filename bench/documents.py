"""Document reading throughput: a generated 500-page PDF, a large Word file and HTML page.

`documents.read_documents` on bytes built in memory (`llm_double.files`), best of a few runs.
Word and HTML have no pages, so their rate is given in page equivalents: the same text as
the PDF, paragraph for paragraph. A read from the extraction cache (the CLI's, asking about
the same file again) is timed too. Chunking the result is timed too, and the reading time is
put beside the LLM calls one question over the document costs at the default settings.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from longcepo.documents import read_documents
from longcepo.nodes.chunking import chunk_spans
from longcepo.nodes.tokens import get_encoding

from bench.common import write
from llm_double.files import build_docx, build_html, build_pdf

log = logging.getLogger(__name__)
PAGES = 500
PARAGRAPHS_PER_PAGE = 5
CHUNK_SIZE = 4096
WORDS = ("lease tenant landlord rent clause notice period term party agreement schedule "
         "payment deposit repair garden river bread spring report meeting minutes budget "
         "annual review council harbour").split()


def _paragraphs(seed: int = 7) -> list[list[str]]:
    """PAGES pages of PARAGRAPHS_PER_PAGE paragraphs of about 90 words each."""
    rng = random.Random(seed)
    return [[" ".join(rng.choices(WORDS, k=90)).capitalize() + "." for _ in
             range(PARAGRAPHS_PER_PAGE)] for _ in range(PAGES)]


def _time(read: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = read()
        best = min(best, time.perf_counter() - started)
    return best, result


def run(repeats: int = 2) -> dict[str, Any]:
    """Time reading each format; write documents.json."""
    pages = _paragraphs()
    flat = [p for page in pages for p in page]
    files = {
        "pdf": ("report.pdf", build_pdf(["\n".join(page) for page in pages])),
        "docx": ("report.docx", build_docx(flat)),
        "html": ("report.html", build_html(flat).encode()),
    }
    enc = get_encoding()
    rows = []
    for kind, (name, data) in files.items():
        source = (name, data)
        seconds, (doc,) = _time(partial(read_documents, [source]), repeats)
        with tempfile.TemporaryDirectory() as cache:
            read_documents([source], cache_dir=cache)
            cached_s, _ = _time(partial(read_documents, [source], cache_dir=cache), repeats)
        chunk_s, spans = _time(partial(chunk_spans, doc["text"], enc, CHUNK_SIZE), 1)
        tokens = sum(s.tokens for s in spans)
        rows.append({"format": kind, "bytes": len(data), "pages": PAGES,
                     "chars": len(doc["text"]), "tokens": tokens, "chunks": len(spans),
                     "read_s": round(seconds, 3), "pages_per_s": round(PAGES / seconds, 1),
                     "cached_read_s": round(cached_s, 3),
                     "chunk_s": round(chunk_s, 3),
                     # one question with a 3-step plan: summaries once, then a map call per
                     # chunk in each of 4 passes
                     "llm_calls_per_question": len(spans) * 5})
        log.info("%s: %d pages in %.2fs (%.0f pages/s), %d tokens", kind, PAGES, seconds,
                 PAGES / seconds, tokens)
    payload = {"pages": PAGES, "paragraphs_per_page": PARAGRAPHS_PER_PAGE,
               "chunk_size": CHUNK_SIZE, "runs": rows}
    write("documents", payload)
    return payload
