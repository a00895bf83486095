"""Shared pieces of the benchmarks: documents without repeated chunks, contexts, the double.

The essay corpus holds about 137K tokens, so a longer haystack repeats it; identical chunks
then hit the per-run call cache and make a long document look cheaper than it is. Documents
above one block are therefore built from blocks that each shuffle the essays differently.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from longcepo.state import Context

from llm_double.corpus import SEPARATOR, chain_task, haystack, needle_task
from llm_double.process import DoubleProcess, start_double_process

RESULTS = Path(__file__).resolve().parent / "results"
BLOCK_TOKENS = 100_000
MODEL = "llm-double"


@dataclass(frozen=True)
class Question:
    """A synthetic document with its question, gold answer and planted facts' offsets."""

    kind: str
    tokens: int
    text: str
    question: str
    gold: str
    fact_offsets: tuple[int, ...]
    sub_questions: int


def make_question(kind: str, tokens: int, seed: int = 0) -> Question:
    """`kind` is needle, chain2 or chain3; above one block the haystack never repeats.

    The task's own block sits in the middle; the other blocks are essay haystacks, each with
    its own seed (essay order and starting paragraph).
    """
    extra = max(0, math.ceil(tokens / BLOCK_TOKENS) - 1)
    own = tokens - extra * BLOCK_TOKENS
    if extra and own < BLOCK_TOKENS // 4:
        extra, own = extra - 1, own + BLOCK_TOKENS
    if kind == "needle":
        doc = needle_task(own, seed=seed)
    else:
        doc = chain_task(own, hops=int(kind[-1]), seed=seed)
    hay = [haystack(BLOCK_TOKENS, seed=1000 * (seed + 1) + i) for i in range(extra)]
    head = "".join(h + SEPARATOR for h in hay[: extra // 2])
    tail = "".join(SEPARATOR + h for h in hay[extra // 2 :])
    offsets = tuple(len(head) + f.start for f in doc.task.facts)
    return Question(kind, tokens, head + doc.text + tail, doc.task.question, doc.task.gold,
                    offsets, len(doc.task.sub_questions))


def context(base_url: str, **changes: Any) -> Context:
    """The product's default Context pointed at the double (chunk 4096 in an 8192 window)."""
    return Context(base_url=base_url, api_key="bench", model=MODEL, **changes)


@contextmanager
def double(*args: str) -> Iterator[DoubleProcess]:
    """The double in its own process, so its CPU never counts against the product's."""
    with start_double_process(*args) as d:
        yield d


def environment() -> dict[str, Any]:
    """What a reader needs to compare numbers: machine, load and versions."""
    versions: dict[str, str | None] = {}
    for package in ("langgraph", "langchain-openai", "openai", "httpx", "tiktoken"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "versions": versions,
    }


def write(name: str, payload: dict[str, Any]) -> Path:
    """Write `bench/results/<name>.json` with the environment attached."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({**payload, "environment": environment()}, indent=2) + "\n")
    return path


def usage_total(usage: dict[str, dict[str, int]], field: str) -> int:
    """Sum of one counter over all stages."""
    return sum(int(u.get(field, 0)) for u in usage.values())
