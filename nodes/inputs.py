"""Checking a request before anything runs: split a delimited message, validate documents.

Pure functions, light to import: the CLI checks its documents with them before it sends its
first call (`runtime/head_start.py`), and the graph's nodes check every request with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from longcepo.nodes.errors import InputError
from longcepo.state import Document

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
