"""Chunking throughput: the product's chunker alone, in tokens per second.

`nodes.chunking.chunk_spans` over generated essay documents of 1M and 10M tokens at the
default chunk size, best of a few runs (the machine is shared; the best is the least disturbed).
Ingest throughput including the SQLite writes is in scale.json.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from longcepo.nodes.chunking import chunk_spans
from longcepo.nodes.tokens import get_encoding

from bench.common import make_question, write

log = logging.getLogger(__name__)
SIZES = (1_000_000, 10_000_000)
CHUNK_SIZE = 4096


def run(sizes: tuple[int, ...] = SIZES, repeats: int = 3) -> dict[str, Any]:
    """Time the chunker; write chunking.json."""
    enc = get_encoding()
    rows = []
    for tokens in sizes:
        text = make_question("needle", tokens, seed=5).text
        times = []
        for _ in range(repeats if tokens <= 1_000_000 else 2):
            started = time.perf_counter()
            spans = chunk_spans(text, enc, CHUNK_SIZE)
            times.append(time.perf_counter() - started)
        best = min(times)
        rows.append({"tokens": tokens, "chars": len(text), "chunks": len(spans),
                     "best_s": round(best, 3), "times_s": [round(t, 3) for t in times],
                     "tokens_per_s": round(tokens / best), "mb_per_s": round(
                         len(text.encode()) / 2**20 / best, 2)})
        log.info("chunking %d tokens: %.2fs, %.0f tokens/s", tokens, best, tokens / best)
    payload = {"chunk_size": CHUNK_SIZE, "encoding": "cl100k_base", "runs": rows}
    write("chunking", payload)
    return payload
