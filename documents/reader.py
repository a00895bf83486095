"""The one document reader: paths, folders, URLs, stdin or bytes in; `Document`s out.

The format is told from the content (`sniff`), so a misnamed file is still read right. Each
document keeps its page boundaries (PDF) for page citations, and metadata: its source, format
and, where known, page count and title.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from longcepo.documents import cache
from longcepo.documents.fetch import fetch
from longcepo.documents.files import expand
from longcepo.documents.limits import MAX_INPUT_BYTES, mib, read_limited, read_stream_limited
from longcepo.documents.parsed import Parsed
from longcepo.documents.pdf import read_pdf
from longcepo.documents.sniff import CLAIMED, sniff
from longcepo.documents.text import read_text
from longcepo.documents.webpage import read_html
from longcepo.documents.word import read_docx
from longcepo.nodes.errors import InputError
from longcepo.state import Document

log = logging.getLogger(__name__)
Source = str | os.PathLike[str] | bytes | tuple[str, bytes]
"""A path, a folder, an http(s) URL, "-" for stdin, raw bytes, or (name, bytes)."""
STDIN = "-"


def parse_cached(data: bytes, name: str, cache_dir: Path | None, *, hint: str | None = None,
                 charset: str | None = None, password: str | None = None) -> Parsed:
    """`parse`, through the extraction cache in `cache_dir` when one is given."""
    if cache_dir is None:
        return parse(data, name, hint=hint, charset=charset, password=password)
    key = cache.cache_key(data, hint, charset, password)
    parsed = cache.load(cache_dir, key)
    if parsed is None:
        parsed = parse(data, name, hint=hint, charset=charset, password=password)
        cache.save(cache_dir, key, parsed)
    return parsed


def parse(data: bytes, name: str, *, hint: str | None = None, charset: str | None = None,
          password: str | None = None) -> Parsed:
    """The text of one document in any supported format.

    `hint` and `charset` are what a web server declared (the reader its content type asks
    for, and the text encoding); without them the content alone decides.
    """
    kind = sniff(data)
    if hint == "pdf" and kind != "pdf":
        raise InputError(f"{name} is served as a PDF but is not one (an error page?); check "
                         "the address")
    if hint == "html" and kind == "text":
        kind = "html"
    suffix = Path(name).suffix.lower()
    if kind == "binary":
        if suffix in CLAIMED:
            raise InputError(f"{name} is named {suffix} but is not a {CLAIMED[suffix]} file; it "
                             "is damaged or mislabelled: export or download it again")
        raise InputError(f"{name} looks binary, not PDF, Word (.docx), HTML or text; convert "
                         "it to one of those")
    if suffix in CLAIMED and kind in ("text", "html"):
        log.warning("%s is named %s but holds %s; reading it as %s", name, suffix, kind, kind)
    if kind == "pdf":
        return read_pdf(data, name, password)
    if kind == "zip":
        return read_docx(data, name)
    if kind == "html":
        return read_html(data, name, charset)
    return read_text(data, name, charset)


def as_document(parsed: Parsed, doc_id: str, **metadata: Any) -> Document:
    """A `Document` for the graph: id, text, page starts when paged, and metadata."""
    doc = Document(id=doc_id, text=parsed.text,
                   metadata={"source": doc_id, **parsed.metadata, **metadata})
    if parsed.page_starts is not None:
        doc["page_starts"] = parsed.page_starts
    return doc


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def read_source(source: Source, index: int = 0, *, password: str | None = None,
                max_bytes: int = MAX_INPUT_BYTES, stdin: BinaryIO | None = None,
                cache_dir: Path | None = None) -> list[Document]:
    """The documents one source holds: one, or a folder's several."""

    def read(data: bytes, name: str, hint: str | None = None,
             charset: str | None = None) -> Document:
        parsed = parse_cached(data, name, cache_dir, hint=hint, charset=charset,
                              password=password)
        return as_document(parsed, name)

    if isinstance(source, bytes | tuple):
        name, data = (f"doc-{index}", source) if isinstance(source, bytes) else source
        if len(data) > max_bytes:
            raise InputError(f"{name} is over the {mib(max_bytes)} input limit; split it or "
                             "pass a smaller document")
        return [read(data, name)]
    raw = os.fspath(source)
    if raw == STDIN:
        return [read(read_stream_limited(stdin or sys.stdin.buffer, "stdin", max_bytes),
                     "stdin")]
    if _is_url(raw):
        data, hint, charset = fetch(raw, max_bytes)
        return [read(data, raw, hint, charset)]
    return [read(read_limited(path, max_bytes), str(path)) for path in expand(Path(raw))]


def _is_named_bytes(source: object) -> bool:
    return (isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], str)
            and isinstance(source[1], bytes))


def read_documents(sources: Iterable[Source], *, password: str | None = None,
                   max_bytes: int = MAX_INPUT_BYTES, stdin: BinaryIO | None = None,
                   cache_dir: str | Path | None = None) -> list[Document]:
    """Read every source into documents with metadata, ready to pass as a run's `context`.

    Sources are paths (folders give their .txt/.md/.pdf/.docx/.html files), http(s) URLs,
    "-" for stdin, bytes, or (name, bytes). PDF, Word, HTML and text are told apart by
    content. `password` opens encrypted PDFs. With `cache_dir`, extracted text is kept there
    by content hash, so the same file is extracted once. Problems raise `InputError` (one
    line naming the fix), a failed fetch `FetchError`.
    """
    single = isinstance(sources, str | bytes | os.PathLike) or _is_named_bytes(sources)
    items: Iterable[Source] = [sources] if single else sources  # type: ignore[list-item]
    out: list[Document] = []
    for index, source in enumerate(items):
        out.extend(read_source(source, index, password=password, max_bytes=max_bytes,
                               stdin=stdin, cache_dir=Path(cache_dir) if cache_dir else None))
    return out
