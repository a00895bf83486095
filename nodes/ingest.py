"""Turning a request into documents in the store: split the message, check it, chunk once.

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
from longcepo.nodes.tokens import get_encoding
from longcepo.state import Context, Document, DocumentEntry

log = logging.getLogger(__name__)
DEFAULT_DOC_ID = "document"


def split_request(state: Mapping[str, Any], delimiter: str) -> tuple[Any, str]:
    """Return (context, query) from either separate fields or one delimited message."""
    message = state.get("message")
    if message:
        if not isinstance(message, str):
            raise InputError("message must be a string: '{context}" + delimiter + "{query}'")
        count = message.count(delimiter)
        if count != 1:
            problem = "does not contain" if count == 0 else f"contains {count} times"
            raise InputError(
                f"the message {problem} the delimiter {delimiter!r}; send exactly one, as "
                f"'<document>{delimiter}<question>', or pass context and query separately"
            )
        text, question = message.split(delimiter)
        return text, question.strip()
    context, raw_query = state.get("context"), state.get("query")
    if context is None or raw_query is None:
        raise InputError(
            "give both 'context' and 'query', or one 'message' holding "
            f"'<document>{delimiter}<question>'"
        )
    if not isinstance(raw_query, str):
        raise InputError("query must be a string")
    return context, raw_query.strip()


def _page_starts(value: Any, text: str, i: int) -> list[int]:
    """Checked page boundaries: ascending whole character offsets inside the text, from 0."""
    ok = (isinstance(value, list) and value and value[0] == 0
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
          and all(a < b for a, b in zip(value, value[1:], strict=False))
          and value[-1] <= len(text))
    if not ok:
        raise InputError(f"context[{i}].page_starts must be ascending character offsets of the "
                         "pages in its text, starting at 0")
    return list(value)


def _document(item: Any, i: int) -> Document:
    if not isinstance(item, Mapping) or not isinstance(item.get("text"), str):
        raise InputError(f"context[{i}] must be an object with 'id' and 'text' strings")
    doc = Document(id=str(item.get("id") or f"doc-{i}"), text=item["text"])
    if item.get("page_starts") is not None:
        doc["page_starts"] = _page_starts(item["page_starts"], item["text"], i)
    if item.get("metadata") is not None:
        if not isinstance(item["metadata"], Mapping):
            raise InputError(f"context[{i}].metadata must be an object")
        doc["metadata"] = dict(item["metadata"])
    return doc


def as_documents(context: Any) -> list[Document]:
    """Check the context and return it as a list of documents with unique ids."""
    if isinstance(context, str):
        docs = [Document(id=DEFAULT_DOC_ID, text=context)]
    elif isinstance(context, list):
        docs = [_document(item, i) for i, item in enumerate(context)]
    else:
        raise InputError("context must be a string or a list of {'id', 'text'} documents")
    ids = [d["id"] for d in docs]
    if len(set(ids)) != len(ids):
        raise InputError("document ids must be unique; duplicates: "
                         + ", ".join(sorted({i for i in ids if ids.count(i) > 1})))
    empty = [d["id"] for d in docs if not d["text"].strip()]
    if not docs or len(empty) == len(docs):
        raise InputError("the context is empty; pass the document text to ask about")
    if empty:
        raise InputError(f"document(s) {', '.join(empty)} are empty; remove them or add text")
    return docs


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
