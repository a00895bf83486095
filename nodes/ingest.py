"""Turning checked documents into chunks in the store, once per document.

Chunking is CPU work, so it runs in a thread; a document already in the store (same content
hash, encoding and chunk size) is not chunked again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from langgraph.store.base import BaseStore
from longcepo.nodes import store as chunk_store
from longcepo.nodes.chunking import chunk_spans, span_pages
from longcepo.nodes.errors import InputError
from longcepo.nodes.inputs import as_documents
from longcepo.nodes.tokens import get_encoding
from longcepo.state import Context, DocumentEntry

log = logging.getLogger(__name__)


async def ingest(store: BaseStore, ctx: Context, context: Any) -> list[DocumentEntry]:
    """Store every document's chunks (once per content hash) and return their manifest."""
    docs = as_documents(context)
    entries: list[DocumentEntry] = []
    first = total_tokens = 0
    for doc in docs:
        page_starts = doc.get("page_starts")
        key = chunk_store.document_key(doc["text"], ctx.tokenizer_encoding, ctx.chunk_size,
                                       page_starts)
        manifest = await chunk_store.load_manifest(store, key)
        if manifest is None:
            enc = get_encoding(ctx.tokenizer_encoding)
            spans = await asyncio.to_thread(chunk_spans, doc["text"], enc, ctx.chunk_size)
            triples = [(s.start, s.end, s.tokens) for s in spans]
            pages = None if page_starts is None else [
                span_pages(doc["text"], s.start, s.end, page_starts) for s in spans]
            await chunk_store.save_chunks(store, key, doc["text"], triples, pages)
            manifest = {"n_chunks": len(spans), "tokens": sum(t for *_, t in triples)}
            log.info("document %s: %d chunks, %d tokens", doc["id"], len(spans), manifest["tokens"])
        total_tokens += int(manifest["tokens"])
        entries.append(DocumentEntry(doc_id=doc["id"], key=key, n_chunks=int(manifest["n_chunks"]),
                                     chars=len(doc["text"]), first=first))
        first += int(manifest["n_chunks"])
    if ctx.max_document_tokens is not None and total_tokens > ctx.max_document_tokens:
        raise InputError(
            f"the context is {total_tokens} tokens, over the configured limit of "
            f"{ctx.max_document_tokens}; send a shorter document or raise max_document_tokens "
            "(--max-document-tokens)"
        )
    return entries


async def known_documents(store: BaseStore, documents: list[Any]) -> list[DocumentEntry]:
    """Check pre-ingested documents against the store and renumber their chunk ids."""
    entries: list[DocumentEntry] = []
    first = 0
    for i, doc in enumerate(documents):
        key = doc.get("key") if isinstance(doc, Mapping) else None
        manifest = await chunk_store.load_manifest(store, key) if isinstance(key, str) else None
        if manifest is None:
            raise InputError(f"documents[{i}] is not in this graph's store; pass its text as "
                             "'context' instead, or ingest it with the same store")
        entries.append(DocumentEntry(doc_id=str(doc.get("doc_id") or f"doc-{i}"), key=str(key),
                                     n_chunks=int(manifest["n_chunks"]),
                                     chars=int(manifest["chars"]), first=first))
        first += int(manifest["n_chunks"])
    return entries
