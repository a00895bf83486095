"""Where document text, summaries and per-run call results live: a LangGraph `BaseStore`.

Graph state carries only keys and ids; this module is the one place that knows the
namespaces. Chunks are keyed by the document's content hash, so the same document is chunked
once however many runs read it.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import logging
import weakref
from collections.abc import Sequence
from typing import Any, cast

from langgraph.store.base import BaseStore, GetOp, Item, PutOp
from langgraph.store.base.batch import AsyncBatchedBaseStore
from langgraph.store.memory import InMemoryStore
from longcepo.state import DocumentEntry

log = logging.getLogger(__name__)
ROOT = "longcepo"
SAVE_BATCH = 32  # chunks per store write while ingesting
_fallback: InMemoryStore | None = None


def resolve(store: BaseStore | None) -> BaseStore:
    """The graph's store, or a process-wide in-memory one when the graph was compiled without."""
    global _fallback
    if store is not None:
        return store
    if _fallback is None:
        log.info("graph has no store; keeping chunks in process memory")
        _fallback = InMemoryStore()
    return _fallback


def document_key(text: str, encoding: str, chunk_size: int,
                 page_starts: Sequence[int] | None = None) -> str:
    """Store label of a document's chunks: its content hash and the chunking parameters.

    The text is hashed a slice at a time (the same digest as hashing it whole), so a 40 MB
    document is not copied into a second, encoded buffer. Page boundaries, when given, are
    part of the hash: the same text with other pages cites other pages.
    """
    sha = hashlib.sha256()
    for start in range(0, len(text), 1 << 20):
        sha.update(text[start : start + (1 << 20)].encode("utf-8", "surrogatepass"))
    if page_starts is not None:
        sha.update(b"\x00pages:" + ",".join(map(str, page_starts)).encode())
    return f"{sha.hexdigest()[:32]}-{encoding}-{chunk_size}"


def _chunks_ns(key: str) -> tuple[str, ...]:
    return (ROOT, "chunks", key)


async def load_manifest(store: BaseStore, key: str) -> dict[str, Any] | None:
    """The manifest of an already-chunked document, or None."""
    item = await store.aget(_chunks_ns(key), "manifest")
    return None if item is None else dict(item.value)


async def save_chunks(
    store: BaseStore, key: str, text: str, spans: Sequence[tuple[int, int, int]],
    pages: Sequence[list[int]] | None = None,
) -> None:
    """Store every chunk, then the manifest last, so a half-written document is never trusted.

    Chunk texts are copied a batch at a time: the SQLite store serializes a batch whole (with
    generous buffers), so memory stays flat however long the document is. `pages[i]` is the
    first and last page chunk i spans, for paged documents.
    """
    ns = _chunks_ns(key)
    for first in range(0, len(spans), SAVE_BATCH):
        await store.abatch([
            PutOp(ns, f"{i:08d}", {"text": text[s:e], "start": s, "end": e, "tokens": t,
                                   **({"pages": pages[i]} if pages is not None else {})})
            for i, (s, e, t) in enumerate(spans[first : first + SAVE_BATCH], start=first)
        ])
    total = sum(t for _, _, t in spans)
    await store.aput(ns, "manifest", {"n_chunks": len(spans), "tokens": total, "chars": len(text)})


async def load_chunks(store: BaseStore, key: str, indexes: Sequence[int]) -> list[dict[str, Any]]:
    """Chunk records (text, start, end, tokens) of one document, in the order asked."""
    items = await _get_many(store, [_get(_chunks_ns(key), f"{i:08d}") for i in indexes])
    out = []
    for i, item in zip(indexes, items, strict=True):
        if item is None:
            raise KeyError(f"chunk {i} of document {key} is missing from the store")
        out.append(dict(item.value))
    return out


def _get(ns: tuple[str, ...], key: str) -> GetOp:
    return GetOp(ns, key)


async def _get_many(store: BaseStore, ops: Sequence[GetOp]) -> list[Item | None]:
    """Items for `ops`, through the store's own batching where it has one.

    A batching store (SQLite, PostgreSQL) merges the reads of every task in the same tick into
    one transaction; a direct `abatch` would cost each map call a transaction of its own.
    """
    if isinstance(store, AsyncBatchedBaseStore):
        return list(await asyncio.gather(*(store.aget(op.namespace, op.key) for op in ops)))
    return cast(list[Item | None], await store.abatch(ops))


