"""PDF: the text layer page by page (pypdf, BSD), with page boundaries kept for citations.

Cheap clean-ups only: words hyphenated across a line end are joined, and a first or last
line repeated on most pages (a running header or footer, page numbers aside) is dropped.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from typing import TYPE_CHECKING

from longcepo.documents.parsed import Parsed, join_pages, missing_library
from longcepo.nodes.errors import InputError

if TYPE_CHECKING:
    from pypdf import PdfReader

log = logging.getLogger(__name__)
_HYPHENATED = re.compile(r"(?<=[^\W\d_])-\n(?=[^\W\d_])")
_DIGITS = re.compile(r"\d+")
MIN_PAGES_FOR_RUNNING_LINES = 3
RUNNING_SHARE = 0.6  # a line on at least this share of pages is a header or footer


def join_hyphenated(text: str) -> str:
    """Join a word hyphenated across a line end ("main-", "tenance": "maintenance").

    Before a capital ("Franco-", "Prussian") the hyphen is real, so it and the break stay.
    """
    return _HYPHENATED.sub(lambda m: "" if text[m.end()].islower() else m.group(), text)


def _edge_lines(lines: list[str]) -> list[int]:
    """Indexes of the first and last non-blank lines of a page."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return sorted({filled[0], filled[-1]}) if filled else []


def drop_running_lines(pages: list[str]) -> list[str]:
    """Remove first/last lines that repeat (digits aside) on most pages."""
    if len(pages) < MIN_PAGES_FOR_RUNNING_LINES:
        return pages
    split = [page.split("\n") for page in pages]
    counts: Counter[str] = Counter()
    for lines in split:
        counts.update({_DIGITS.sub("#", lines[i].strip()) for i in _edge_lines(lines)})
    running = {key for key, n in counts.items() if n >= RUNNING_SHARE * len(pages)}
    if not running:
        return pages
    out = []
    for lines in split:
        edges = {i for i in _edge_lines(lines) if _DIGITS.sub("#", lines[i].strip()) in running}
        out.append("\n".join(line for i, line in enumerate(lines) if i not in edges))
    return out


def _open(data: bytes, name: str, password: str | None) -> PdfReader:
    try:
        import pypdf
        from pypdf.errors import DependencyError
    except ImportError as exc:
        raise missing_library(exc, "pypdf", "PDF") from None

    if b"%%EOF" not in data[-2048:]:
        raise InputError(f"{name} is a truncated PDF (no end-of-file marker); download or "
                         "export it again")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(password or ""):
            hint = ("the password given is wrong" if password
                    else "pass its password with --pdf-password")
            raise InputError(f"{name} is an encrypted PDF; {hint}")
        reader.pages[0]  # noqa: B018  # the page tree is parsed here; a broken one fails now
    except InputError:
        raise
    except DependencyError as exc:
        raise InputError(f"{name}: {exc}; install it to read this encrypted PDF") from None
    except Exception as exc:  # pypdf raises many types on a damaged file
        raise InputError(f"{name} is not a readable PDF ({type(exc).__name__}: {exc}); "
                         "it may be damaged: export or download it again") from None
    return reader


def read_pdf(data: bytes, name: str, password: str | None = None) -> Parsed:
    """Every page's text in order, one page per boundary; no text at all is an error."""
    reader = _open(data, name, password)
    pages: list[str] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # one bad page should not cost the others
            log.warning("%s: page %d has unreadable text (%s); it is left empty", name, number,
                        exc)
            text = ""
        pages.append(join_hyphenated(text.replace("\r\n", "\n")).strip())
    empty = sum(1 for p in pages if not p)
    if empty == len(pages):
        raise InputError(f"{name}: no extractable text on {len(pages)} pages (a scan?): run "
                         "OCR first, e.g. ocrmypdf, and pass the result")
    if empty:
        log.warning("%s: %d of %d pages have no text layer; they are left empty", name, empty,
                    len(pages))
    parsed = join_pages(drop_running_lines(pages))
    parsed.metadata = {"format": "pdf", "pages": len(pages)}
    return parsed
