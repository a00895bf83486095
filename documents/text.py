"""Plain text (.txt, .md, stdin): UTF-8, or UTF-16 when a byte-order mark says so."""

from __future__ import annotations

from longcepo.documents.parsed import Parsed
from longcepo.nodes.errors import InputError


def read_text(data: bytes, name: str) -> Parsed:
    """The text of `data`, refusing undecodable and empty input with the fix named."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name} is not UTF-8 (byte {exc.start}); convert it, e.g. with iconv"
        ) from None
    if not text.strip():
        raise InputError(f"{name} is empty; pass a file with the document's text")
    return Parsed(text, metadata={"format": "text"})
