"""Plain text (.txt, .md, stdin): UTF-8, or UTF-16 when a byte-order mark says so."""

from __future__ import annotations

from longcepo.documents.parsed import Parsed
from longcepo.nodes.errors import InputError


def read_text(data: bytes, name: str, charset: str | None = None) -> Parsed:
    """The text of `data`, refusing undecodable and empty input with the fix named.

    `charset` is an encoding a web server declared; files and stdin must be UTF-8.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = charset or "utf-8-sig"
    try:
        text = data.decode(encoding)
    except LookupError:
        raise InputError(f"{name} declares the unknown charset {charset!r}") from None
    except UnicodeDecodeError as exc:
        if charset:
            raise InputError(f"{name} is not valid {charset} (byte {exc.start}) as its server "
                             "declares") from None
        raise InputError(
            f"{name} is not UTF-8 (byte {exc.start}); convert it, e.g. with iconv"
        ) from None
    if not text.strip():
        raise InputError(f"{name} is empty; pass a file with the document's text")
    return Parsed(text, metadata={"format": "text"})