def locate(documents: Sequence[DocumentEntry], gid: int) -> tuple[DocumentEntry, int]:
    """Map a global chunk id to its document and the chunk's index inside it."""
    firsts = [d["first"] for d in documents]
    pos = bisect.bisect_right(firsts, gid) - 1
    if pos < 0 or gid - documents[pos]["first"] >= documents[pos]["n_chunks"]:
        raise IndexError(f"chunk id {gid} is outside the ingested documents")
    return documents[pos], gid - documents[pos]["first"]


def total_chunks(documents: Sequence[DocumentEntry]) -> int:
    """Number of chunks over all documents."""
    return sum(d["n_chunks"] for d in documents)


def _summaries_ns(run_key: str, scope: str) -> tuple[str, ...]:
    return (ROOT, "summaries", run_key, scope)


async def load_summaries(
    store: BaseStore, run_key: str, scope: str, gids: Sequence[int]
) -> dict[int, str]:
    """Summaries already written for these chunks; missing ones are absent from the result."""
    ns = _summaries_ns(run_key, scope)
    items = await _get_many(store, [_get(ns, str(g)) for g in gids])
    return {g: item.value["text"] for g, item in zip(gids, items, strict=True) if item}


async def save_summary(store: BaseStore, run_key: str, scope: str, gid: int, text: str) -> None:
    """Record one chunk's summary for the rest of the run."""
    await store.aput(_summaries_ns(run_key, scope), str(gid), {"text": text})


def _pass_ns(run_key: str) -> tuple[str, ...]:
    return (ROOT, "passes", run_key)


async def save_pass(store: BaseStore, run_key: str, pass_index: int, info: dict[str, Any]) -> None:
    """Question and history of one engine pass, read by its map tasks instead of the payload."""
    await store.aput(_pass_ns(run_key), str(pass_index), info)


async def load_pass(store: BaseStore, run_key: str, pass_index: int) -> dict[str, Any]:
    """The pass info saved by `save_pass`."""
    item = await store.aget(_pass_ns(run_key), str(pass_index))
    if item is None:
        raise KeyError(f"pass {pass_index} of run {run_key} is missing from the store")
    return dict(item.value)


_call_stores: weakref.WeakKeyDictionary[BaseStore, BaseStore] = weakref.WeakKeyDictionary()


def use_call_store(store: BaseStore, calls: BaseStore | None) -> None:
    """Keep the call cache of `store`'s runs in `calls` (None: back in `store` itself).

    A call cache whose writes start at once (not batched behind other reads and writes) makes
    a received reply durable within milliseconds, so a kill loses almost no paid reply.
    """
    if calls is None:
        _call_stores.pop(store, None)
    else:
        _call_stores[store] = calls


def calls_store(store: BaseStore) -> BaseStore:
    """Where the call cache of runs on `store` lives."""
    return _call_stores.get(store, store)


class CallCache:
    """Replies of completed LLM calls within one run, so a re-executed task pays nothing twice.

    Keyed by a hash of the exact request; scoped to the run so separate runs still sample.
    Each reply is written as soon as it arrives, before its task's checkpoint.
    """

    def __init__(self, store: BaseStore, run_key: str) -> None:
        self._store = calls_store(store)
        self._ns = (ROOT, "calls", run_key)

    async def get(self, key: str) -> dict[str, Any] | None:
        """The cached reply and usage for `key`, or None."""
        item = await self._store.aget(self._ns, key)
        return None if item is None else dict(item.value)

    async def put(self, key: str, value: dict[str, Any]) -> None:
        """Remember a completed call."""
        await self._store.aput(self._ns, key, value)


async def forget_run(store: BaseStore, run_key: str) -> int:
    """Delete a finished run's summaries, pass records and call cache; chunks stay shared.

    Returns how many records were removed.
    """
    removed = 0
    for kind in ("summaries", "passes", "calls"):
        prefix = (ROOT, kind, run_key)
        held = calls_store(store) if kind == "calls" else store
        while items := await held.asearch(prefix, limit=500):
            await held.abatch([PutOp(item.namespace, item.key, None) for item in items])
            removed += len(items)
    return removed
