"""Word (.docx): paragraphs and tables in document order (python-docx, MIT).

The archive is checked before python-docx opens it: a file that is not a Word zip, or one
that would decompress past the cap (a zip bomb), is refused in one line.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from longcepo.documents import limits
from longcepo.documents.limits import mib
from longcepo.documents.parsed import Parsed, missing_library
from longcepo.nodes.errors import InputError

MAIN_PART = "word/document.xml"
CELL_SEPARATOR = " | "


def check_archive(data: bytes, name: str, limit: int | None = None) -> zipfile.ZipFile:
    """The zip archive in `data` if it is a Word file that unpacks within `limit`.

    The sizes checked are those the archive declares; Python's zipfile never unpacks a
    member past its declared size, so a lying archive fails its CRC instead.
    """
    limit = limits.MAX_UNPACKED_BYTES if limit is None else limit
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InputError(f"{name} is a damaged zip archive (truncated?); save or download the "
                         "document again") from None
    names = set(archive.namelist())
    if MAIN_PART not in names:
        raise InputError(f"{name} is a zip archive but not a Word document (.xlsx, .pptx, "
                         ".odt, .epub are not read); export it to PDF, DOCX or text")
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > limit:
        raise InputError(f"{name} decompresses to {mib(unpacked)}, over the {mib(limit)} cap "
                         "for Word files; it may be a zip bomb, or split the document")
    return archive


def _rows(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:  # a merged cell appears once per grid column it spans
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            yield CELL_SEPARATOR.join(cells)


def read_docx(data: bytes, name: str) -> Parsed:
    """The document's body text: a line per paragraph, a line per table row (cells with |)."""
    try:
        import docx
        from docx.table import Table
    except ImportError as exc:
        raise missing_library(exc, "python-docx", "Word files") from None

    check_archive(data, name)
    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(_rows(block))
            else:
                lines.append(block.text)
    except Exception as exc:  # python-docx and lxml raise many types on a damaged file
        raise InputError(f"{name} is not a readable Word document ({type(exc).__name__}: "
                         f"{exc}); save or export it again") from None
    text = "\n".join(lines).strip()
    if not text:
        raise InputError(f"{name} is a Word document with no text; pass one with text")
    return Parsed(text, metadata={"format": "docx"})
