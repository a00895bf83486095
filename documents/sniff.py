"""Tell a document's format from its first bytes, never from its name.

A PDF renamed to .txt is still read as a PDF, and an HTML page saved as .md as a web page.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["pdf", "zip", "html", "text", "binary"]
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_HTML_START = re.compile(
    rb"^(?:\s|<\?xml[^>]*>|<!--.*?-->)*<(?:!doctype\s+html|html|head|body|meta|title)\b",
    re.I | re.S,
)
CLAIMED = {".pdf": "PDF", ".docx": "Word (.docx)"}
"""Suffixes that promise a binary format, for messages about files that break the promise."""


def sniff(data: bytes) -> Kind:
    """The format `data` is in: PDF, a zip archive (Word or other), HTML, text, or binary."""
    head = data[:4096]
    if head.lstrip().startswith(b"%PDF-") or (b"%PDF-" in head[:1024]
                                              and b"%%EOF" in data[-2048:]):
        return "pdf"  # readers accept junk before the header; text that names it is not a PDF
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if not head.startswith(BOMS[1:]) and b"\x00" in data[:8192]:
        return "binary"
    if _HTML_START.match(head.removeprefix(BOMS[0])):
        return "html"
    return "text"
